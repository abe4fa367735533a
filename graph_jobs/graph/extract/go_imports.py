"""Go imports: every ``import_spec`` path."""

from __future__ import annotations

from graph_jobs.graph.extract._query import line, matches, string_value, text
from graph_jobs.models import EdgeKind, RawImport

QUERY = """
(package_clause (package_identifier) @package)
(import_spec path: (_) @path)
"""


def extract(root) -> list[RawImport]:
    out = []
    for _p, caps in matches("go", QUERY, root):
        if "path" in caps:
            value = string_value(caps["path"][0])
            if value is not None:
                out.append(RawImport(value, EdgeKind.IMPORT, line(caps["path"][0])))
        else:  # the package name: resolution needs it for `package main` vs library
            out.append(RawImport(text(caps["package"][0]), EdgeKind.IMPORT, 0, ("package",)))
    return out


def imports_of(language: str, root, data: bytes) -> list[RawImport]:
    """The registry's extractor (``graph_jobs.languages``)."""
    return extract(root)
