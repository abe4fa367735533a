"""C and C++ ``#include`` directives; ``<...>`` includes are flagged ``system``."""

from __future__ import annotations

from graph_jobs.graph.extract._query import line, matches, string_value
from graph_jobs.models import EdgeKind, RawImport

QUERY = "(preproc_include path: (_) @path)"


def extract(lang: str, root) -> list[RawImport]:
    out = []
    for _p, caps in matches(lang, QUERY, root):
        node = caps["path"][0]
        value = string_value(node)
        if value is None:  # #include MACRO
            out.append(RawImport("", EdgeKind.DYNAMIC, line(node)))
            continue
        flags = ("system",) if node.type == "system_lib_string" else ()
        out.append(RawImport(value, EdgeKind.INCLUDE, line(node), flags))
    return out


def imports_of(language: str, root, data: bytes) -> list[RawImport]:
    """The registry's extractor (``graph_jobs.languages``)."""
    return extract(language, root)
