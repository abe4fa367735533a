"""The languages Pharos reads: one registry entry each (issue 16).

An entry says everything about a language: its file extensions, its tree-sitter grammar
(from the per-language ``tree-sitter-<lang>`` wheel, which carries the compiled parser
and works offline), the function that extracts its imports, and the resolver that turns
them into files. Adding a language is adding an entry to :data:`LANGUAGES` (and writing
its extractor and resolver). References are ``"module:attribute"`` strings, loaded on
first use, so that this module imports nothing heavy and nothing of the graph stage.

- ``family``: languages whose files import each other share one resolver per repository
  (JavaScript, TypeScript and TSX; C and C++).
- an extractor is ``f(language, syntax_tree_root, source_bytes) -> list[RawImport]``;
  ``prepare``, if any, trims the bytes before parsing (Python reads only up to its last
  import);
- a resolver factory is ``f(ResolverInputs) -> Resolver`` (``graph_jobs.graph.resolve``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the parser is loaded on first use: the ingress reads the registry
    from tree_sitter import Language, Parser  # (role families, extensions) without it

_EXTRACT = "graph_jobs.graph.extract"
_RESOLVE = "graph_jobs.graph.resolve"


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    name: str
    extensions: tuple[str, ...]
    grammar: str  # "module:function" returning the tree-sitter language
    family: str
    extractor: str  # "module:function": (language, root, data) -> imports
    resolver: str  # "module:function": (ResolverInputs) -> resolver
    reported: str | None = None  # the name users see, when it differs (tsx: typescript)
    prepare: str | None = None  # "module:function": bytes -> bytes, before parsing


_JS_EXTRACT = f"{_EXTRACT}.js_imports:imports_of"
_JS_RESOLVE = f"{_RESOLVE}.js_resolver:for_repository"
_C_EXTRACT = f"{_EXTRACT}.c_imports:imports_of"
_C_RESOLVE = f"{_RESOLVE}.c_resolver:for_repository"

LANGUAGES: dict[str, LanguageSpec] = {s.name: s for s in (
    LanguageSpec("python", (".py", ".pyi"), "tree_sitter_python:language", "python",
                 f"{_EXTRACT}.python_imports:imports_of",
                 f"{_RESOLVE}.python_resolver:for_repository",
                 prepare=f"{_EXTRACT}:python_import_prefix"),
    LanguageSpec("javascript", (".js", ".jsx", ".mjs", ".cjs"),
                 "tree_sitter_javascript:language", "js", _JS_EXTRACT, _JS_RESOLVE),
    LanguageSpec("typescript", (".ts", ".mts", ".cts"),
                 "tree_sitter_typescript:language_typescript", "js", _JS_EXTRACT, _JS_RESOLVE),
    LanguageSpec("tsx", (".tsx",), "tree_sitter_typescript:language_tsx", "js", _JS_EXTRACT,
                 _JS_RESOLVE, reported="typescript"),
    LanguageSpec("go", (".go",), "tree_sitter_go:language", "go",
                 f"{_EXTRACT}.go_imports:imports_of", f"{_RESOLVE}.go_resolver:for_repository"),
    LanguageSpec("java", (".java",), "tree_sitter_java:language", "java",
                 f"{_EXTRACT}.java_imports:imports_of",
                 f"{_RESOLVE}.java_resolver:for_repository"),
    LanguageSpec("rust", (".rs",), "tree_sitter_rust:language", "rust",
                 f"{_EXTRACT}.rust_imports:imports_of",
                 f"{_RESOLVE}.rust_resolver:for_repository"),
    LanguageSpec("c", (".c", ".h"), "tree_sitter_c:language", "c", _C_EXTRACT, _C_RESOLVE),
    LanguageSpec("cpp", (".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".ipp"),
                 "tree_sitter_cpp:language", "c", _C_EXTRACT, _C_RESOLVE),
)}

EXTENSIONS: dict[str, str] = {ext: s.name for s in LANGUAGES.values() for ext in s.extensions}
# The language a file is reported under (tsx is TypeScript for the user).
REPORTED: dict[str, str] = {s.name: s.reported for s in LANGUAGES.values() if s.reported}
FAMILY: dict[str, str] = {s.name: s.family for s in LANGUAGES.values()}


def load(ref: str):
    """The object a ``"module:attribute"`` reference names."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def language_of(path: str) -> str | None:
    dot = path.rfind(".")
    if dot < 0 or "/" in path[dot:]:
        return None
    return EXTENSIONS.get(path[dot:].lower())


@cache
def grammar(name: str) -> Language:
    spec = LANGUAGES.get(name)
    if spec is None:
        raise KeyError(f"no grammar for {name!r}")
    from tree_sitter import Language

    return Language(load(spec.grammar)())


@cache
def parser(name: str) -> Parser:
    from tree_sitter import Parser

    return Parser(grammar(name))
