"""Import resolution: one resolver per language family and repository, made by the
factory the language's registry entry names (``graph_jobs.languages``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from graph_jobs.graph.repo_files import RepoFiles
from graph_jobs.graph.resolve.resolution import NOTHING, Resolution, Target
from graph_jobs.languages import FAMILY, LANGUAGES, load
from graph_jobs.models import RawImport, SkippedFile

__all__ = ["NOTHING", "Resolution", "Resolver", "ResolverInputs", "Resolvers", "Target"]


class Resolver(Protocol):
    """One language family's resolver for one repository: what ``imp``, written in
    ``source``, reaches (:class:`Resolution`)."""

    def resolve(self, source: str, imp: RawImport) -> Resolution: ...


@dataclass(frozen=True, slots=True)
class ResolverInputs:
    """What a resolver factory gets: the repository, its family's source files, every
    tracked path, and each file's extracted imports; the guarded reader its manifests
    are read with (:func:`~graph_jobs.graph.repo_files.read_manifest`), and the list a
    refused manifest is recorded in."""

    root: Path
    paths: set[str]
    all_paths: set[str]
    imports: dict[str, list[RawImport]]
    files: RepoFiles | None = None  # None: a reader of ``root`` of the resolver's own
    skipped: list[SkippedFile] = field(default_factory=list)


class Resolvers:
    """Builds each language family's resolver on first use for one repository, from the
    registry (``graph_jobs.languages``). Manifests the resolvers refused to read are in
    ``skipped``."""

    def __init__(self, root: Path, files: dict[str, str], all_paths: set[str],
                 imports: dict[str, list[RawImport]]):
        self.root, self.files, self.all_paths, self.imports = root, files, all_paths, imports
        self.reader = RepoFiles(root)
        self.skipped: list[SkippedFile] = []
        self._made: dict[str, Resolver] = {}

    def _paths(self, family: str) -> set[str]:
        return {p for p, lang in self.files.items() if FAMILY[lang] == family}

    def get(self, language: str) -> Resolver:
        fam = FAMILY[language]
        if fam not in self._made:
            inputs = ResolverInputs(self.root, self._paths(fam), self.all_paths, self.imports,
                                    self.reader, self.skipped)
            self._made[fam] = load(LANGUAGES[language].resolver)(inputs)
        return self._made[fam]
