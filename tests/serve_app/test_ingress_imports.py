"""The ingress installs only what it runs (issue 25): the cloud image has no parser, no
scientific stack and no torch, so importing ``serve_app``, building the app and answering
every read must not need them.

A repository is ingested here first (the test environment has everything), then a fresh
interpreter in which ``scipy``, ``tree_sitter*``, ``torch``, ``sklearn`` and
``matplotlib`` cannot be imported serves every read path over the same stores.
"""

from __future__ import annotations

import json
import subprocess
import sys

from devkit.repos import make_repo

BLOCKED = ("scipy", "tree_sitter", "torch", "sklearn", "matplotlib")

# Run in a fresh interpreter: argv[1] the data directory, argv[2] the Redis URL,
# argv[3] the repository's key. Prints {"status": {path: code}, "loaded": [...]}.
SERVE_READS = r"""
import importlib.abc, json, sys
from urllib.parse import quote

BLOCKED = %r

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith(BLOCKED):
            raise ImportError(f"{name} is not installed in the cloud image (blocked)")
        return None

sys.meta_path.insert(0, Blocker())
data, redis_url, repo = sys.argv[1:4]

from fastapi.testclient import TestClient
from pharos_cli.settings import Settings
import serve_app.app

settings = Settings(_env_file=None, PHAROS_ADMIN_TOKEN="t", REDIS_URL=redis_url,
                    PHAROS_DATA_DIR=data, PHAROS_ALLOW_LOCAL_REPOS=True)
app = serve_app.app.create_app(settings)
paths = [
    "/health", "/docs", "/docs-assets/swagger-ui-bundle.js", "/openapi.json", "/",
    "/api/v1/ingestion/worker/status", "/api/v1/ingestion/jobs/history",
    "/api/v1/graph/repositories",
    f"/api/v1/graph/map?repo_url={quote(repo)}",
    f"/api/v1/graph/similar?repo_url={quote(repo)}&file_path=pkg/a.py",
    f"/api/v1/graph/similar?repo_url={quote(repo)}&file_path=pkg/a.py&by=role",
    f"/api/v1/graph/similar?repo_url={quote(repo)}&file_path=pkg/a.py&scope=all",
    f"/api/v1/graph/repositories/{quote(repo, safe='')}/similar",
]
with TestClient(app, raise_server_exceptions=False) as client:
    status = {p: client.get(p).status_code for p in paths}
print(json.dumps({"status": status,
                  "loaded": sorted(m for m in sys.modules
                                   if m.split(".")[0].startswith(BLOCKED))}))
""" % (BLOCKED,)


def test_the_ingress_answers_every_read_without_parser_science_or_torch(settings, tmp_path,
                                                                        redis_url):
    from graph_jobs.pipeline import Stores, run_ingest
    from graph_jobs.stores.vector_store import close_local_clients

    files = {"pkg/__init__.py": "", "pkg/a.py": "from pkg import b, c\n",
             "pkg/b.py": "from pkg import c\n", "pkg/c.py": "import os\n",
             "tests/test_a.py": "from pkg import a\n"}
    repos = [make_repo(tmp_path / name, files) for name in ("one", "two")]
    results = [run_ingest(str(r), settings, stores=Stores.open(settings)) for r in repos]
    assert all(r.status == "complete" for r in results), [r.error for r in results]
    close_local_clients()  # the local Qdrant directory is the child's now

    out = subprocess.run(
        [sys.executable, "-c", SERVE_READS, str(settings.data_dir), redis_url,
         results[0].repo_url],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["loaded"] == [], got["loaded"]
    assert all(code == 200 for code in got["status"].values()), (got["status"],
                                                                 out.stderr[-4000:])


def test_importing_serve_app_and_building_the_app_loads_none_of_them():
    """The same, the way the image starts: import, build, nothing blocked, nothing loaded."""
    code = ("import sys; import serve_app.app as a; "
            "from pharos_cli.settings import Settings; "
            "a.create_app(Settings(_env_file=None, PHAROS_ADMIN_TOKEN='t')); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0].startswith({BLOCKED!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-4000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_a_fresh_ingress_creates_its_collection_without_the_parser(tmp_path, redis_url):
    """The cloud image's first read makes the Qdrant collection; sizing its role vector
    must not load tree-sitter (before: every read of a fresh deployment answered 503,
    "No module named 'tree_sitter'", found by scripts/docker-smoke)."""
    out = subprocess.run(
        [sys.executable, "-c", SERVE_READS, str(tmp_path / "fresh"), redis_url,
         "github.com/o/never-ingested"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["loaded"] == [], got["loaded"]
    similar = {p: c for p, c in got["status"].items() if "/graph/similar" in p}
    assert similar and set(similar.values()) == {404}, (got["status"], out.stderr[-4000:])
