"""Python imports: ``import``, ``from ... import``, ``importlib.import_module("x")``,
``__import__("x")``, wherever they are (functions, try/except, conditionals).
Imports in the body of ``if TYPE_CHECKING:`` are flagged ``type_checking``."""

from __future__ import annotations

from tree_sitter import Node

from graph_jobs.extract._query import line, matches, string_value, text
from graph_jobs.models import EdgeKind, RawImport

QUERY = """
(import_statement) @import
(import_from_statement) @from
(call
  function: [(identifier) (attribute)] @fn
  arguments: (argument_list . (_) @arg)
  (#match? @fn "^(importlib\\\\.)?(import_module|__import__)$"))
"""


def _under_type_checking(node: Node) -> bool:
    child, parent = node, node.parent
    while parent is not None:
        if parent.type == "if_statement":
            cond = parent.child_by_field_name("condition")
            body = parent.child_by_field_name("consequence")
            if cond is not None and body is not None and child == body and "TYPE_CHECKING" in text(cond):
                return True
        child, parent = parent, parent.parent
    return False


def _dotted(node: Node) -> str:
    if node.type == "aliased_import":
        node = node.child_by_field_name("name")
    return text(node).replace(" ", "")


def extract(root: Node) -> list[RawImport]:
    out: list[RawImport] = []
    for _pattern, caps in matches("python", QUERY, root):
        if "import" in caps:
            node = caps["import"][0]
            tc = _under_type_checking(node)
            for name in node.children_by_field_name("name"):
                out.append(RawImport(_dotted(name), EdgeKind.IMPORT, line(node), type_checking=tc))
        elif "from" in caps:
            node = caps["from"][0]
            mod = node.child_by_field_name("module_name")
            if mod is None:
                continue
            level, spec = 0, ""
            if mod.type == "relative_import":
                for c in mod.children:
                    if c.type == "import_prefix":
                        level = text(c).count(".")
                    elif c.type == "dotted_name":
                        spec = _dotted(c)
            else:
                spec = _dotted(mod)
            names = tuple(_dotted(n) for n in node.children_by_field_name("name"))
            if any(c.type == "wildcard_import" for c in node.children):
                names = ("*",)
            out.append(
                RawImport(spec, EdgeKind.FROM_IMPORT, line(node), names, level,
                          _under_type_checking(node))
            )
        else:
            arg = caps["arg"][0]
            value = string_value(arg) if arg.type == "string" else None
            level = 0
            if value is not None and value.startswith("."):
                # import_module(".x", package=__name__): relative to the file's package
                level = len(value) - len(value.lstrip("."))
                value = value[level:]
            out.append(RawImport(value if value is not None else "", EdgeKind.DYNAMIC,
                                 line(arg), level=level))
    return out
