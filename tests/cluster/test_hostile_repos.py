"""No repository takes a worker down (issue 25): hostile repositories through the real
queue (Redis) and a real edge worker in a process of its own, whose memory is read.

Each hostile job ends ``failed`` at once (not retried) with a reason that names the
setting that would let it through; the worker's resident memory stays under 1 GB (its
own peak and its parse pool's); and the same worker then completes a small normal job.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.job_queue import JobQueue
from cluster.redis_transport import RedisTransport
from devkit.repos import make_repo
from graph_jobs.repository_ref import RepoRef
from tests.support.big_repos import import_chain, tiny_files

ROOT = Path(__file__).resolve().parents[2]
MEMORY_MB = 1024


@pytest.fixture
def small_repo(tmp_path) -> Path:
    return make_repo(tmp_path / "small", {
        "pkg/__init__.py": "",
        "pkg/core.py": "from pkg import util\n",
        "pkg/util.py": "X = 1\n",
        "tests/test_core.py": "from pkg import core\n",
    })


def _run_worker(redis_url: str, tmp_path: Path, jobs: list[dict]) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.budget_worker", redis_url,
         str(tmp_path / "data"), json.dumps(jobs)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _assert_failed_then_next_completes(queue: JobQueue, outs: list[dict], bad: str, good: str,
                                       reason: str) -> None:
    assert [(o["job_id"], o["status"]) for o in outs] == [(bad, "failed"), (good, "complete")], \
        outs
    assert reason in outs[0]["error"]
    assert queue.job(bad)["status"] == "failed" and reason in queue.job(bad)["error"]
    assert queue.job(bad)["attempts"] == 1  # not retried: another attempt would spend as much
    assert not queue.dead_letters()
    assert queue.job(good)["status"] == "complete"
    for o in outs:
        assert o["peak_mb"] < MEMORY_MB, o
        assert o["children_peak_mb"] < MEMORY_MB, o


def test_200k_tiny_files_are_refused_before_parsing_and_the_next_job_completes(
        tmp_path, redis_url, small_repo):
    big = tiny_files(tmp_path / "tiny")
    queue = JobQueue(RedisTransport(redis_url))
    bad = queue.enqueue(RepoRef.parse(str(big))).job_id
    good = queue.enqueue(RepoRef.parse(str(small_repo))).job_id
    outs = _run_worker(redis_url, tmp_path, [{}, {}])  # the default settings
    _assert_failed_then_next_completes(
        queue, outs, bad, good,
        "RepositoryTooLarge: repository has 200000 source files, over PHAROS_MAX_FILES=50000")


def test_20k_import_chain_past_its_deadline_fails_and_the_next_job_completes(
        tmp_path, redis_url, small_repo):
    chain = import_chain(tmp_path / "chain")
    queue = JobQueue(RedisTransport(redis_url))
    bad = queue.enqueue(RepoRef.parse(str(chain))).job_id
    good = queue.enqueue(RepoRef.parse(str(small_repo))).job_id
    outs = _run_worker(redis_url, tmp_path, [{"PHAROS_JOB_TIMEOUT_S": 3}, {}])
    _assert_failed_then_next_completes(
        queue, outs, bad, good, "JobDeadlineExceeded: job exceeded PHAROS_JOB_TIMEOUT_S=3:")


def test_a_worker_over_its_memory_ceiling_fails_the_job_and_the_next_completes(
        tmp_path, redis_url, small_repo):
    other = make_repo(tmp_path / "other", {"a.py": "import b\n", "b.py": ""})
    queue = JobQueue(RedisTransport(redis_url))
    bad = queue.enqueue(RepoRef.parse(str(other))).job_id
    good = queue.enqueue(RepoRef.parse(str(small_repo))).job_id
    outs = _run_worker(redis_url, tmp_path, [{"PHAROS_JOB_MEMORY_MB": 1}, {}])
    _assert_failed_then_next_completes(
        queue, outs, bad, good, "JobMemoryExceeded: job exceeded PHAROS_JOB_MEMORY_MB=1:")
