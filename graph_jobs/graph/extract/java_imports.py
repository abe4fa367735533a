"""Java imports: single-type, on-demand (``.*``) and static imports, plus the file's
package (needed to resolve by package/class path)."""

from __future__ import annotations

from graph_jobs.graph.extract._query import line, matches, text
from graph_jobs.models import EdgeKind, RawImport

QUERY = """
(package_declaration (_) @package)
(import_declaration) @import
"""


def extract(root) -> list[RawImport]:
    out = []
    for _p, caps in matches("java", QUERY, root):
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
    return out


def imports_of(language: str, root, data: bytes) -> list[RawImport]:
    """The registry's extractor (``graph_jobs.languages``)."""
    return extract(root)
