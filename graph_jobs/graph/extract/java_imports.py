"""Java imports: single-type, on-demand (``.*``) and static imports, plus the file's
package (needed to resolve by package/class path).

Classes of a file's own package need no import, so the file's type names (``Foo x``,
``new Foo()``, ``extends Foo``, ``Foo<Bar>``, ``Foo.class``) and the capitalised
receivers of static calls and fields (``Foo.run()``, ``Foo.X``) are kept too, once
each, as ``SAME_PACKAGE`` candidates; the resolver keeps those that name a class of
the package."""

from __future__ import annotations

from graph_jobs.graph.extract._query import line, matches, text
from graph_jobs.models import EdgeKind, RawImport

QUERY = """
(package_declaration (_) @package)
(import_declaration) @import
(type_identifier) @name
(method_invocation object: (identifier) @name)
(field_access object: (identifier) @name)
"""


def extract(root) -> list[RawImport]:
    """One pass over the tree: the package, the imports, and the type names used."""
    out, first = [], {}
    for _p, caps in matches("java", QUERY, root):
        if "name" in caps:
            node = caps["name"][0]
            name = text(node)
            if name[:1].isupper() and name not in first:
                first[name] = line(node)
            continue
        if "package" in caps:
            out.append(RawImport(text(caps["package"][0]), EdgeKind.IMPORT, 0, ("package",)))
            continue
        node = caps["import"][0]
        names = [c for c in node.named_children if c.type in ("scoped_identifier", "identifier")]
        if not names:
            continue
        flags = []
        if any(c.type == "asterisk" for c in node.children):
            flags.append("*")
        if any(c.type == "static" for c in node.children):
            flags.append("static")
        out.append(RawImport(text(names[0]).replace(" ", ""), EdgeKind.IMPORT, line(node),
                             tuple(flags)))
    # each capitalised type or receiver name, at its first line: a same-package candidate
    return out + [RawImport(n, EdgeKind.SAME_PACKAGE, ln) for n, ln in first.items()]


def imports_of(language: str, root, data: bytes) -> list[RawImport]:
    """The registry's extractor (``graph_jobs.languages``)."""
    return extract(root)
