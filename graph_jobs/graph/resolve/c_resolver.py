"""Resolve C/C++ ``#include`` directives.

Quoted includes are looked up relative to the including file, then in the include
directories (the repository root, every directory named ``include``, and ``src``);
``<...>`` includes only in the include directories. As a last resort a quoted include
matches a unique file whose path ends with it (a ``-I`` flag we cannot see)."""

from __future__ import annotations

import posixpath
from collections import defaultdict

from graph_jobs.graph.resolve.resolution import Resolution
from graph_jobs.models import RawImport, Unresolved


class CResolver:
    def __init__(self, source_paths: set[str]):
        self.files = set(source_paths)
        dirs = {posixpath.dirname(p) for p in self.files}
        inc = {""}
        for d in dirs:
            parts = d.split("/")
            for i, part in enumerate(parts):
                if part in ("include", "src", "inc"):
                    inc.add("/".join(parts[: i + 1]))
        self.include_dirs = sorted(inc, key=len)
        self.by_tail: dict[str, list[str]] = defaultdict(list)
        for p in self.files:
            parts = p.split("/")
            for i in range(1, len(parts)):
                self.by_tail["/".join(parts[i:])].append(p)

    def resolve(self, source: str, imp: RawImport) -> Resolution:
        spec = imp.spec
        if not spec:
            return Resolution.why(Unresolved.DYNAMIC)
        system = "system" in imp.names
        cands = [] if system else [posixpath.join(posixpath.dirname(source), spec)]
        cands += [posixpath.join(d, spec) if d else spec for d in self.include_dirs]
        for c in cands:
            n = posixpath.normpath(c)
            if n in self.files:
                return Resolution.to(imp.kind.value, n)
        if not system and len(tails := self.by_tail.get(spec, [])) == 1:
            return Resolution.to(imp.kind.value, tails[0])
        if system:
            return Resolution.why(Unresolved.STDLIB if "." not in spec or spec.endswith(".h")
                                  and "/" not in spec else Unresolved.EXTERNAL)
        return Resolution.why(Unresolved.MISSING)


def for_repository(inputs) -> CResolver:
    """The registry's resolver factory (``graph_jobs.languages``)."""
    return CResolver(inputs.paths)
