"""Import extraction with tree-sitter, one module per language family.

``extract_imports(language, data)`` parses bytes (any encoding: tree-sitter reads
bytes; UTF-16/32 with a BOM is transcoded first) and returns the imports
tree-sitter could recover, also from files with syntax errors.
"""

from __future__ import annotations

import codecs

from graph_jobs.languages import LANGUAGES, load, parser
from graph_jobs.models import RawImport

# Bump when extraction changes: cached results of older versions are not used.
EXTRACTOR_VERSION = 9  # 6-9: declarations (issue 30) beside the imports

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def to_utf8_bytes(data: bytes) -> bytes:
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return data.decode(enc, "replace").encode("utf-8")
    return data


def _last_import_token(data: bytes) -> int:
    """Offset of the last ``import`` that can start an import: the keyword, or the name
    in ``import_module`` / ``__import__``; not words such as ``imports``, ``important``
    or ``importlib`` (whose ``import_module`` call has its own match)."""
    i = len(data)
    while (i := data.rfind(b"import", 0, i)) >= 0:
        after = data[i + 6:i + 7]
        if not (after.isalnum() or after == b"_") or data.startswith((b"import_module", b"import__"), i):
            return i
    return -1


def python_import_prefix(data: bytes) -> bytes:
    """The part of a Python file that can hold imports: up to the end of the statement
    holding the last ``import`` token (a parenthesised or backslash-continued list
    included), extended past a triple-quoted string left open at that point. Nothing
    after it can import anything, so the parser need not read it."""
    i = _last_import_token(data)
    if i < 0:
        return b""
    depth, j, n = 0, i, len(data)
    while j < n:
        c = data[j]
        if c == 40:  # (
            depth += 1
        elif c == 41:  # )
            depth -= 1
        elif c == 10 and depth <= 0 and data[j - 1] != 92:  # newline, not after a backslash
            break
        j += 1
    cut = min(j + 1, n)
    head = data[:cut]
    for quote in (b'"""', b"'''"):
        if head.count(quote) % 2:
            close = data.find(quote, cut)
            cut = n if close < 0 else close + 3
            head = data[:cut]
    return head


def extract_imports(language: str, data: bytes) -> tuple[list[RawImport], bool]:
    """(imports, had_syntax_errors) for one file's content, by the language's registry
    entry (``graph_jobs.languages.LANGUAGES``)."""
    spec = LANGUAGES.get(language)
    if spec is None:
        raise KeyError(language)
    data = to_utf8_bytes(data)
    if spec.prepare:
        data = load(spec.prepare)(data)
    root = parser(language).parse(data).root_node
    return load(spec.extractor)(language, root, data), root.has_error


def extract_file(language: str, data: bytes) -> tuple[list[RawImport], bool, dict[str, int]]:
    """(imports, had_syntax_errors, declarations) from one parse of the whole file: the
    imports as :func:`extract_imports` finds them, and what the file declares
    (:mod:`graph_jobs.graph.extract.declarations`, for the role vector). The whole file
    is parsed, also where ``prepare`` would trim it (declarations follow the imports)."""
    from graph_jobs.graph.extract.declarations import declarations_of

    spec = LANGUAGES.get(language)
    if spec is None:
        raise KeyError(language)
    data = to_utf8_bytes(data)
    root = parser(language).parse(data).root_node
    imports = load(spec.extractor)(language, root, data)
    return imports, root.has_error, declarations_of(spec.family, root, data, imports)
