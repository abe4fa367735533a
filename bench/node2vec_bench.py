"""Node2Vec: Pharos' engine vs PecanPy (SparseOTF, both cores), same graphs, same run.

    python bench/node2vec_bench.py [--seeds 3] [--synthetic 200000] [--skip-memory]

Hyper-parameters for both: dim 64, walk length 20, 10 walks per node, window 10, 1 epoch.
Graphs: the file-level import graphs of the installed `ray` and `torch` packages (built
by Pharos' graph stage), networkx's karate club, and a synthetic power-law graph.
Quality: macro-F1 (5-fold logistic regression predicting the top-level subpackage; the
faction for karate) and link-prediction ROC AUC on 10 % held-out edges.
Speed: seconds end to end (walks + training) for `embed_graph` and PecanPy's `embed`
(PecanPy's first call also pays numba compilation: reported separately as "cold").
Memory: peak RSS of a fresh process embedding synthetic graphs of growing size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from devkit.import_graphs import (  # noqa: E402
    ImportGraph,
    karate_graph,
    link_auc,
    macro_f1,
    package_import_graph,
    pecanpy_embed,
    split_edges,
)
from graph_jobs.embedding.engine import embed_graph  # noqa: E402
from graph_jobs.embedding.params import Node2VecParams  # noqa: E402


def synthetic(n: int, m: int = 5, seed: int = 0) -> np.ndarray:
    """Preferential-attachment-like graph (power-law degrees), ~n*m edges, vectorised."""
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(1, n), m)
    # attach to an earlier node, biased toward low ids (the old, high-degree ones)
    dst = (rng.random(src.size) ** 2 * src).astype(np.int64)
    e = np.stack([src, dst], 1)
    e = np.unique(np.sort(e, 1), axis=0)
    return e[e[:, 0] != e[:, 1]]


def ours(n, edges, seed, **kw):
    t = time.perf_counter()
    r = embed_graph(n, edges, Node2VecParams(seed=seed, **kw), device="cpu")
    return r.vectors, time.perf_counter() - t, r


def pecan(g: ImportGraph, edges, seed, tmp: Path, **kw):
    edg = g.write_edg(tmp / f"{g.name}-{seed}-{len(edges)}.edg", edges)
    t = time.perf_counter()
    v = pecanpy_embed(edg, g.num_nodes, seed=seed, workers=os.cpu_count() or 2, **kw)
    return v, time.perf_counter() - t


def quality_row(name, g: ImportGraph, idx, y, seeds, tmp, **kw):
    train, held, neg = split_edges(g)
    res = {"ours": {"f1": [], "auc": [], "s": []}, "pecanpy": {"f1": [], "auc": [], "s": []}}
    pecan(g, g.edges, 99, tmp, **kw)  # numba warm-up (timed separately below)
    for seed in range(seeds):
        v, s, _ = ours(g.num_nodes, g.edges, seed, **_ours_kw(kw))
        v2, _, _ = ours(g.num_nodes, train, seed, **_ours_kw(kw))
        res["ours"]["f1"].append(macro_f1(v, idx, y))
        res["ours"]["auc"].append(link_auc(v2, held, neg))
        res["ours"]["s"].append(s)
        pv, ps = pecan(g, g.edges, seed, tmp, **kw)
        pv2, _ = pecan(g, train, seed, tmp, **kw)
        res["pecanpy"]["f1"].append(macro_f1(pv, idx, y))
        res["pecanpy"]["auc"].append(link_auc(pv2, held, neg))
        res["pecanpy"]["s"].append(ps)
    m = {k: {x: statistics.mean(vals) for x, vals in d.items()} for k, d in res.items()}
    speedup = m["pecanpy"]["s"] / m["ours"]["s"]
    print(f"| {name} | {g.num_nodes:,} | {len(g.edges):,} | "
          f"{m['ours']['f1']:.3f} / {m['pecanpy']['f1']:.3f} | "
          f"{m['ours']['auc']:.3f} / {m['pecanpy']['auc']:.3f} | "
          f"{m['ours']['s']:.2f} / {m['pecanpy']['s']:.2f} | {speedup:.1f}x |", flush=True)
    return m


def _ours_kw(kw):
    return {"p": kw.get("p", 1.0), "q": kw.get("q", 1.0)}


def memory_probe(n: int) -> dict:
    """Run in a fresh process: peak RSS of embedding a synthetic graph of n nodes."""
    # VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's peak
    code = (
        "import sys,time,json; sys.path.insert(0,%r);"
        "hwm=lambda: int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]);"
        "from bench.node2vec_bench import synthetic;"
        "from graph_jobs.embedding.engine import embed_graph;"
        "import torch; e=synthetic(%d); base=hwm();"
        "t=time.perf_counter(); r=embed_graph(%d,e,device='cpu');"
        "print(json.dumps({'edges':len(e),'s':time.perf_counter()-t,'steps':r.walk_steps,"
        "'pairs':r.pairs,'base_mb':base/1024,'peak_mb':hwm()/1024}))"
    ) % (str(Path(__file__).resolve().parent.parent), n, n)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--synthetic", type=int, default=200_000)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--only-memory", action="store_true")
    ap.add_argument("--only-quality", action="store_true",
                    help="the quality/speed table only (no cold start, synthetic, memory)")
    args = ap.parse_args()
    if args.only_memory:
        _memory_table()
        return
    tmp = Path(tempfile.mkdtemp(prefix="pharos-n2v-"))
    import torch

    print(f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads); dim 64, walk length 20, 10 walks/node, window 10, 1 epoch; "
          f"mean of {args.seeds} seeds\n")
    print("| graph | nodes | edges | macro-F1 ours / PecanPy | link AUC ours / PecanPy "
          "| seconds ours / PecanPy | speed-up |")
    print("|---|---|---|---|---|---|---|")
    kg, ky = karate_graph()
    quality_row("karate club", kg, np.arange(kg.num_nodes), ky, args.seeds, tmp)
    for pkg in ("ray", "torch"):
        g = package_import_graph(pkg)
        idx, y = g.labels()
        quality_row(f"`{pkg}` imports", g, idx, y, args.seeds, tmp)
    g = package_import_graph("ray")
    idx, y = g.labels()
    quality_row("`ray` imports, p=0.5 q=2", g, idx, y, args.seeds, tmp, p=0.5, q=2.0)

    if args.only_quality:
        return
    # PecanPy cold: a fresh process, so numba compiles (what a CLI user pays)
    edg = g.write_edg(tmp / "cold.edg")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c",
                    "import sys; sys.path.insert(0, %r); from devkit.import_graphs "
                    "import pecanpy_embed; pecanpy_embed(%r, %d)"
                    % (str(Path(__file__).resolve().parent.parent), str(edg), g.num_nodes)],
                   check=True, capture_output=True)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pharos_cli", "node2vec", "--input", str(edg),
                    "--output", str(tmp / "cold.emb")], check=True, capture_output=True)
    ours_cold = time.perf_counter() - t
    print(f"\nfresh process on `ray` (imports + compile + embed): pharos CLI {ours_cold:.2f} s, "
          f"PecanPy {cold:.2f} s ({cold / ours_cold:.1f}x)")

    n = args.synthetic
    e = synthetic(n)
    _, s, r = ours(n, e, 0)
    sg = ImportGraph("synthetic", [str(i) for i in range(n)], e)
    t = time.perf_counter()
    pecanpy_embed(sg.write_edg(tmp / "syn.edg"), n, workers=os.cpu_count() or 2)
    ps = time.perf_counter() - t
    print(f"synthetic power-law {n:,} nodes / {len(e):,} edges: pharos {s:.1f} s "
          f"({r.walk_steps / r.timings['walks'] / 1e6:.1f} M walk steps/s, "
          f"{r.pairs / r.timings['train'] / 1e6:.1f} M pairs/s), PecanPy {ps:.1f} s "
          f"({ps / s:.1f}x)")
    _, s, r = ours(n, e, 0, p=0.5, q=2.0)
    print(f"  biased p=0.5 q=2: pharos {s:.1f} s ({r.walk_steps / r.timings['walks'] / 1e6:.1f}"
          f" M walk steps/s)")

    if not args.skip_memory:
        _memory_table()


def _memory_table() -> None:
    if True:
        print("\n| synthetic nodes | edges | seconds | peak RSS MB | RSS above torch import MB |"
              " MB per 1k edges |")
        print("|---|---|---|---|---|---|")
        for size in (25_000, 50_000, 100_000, 200_000):
            m = memory_probe(size)
            extra = m["peak_mb"] - m["base_mb"]
            print(f"| {size:,} | {m['edges']:,} | {m['s']:.1f} | {m['peak_mb']:.0f} | "
                  f"{extra:.0f} | {extra / m['edges'] * 1000:.2f} |", flush=True)


if __name__ == "__main__":
    main()
