"""What one job may spend (issue 25 item 3): a deadline, a memory ceiling, a file count,
and no numeric step without a bound.

The hostile repositories through the real queue and worker are in
``tests/cluster/test_hostile_repos.py``; here, the pipeline and the steps themselves.
Steps whose unbounded form would run for minutes or take gigabytes run in a process of
their own, with a time limit, and report their peak memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from graph_jobs.errors import JobDeadlineExceeded, JobMemoryExceeded, RepositoryTooLarge
from graph_jobs.graph.dependency_graph import build_dependency_graph
from graph_jobs.job_budget import JobBudget, memory_limit_mb, rss_mb
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.roles import repo_descriptor
from graph_jobs.roles.repo_descriptor import EXACT_UP_TO, SLQ_VECTORS, TIMES, heat_trace
from graph_jobs.roles.role_features import role_vectors
from graph_jobs.stores.vector_store import close_local_clients
from pharos_cli.settings import Settings
from tests.support.repos import make_repo

ROOT = Path(__file__).resolve().parents[2]
MEMORY_MB = 1024


def _small_repo(path: Path) -> Path:
    return make_repo(path, {
        "pkg/__init__.py": "",
        "pkg/core.py": "from pkg import util\n",
        "pkg/util.py": "X = 1\n",
        "tests/test_core.py": "from pkg import core\n",
    })


def _in_own_process(code: str, timeout: float) -> dict:
    """Run ``code`` (which sets ``out``, a dict) in a fresh interpreter; ``out`` and the
    process's peak resident memory (``peak_mb``)."""
    script = textwrap.dedent(code) + textwrap.dedent("""
        import json, resource
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the deadline and the memory ceiling ----------------------------------------------------

def test_a_job_past_its_deadline_fails_with_the_reason_and_the_next_completes(settings,
                                                                              tmp_path):
    repo = _small_repo(tmp_path / "r")
    stores = Stores.open(settings)
    try:
        late = Settings(_env_file=None, PHAROS_JOB_TIMEOUT_S=0.001)
        res = run_ingest(str(repo), late, stores=stores)
        assert res.status == "failed" and res.retryable is False
        assert res.error.startswith(
            "JobDeadlineExceeded: job exceeded PHAROS_JOB_TIMEOUT_S=0.001: ran"), res.error
        recorded = stores.metadata.get_job(res.job_id)
        assert recorded["status"] == "failed" and "PHAROS_JOB_TIMEOUT_S" in recorded["error"]

        nxt = run_ingest(str(repo), settings, stores=stores)
        assert nxt.status == "complete", nxt.error
        assert stores.metadata.repository(nxt.repo_url)["last_job_id"] == nxt.job_id
    finally:
        stores.metadata.dispose()
        close_local_clients()


def test_the_deadline_default_and_zero_for_none():
    assert Settings(_env_file=None).job_timeout_s == 1800
    budget = JobBudget(timeout_s=0, memory_mb=0, started=0.0)  # started long ago
    budget.check("anywhere")  # no deadline, no ceiling: nothing raised
    with pytest.raises(JobDeadlineExceeded, match=r"PHAROS_JOB_TIMEOUT_S=5: ran .* \(in roles\)"):
        JobBudget(timeout_s=5, memory_mb=0, started=0.0).check("roles")


def test_the_memory_ceiling_reads_the_process_resident_memory():
    now = rss_mb()
    assert 10 < now < 100_000
    with pytest.raises(JobMemoryExceeded, match=r"PHAROS_JOB_MEMORY_MB=1: the worker held"):
        JobBudget(memory_mb=1).check()
    JobBudget(memory_mb=now + 4096).check()
    auto = JobBudget(memory_mb=None)  # PHAROS_JOB_MEMORY_MB=0: from the machine's memory
    assert auto.memory_mb == round(memory_limit_mb() * 0.8)


# --- refused before parsing ----------------------------------------------------------------

def test_more_source_files_than_the_limit_are_refused_before_any_is_parsed(tmp_path):
    repo = make_repo(tmp_path / "r", {f"m{i:02d}.py": f"X = {i}\n" for i in range(30)})
    cache = tmp_path / "parse-cache.sqlite3"
    stages = []
    with pytest.raises(RepositoryTooLarge,
                       match="repository has 30 source files, over PHAROS_MAX_FILES=20; "
                             "raise PHAROS_MAX_FILES"):
        build_dependency_graph(repo, cache_path=cache, max_files=20,
                               progress=lambda stage, f: stages.append(stage))
    assert stages == [] and not cache.exists()  # nothing parsed, nothing cached
    assert len(build_dependency_graph(repo, max_files=30).files) == 30
    assert Settings(_env_file=None).max_files == 50_000


# --- numeric steps with a bound ------------------------------------------------------------

def _chain(n: int) -> np.ndarray:
    return np.c_[np.arange(n - 1), np.arange(1, n)]


def test_descriptor_of_a_long_chain_costs_a_fixed_number_of_steps_and_is_near_exact():
    n, isolated = EXACT_UP_TO + 1000, 50  # a chain of imports and some files alone
    calls = []
    got = np.array(heat_trace(n + isolated, _chain(n), check=lambda: calls.append(1)))
    # a path's normalized Laplacian has eigenvalues 1 - cos(pi k / (n - 1)); an isolated
    # file adds one 0
    lam = np.r_[1 - np.cos(np.pi * np.arange(n) / (n - 1)), np.zeros(isolated)]
    exact = np.exp(-np.outer(TIMES, lam)).sum(1) / (n + isolated)
    assert len(calls) == SLQ_VECTORS  # the deadline is checked before each vector
    assert np.abs(got - exact).max() < 0.005
    assert got == pytest.approx(heat_trace(n + isolated, _chain(n)))  # seeded: the same


def test_descriptor_of_a_large_repository_without_edges():
    """200,000 files that import nothing failed their job in ``eigsh`` ("ARPACK error -9:
    Starting vector is zero") after 7 minutes of embedding."""
    n = EXACT_UP_TO + 500
    assert heat_trace(n, np.zeros((0, 2), dtype=np.int64)) == pytest.approx([1.0] * len(TIMES))


def test_small_graphs_keep_the_exact_descriptor():
    n = 300
    lam = 1 - np.cos(np.pi * np.arange(n) / (n - 1))
    exact = np.exp(-np.outer(TIMES, lam)).sum(1) / n
    assert heat_trace(n, _chain(n)) == pytest.approx(exact, abs=1e-9)
    assert repo_descriptor.laplacian_spectrum(n, _chain(n)) == pytest.approx(np.sort(lam),
                                                                            abs=1e-9)


def test_the_deadline_reaches_into_the_descriptor_and_the_role_vectors():
    def late():
        raise JobDeadlineExceeded("job exceeded PHAROS_JOB_TIMEOUT_S=1")

    with pytest.raises(JobDeadlineExceeded):
        heat_trace(EXACT_UP_TO + 10, _chain(EXACT_UP_TO + 10), check=late)
    with pytest.raises(JobDeadlineExceeded):
        role_vectors(["a.py", "b.py"], ["python"] * 2, [(0, 1)], check=late)


def test_roles_of_a_20k_file_import_chain_take_seconds(tmp_path):
    """Issue 25: this repository spent 866 s in roles (ARPACK's ``eigsh``)."""
    from tests.support.big_repos import import_chain

    repo = import_chain(tmp_path / "chain")
    out = _in_own_process(f"""
        import time
        from graph_jobs.graph.dependency_graph import build_dependency_graph
        from graph_jobs.pipeline import graph_arrays
        from graph_jobs.roles.repo_descriptor import heat_trace
        from graph_jobs.roles.role_features import graph_role_vectors
        g = build_dependency_graph({str(repo)!r})
        edges, _ = graph_arrays(g)
        roles = graph_role_vectors(g)
        d = heat_trace(len(g.files), edges)
        out = {{"files": len(g.files), "edges": len(edges), "roles": roles.shape[0],
                "descriptor": d}}
    """, timeout=180)
    assert (out["files"], out["edges"], out["roles"]) == (20_200, 19_999, 20_200)
    assert len(out["descriptor"]) == len(TIMES) and all(np.isfinite(out["descriptor"]))
    assert out["peak_mb"] < MEMORY_MB


def test_role_vectors_of_a_file_imported_by_20000_files_stay_small():
    """The two-step walk matrix of a hub imported by n files holds n^2 entries (400
    million here): the 3- and 4-step return probabilities are estimated instead."""
    out = _in_own_process("""
        import numpy as np
        from graph_jobs.roles.role_features import FEATURES, raw_features
        n = 20_000
        paths = ["core.py"] + [f"m{i}/x.py" for i in range(n)]
        f = raw_features(paths, ["python"] * (n + 1), [(i + 1, 0) for i in range(n)])
        col = {name: i for i, name in enumerate(FEATURES)}
        out = {k: [float(f[0, col[k]]), float(f[1:, col[k]].max())]
               for k in ("return2", "return3", "return4")}
    """, timeout=180)
    # the hub is back after every even step; a file that imports it, after two steps only
    # when the hub picks it again (1 in n); never after an odd number (no triangle)
    assert out["return2"] == pytest.approx([1.0, 1 / 20_000])
    assert out["return3"] == [0.0, 0.0]
    assert out["return4"][0] == 1.0 and out["return4"][1] < 0.05
    assert out["peak_mb"] < MEMORY_MB


def test_the_map_projection_is_pca_and_survives_vectors_that_are_not_finite():
    from graph_jobs.viz import project_2d

    v = np.random.default_rng(0).standard_normal((400, 64)) * np.linspace(3, 0.1, 64)
    x = v - v.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    axes = vt[:2] * np.sign(vt[np.arange(2), np.abs(vt[:2]).argmax(1)])[:, None]
    assert project_2d(v) == pytest.approx(x @ axes.T, abs=1e-9)
    v[7, 3] = np.nan  # an SVD of this raised LinAlgError ("SVD did not converge")
    xy = project_2d(v)
    assert np.isfinite(xy).all() and xy[7] == pytest.approx([0.0, 0.0])


def test_waiting_for_the_device_is_not_counted_and_no_proc_means_no_ceiling(monkeypatch):
    import graph_jobs.job_budget as jb

    budget = JobBudget(timeout_s=5.0, memory_mb=1.0)
    budget.started -= 6.0  # 6 s in, 5 of them waiting for another job's embedding
    with pytest.raises(JobDeadlineExceeded):
        budget.check()
    budget.pause(5.0)
    monkeypatch.setattr(jb, "rss_mb", lambda: None)  # macOS: no /proc, no reading of now
    budget.check()  # 1 s of its own; memory unknown, so no ceiling is claimed
    monkeypatch.setattr(jb, "rss_mb", lambda: 2.0)
    with pytest.raises(JobMemoryExceeded):
        budget.check()
