"""Graph stage vs grimp on a large real Python tree, same run, same machine.

    python bench/graph_bench.py [--package torch] [--repeat 3]

Makes a git repository from the installed package, then times:
  * pharos cold: empty parse cache, all cores (discover + parse + resolve)
  * pharos warm: same repository again, cache by git blob id (re-parses nothing)
  * grimp cold (cache_dir=None) and grimp warm (its own cache), on the installed package
Prints files/s and MB/s, the ratios, and the edge agreement with grimp.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grimp  # noqa: E402

from devkit.grimp_compare import compare  # noqa: E402
from devkit.repos import make_repo, package_dir  # noqa: E402
from graph_jobs.graph.dependency_graph import build_dependency_graph  # noqa: E402


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", default="torch")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--with-headers", action="store_true",
                    help="keep torch/include (9,000+ C++ headers grimp never reads)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pharos-bench-"))
    try:
        repo = work / "repo"
        skip = ["__pycache__", "*.so", "*.pyc"] + ([] if args.with_headers else ["include"])
        shutil.copytree(package_dir(args.package), repo / args.package,
                        ignore=shutil.ignore_patterns(*skip))
        make_repo(repo)
        py_files = [p for p in (repo / args.package).rglob("*.py")]
        mb = sum(p.stat().st_size for p in py_files) / 1e6
        print(f"package {args.package}: {len(py_files)} .py files, {mb:.1f} MB; "
              f"{os.cpu_count()} cores; python {sys.version.split()[0]}")

        def cold():
            cache = work / "cache-cold.sqlite3"
            cache.unlink(missing_ok=True)
            return build_dependency_graph(repo, cache_path=cache)

        t_cold, graph = timed(cold, args.repeat)
        warm_cache = work / "cache-warm.sqlite3"
        build_dependency_graph(repo, cache_path=warm_cache)
        t_warm, warm = timed(lambda: build_dependency_graph(repo, cache_path=warm_cache),
                             args.repeat)
        assert warm.parsed == 0, "a warm run must re-parse nothing"
        t_grimp_cold, _ = timed(lambda: grimp.build_graph(args.package, cache_dir=None),
                                args.repeat)
        gcache = work / "grimp-cache"
        grimp.build_graph(args.package, cache_dir=str(gcache))
        t_grimp_warm, _ = timed(lambda: grimp.build_graph(args.package, cache_dir=str(gcache)),
                                args.repeat)
        agreement = compare(graph, [args.package])
        n = len(graph.files)
        print("pharos files by language: " + ", ".join(
            f"{k} {v.files}" for k, v in sorted(graph.stats.items())))
        rows = [("pharos cold (all cores)", t_cold), ("pharos warm (blob cache)", t_warm),
                ("grimp cold (cache_dir=None)", t_grimp_cold), ("grimp warm (own cache)", t_grimp_warm)]
        print(f"{'':30s} {'seconds':>8s} {'files/s':>9s} {'MB/s':>7s}")
        for name, t in rows:
            print(f"{name:30s} {t:8.3f} {n / t:9.0f} {mb / t:7.1f}")
        print("pharos stages (cold): " + ", ".join(f"{k} {v:.3f}s" for k, v in graph.timings.items()))
        print(f"cold ratio pharos/grimp: {t_cold / t_grimp_cold:.2f}x (target <= 4x)")
        print(f"warm: pharos {t_warm:.3f}s vs grimp cold {t_grimp_cold:.3f}s / warm "
              f"{t_grimp_warm:.3f}s (target: faster than grimp)")
        print(f"edges: {len(graph.edges)}; agreement with grimp: recall {agreement.recall:.4f}, "
              f"precision {agreement.precision:.4f} over {len(agreement.theirs)} grimp edges")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
