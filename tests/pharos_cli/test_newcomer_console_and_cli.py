"""Issue 27, item 1: `pharos console` open beside the CLI. The console holds the local
vector store only per lease (graph_jobs.stores.local_qdrant), so `pharos ingest`,
`pharos similar` and `pharos jobs` run in other processes while it serves a map, and the
new repository shows in the console's API without restarting it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from devkit.repos import make_repo
from tests.support.cli_runs import free_port, run_pharos, small_package, start_pharos
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (urllib.error.URLError, ConnectionError):
        return None, None


def test_console_and_cli_at_the_same_time(tmp_path):
    data = tmp_path / "data"
    first = make_repo(tmp_path / "first", small_package("alpha"))
    second = make_repo(tmp_path / "second", small_package("beta"))
    done = run_pharos("ingest", str(first), data_dir=data)
    assert done.returncode == 0, done.stderr

    port = free_port()
    console = start_pharos("console", "--port", str(port), data_dir=data)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(base + "/api/v1/graph/repositories")[0] == 200, 120,
                 what="the console to answer")
        # the console opens the vector store: a map of the first repository
        status, body = _get(f"{base}/api/v1/graph/map?repo_url={first}")
        assert status == 200 and len(body["files"]) == 6, body

        ingest = start_pharos("ingest", str(second), data_dir=data)
        similar = start_pharos("similar", str(first), "alpha/core.py", "--json", data_dir=data)
        jobs = start_pharos("jobs", "--json", data_dir=data)
        # the console keeps answering while they run
        status, body = _get(f"{base}/api/v1/graph/map?repo_url={first}")
        assert status == 200, body
        outs = {name: (p, *p.communicate(timeout=600))
                for name, p in (("ingest", ingest), ("similar", similar), ("jobs", jobs))}
        for name, (p, _out, err) in outs.items():
            assert p.returncode == 0, f"{name} failed beside the console:\n{err[-3000:]}"
            assert "already accessed" not in err
        hits = json.loads(outs["similar"][1])["results"]
        assert hits and all(h["file_path"].startswith(("alpha/", "tests/")) for h in hits)

        # the new repository appears in the running console
        names = wait_for(lambda: (r := _get(base + "/api/v1/graph/repositories"))[0] == 200
                         and str(second) in r[1]["repositories"] and r[1]["repositories"],
                         30, what="the second repository in the console")
        assert str(first) in names
        status, body = _get(f"{base}/api/v1/graph/map?repo_url={second}")
        assert status == 200 and {f["path"] for f in body["files"]} >= {"beta/core.py"}, body
        # and the CLI still reads while the console holds the store
        again = run_pharos("similar", str(second), "beta/core.py", "--json", data_dir=data)
        assert again.returncode == 0, again.stderr
    finally:
        console.terminate()
        console.communicate(timeout=30)
