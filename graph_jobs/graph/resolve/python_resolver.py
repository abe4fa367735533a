"""Resolve Python imports to files in the repository.

Module names come from *roots*: the repository root, ``src/``, and every directory
holding a top-level package (a directory with ``__init__.py`` whose parent has none),
so ``src/`` layouts and several roots in one repository work. Directories without
``__init__.py`` are namespace packages (PEP 420): their modules resolve, the
directory itself has no file (reason ``no-file``).

Semantics follow the interpreter (and grimp): ``import a.b.c`` depends on the module
``a.b.c``; ``from m import n`` depends on ``m.n`` when that is a module, else on ``m``.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable

from graph_jobs.graph.resolve.resolution import Resolution, Target
from graph_jobs.models import EdgeKind, RawImport, Unresolved

STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}


def _module_parts(rel: str) -> list[str] | None:
    parts = rel.split("/")
    last = parts[-1]
    for suffix in (".pyi", ".py"):
        if last.endswith(suffix):
            parts[-1] = last[: -len(suffix)]
            break
    if parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return parts


class PythonResolver:
    def __init__(self, paths: Iterable[str]):
        files = sorted(p for p in paths if p.endswith((".py", ".pyi")))
        # .py wins over its .pyi stub for the same module
        files.sort(key=lambda p: (p.rsplit(".", 1)[0], p.endswith(".pyi")))
        fileset = set(files)
        dirs_with_init = {p.rsplit("/", 1)[0] if "/" in p else "" for p in files
                          if p.endswith(("/__init__.py", "/__init__.pyi")) or p in ("__init__.py",)}
        self.root_of: dict[str, str] = {}
        roots: set[str] = {""}
        for p in files:
            # The root is the parent of the top-most regular package above the file,
            # crossing namespace directories (no __init__.py) inside a package; a file
            # with no package above it is a top-level module of its own directory.
            own = p.rsplit("/", 1)[0] if "/" in p else ""
            d, top = own, None
            while d:
                if d in dirs_with_init:
                    top = d
                d = d.rsplit("/", 1)[0] if "/" in d else ""
            root = (top.rsplit("/", 1)[0] if "/" in top else "") if top is not None else own
            self.root_of[p] = root
            roots.add(root)
        for special in ("src", "lib", "python"):
            if any(p.startswith(special + "/") for p in fileset):
                roots.add(special)
        self.package_roots = {self.root_of[p] for p in files if self.root_of[p] != (p.rsplit("/", 1)[0] if "/" in p else "")}
        self.modules: dict[str, dict[str, str]] = defaultdict(dict)  # name -> {root: path}
        self.namespaces: set[str] = set()
        for p in files:
            for r in roots:
                if r and not p.startswith(r + "/"):
                    continue
                rel = p[len(r) + 1:] if r else p
                parts = _module_parts(rel)
                if parts is None:
                    continue
                name = ".".join(parts)
                self.modules[name].setdefault(r, p)
                for i in range(1, len(parts)):
                    self.namespaces.add(".".join(parts[:i]))
        self.top_level = {n.split(".", 1)[0] for n in self.modules} | {
            n.split(".", 1)[0] for n in self.namespaces
        }
        self._root_rank = {r: (0 if r in self.package_roots else 1, len(r)) for r in roots}

    def module_name(self, path: str) -> str | None:
        root = self.root_of.get(path, "")
        rel = path[len(root) + 1:] if root else path
        parts = _module_parts(rel)
        return ".".join(parts) if parts else None

    def _lookup(self, name: str, from_root: str) -> str | None:
        cands = self.modules.get(name)
        if not cands:
            return None
        if from_root in cands:
            return cands[from_root]
        best = min(cands, key=lambda r: self._root_rank.get(r, (2, 0)))
        return cands[best]

    def resolve(self, source: str, imp: RawImport) -> Resolution:
        kind = EdgeKind.TYPE_ONLY if imp.type_checking else imp.kind
        if imp.kind is EdgeKind.DYNAMIC and not imp.spec and not imp.level:
            return Resolution.why(Unresolved.DYNAMIC)
        root = self.root_of.get(source, "")
        base = imp.spec
        if imp.level:
            pkg = self.module_name(source)
            if pkg is None:
                return Resolution.why(Unresolved.MISSING)
            parts = pkg.split(".") if pkg else []
            if not source.endswith(("__init__.py", "__init__.pyi")):
                parts = parts[:-1]
            up = imp.level - 1
            if up > len(parts):
                return Resolution.why(Unresolved.MISSING)
            parts = parts[: len(parts) - up] if up else parts
            base = ".".join([*parts, *( [imp.spec] if imp.spec else [])])
        else:
            top = base.split(".", 1)[0]
            if top not in self.top_level:
                reason = Unresolved.STDLIB if top in STDLIB else Unresolved.EXTERNAL
                return Resolution.why(reason)
        targets: list[str] = []
        why: list[str] = []
        if imp.kind is EdgeKind.FROM_IMPORT:
            to_base = False
            for n in imp.names:
                sub = self._lookup(f"{base}.{n}" if base else n, root) if n != "*" else None
                if sub is not None:
                    targets.append(sub)
                else:
                    to_base = True
            if to_base or not imp.names:
                target = self._lookup(base, root) if base else None
                if target is not None:
                    targets.append(target)
                elif base in self.namespaces or (not base and imp.level):
                    if not targets:
                        why.append(Unresolved.NO_FILE.value)
                else:
                    why.append(Unresolved.MISSING.value)
            return Resolution(tuple(Target(t, kind.value) for t in targets), tuple(why))
        target = self._lookup(base, root)
        if target is not None:
            return Resolution.to(kind.value, target)
        if base in self.namespaces:
            return Resolution.why(Unresolved.NO_FILE)
        return Resolution.why(Unresolved.MISSING)


def for_repository(inputs) -> PythonResolver:
    """The registry's resolver factory (``graph_jobs.languages``)."""
    return PythonResolver(inputs.paths)
