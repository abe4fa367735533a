"""Resolve Java imports by package and class: ``import a.b.C`` goes to the file that
declares ``package a.b`` and is named ``C.java``; ``a.b.*`` to every file of ``a.b``;
``import static a.b.C.m`` to ``C``.

Same-package uses (``EdgeKind.SAME_PACKAGE``: a type name the file uses without an
import) go to the class of that name in the file's own package, unless a single-type
import of the file brings another class of that simple name, which shadows it. A name
that is no class of the package (``String``, a type parameter, a nested class) is no
edge and is not counted as unresolved either."""

from __future__ import annotations

import posixpath
from collections import defaultdict

from graph_jobs.graph.resolve.resolution import NOTHING, Resolution
from graph_jobs.models import EdgeKind, RawImport, Unresolved

STDLIB_PREFIXES = ("java.", "javax.", "jdk.", "sun.", "com.sun.", "org.w3c.", "org.xml.")


class JavaResolver:
    def __init__(self, packages: dict[str, str],
                 imported_names: dict[str, set[str]] | None = None):
        """``packages``: java file path -> its declared package ('' for none);
        ``imported_names``: file path -> simple names its single-type imports bring."""
        self.packages = packages
        self.imported_names = imported_names or {}
        self.classes: dict[str, str] = {}
        self.by_package: dict[str, list[str]] = defaultdict(list)
        for path, pkg in sorted(packages.items()):
            cls = posixpath.basename(path)[: -len(".java")]
            self.classes.setdefault(f"{pkg}.{cls}" if pkg else cls, path)
            self.by_package[pkg].append(path)

    def resolve(self, source: str, imp: RawImport) -> Resolution:
        if imp.names == ("package",):
            return NOTHING
        if imp.kind is EdgeKind.SAME_PACKAGE:
            return self._same_package(source, imp)
        name = imp.spec
        if "*" in imp.names:
            files = self.by_package.get(name)
            if files:
                return Resolution.to(imp.kind.value, *(f for f in files if f != source))
            if (hit := self.classes.get(name)) is not None:  # static import a.b.C.*
                return Resolution.to(imp.kind.value, hit)
        else:
            parts = name.split(".")
            for i in range(len(parts), 0, -1):  # a.b.C.Inner / static a.b.C.m -> a.b.C
                if (hit := self.classes.get(".".join(parts[:i]))) is not None:
                    return Resolution.to(imp.kind.value, hit)
        if name.startswith(STDLIB_PREFIXES):
            return Resolution.why(Unresolved.STDLIB)
        return Resolution.why(Unresolved.EXTERNAL)

    def _same_package(self, source: str, imp: RawImport) -> Resolution:
        if imp.spec in self.imported_names.get(source, ()):
            return NOTHING
        pkg = self.packages.get(source, "")
        hit = self.classes.get(f"{pkg}.{imp.spec}" if pkg else imp.spec)
        if hit is None or hit == source:
            return NOTHING
        return Resolution.to(imp.kind.value, hit)


def for_repository(inputs) -> JavaResolver:
    """The registry's resolver factory (``graph_jobs.languages``): each file's package,
    from its ``package`` declaration, and the simple names of its single-type imports."""
    packages, imported = {}, {}
    for p in inputs.paths:
        imps = inputs.imports.get(p, [])
        decl = [i.spec for i in imps if i.names == ("package",)]
        packages[p] = decl[0] if decl else ""
        imported[p] = {i.spec.rsplit(".", 1)[-1] for i in imps
                       if i.kind is EdgeKind.IMPORT and not i.names}
    return JavaResolver(packages, imported)
