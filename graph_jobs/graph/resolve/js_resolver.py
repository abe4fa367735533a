"""Resolve JavaScript/TypeScript import specifiers to files in the repository.

Order, as TypeScript's ``bundler``/``node16`` resolution and dependency-cruiser do:
relative paths with extension probing (``.js`` written for a ``.ts`` file included),
``dir/index.*`` and ``dir/package.json``; ``#name`` through the nearest package.json
``imports``; tsconfig/jsconfig ``paths`` and ``baseUrl`` (following ``extends``);
workspace packages of a monorepo by their package.json ``name`` (and ``exports``).
Anything else is an external package (Node built-ins are ``stdlib``).
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from graph_jobs.graph.repo_files import RepoFiles
from graph_jobs.graph.resolve import jsonc
from graph_jobs.graph.resolve.resolution import NOTHING, Resolution
from graph_jobs.models import RawImport, SkippedFile, Unresolved

# TypeScript sources prefer TypeScript; JavaScript and declaration files prefer the
# JavaScript module that runs (what Node, bundlers and dependency-cruiser pick when a
# compiled `x.js` sits beside `x.d.ts`).
TS_FIRST = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".d.mts",
            ".d.cts")
JS_FIRST = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".d.ts", ".mts", ".cts", ".d.mts",
            ".d.cts")
JS_TO_TS = {".js": (".ts", ".tsx", ".d.ts"), ".jsx": (".tsx",), ".mjs": (".mts", ".d.mts"),
            ".cjs": (".cts", ".d.cts")}
NODE_BUILTINS = frozenset(
    ["assert", "async_hooks", "buffer", "child_process", "cluster", "console", "constants", "crypto", "dgram", "diagnostics_channel", "dns", "domain", "events", "fs", "http", "http2", "https", "inspector", "module", "net", "os", "path", "perf_hooks", "process", "punycode", "querystring", "readline", "repl", "stream", "string_decoder", "sys", "timers", "tls", "trace_events", "tty", "url", "util", "v8", "vm", "wasi", "worker_threads", "zlib", "test"]
)
CONDITIONS = ("source", "types", "import", "module", "default", "require", "node", "browser")


def _dirname(p: str) -> str:
    return posixpath.dirname(p)


def _norm(p: str) -> str | None:
    n = posixpath.normpath(p)
    if n.startswith("../") or n == ".." or n.startswith("/"):
        return None  # leaves the repository
    return "" if n == "." else n


def _match_pattern(pattern: str, spec: str) -> str | None:
    """The `*` part when ``spec`` matches ``pattern`` (exact patterns give '')."""
    if "*" not in pattern:
        return "" if spec == pattern else None
    pre, post = pattern.split("*", 1)
    if spec.startswith(pre) and spec.endswith(post) and len(spec) >= len(pre) + len(post):
        return spec[len(pre): len(spec) - len(post)]
    return None


def _targets(value) -> list[str]:
    """Strings of an exports/imports target (conditions object, array or string)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _targets(v)]
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: CONDITIONS.index(k) if k in CONDITIONS else 99)
        return [s for k in keys for s in _targets(value[k])]
    return NOTHING


