"""The embedded vector store shared by processes (graph_jobs.stores.local_qdrant): a
process that never stops calling still lets another one in, each sees what the other
wrote, and a holder that does not take turns is named instead of waited for forever."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.support.cli_runs import ROOT
from tests.support.waiting import wait_for

BUSY = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from graph_jobs.settings import JobSettings
    from graph_jobs.stores.vector_store import FilePoint, VectorStore
    data, marker, stop = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    vs = VectorStore(JobSettings(_env_file=None, PHAROS_DATA_DIR=data))
    vs.upsert_repository("busy", "c", "j", [FilePoint(f"f{i}.py", "python",
                         [1.0, float(i)] + [0.0] * 62, 1) for i in range(20)])
    marker.write_text("holding")
    calls, end = 0, time.monotonic() + 120
    while not stop.exists() and time.monotonic() < end:  # never idle
        vs.similar("busy", "f1.py", 3)
        calls += 1
    print(calls, len(vs.repository_points("other", with_vectors=False)))
""")

OTHER = textwrap.dedent("""
    import sys
    from graph_jobs.settings import JobSettings
    from graph_jobs.stores.vector_store import FilePoint, VectorStore
    vs = VectorStore(JobSettings(_env_file=None, PHAROS_DATA_DIR=sys.argv[1]))
    assert len(vs.repository_points("busy", with_vectors=False)) == 20
    vs.upsert_repository("other", "c", "j2", [FilePoint("x.py", "python", [1.0] * 64, 0)])
    print("done")
""")


def _py(code: str, *args: str, **kw):
    return [sys.executable, "-c", code, *args], dict(cwd=ROOT, text=True, **kw)


def test_a_process_that_never_stops_calling_still_lets_another_in(tmp_path):
    data, marker, stop = tmp_path / "data", tmp_path / "holding", tmp_path / "stop"
    argv, kw = _py(BUSY, str(data), str(marker), str(stop), stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    busy = subprocess.Popen(argv, **kw)
    try:
        wait_for(lambda: marker.exists() or busy.poll() is not None, 120, what="the holder")
        assert busy.poll() is None, busy.communicate()[1][-2000:]
        argv, kw = _py(OTHER, str(data), capture_output=True)
        other = subprocess.run(argv, timeout=120, **kw)  # waits its turn, never refused
        assert other.returncode == 0 and other.stdout.strip() == "done", other.stderr[-2000:]
        assert busy.poll() is None  # the holder was still calling all along
    finally:
        stop.write_text("")
        out, err = busy.communicate(timeout=120)
    assert busy.returncode == 0, err[-2000:]
    calls, seen = map(int, out.split())
    assert calls > 0 and seen == 1  # and it read what the other process wrote


def test_a_holder_that_does_not_take_turns_is_named(tmp_path, monkeypatch):
    from qdrant_client import QdrantClient

    from graph_jobs.stores import local_qdrant
    from graph_jobs.stores.local_qdrant import LeaseTimeout, SharedLocalQdrant, lease_refused

    monkeypatch.setattr(local_qdrant, "FOREIGN_WAIT_S", 0.5)
    path = tmp_path / "qdrant"
    raw = QdrantClient(path=str(path))  # an older pharos: no lease
    try:
        shared = SharedLocalQdrant(path)
        with pytest.raises(LeaseTimeout, match="does not take turns") as caught:
            shared.get_collections()
        assert lease_refused(caught.value)
    finally:
        raw.close()
    assert shared.get_collections().collections == []  # free again: it opens
    shared.close()
    assert not shared.held


def test_the_lease_is_given_back_when_idle(tmp_path):
    from graph_jobs.stores.local_qdrant import SharedLocalQdrant

    shared = SharedLocalQdrant(tmp_path / "qdrant", idle_s=0.2, poll_s=0.02)
    shared.get_collections()
    assert shared.held
    wait_for(lambda: not shared.held, 10, every=0.05, what="the lease to be given back")
    # and another client of the directory opens it now
    from qdrant_client import QdrantClient

    QdrantClient(path=str(tmp_path / "qdrant")).close()
