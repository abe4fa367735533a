"""Compiled tree-sitter queries, one per (language, text), cached per process."""

from __future__ import annotations

from functools import cache

from tree_sitter import Node, Query, QueryCursor

from graph_jobs.languages import grammar


@cache
def _query(lang: str, source: str) -> Query:
    return Query(grammar(lang), source)


def matches(lang: str, source: str, node: Node) -> list[tuple[int, dict[str, list[Node]]]]:
    """All matches of the query in ``node``: (pattern index, {capture: nodes})."""
    return QueryCursor(_query(lang, source)).matches(node)


def text(node: Node) -> str:
    return node.text.decode("utf-8", "replace") if node.text is not None else ""


def string_value(node: Node) -> str | None:
    """The literal value of a string node, or None when it is computed."""
    if node.type == "template_string":
        if any(c.type == "template_substitution" for c in node.children):
            return None
    elif node.type not in ("string", "interpreted_string_literal", "raw_string_literal",
                           "string_literal", "system_lib_string"):
        return None
    raw = text(node)
    return raw[1:-1] if len(raw) >= 2 else None


def line(node: Node) -> int:
    return node.start_point[0] + 1
