"""Plain data passed between the stages of the graph job."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field


class EdgeKind(enum.StrEnum):
    IMPORT = "import"  # python `import x`, go/java/c imports, rust `use`
    FROM_IMPORT = "from-import"  # python `from x import y`
    REQUIRE = "require"  # js `require("x")`
    DYNAMIC = "dynamic"  # js `import("x")`, python importlib.import_module("x")
    RE_EXPORT = "re-export"  # js `export ... from "x"`
    TYPE_ONLY = "type-only"  # ts `import type`, python under TYPE_CHECKING
    INCLUDE = "include"  # c/c++ `#include "x"`
    MOD = "mod"  # rust `mod x;`
    REFERENCE = "reference"  # ts `/// <reference path="x" />`
    SAME_PACKAGE = "same-package"  # java: a class of the file's own package, used by name


class Unresolved(enum.StrEnum):
    EXTERNAL = "external"  # a package from outside the repository
    STDLIB = "stdlib"  # the language's standard library
    MISSING = "missing"  # looks internal (relative, alias) but no such file
    DYNAMIC = "dynamic"  # computed at run time, no literal to follow
    NO_FILE = "no-file"  # resolves to something with no file (namespace dir)


@dataclass(slots=True)
class RawImport:
    """One import as written in a file, before resolution."""

    spec: str  # module / path / package as written (python: dotted, without dots)
    kind: EdgeKind
    line: int
    names: tuple[str, ...] = ()  # python `from spec import names`
    level: int = 0  # python relative level (number of leading dots)
    type_checking: bool = False  # python: under `if TYPE_CHECKING:`

    def to_tuple(self) -> tuple:
        return (self.spec, self.kind.value, self.line, self.names, self.level, self.type_checking)

    @classmethod
    def from_tuple(cls, t) -> RawImport:
        return cls(t[0], EdgeKind(t[1]), t[2], tuple(t[3]), t[4], t[5])


@dataclass(slots=True)
class SourceFile:
    path: str  # repo-relative, '/' separated
    language: str
    size: int
    blob: str  # git blob id (sha1 of the content as git stores it)


@dataclass(slots=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(slots=True)
class Edge:
    source: str
    target: str
    kind: str
    line: int = 0


@dataclass(slots=True)
class UnresolvedImport:
    source: str
    spec: str
    kind: str
    reason: str
    line: int = 0


@dataclass
class LanguageStats:
    files: int = 0
    imports: int = 0
    resolved: int = 0
    unresolved: int = 0
    parse_errors: int = 0


@dataclass
class DependencyGraph:
    """The file-level dependency graph of one repository at one commit."""

    root: str
    commit: str | None
    files: list[SourceFile]
    edges: list[Edge]
    unresolved: list[UnresolvedImport]
    skipped: list[SkippedFile]
    stats: dict[str, LanguageStats] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cache_hits: int = 0
    parsed: int = 0  # files parsed in this run (not found in the cache)
    # path -> {word: count} of its identifiers (graph_jobs.graph.extract.terms)
    terms: dict[str, dict[str, int]] = field(default_factory=dict)
    # path -> {fact: count} of what it declares (graph_jobs.graph.extract.declarations)
    declarations: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json_dict(self) -> dict:
        return {
            "root": self.root,
            "commit": self.commit,
            "files": [f.path for f in self.files],
            "edges": [
                {"source": e.source, "target": e.target, "kind": e.kind, "line": e.line}
                for e in self.edges
            ],
            "unresolved": [asdict(u) for u in self.unresolved],
            "skipped": [asdict(s) for s in self.skipped],
            "stats": {
                "languages": {k: asdict(v) for k, v in sorted(self.stats.items())},
                "files": len(self.files),
                "edges": len(self.edges),
                "unresolved": len(self.unresolved),
                "skipped": len(self.skipped),
                "cache_hits": self.cache_hits,
                "parsed": self.parsed,
                "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            },
        }
