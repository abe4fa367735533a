"""Rust module edges: ``mod x;`` declarations and ``use`` paths (use trees expanded:
``use crate::a::{b, c::d as e}`` gives ``crate::a::b`` and ``crate::a::c::d``)."""

from __future__ import annotations

from graph_jobs.graph.extract._query import line, matches, text
from graph_jobs.models import EdgeKind, RawImport

QUERY = """
(mod_item name: (identifier) @name !body) @mod
(use_declaration argument: (_) @arg) @use
"""


def _expand(node, prefix: str, out: list[str]) -> None:
    t = node.type
    def join(s):
        return (f"{prefix}::{s}" if prefix else s)
    if t == "scoped_use_list":
        path = node.child_by_field_name("path")
        base = join(text(path).replace(" ", "")) if path is not None else prefix
        lst = node.child_by_field_name("list")
        if lst is not None:
            _expand(lst, base, out)
    elif t == "use_list":
        for c in node.named_children:
            _expand(c, prefix, out)
    elif t == "use_as_clause":
        path = node.child_by_field_name("path")
        if path is not None:
            _expand(path, prefix, out)
    elif t == "use_wildcard":
        inner = node.named_children
        out.append(join(text(inner[0]).replace(" ", "")) if inner else prefix)
    elif t == "self":
        out.append(prefix)
    elif t in ("identifier", "scoped_identifier", "crate", "super", "metavariable"):
        out.append(join(text(node).replace(" ", "")))


def extract(root) -> list[RawImport]:
    out = []
    for _p, caps in matches("rust", QUERY, root):
        if "mod" in caps:
            out.append(RawImport(text(caps["name"][0]), EdgeKind.MOD, line(caps["mod"][0])))
        else:
            paths: list[str] = []
            _expand(caps["arg"][0], "", paths)
            for p in paths:
                out.append(RawImport(p, EdgeKind.IMPORT, line(caps["use"][0])))
    return out


def imports_of(language: str, root, data: bytes) -> list[RawImport]:
    """The registry's extractor (``graph_jobs.languages``)."""
    return extract(root)