class JsResolver:
    def __init__(self, root: Path, source_paths: set[str], all_paths: set[str],
                 files: RepoFiles | None = None, skipped: list[SkippedFile] | None = None):
        self.root = root
        self.reader = files or RepoFiles(root)
        self.skipped = [] if skipped is None else skipped
        self.files = source_paths
        self.all = all_paths
        self.dirs = {_dirname(p) for p in all_paths}
        for p in list(self.dirs):
            while p:
                p = _dirname(p)
                self.dirs.add(p)
        # per resolver (one per job): a method-level functools.cache would live on the
        # class and keep every job's resolver and parsed JSON for the worker's lifetime
        self._json_cache: dict[str, object] = {}
        self._tsconfig_cache: dict[tuple[str, int], tuple[str | None, dict, str]] = {}
        self.workspaces: dict[str, str] = {}  # package name -> dir
        for p in sorted(all_paths, key=len):
            if posixpath.basename(p) == "package.json" and "node_modules/" not in p:
                data = self._json(p)
                if isinstance(data, dict) and isinstance(data.get("name"), str):
                    self.workspaces.setdefault(data["name"], _dirname(p))

    def _json(self, rel: str):
        if rel not in self._json_cache:
            self._json_cache[rel] = jsonc.load(self.reader, rel, self.skipped)
        return self._json_cache[rel]

    # -- files ------------------------------------------------------------------------
    def _probe(self, p: str | None, exts: tuple[str, ...] = TS_FIRST,
               seen: frozenset[str] = frozenset()) -> str | None:
        """The file ``p`` names: itself, with an extension, or as a directory through its
        package.json's fields, then its index file. ``seen`` holds the directories whose
        manifest is already being followed: a ``"main": "."`` or two packages naming each
        other (hapi has one) fall through to the index file instead of recursing forever."""
        if p is None:
            return None
        if p in self.files:
            return p
        for js, tss in JS_TO_TS.items():
            if p.endswith(js):
                for ts in tss:
                    if (c := p[: -len(js)] + ts) in self.files:
                        return c
        for ext in exts:
            if (c := p + ext) in self.files:
                return c
        if p in self.dirs:
            manifest = posixpath.join(p, "package.json")
            pkg = self._json(manifest) if manifest in self.all and p not in seen else None
            if isinstance(pkg, dict):
                for field in ("source", "types", "typings", "module", "main"):
                    v = pkg.get(field)
                    if isinstance(v, str) and (
                            hit := self._probe_file(posixpath.join(p, v), exts, seen | {p})):
                        return hit
            for ext in exts:
                if (c := posixpath.join(p, "index" + ext)) in self.files:
                    return c
        return None

    def _probe_file(self, p: str, exts: tuple[str, ...] = TS_FIRST,
                    seen: frozenset[str] = frozenset()) -> str | None:
        n = _norm(p)
        return self._probe(n, exts, seen) if n is not None else None

    # -- config -----------------------------------------------------------------------
    def _nearest(self, start_dir: str, names: tuple[str, ...]) -> str | None:
        d = start_dir
        while True:
            for name in names:
                c = posixpath.join(d, name) if d else name
                if c in self.all:
                    return c
            if not d:
                return None
            d = _dirname(d)

    def _tsconfig(self, rel: str, depth: int = 0) -> tuple[str | None, dict, str]:
        """(baseUrl dir, paths, dir the paths are relative to) with `extends` applied."""
        key = (rel, depth)
        if key not in self._tsconfig_cache:
            self._tsconfig_cache[key] = self._read_tsconfig(rel, depth)
        return self._tsconfig_cache[key]

    def _read_tsconfig(self, rel: str, depth: int) -> tuple[str | None, dict, str]:
        data = self._json(rel)
        if not isinstance(data, dict) or depth > 10:
            return None, {}, _dirname(rel)
        base_url, paths, paths_dir = None, {}, _dirname(rel)
        ext = data.get("extends")
        for parent in ([ext] if isinstance(ext, str) else ext if isinstance(ext, list) else []):
            if not isinstance(parent, str) or not parent.startswith("."):
                continue  # a config from a package in node_modules: not in the repo
            prel = _norm(posixpath.join(_dirname(rel), parent))
            if prel is None:
                continue
            if not prel.endswith(".json"):
                prel = prel + ".json" if prel + ".json" in self.all else prel + "/tsconfig.json"
            if prel in self.all:
                b, pth, pdir = self._tsconfig(prel, depth + 1)
                base_url = b if b is not None else base_url
                if pth:
                    paths, paths_dir = pth, pdir
        opts = data.get("compilerOptions") or {}
        if isinstance(opts.get("baseUrl"), str):
            base_url = _norm(posixpath.join(_dirname(rel), opts["baseUrl"]))
        if isinstance(opts.get("paths"), dict):
            paths, paths_dir = opts["paths"], _dirname(rel)
        if base_url is not None and isinstance(opts.get("paths"), dict) or base_url is not None and paths and paths_dir == _dirname(rel):
            paths_dir = base_url
        return base_url, paths, paths_dir

    # -- resolution -------------------------------------------------------------------
    def resolve(self, source: str, imp: RawImport) -> Resolution:
        spec = imp.spec.split("?", 1)[0]
        if not spec:
            return Resolution.why(Unresolved.DYNAMIC)
        here = _dirname(source)
        exts = TS_FIRST if source.endswith((".ts", ".tsx", ".mts", ".cts")) and not \
            source.endswith((".d.ts", ".d.mts", ".d.cts")) else JS_FIRST
        if imp.kind.value == "reference":
            hit = self._probe_file(posixpath.join(here, spec), TS_FIRST)
            return Resolution.to(imp.kind.value, hit) if hit else Resolution.why(Unresolved.MISSING.value)
        if spec.startswith(("./", "../")) or spec in (".", ".."):
            hit = self._probe_file(posixpath.join(here, spec), exts)
            return Resolution.to(imp.kind.value, hit) if hit else Resolution.why(self._why_missing(here, spec))
        if spec.startswith("/"):
            return Resolution.why(Unresolved.MISSING)
        if spec.startswith("node:") or spec.split("/", 1)[0] in NODE_BUILTINS:
            return Resolution.why(Unresolved.STDLIB)
        if spec.startswith("#"):
            hit = self._package_imports(here, spec)
            return Resolution.to(imp.kind.value, hit) if hit else Resolution.why(Unresolved.MISSING.value)
        cfg = self._nearest(here, ("tsconfig.json", "jsconfig.json"))
        if cfg is not None:
            base_url, paths, paths_dir = self._tsconfig(cfg)
            best = None
            for pattern, subs in paths.items():
                star = _match_pattern(pattern, spec)
                if star is not None and (best is None or len(pattern) > len(best[0])):
                    best = (pattern, star, subs)
            if best is not None:
                for sub in best[2] if isinstance(best[2], list) else []:
                    if isinstance(sub, str) and (
                        hit := self._probe_file(posixpath.join(paths_dir, sub.replace("*", best[1])))
                    ):
                        return Resolution.to(imp.kind.value, hit)
            if base_url is not None and (hit := self._probe_file(posixpath.join(base_url, spec))):
                return Resolution.to(imp.kind.value, hit)
        hit = self._workspace(spec)
        if hit:
            return Resolution.to(imp.kind.value, hit)
        return Resolution.why(Unresolved.EXTERNAL)

    def _why_missing(self, here: str, spec: str) -> str:
        n = _norm(posixpath.join(here, spec))
        if n is not None and n in self.all:
            return "asset"  # a .css/.json/.svg file: real, but not source we parse
        return Unresolved.MISSING.value

    def _package_imports(self, here: str, spec: str) -> str | None:
        pj = self._nearest(here, ("package.json",))
        while pj is not None:
            data = self._json(pj)
            if isinstance(data, dict) and isinstance(data.get("imports"), dict):
                return self._map_exports(data["imports"], spec, _dirname(pj))
            d = _dirname(pj)
            if not d:
                return None
            pj = self._nearest(_dirname(d), ("package.json",))
        return None

    def _map_exports(self, table: dict, key: str, pkg_dir: str) -> str | None:
        best = None
        for pattern, target in table.items():
            star = _match_pattern(pattern, key)
            if star is not None and (best is None or len(pattern) > len(best[0])):
                best = (pattern, star, target)
        if best is None:
            return None
        for t in _targets(best[2]):
            if hit := self._probe_file(posixpath.join(pkg_dir, t.replace("*", best[1]))):
                return hit
        return None

    def _workspace(self, spec: str) -> str | None:
        parts = spec.split("/")
        n = 2 if spec.startswith("@") else 1
        name, sub = "/".join(parts[:n]), "/".join(parts[n:])
        pkg_dir = self.workspaces.get(name)
        if pkg_dir is None:
            return None
        data = self._json(posixpath.join(pkg_dir, "package.json") if pkg_dir else "package.json")
        exports = data.get("exports") if isinstance(data, dict) else None
        key = "./" + sub if sub else "."
        if isinstance(exports, dict) and any(k.startswith(".") for k in exports):
            if hit := self._map_exports(exports, key, pkg_dir):
                return hit
        elif exports is not None and not sub:
            for t in _targets(exports):
                if hit := self._probe_file(posixpath.join(pkg_dir, t)):
                    return hit
        if sub:
            return self._probe_file(posixpath.join(pkg_dir, sub)) or self._probe_file(
                posixpath.join(pkg_dir, "src", sub))
        return self._probe(pkg_dir) or self._probe_file(posixpath.join(pkg_dir, "src/index"))


def for_repository(inputs) -> JsResolver:
    """The registry's resolver factory (``graph_jobs.languages``)."""
    return JsResolver(inputs.root, inputs.paths, inputs.all_paths, inputs.files, inputs.skipped)
