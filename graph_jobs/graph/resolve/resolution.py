"""What a resolver says about one import: the files it reaches, each with its edge kind,
and, apart from them, why a part of it reaches no file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    path: str  # repository-relative file the import reaches
    kind: str  # its edge kind (``EdgeKind`` value)


@dataclass(frozen=True, slots=True)
class Resolution:
    """``targets``: the files reached. ``unresolved``: why, for each part that reaches
    none (an ``Unresolved`` value, or ``"asset"``); python's ``from x import a, b`` can
    have both. Empty: nothing to resolve (a package declaration, a self-reference, a
    name that is no class of the package), which is not counted as an import."""

    targets: tuple[Target, ...] = ()
    unresolved: tuple[str, ...] = ()

    @classmethod
    def to(cls, kind: str, *paths: str) -> Resolution:
        return cls(tuple(Target(p, kind) for p in paths))

    @classmethod
    def why(cls, reason: str) -> Resolution:
        return cls((), (str(reason),))

    def __bool__(self) -> bool:
        return bool(self.targets or self.unresolved)


NOTHING = Resolution()
