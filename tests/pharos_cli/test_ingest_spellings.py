"""``pharos ingest github.com/o/r``, ``https://github.com/o/r`` and
``git@github.com:o/r.git`` try the same clone (issue 28).

The README says ``github.com/o/r`` is one name everywhere; the CLI used to read it as a
directory ("no such directory"). Here ``pharos`` runs as a process, as a user runs it,
against a local https git server that holds ``o/r``: an http proxy tunnels whatever
git connects to towards that server, and git checks the server's certificate for
``github.com`` (``GIT_SSL_CAINFO``), so each clone is a real https clone of
``https://github.com/o/r``. Every spelling asks the proxy for ``github.com:443``, fetches
the same paths, and stores one repository.
"""

from __future__ import annotations

import json
import subprocess

from devkit.repos import make_repo
from tests.support.cli_runs import run_pharos
from tests.support.connect_proxy import ConnectProxy
from tests.support.git_http import GitHTTPServer, self_signed

SPELLINGS = ["github.com/o/r", "https://github.com/o/r", "git@github.com:o/r.git"]


def test_every_spelling_clones_the_same_https_repository(tmp_path):
    repo = make_repo(tmp_path / "src", {"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n",
                                        "pkg/b.py": "import os\n"})
    cert, key = self_signed(tmp_path, "github.com")
    (tmp_path / "srv" / "o").mkdir(parents=True)
    data = tmp_path / "data"
    with GitHTTPServer(tmp_path / "srv", tls=(cert, key)) as srv, \
            ConnectProxy(("127.0.0.1", srv.port)) as proxy:
        srv.publish(repo, "o/r.git")
        subprocess.run(["git", "-C", str(tmp_path / "srv" / "o" / "r.git"), "config",
                        "uploadpack.allowFilter", "true"], check=True)
        env = {"https_proxy": proxy.url, "HTTPS_PROXY": proxy.url, "no_proxy": "",
               "NO_PROXY": "", "GIT_SSL_CAINFO": str(cert), "PHAROS_HISTORY": "0"}
        fetched = {}
        for spelling in SPELLINGS:
            srv.paths.clear()
            proxy.targets.clear()
            res = run_pharos("ingest", spelling, "--json", data_dir=data, **env)
            assert res.returncode == 0, (spelling, res.stdout, res.stderr)
            out = json.loads(res.stdout)
            assert (out["status"], out["repo_url"]) == ("complete", "github.com/o/r"), out
            assert out["files_processed"] == 3
            assert proxy.targets and set(proxy.targets) == {"github.com:443"}, proxy.targets
            fetched[spelling] = sorted({p.split("?")[0] for p in srv.paths})
        assert fetched[SPELLINGS[0]] == fetched[SPELLINGS[1]] == fetched[SPELLINGS[2]]
        assert "/o/r/info/refs" in fetched[SPELLINGS[0]], fetched
    jobs = run_pharos("jobs", "--json", data_dir=data)
    assert jobs.returncode == 0, jobs.stderr
    assert {j["repo_url"] for j in json.loads(jobs.stdout)["jobs"]} == {"github.com/o/r"}
