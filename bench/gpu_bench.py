"""Node2Vec on the GPU beside PecanPy on all cores, in one run (issue 24's table).

    python bench/gpu_bench.py [--quick] [--sizes 10000,100000,1000000,10000000]
                              [--pecanpy-max 100000] [--seeds 3] [--out gpu_bench.json]

Settings for every engine: dim 64, walk length 20, 10 walks per node, window 10, 1 epoch.
Synthetic graphs: communities of about 100 nodes, 80% of edges inside them, the rest to
power-law hubs, 5 edges per node. For each size: seconds end to end (walks + training,
after a warm-up), peak GPU memory (torch's allocator), walk steps/s, skip-gram pairs/s
and, beside it, the bound the card's measured copy bandwidth puts on pairs/s (each pair
moves about 1 KB of fp32 table rows); PecanPy (SparseOTF, every core) and Pharos on the
CPU (every core) up to ``--pecanpy-max`` nodes. Quality: link-prediction ROC AUC (10% of
edges held out) at ``--auc-size`` nodes, and macro-F1 of predicting each module's
subpackage on the real import graphs of installed packages (torch, ray, sympy: those
present), mean of ``--seeds`` seeds, for the GPU, the CPU and PecanPy.

Runs on a CPU-only machine too (``--device cpu``), for trying the bench itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from devkit.import_graphs import (  # noqa: E402
    ImportGraph,
    link_auc,
    macro_f1,
    package_import_graph,
    pecanpy_embed,
    split_edges,
)
from graph_jobs.embedding.engine import embed_graph  # noqa: E402
from graph_jobs.embedding.params import Node2VecParams  # noqa: E402
from graph_jobs.embedding.threads import usable_cores  # noqa: E402

BYTES_PER_PAIR = 4 * 64 * 4  # centre row read+written, context row read+written, fp32


def community_graph(n: int, per_node: int = 5, size: int = 100, inside: float = 0.8,
                    seed: int = 0) -> np.ndarray:
    """Communities of ``size`` nodes; ``inside`` of the edges within them, the rest to
    hubs drawn from a power law (low ids). Undirected, no self-loops, no duplicates."""
    rng = np.random.default_rng(seed)
    m = n * per_node
    u = rng.integers(0, n, m, dtype=np.int64)
    local = (u // size) * size + rng.integers(0, size, m, dtype=np.int64)
    hub = (n * rng.random(m) ** 3).astype(np.int64)
    v = np.minimum(np.where(rng.random(m) < inside, local, hub), n - 1)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    keys = np.unique(lo[lo != hi] * n + hi[lo != hi])
    return np.stack([keys // n, keys % n], 1)


def copy_bandwidth(device: str) -> float:
    """Bytes/s of a device-to-device copy (read + write), measured now."""
    import torch

    if not device.startswith("cuda"):
        return 0.0
    x = torch.empty(1 << 29, dtype=torch.float32, device=device)  # 2 GiB
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(10):
        y.copy_(x)
    torch.cuda.synchronize()
    s = (time.perf_counter() - t) / 10
    del x, y
    torch.cuda.empty_cache()
    return 2 * (1 << 31) / s


def pharos(n: int, edges: np.ndarray, device: str, seed: int = 0,
           threads: int | None = None) -> dict:
    import torch

    on_gpu = device.startswith("cuda")
    if on_gpu:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    r = embed_graph(n, edges, Node2VecParams(seed=seed), device=device, threads=threads)
    s = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() / 2**30 if on_gpu else float("nan")
    return {"s": s, "peak_gib": peak, "steps_per_s": r.walk_steps / s,
            "pairs_per_s": r.pairs / max(r.timings.get("train", s), 1e-9),
            "chunks": r.timings.get("chunks"), "threads": r.timings.get("threads"),
            "vectors": r.vectors}


def pecan(n: int, edges: np.ndarray, tmp: Path, seed: int = 0) -> dict:
    edg = tmp / f"g{n}-{len(edges)}-{seed}.edg"
    if not edg.exists():
        with open(edg, "w") as fh:
            np.savetxt(fh, edges, fmt="%d", delimiter="\t")
    t = time.perf_counter()
    v = pecanpy_embed(edg, n, seed=seed, workers=usable_cores())
    return {"s": time.perf_counter() - t, "vectors": v}


def speed_table(sizes, device, pecanpy_max, tmp, bound_pairs) -> list[dict]:
    rows = []
    print(f"\n| graph (nodes / edges) | Pharos on {device} | peak GPU GiB | walk steps/s "
          f"| pairs/s (bound {bound_pairs:.2g}) | PecanPy, {usable_cores()} cores "
          f"| Pharos CPU, {usable_cores()} cores | speed-up vs PecanPy |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        edges = community_graph(n)
        g = pharos(n, edges, device)
        row = {"nodes": n, "edges": len(edges), "device": device, "s": g["s"],
               "peak_gib": g["peak_gib"], "steps_per_s": g["steps_per_s"],
               "pairs_per_s": g["pairs_per_s"], "chunks": g["chunks"]}
        if n <= pecanpy_max:
            row["pecanpy_s"] = pecan(n, edges, tmp)["s"]
            row["cpu_s"] = (pharos(n, edges, "cpu", threads=usable_cores())["s"]
                            if device != "cpu" else g["s"])
        rows.append(row)
        pc = f"{row['pecanpy_s']:.2f} s" if "pecanpy_s" in row else "not run"
        cpu = f"{row['cpu_s']:.2f} s" if "cpu_s" in row else "not run"
        up = f"{row['pecanpy_s'] / g['s']:.1f}x" if "pecanpy_s" in row else ""
        print(f"| {n:,} / {len(edges):,} | {g['s']:.2f} s | {g['peak_gib']:.2f} "
              f"| {g['steps_per_s']:.3g} | {g['pairs_per_s']:.3g} | {pc} | {cpu} | {up} |",
              flush=True)
    return rows


def auc_row(n: int, device: str, tmp: Path) -> dict:
    edges = community_graph(n, seed=1)
    g = ImportGraph(f"synthetic-{n}", [str(i) for i in range(n)], edges)
    train, held, neg = split_edges(g)
    ours = link_auc(pharos(n, train, device)["vectors"], held, neg)
    theirs = link_auc(pecan(n, train, tmp)["vectors"], held, neg)
    print(f"\nlink prediction at {n:,} nodes (10% held out): AUC Pharos on {device} "
          f"{ours:.3f}, PecanPy {theirs:.3f} (target: at least PecanPy - 0.005)", flush=True)
    return {"nodes": n, "pharos": ours, "pecanpy": theirs}


def f1_rows(packages, device, seeds, tmp) -> list[dict]:
    rows = []
    print(f"\n| import graph | nodes / edges | macro-F1 Pharos {device} | Pharos CPU "
          f"| PecanPy | {device} - PecanPy |")
    print("|---|---|---|---|---|---|")
    for pkg in packages:
        g = package_import_graph(pkg)
        idx, y = g.labels()
        res = {"gpu": [], "cpu": [], "pecanpy": []}
        for seed in range(seeds):
            res["gpu"].append(macro_f1(pharos(g.num_nodes, g.edges, device, seed)["vectors"],
                                       idx, y))
            if device != "cpu":
                res["cpu"].append(macro_f1(
                    pharos(g.num_nodes, g.edges, "cpu", seed)["vectors"], idx, y))
            res["pecanpy"].append(macro_f1(pecan(g.num_nodes, g.edges, tmp, seed)["vectors"],
                                           idx, y))
        m = {k: statistics.mean(v) for k, v in res.items() if v}
        m.setdefault("cpu", m["gpu"])
        rows.append({"package": pkg, "nodes": g.num_nodes, "edges": len(g.edges), **m})
        print(f"| `{pkg}` | {g.num_nodes:,} / {len(g.edges):,} | {m['gpu']:.3f} "
              f"| {m['cpu']:.3f} | {m['pecanpy']:.3f} | {m['gpu'] - m['pecanpy']:+.3f} |",
              flush=True)
    return rows


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default="10000,100000,1000000,10000000")
    ap.add_argument("--quick", action="store_true", help="10k and 100k only, one F1 seed")
    ap.add_argument("--pecanpy-max", type=int, default=100_000)
    ap.add_argument("--auc-size", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--packages", default="torch,ray,sympy")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.quick:
        sizes, args.seeds = [s for s in sizes if s <= 100_000], 1
    dev = args.device
    name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else "cpu"
    tmp = Path(tempfile.mkdtemp(prefix="pharos-gpu-bench-"))
    print(f"{name}; torch {torch.__version__}; {usable_cores()} usable cores; dim 64, walk 20, "
          f"10 walks, window 10, 1 epoch")
    bw = copy_bandwidth(dev)
    bound = bw / BYTES_PER_PAIR if bw else float("nan")
    if bw:
        print(f"measured copy bandwidth {bw / 1e12:.2f} TB/s -> at most {bound:.3g} pairs/s "
              f"at {BYTES_PER_PAIR} B of fp32 rows a pair")
    # warm-up: CUDA context, kernels, PecanPy's numba compilation
    warm = community_graph(2000)
    pharos(2000, warm, dev)
    pecan(2000, warm, tmp)
    report = {"device": name, "torch": torch.__version__, "cores": usable_cores(),
              "copy_bandwidth_bytes_per_s": bw, "pairs_per_s_bound": bound}
    report["speed"] = speed_table(sizes, dev, args.pecanpy_max, tmp, bound)
    if args.auc_size:
        report["auc"] = auc_row(args.auc_size, dev, tmp)
    pkgs = [p for p in args.packages.split(",") if p and importlib.util.find_spec(p)]
    report["f1"] = f1_rows(pkgs, dev, args.seeds, tmp)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, default=float))
        print(f"\nwrote {args.out}")
    os.environ.get("PHAROS_BENCH_KEEP") or _rm(tmp)


def _rm(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
