"""Which files are source code, in which language, and their tree-sitter grammars.

Grammars come from the per-language ``tree-sitter-<lang>`` wheels, which carry the
compiled parser and work offline. They are loaded lazily, once per process.
"""

from __future__ import annotations

from functools import cache

from tree_sitter import Language, Parser

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".java": "java",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".h++": "cpp",
    ".ipp": "cpp",
}

# The language a file is reported under (tsx is TypeScript for the user).
REPORTED = {"tsx": "typescript"}


def language_of(path: str) -> str | None:
    dot = path.rfind(".")
    if dot < 0 or "/" in path[dot:]:
        return None
    return EXTENSIONS.get(path[dot:].lower())


@cache
def grammar(name: str) -> Language:
    if name == "python":
        import tree_sitter_python as m

        return Language(m.language())
    if name == "javascript":
        import tree_sitter_javascript as m

        return Language(m.language())
    if name == "typescript":
        import tree_sitter_typescript as m

        return Language(m.language_typescript())
    if name == "tsx":
        import tree_sitter_typescript as m

        return Language(m.language_tsx())
    if name == "go":
        import tree_sitter_go as m

        return Language(m.language())
    if name == "java":
        import tree_sitter_java as m

        return Language(m.language())
    if name == "rust":
        import tree_sitter_rust as m

        return Language(m.language())
    if name == "c":
        import tree_sitter_c as m

        return Language(m.language())
    if name == "cpp":
        import tree_sitter_cpp as m

        return Language(m.language())
    raise KeyError(f"no grammar for {name!r}")


@cache
def parser(name: str) -> Parser:
    return Parser(grammar(name))
