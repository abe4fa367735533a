"""Resolve Go import paths by module path (every go.mod in the repository, read with the
guarded reader: a refused go.mod is in ``skipped`` and its module resolves as external).

A Go import names a package, i.e. a directory: the edge goes to each non-test
``.go`` file of that directory."""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from pathlib import Path

from graph_jobs.graph.repo_files import RepoFiles, read_manifest
from graph_jobs.graph.resolve.resolution import NOTHING, Resolution
from graph_jobs.models import RawImport, SkippedFile, Unresolved

_MODULE = re.compile(r"^\s*module\s+(\S+)", re.M)


class GoResolver:
    def __init__(self, root: Path, source_paths: set[str], all_paths: set[str],
                 files: RepoFiles | None = None, skipped: list[SkippedFile] | None = None):
        files = files or RepoFiles(root)
        skipped = [] if skipped is None else skipped
        self.modules: list[tuple[str, str]] = []  # (module path, dir), longest first
        for p in sorted(all_paths):
            if posixpath.basename(p) == "go.mod":
                text = read_manifest(files, p, skipped)
                m = _MODULE.search(text) if text is not None else None
                if m:
                    self.modules.append((m.group(1).strip('"'), posixpath.dirname(p)))
        self.modules.sort(key=lambda t: -len(t[0]))
        self.by_dir: dict[str, list[str]] = defaultdict(list)
        for p in sorted(source_paths):
            if p.endswith(".go") and not p.endswith("_test.go"):
                self.by_dir[posixpath.dirname(p)].append(p)

    def resolve(self, source: str, imp: RawImport) -> Resolution:
        if imp.names == ("package",):
            return NOTHING
        spec = imp.spec
        for mod, d in self.modules:
            if spec == mod or spec.startswith(mod + "/"):
                rest = spec[len(mod) + 1:]
                target_dir = posixpath.join(d, rest) if d else rest
                files = self.by_dir.get(target_dir.rstrip("/"))
                if not files:
                    return Resolution.why(Unresolved.MISSING)
                return Resolution.to(imp.kind.value, *(f for f in files if f != source))
        if "." not in spec.split("/", 1)[0]:
            return Resolution.why(Unresolved.STDLIB)
        return Resolution.why(Unresolved.EXTERNAL)


def for_repository(inputs) -> GoResolver:
    """The registry's resolver factory (``graph_jobs.languages``)."""
    return GoResolver(inputs.root, inputs.paths, inputs.all_paths, inputs.files, inputs.skipped)
