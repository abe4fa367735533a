"""A long-lived worker's memory over many jobs, beside the code before a fix (issue 16).

    python bench/worker_memory.py PATH [--jobs 200] [--baseline-rev REV]

PATH is a repository with JavaScript/TypeScript in it (a fetched clone; axios is a good
one). One process runs ``--jobs`` whole jobs on it, one after the other, into the same
stores, as an edge worker does, and reads its resident memory (``/proc/self/statm``)
after each. With ``--baseline-rev``, the same loop runs again in a git worktree of that
revision (the code before the fix), in a subprocess, in the same run. A worker that
keeps nothing from finished jobs is flat after its warm-up; one that does grows by
about the same amount per job.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LOOP = r'''
import json, os, sys, tempfile, time
sys.path.insert(0, os.getcwd())
from graph_jobs.pipeline import Stores, run_ingest
from pharos_cli.settings import Settings

def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

path, jobs = sys.argv[1], int(sys.argv[2])
with tempfile.TemporaryDirectory() as tmp:
    st = Settings(_env_file=None, PHAROS_DATA_DIR=tmp, PHAROS_HISTORY=False,
                  PHAROS_PARSE_CACHE=False)
    stores = Stores.open(st)
    out, t0 = [], time.perf_counter()
    for i in range(jobs):
        res = run_ingest(path, st, stores=stores, relations="imports")
        assert res.status == "complete", res.error
        out.append(round(rss_mb(), 2))
print(json.dumps({"rss_mb": out, "seconds": time.perf_counter() - t0}))
'''


def run_loop(code_dir: Path, path: Path, jobs: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", LOOP, str(path), str(jobs)], cwd=code_dir,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(code_dir)})
    if proc.returncode != 0:
        raise SystemExit(f"the loop failed in {code_dir}:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summary(name: str, rss: list[float]) -> str:
    n = len(rss)
    warm = min(20, n // 4)
    growth = (rss[-1] - rss[warm]) / max(1, n - 1 - warm) * 1024
    marks = [i for i in (0, 9, 49, 99, 149, 199) if i < n]
    return (f"| {name} | " + " | ".join(f"{rss[i]:.1f}" for i in marks)
            + f" | {rss[-1] - rss[warm]:+.1f} | {growth:+.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--baseline-rev", help="a git revision of this repository to compare")
    args = ap.parse_args()
    runs = {"this tree": run_loop(ROOT, args.path.resolve(), args.jobs)}
    if args.baseline_rev:
        with tempfile.TemporaryDirectory(prefix="pharos-baseline-") as tmp:
            wt = Path(tmp) / "wt"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(wt),
                            args.baseline_rev], check=True, capture_output=True)
            try:
                runs[f"baseline {args.baseline_rev}"] = run_loop(wt, args.path.resolve(),
                                                                 args.jobs)
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(wt)], check=False, capture_output=True)
    marks = [i + 1 for i in (0, 9, 49, 99, 149, 199) if i < args.jobs]
    print(f"resident memory (MB) after job n, {args.path.name}, {args.jobs} jobs\n")
    print("| code | " + " | ".join(f"n={m}" for m in marks)
          + " | growth after warm-up (MB) | per job (KB) |")
    print("|---|" + "---|" * (len(marks) + 2))
    for name, r in runs.items():
        print(summary(name, r["rss_mb"]))
    for name, r in runs.items():
        print(f"{name}: {r['seconds']:.0f} s for {args.jobs} jobs")


if __name__ == "__main__":
    main()
