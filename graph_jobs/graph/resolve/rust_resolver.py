"""Resolve Rust ``mod x;`` and ``use`` paths to files.

Crates are found from each Cargo.toml (``src/lib.rs``, ``src/main.rs``; read with the
guarded reader, a refused one is in ``skipped``); a file's
module path follows the 2018 layout (``a.rs`` or ``a/mod.rs`` for ``crate::a``).
``use crate::``, ``self::``, ``super::`` and other workspace crates by name resolve to
the longest module prefix that is a file; ``std``/``core``/``alloc`` are stdlib."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from graph_jobs.graph.repo_files import RepoFiles, read_manifest
from graph_jobs.graph.resolve.resolution import NOTHING, Resolution
from graph_jobs.models import RawImport, SkippedFile, Unresolved

_NAME = re.compile(r'^\s*name\s*=\s*"([^"]+)"', re.M)
STD = frozenset({"std", "core", "alloc", "proc_macro", "test"})


class RustResolver:
    def __init__(self, root: Path, source_paths: set[str], all_paths: set[str],
                 files: RepoFiles | None = None, skipped: list[SkippedFile] | None = None):
        files = files or RepoFiles(root)
        skipped = [] if skipped is None else skipped
        self.files = {p for p in source_paths if p.endswith(".rs")}
        self.crates: dict[str, str] = {}  # crate name -> src dir
        self.crate_dirs: list[str] = []
        for p in sorted(all_paths):
            if posixpath.basename(p) == "Cargo.toml":
                d = posixpath.dirname(p)
                src = posixpath.join(d, "src") if d else "src"
                self.crate_dirs.append(src)
                text = read_manifest(files, p, skipped)
                m = _NAME.search(text) if text is not None else None
                if m:
                    self.crates[m.group(1).replace("-", "_")] = src
        if not self.crate_dirs:
            self.crate_dirs.append("src")
        self.crate_dirs.sort(key=len, reverse=True)
        self.module_file: dict[tuple[str, ...], str] = {}
        self.file_module: dict[str, tuple[str, tuple[str, ...]]] = {}
        for p in self.files:
            src = next((c for c in self.crate_dirs if p.startswith(c + "/")), None)
            if src is None:
                continue
            parts = p[len(src) + 1:][: -len(".rs")].split("/")
            if parts[-1] in ("mod",) or (len(parts) == 1 and parts[0] in ("lib", "main")):
                parts = parts[:-1]
            self.module_file[(src, *parts)] = p
            self.file_module[p] = (src, tuple(parts))

    def _dir_of(self, source: str) -> str:
        base = posixpath.basename(source)
        d = posixpath.dirname(source)
        if base in ("mod.rs", "lib.rs", "main.rs"):
            return d
        return posixpath.join(d, base[: -len(".rs")])

    def _longest(self, src: str, parts: list[str]) -> str | None:
        for i in range(len(parts), -1, -1):
            if (hit := self.module_file.get((src, *parts[:i]))) is not None:
                return hit
        return None

    def resolve(self, source: str, imp: RawImport) -> Resolution:
        kind = imp.kind.value
        if imp.kind.value == "mod":
            d = self._dir_of(source)
            for c in (f"{d}/{imp.spec}.rs", f"{d}/{imp.spec}/mod.rs"):
                if c in self.files:
                    return Resolution.to(kind, c)
            return Resolution.why(Unresolved.MISSING)
        parts = [p for p in imp.spec.split("::") if p]
        if not parts:
            return Resolution.why(Unresolved.MISSING)
        head = parts[0]
        if head in STD:
            return Resolution.why(Unresolved.STDLIB)
        where = self.file_module.get(source)
        if head == "crate" and where:
            hit = self._longest(where[0], parts[1:])
        elif head in ("self", "super") and where:
            mod = list(where[1])
            while parts and parts[0] in ("self", "super"):
                if parts.pop(0) == "super" and mod:
                    mod.pop()
            hit = self._longest(where[0], mod + parts)
        elif head in self.crates:
            hit = self._longest(self.crates[head], parts[1:])
        elif where and (where[0], *where[1], head) in self.module_file:
            hit = self._longest(where[0], [*where[1], *parts])  # 2018: a child module
        else:
            return Resolution.why(Unresolved.EXTERNAL)
        if hit is None or hit == source:
            return NOTHING if hit == source else Resolution.why(Unresolved.MISSING)
        return Resolution.to(kind, hit)


def for_repository(inputs) -> RustResolver:
    """The registry's resolver factory (``graph_jobs.languages``)."""
    return RustResolver(inputs.root, inputs.paths, inputs.all_paths, inputs.files,
                        inputs.skipped)
