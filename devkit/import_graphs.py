"""Real import graphs (of installed packages nobody here wrote) and embedding quality metrics.

Shared by the Node2Vec tests and ``bench/node2vec_bench.py`` so both measure the same way:

- node classification: logistic regression predicts each module's top-level subpackage
  from its vector; macro-F1 over stratified 5-fold cross-validation;
- link prediction: 10 % of the edges are held out before training; held-out edges vs the
  same number of non-edges, scored by the cosine of their endpoints; ROC AUC.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devkit.repos import make_repo, package_dir

CACHE = Path(tempfile.gettempdir()) / "pharos-import-graphs"


@dataclass
class ImportGraph:
    name: str
    nodes: list[str]  # repo-relative file paths
    edges: np.ndarray  # int64 [E, 2], undirected, unique, no self loops

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    def labels(self, min_class: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(node indices, label ids) for nodes whose top-level subpackage has >= min_class files."""
        tops = [p.split("/")[1] if p.count("/") >= 2 else "<root>" for p in self.nodes]
        counts = Counter(tops)
        keep = [i for i, t in enumerate(tops) if counts[t] >= min_class]
        names = sorted({tops[i] for i in keep})
        ids = {n: k for k, n in enumerate(names)}
        return np.array(keep), np.array([ids[tops[i]] for i in keep])

    def write_edg(self, path: Path, edges: np.ndarray | None = None) -> Path:
        e = self.edges if edges is None else edges
        path.write_text("".join(f"{u}\t{v}\n" for u, v in e.tolist()))
        return path


def package_import_graph(package: str) -> ImportGraph:
    """The file-level import graph of an installed package, built by Pharos' graph stage.

    Connected files only (files with no resolved import either way are left out, as
    PecanPy only sees nodes that appear in an edge list). Cached under the temp dir.
    """
    from graph_jobs.graph.dependency_graph import build_dependency_graph

    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{package}.json"
    if cached.exists():
        d = json.loads(cached.read_text())
        return ImportGraph(package, d["nodes"], np.array(d["edges"], dtype=np.int64).reshape(-1, 2))
    work = Path(tempfile.mkdtemp(prefix="pharos-ig-"))
    try:
        shutil.copytree(package_dir(package), work / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyc", "include"))
        make_repo(work)
        g = build_dependency_graph(work, None, max_file_bytes=1 << 20, cache_path=None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pairs = {tuple(sorted((e.source, e.target))) for e in g.edges if e.source != e.target}
    nodes = sorted({p for e in pairs for p in e})
    idx = {p: i for i, p in enumerate(nodes)}
    edges = np.array(sorted((idx[a], idx[b]) for a, b in pairs), dtype=np.int64).reshape(-1, 2)
    cached.write_text(json.dumps({"nodes": nodes, "edges": edges.tolist()}))
    return ImportGraph(package, nodes, edges)


def karate_graph() -> tuple[ImportGraph, np.ndarray]:
    """networkx's karate club, with its two-faction labels."""
    import networkx as nx

    g = nx.karate_club_graph()
    edges = np.array(sorted(tuple(sorted(e)) for e in g.edges()), dtype=np.int64)
    labels = np.array([0 if g.nodes[n]["club"] == "Mr. Hi" else 1 for n in g.nodes()])
    return ImportGraph("karate", [str(n) for n in g.nodes()], edges), labels


def macro_f1(vectors: np.ndarray, idx: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = min(5, int(np.bincount(y).min()))
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    pred = cross_val_predict(clf, vectors[idx], y,
                             cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return float(f1_score(y, pred, average="macro"))


def split_edges(g: ImportGraph, frac: float = 0.1, seed: int = 0):
    """(train edges, held-out edges, non-edges) — every node keeps at least one train edge."""
    rng = np.random.default_rng(seed)
    e = g.edges[rng.permutation(len(g.edges))]
    deg = np.bincount(e.ravel(), minlength=g.num_nodes)
    held = []
    keep = np.ones(len(e), dtype=bool)
    target = int(frac * len(e))
    for k, (u, v) in enumerate(e):
        if len(held) >= target:
            break
        if deg[u] > 1 and deg[v] > 1:
            deg[u] -= 1
            deg[v] -= 1
            keep[k] = False
            held.append((u, v))
    present = {tuple(x) for x in g.edges.tolist()}
    neg = []
    while len(neg) < len(held):
        u, v = sorted(rng.integers(0, g.num_nodes, 2).tolist())
        if u != v and (u, v) not in present:
            neg.append((u, v))
    return e[keep], np.array(held), np.array(neg)


def link_auc(vectors: np.ndarray, held: np.ndarray, neg: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def cos(pairs):
        return (v[pairs[:, 0]] * v[pairs[:, 1]]).sum(1)

    scores = np.concatenate([cos(held), cos(neg)])
    truth = np.concatenate([np.ones(len(held)), np.zeros(len(neg))])
    return float(roc_auc_score(truth, scores))


def pecanpy_embed(edg: Path, num_nodes: int, *, dim=64, walk_length=20, num_walks=10,
                  window=10, epochs=1, p=1.0, q=1.0, workers=2, seed=0) -> np.ndarray:
    """PecanPy SparseOTF embeddings, rows aligned to node ids 0..num_nodes-1."""
    from pecanpy import pecanpy as pp

    g = pp.SparseOTF(p=p, q=q, workers=workers, verbose=False, random_state=seed)
    g.read_edg(str(edg), weighted=False, directed=False)
    emb = g.embed(dim=dim, num_walks=num_walks, walk_length=walk_length,
                  window_size=window, epochs=epochs)
    out = np.zeros((num_nodes, dim), dtype=np.float32)
    out[[int(n) for n in g.nodes]] = emb
    return out
