"""The Node2Vec variants tried against PecanPy's macro-F1, and other one-off comparisons
quoted in BENCHMARKS.md and docs/embedding.md.

    python bench/node2vec_variants.py variants [--graph torch] [--seeds 5]
    python bench/node2vec_variants.py centring           # link AUC, raw vs mean-centred
    python bench/node2vec_variants.py walks --rev 2f635f5 # biased walks, REV's code vs now

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
from tests.support.import_graphs import (  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["variants", "centring", "walks"])
    ap.add_argument("--graph", default="torch")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rev", default="2f635f5")
    args = ap.parse_args()
    if args.what == "variants":
        variants(args.graph, args.seeds)
    elif args.what == "centring":
        centring(3 if args.seeds == 5 else args.seeds)
    else:
        walks(args.rev)


if __name__ == "__main__":
    main()
