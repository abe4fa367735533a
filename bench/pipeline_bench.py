"""The whole job end to end on the CPU, embedded default, per stage, with peak memory.

    python bench/pipeline_bench.py [--small rich] [--large ray]

Each case runs in a fresh process (so peak RSS is that job's): a git repository made
from an installed package is ingested with `run_ingest` into a temporary SQLite file and
a local Qdrant directory; the parse cache is off (cold). Targets: ~100 files < 5 s,
~2,500 files < 20 s, peak < 2 GB. The old system took 2-3 minutes for 100 files on a GPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, %(root)r)
t0 = time.perf_counter()
from graph_jobs.pipeline import run_ingest, Stores
from graph_jobs.settings import Settings
settings = Settings(_env_file=None, PHAROS_DATA_DIR=%(data)r, PHAROS_MAX_FILE_BYTES=1 << 20)
import graph_jobs.graph_job as gj
orig = gj.graph_for
gj.graph_for = lambda *a, **k: orig(*a, **{**k, "use_cache": False})
stores = Stores.open(settings)
t_import = time.perf_counter() - t0
res = run_ingest(%(repo)r, settings, stores=stores)
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"result": res.to_dict(), "import_s": t_import,
                  "peak_mb": self_kb / 1024, "children_peak_mb": kids_kb / 1024}))
"""


def run_case(package: str) -> dict:
    from tests.support.repos import repo_from_packages

    work = Path(tempfile.mkdtemp(prefix="pharos-pipe-"))
    try:
        repo = repo_from_packages(work / "repo", [package])
        code = CHILD % {"root": str(ROOT), "data": str(work / "data"), "repo": str(repo)}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", default="rich")
    ap.add_argument("--large", default="ray")
    args = ap.parse_args()
    print("| repository | files | edges | job seconds | graph | embed | store | peak RSS MB "
          "(job process / largest child) | target |")
    print("|---|---|---|---|---|---|---|---|---|")
    for pkg, target in ((args.small, 5), (args.large, 20)):
        m = run_case(pkg)
        r = m["result"]
        t = r["timings"]
        assert r["status"] == "complete", r
        print(f"| `{pkg}` | {r['files_processed']:,} | {r['edges']:,} | "
              f"{r['duration_seconds']:.2f} | {t['graph']:.2f} | {t['embed']:.2f} | "
              f"{t['store']:.2f} | {m['peak_mb']:.0f} / {m['children_peak_mb']:.0f} | "
              f"< {target} s |", flush=True)
        print(f"|   (process start + imports {m['import_s']:.2f} s, not in the job time) "
              "| | | | | | | | |")


if __name__ == "__main__":
    main()
