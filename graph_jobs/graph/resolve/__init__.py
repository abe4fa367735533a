"""Import resolution, one resolver per language, chosen by ``resolver_for``."""

from __future__ import annotations

from pathlib import Path

from graph_jobs.graph.resolve.c_resolver import CResolver
from graph_jobs.graph.resolve.go_resolver import GoResolver
from graph_jobs.graph.resolve.java_resolver import JavaResolver
from graph_jobs.graph.resolve.js_resolver import JsResolver
from graph_jobs.graph.resolve.python_resolver import PythonResolver
from graph_jobs.graph.resolve.rust_resolver import RustResolver
from graph_jobs.models import RawImport

FAMILY = {"python": "python", "javascript": "js", "typescript": "js", "tsx": "js",
          "go": "go", "java": "java", "rust": "rust", "c": "c", "cpp": "c"}


class Resolvers:
    """Builds each language's resolver on first use for one repository."""

    def __init__(self, root: Path, files: dict[str, str], all_paths: set[str],
                 imports: dict[str, list[RawImport]]):
        self.root, self.files, self.all_paths, self.imports = root, files, all_paths, imports
        self._made: dict[str, object] = {}

    def _paths(self, family: str) -> set[str]:
        return {p for p, lang in self.files.items() if FAMILY[lang] == family}

    def get(self, language: str):
        fam = FAMILY[language]
        if fam not in self._made:
            if fam == "python":
                r = PythonResolver(self._paths(fam))
            elif fam == "js":
                r = JsResolver(self.root, self._paths(fam), self.all_paths)
            elif fam == "go":
                r = GoResolver(self.root, self._paths(fam), self.all_paths)
            elif fam == "java":
                pk = {}
                for p in self._paths(fam):
                    decl = [i.spec for i in self.imports.get(p, []) if i.names == ("package",)]
                    pk[p] = decl[0] if decl else ""
                r = JavaResolver(pk)
            elif fam == "rust":
                r = RustResolver(self.root, self._paths(fam), self.all_paths)
            else:
                r = CResolver(self._paths(fam))
            self._made[fam] = r
        return self._made[fam]
