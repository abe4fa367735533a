"""Resolve Java imports by package and class: ``import a.b.C`` goes to the file that
declares ``package a.b`` and is named ``C.java``; ``a.b.*`` to every file of ``a.b``;
``import static a.b.C.m`` to ``C``. Same-package references need no import and are
not seen (that would take type resolution)."""

from __future__ import annotations

import posixpath
from collections import defaultdict

from graph_jobs.models import RawImport, Unresolved

STDLIB_PREFIXES = ("java.", "javax.", "jdk.", "sun.", "com.sun.", "org.w3c.", "org.xml.")


class JavaResolver:
    def __init__(self, packages: dict[str, str]):
        """``packages``: java file path -> its declared package ('' for none)."""
        self.classes: dict[str, str] = {}
        self.by_package: dict[str, list[str]] = defaultdict(list)
        for path, pkg in sorted(packages.items()):
            cls = posixpath.basename(path)[: -len(".java")]
            self.classes.setdefault(f"{pkg}.{cls}" if pkg else cls, path)
            self.by_package[pkg].append(path)

    def resolve(self, source: str, imp: RawImport) -> list[tuple[str | None, str]]:
        if imp.names == ("package",):
            return []
        name = imp.spec
        if "*" in imp.names:
            files = self.by_package.get(name)
            if files:
                return [(f, imp.kind.value) for f in files if f != source]
            if (hit := self.classes.get(name)) is not None:  # static import a.b.C.*
                return [(hit, imp.kind.value)]
        else:
            parts = name.split(".")
            for i in range(len(parts), 0, -1):  # a.b.C.Inner / static a.b.C.m -> a.b.C
                if (hit := self.classes.get(".".join(parts[:i]))) is not None:
                    return [(hit, imp.kind.value)]
        if name.startswith(STDLIB_PREFIXES):
            return [(None, Unresolved.STDLIB.value)]
        return [(None, Unresolved.EXTERNAL.value)]


def for_repository(inputs) -> JavaResolver:
    """The registry's resolver factory (``graph_jobs.languages``): each file's package,
    from its ``package`` declaration."""
    packages = {}
    for p in inputs.paths:
        decl = [i.spec for i in inputs.imports.get(p, []) if i.names == ("package",)]
        packages[p] = decl[0] if decl else ""
    return JavaResolver(packages)
