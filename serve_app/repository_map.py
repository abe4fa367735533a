"""The console's map of a repository, built once per repository and served in pages.

Before (issue 25): ``/api/v1/graph/map`` read every point of the repository as a Qdrant
record (both vectors, the whole payload), made a pydantic model per file and per edge,
and answered them all: 7.8 s and 2.4 MB for a 20,000-file repository, and 8 concurrent
calls took the ingress to 1.02 GB against Render's 512 MB.

Now a :class:`Layout` holds what the map shows, in arrays: the files' paths (sorted), 2-D
positions (PCA of every file's Node2Vec vector, so pages share one frame), top folders,
languages, degrees and the import edges as index pairs. It is built from the stores a
page of points at a time (only the ``related`` vector and three payload keys), by one
caller per repository while the others wait for it (single flight), by at most
``MAX_BUILDS`` at once, and kept for ``LAYOUT_TTL_S`` in an LRU of ``MAX_LAYOUTS``
repositories (a 20,000-file layout is a few MB). A page is written straight to JSON
bytes: ``limit`` files from ``offset`` (default ``DEFAULT_PAGE``, at most ``MAX_PAGE``) and
the edges whose importer is on the page, both ends as indices into the whole sorted file
list (the page's files are ``offset`` .. ``offset + len(files) - 1``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from serve_app.read_cache import ReadCache

if TYPE_CHECKING:  # numpy is imported by the first map, not with the app (start-up memory)
    import numpy as np

DEFAULT_PAGE = 5000
MAX_PAGE = 10000
MAX_BUILDS = 2
MAX_LAYOUTS = 4
LAYOUT_TTL_S = 60.0
PAYLOAD = ("file_path", "language", "degree")


@dataclass(frozen=True, slots=True)
class Layout:
    repo_url: str
    paths: list[str]  # sorted
    xy: np.ndarray  # (n, 2) float64, in [-1, 1], rounded to 5 decimals
    group: np.ndarray  # (n,) index into groups
    groups: list[str]  # top folders, most files first
    language: list[str]
    degree: np.ndarray  # (n,) int64
    edges: np.ndarray  # (e, 2) int64 (importer, imported), sorted by importer
    edge_kind: np.ndarray  # (e,) index into kinds
    kinds: list[str]

    def __len__(self) -> int:
        return len(self.paths)


def build_layout(vectors, metadata, repo_url: str) -> Layout | None:
    """The repository's layout from its stored points and edges; None when it has none."""
    import numpy as np

    from graph_jobs.viz import project_2d, top_dir

    paths: list[str] = []
    language: list[str] = []
    degree: list[int] = []
    chunks: list[np.ndarray] = []
    names: dict[str, str] = {}  # one str object per distinct language
    for page in _pages(vectors, repo_url):
        rows = [r for r in page if r.vector is not None]
        if not rows:
            continue
        chunks.append(np.asarray([r.vector for r in rows], dtype=np.float32))
        for r in rows:
            p = r.payload
            paths.append(p["file_path"])
            lang = p.get("language", "")
            language.append(names.setdefault(lang, lang))
            degree.append(int(p.get("degree", 0)))
        del page, rows
    if not paths:
        return None
    order = sorted(range(len(paths)), key=paths.__getitem__)
    vecs = np.concatenate(chunks)[order]
    del chunks
    paths = [paths[i] for i in order]
    language = [language[i] for i in order]
    deg = np.asarray(degree, dtype=np.int64)[order]
    xy = project_2d(vecs.astype(np.float64))
    del vecs
    span = float(np.abs(xy).max()) or 1.0
    xy = np.round(np.nan_to_num(xy / span), 5)
    tops = [top_dir(p) for p in paths]
    groups = [g for g, _ in Counter(tops).most_common()]
    gi = {g: i for i, g in enumerate(groups)}
    group = np.fromiter((gi[t] for t in tops), dtype=np.int32, count=len(tops))
    index = {p: i for i, p in enumerate(paths)}
    pairs: list[tuple[int, int]] = []
    kind_of: list[int] = []
    kinds: dict[str, int] = {}
    for e in metadata.repository_edges(repo_url):
        a, b = index.get(e["source_path"]), index.get(e["target_path"])
        if a is not None and b is not None:
            pairs.append((a, b))
            kind_of.append(kinds.setdefault(e["kind"], len(kinds)))
    edges = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    edge_kind = np.asarray(kind_of, dtype=np.int32)
    by_src = np.argsort(edges[:, 0], kind="stable")
    return Layout(repo_url, paths, xy, group, groups, language, deg, edges[by_src],
                  edge_kind[by_src], list(kinds))


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc's ``malloc_trim``): a layout's
    build parses tens of MB of Qdrant pages that are garbage a moment later, and glibc
    would otherwise keep that high-water mark in the process for good. No-op elsewhere."""
    global _trim
    if _trim is None:
        try:
            import ctypes

            _trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


_trim = None


def _pages(vectors, repo_url: str):
    if hasattr(vectors, "repository_pages"):
        yield from vectors.repository_pages(repo_url, PAYLOAD)
    else:  # a store without paged reads (a Ray actor's proxy): one page of everything
        yield vectors.repository_points(repo_url)


def page_json(layout: Layout, offset: int, limit: int) -> bytes:
    """One page of the map as the ``RepositoryMap`` JSON (see the module docstring)."""
    import numpy as np

    n = len(layout)
    lo, hi = min(offset, n), min(offset + limit, n)
    dumps = json.dumps
    files = ",".join(
        f'{{"path":{dumps(layout.paths[i])},"x":{float(layout.xy[i, 0])!r},'
        f'"y":{float(layout.xy[i, 1])!r},"group":{dumps(layout.groups[layout.group[i]])},'
        f'"language":{dumps(layout.language[i])},"degree":{int(layout.degree[i])}}}'
        for i in range(lo, hi))
    src = layout.edges[:, 0]
    a, b = np.searchsorted(src, lo, "left"), np.searchsorted(src, hi, "left")
    kinds = [dumps(k) for k in layout.kinds]
    edges = ",".join(f"[{int(s)},{int(t)},{kinds[k]}]" for (s, t), k in
                     zip(layout.edges[a:b].tolist(), layout.edge_kind[a:b].tolist(),
                         strict=True))
    nxt = hi if hi < n else None
    return (f'{{"repo_url":{dumps(layout.repo_url)},"files":[{files}],"edges":[{edges}],'
            f'"groups":{dumps(layout.groups)},"total":{n},"offset":{offset},'
            f'"limit":{limit},"next_offset":{dumps(nxt)}}}').encode()


class MapLayouts:
    """Layouts by repository: an LRU of ``max_layouts``, each at most ``ttl_s`` old,
    built by one caller per repository and by at most ``max_builds`` at once."""

    def __init__(self, max_layouts: int = MAX_LAYOUTS, ttl_s: float = LAYOUT_TTL_S,
                 max_builds: int = MAX_BUILDS) -> None:
        self.max_layouts, self.ttl_s = max_layouts, ttl_s
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[float, Layout]] = OrderedDict()
        self._flights = ReadCache(0)  # shares a build between concurrent callers only
        self._builds = threading.BoundedSemaphore(max_builds)
        self.builds = 0

    def get(self, vectors, metadata, repo_url: str) -> Layout | None:
        with self._lock:
            kept = self._kept.get(repo_url)
            if kept is not None and time.monotonic() < kept[0]:
                self._kept.move_to_end(repo_url)
                return kept[1]
        return self._flights.get(repo_url, lambda: self._build(vectors, metadata, repo_url))

    def _build(self, vectors, metadata, repo_url: str) -> Layout | None:
        with self._builds:
            self.builds += 1
            try:
                layout = build_layout(vectors, metadata, repo_url)
            finally:
                release_freed_memory()
        if layout is not None:
            with self._lock:
                self._kept[repo_url] = (time.monotonic() + self.ttl_s, layout)
                self._kept.move_to_end(repo_url)
                while len(self._kept) > self.max_layouts:
                    self._kept.popitem(last=False)
        return layout

    def forget(self, repo_url: str) -> None:
        with self._lock:
            self._kept.pop(repo_url, None)
