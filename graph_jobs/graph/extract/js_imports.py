"""JavaScript and TypeScript imports: ``import``, ``import type``, ``export ... from``,
``require("x")``, ``import x = require("x")`` and ``import("x")`` (literal or not)."""

from __future__ import annotations

import re

from graph_jobs.graph.extract._query import line, matches, string_value
from graph_jobs.models import EdgeKind, RawImport

_COMMON = """
(import_statement source: (_) @src) @import
(export_statement source: (_) @src) @export
(call_expression function: (identifier) @fn arguments: (arguments . (_) @src)
  (#eq? @fn "require")) @require
(call_expression function: (import) arguments: (arguments . (_) @src)) @dynamic
"""
_TS_ONLY = """
(import_require_clause source: (_) @src) @require
"""
QUERIES = {
    "javascript": _COMMON,
    "typescript": _COMMON + _TS_ONLY,
    "tsx": _COMMON + _TS_ONLY,
}


_REFERENCE = re.compile(rb'^[ \t]*///[ \t]*<reference[ \t]+path=["\']([^"\']+)["\']', re.M)


def references(data: bytes) -> list[RawImport]:
    """Triple-slash ``/// <reference path="..." />`` directives (TypeScript)."""
    if b"<reference" not in data:
        return []
    return [RawImport(m.group(1).decode("utf-8", "replace"), EdgeKind.REFERENCE,
                      data.count(b"\n", 0, m.start()) + 1) for m in _REFERENCE.finditer(data)]


def _type_only(stmt) -> bool:
    # `import type {X} from` / `export type {X} from`: a bare `type` keyword child
    return any(c.type == "type" for c in stmt.children)


def extract(lang: str, root) -> list[RawImport]:
    out: list[RawImport] = []
    for _p, caps in matches(lang, QUERIES[lang], root):
        src = caps["src"][0]
        value = string_value(src)
        if "import" in caps:
            stmt = caps["import"][0]
            if stmt.parent is not None and stmt.parent.type == "import_statement":
                continue
            kind = EdgeKind.TYPE_ONLY if _type_only(stmt) else EdgeKind.IMPORT
        elif "export" in caps:
            stmt = caps["export"][0]
            kind = EdgeKind.TYPE_ONLY if _type_only(stmt) else EdgeKind.RE_EXPORT
        elif "require" in caps:
            kind = EdgeKind.REQUIRE
        else:
            kind = EdgeKind.DYNAMIC
        out.append(RawImport(value if value is not None else "", kind if value is not None
                             else EdgeKind.DYNAMIC, line(src)))
    return out


def imports_of(language: str, root, data: bytes) -> list[RawImport]:
    """The registry's extractor (``graph_jobs.languages``): static imports, then the
    references the grammar does not see (``require`` in templates and the like)."""
    return extract(language, root) + references(data)
