"""The Node2Vec variants tried against PecanPy's macro-F1, and other one-off comparisons
quoted in BENCHMARKS.md and docs/embedding.md.

    python bench/node2vec_variants.py variants [--graph torch] [--seeds 5]
    python bench/node2vec_variants.py centring           # link AUC, raw vs mean-centred
    python bench/node2vec_variants.py walks --rev 2f635f5 # biased walks, REV's code vs now
    python bench/node2vec_variants.py cross [--graph torch] [--seeds 5]
                                         # where the F1 gap is: walks or trainer

``cross`` trains each trainer on each walk corpus, same seeds: gensim's Word2Vec with
PecanPy's settings (the trainer PecanPy calls) on PecanPy's walks (= PecanPy) and on ours;
our skip-gram on ours (= Pharos), on PecanPy's, and on ours with 1-walk batches (nearly
sequential SGD, slow) — plus gensim with ``sample=0``, our default.

``walks`` loads ``graph_jobs/embedding/walks.py`` as it was at git revision REV and times
it beside the current one on the same 50k-node synthetic graph, in one process.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.node2vec_bench import ours, pecan, synthetic  # noqa: E402
from devkit.import_graphs import (  # noqa: E402
    karate_graph,
    link_auc,
    macro_f1,
    package_import_graph,
    split_edges,
)

VARIANTS = {
    "default": {}, "64 shared negatives": {"shared_negatives": 64},
    "per-token negatives": {"shared_negatives": 0}, "update cap 5": {"update_cap": 5.0},
    "64-walk batches": {"batch_walks": 64}, "lr 0.05": {"lr": 0.05},
    "sample 1e-3 (gensim's default)": {"subsample": 1e-3}, "21-node walks": {"walk_length": 21},
}


def variants(graph: str, seeds: int) -> None:
    g = package_import_graph(graph)
    idx, y = g.labels()
    tmp = Path(tempfile.mkdtemp())
    f = [macro_f1(pecan(g, g.edges, s, tmp)[0], idx, y) for s in range(seeds)]
    print(f"`{graph}` macro-F1, mean of {seeds} seeds\nPecanPy: {statistics.mean(f):.3f}")
    for name, kw in VARIANTS.items():
        f = [macro_f1(ours(g.num_nodes, g.edges, s, **kw)[0], idx, y) for s in range(seeds)]
        print(f"{name}: {statistics.mean(f):.3f}", flush=True)


def centring(seeds: int) -> None:
    for name in ("karate", "rich", "ray"):
        g = karate_graph()[0] if name == "karate" else package_import_graph(name)
        train, held, neg = split_edges(g)
        raw, cen = [], []
        for s in range(seeds):
            v = ours(g.num_nodes, train, s)[0]
            raw.append(link_auc(v, held, neg))
            cen.append(link_auc(v - v.mean(0), held, neg))
        print(f"{name}: link AUC raw {statistics.mean(raw):.3f}, "
              f"centred {statistics.mean(cen):.3f}", flush=True)


def walks(rev: str) -> None:
    import torch

    from graph_jobs.embedding import walks as new
    from graph_jobs.embedding.csr import build_csr

    src = subprocess.run(["git", "show", f"{rev}:graph_jobs/embedding/walks.py"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "walks_old.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("walks_old", path)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    n = 50_000
    g = build_csr(torch.from_numpy(synthetic(n).T.copy()), n)
    start = torch.arange(n).repeat(10)
    for name, mod in (("old", old), ("new", new)) * 2:
        t = time.perf_counter()
        mod.random_walks(g, start, 20, 0.5, 2.0, generator=torch.Generator().manual_seed(0))
        s = time.perf_counter() - t
        print(f"{name} ({rev if name == 'old' else 'HEAD'}): {s:.2f} s, "
              f"{start.numel() * 19 / s / 1e6:.2f} M steps/s", flush=True)


def cross(graph: str, seeds: int) -> None:
    import numpy as np
    import torch
    from gensim.models import Word2Vec
    from pecanpy import pecanpy as pp

    from graph_jobs.embedding.csr import build_csr
    from graph_jobs.embedding.params import Node2VecParams
    from graph_jobs.embedding.skipgram import init_tables, train_skipgram
    from graph_jobs.embedding.walks import random_walks

    g = package_import_graph(graph)
    idx, y = g.labels()
    n = g.num_nodes
    edg = g.write_edg(Path(tempfile.mkdtemp()) / "g.edg")
    csr = build_csr(torch.from_numpy(g.edges.T.copy()), n)

    def our_walks(seed):  # as engine._embed_pharos draws them
        gen = torch.Generator().manual_seed(seed)
        starts = torch.arange(n).repeat(10)
        starts = starts[torch.randperm(starts.numel(), generator=gen)]
        return random_walks(csr, starts, 20, 1.0, 1.0, generator=gen)

    def pecan_walks(seed):
        p = pp.SparseOTF(p=1, q=1, workers=2, verbose=False, random_state=seed)
        p.read_edg(str(edg), weighted=False, directed=False)
        w = [[int(x) for x in walk] for walk in p.simulate_walks(10, 20)]
        t = torch.full((len(w), max(map(len, w))), -1, dtype=torch.long)
        for i, walk in enumerate(w):
            t[i, :len(walk)] = torch.tensor(walk)
        return t

    def gensim(walks, seed, **kw):  # PecanPy.embed's call
        m = Word2Vec([[str(x) for x in w if x >= 0] for w in walks.tolist()], vector_size=64,
                     window=10, sg=1, min_count=0, workers=2, epochs=1, seed=seed, **kw)
        out = np.zeros((n, 64), np.float32)
        for k in m.wv.index_to_key:
            out[int(k)] = m.wv[k]
        return out

    def pharos(walks, seed, batch=0):  # engine._embed_pharos's training call
        gen = torch.Generator().manual_seed(seed)
        emb, ctx = init_tables(n, 64, "cpu", gen)
        bw = batch or max(4, min(128, walks.size(0) // 256))
        train_skipgram(walks, emb, ctx, window=10, negative=5, lr=0.025, subsample=0.0,
                       batch_walks=bw, shared=32, cap=Node2VecParams().update_cap, gen=gen)
        return emb.numpy()

    rows: dict[str, list[float]] = {}
    for seed in range(seeds):
        ow, pw = our_walks(seed), pecan_walks(seed)
        runs = (("gensim on PecanPy's walks (= PecanPy)", gensim, pw, {}),
                ("gensim on our walks", gensim, ow, {}),
                ("gensim on our walks, sample=0", gensim, ow, {"sample": 0}),
                ("ours on our walks (= Pharos)", pharos, ow, {}),
                ("ours on PecanPy's walks", pharos, pw, {}),
                ("ours on our walks, 1-walk batches", pharos, ow, {"batch": 1}))
        for name, trainer, corpus, kw in runs:
            rows.setdefault(name, []).append(macro_f1(trainer(corpus, seed, **kw), idx, y))
    print(f"`{graph}` macro-F1, mean ± s.e. of {seeds} seeds")
    for name, f in rows.items():
        se = statistics.stdev(f) / len(f) ** 0.5 if len(f) > 1 else 0.0
        print(f"{name}: {statistics.mean(f):.3f} ± {se:.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["variants", "centring", "walks", "cross"])
    ap.add_argument("--graph", default="torch")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rev", default="2f635f5")
    args = ap.parse_args()
    if args.what == "variants":
        variants(args.graph, args.seeds)
    elif args.what == "cross":
        cross(args.graph, args.seeds)
    elif args.what == "centring":
        centring(3 if args.seeds == 5 else args.seeds)
    else:
        walks(args.rev)


if __name__ == "__main__":
    main()
