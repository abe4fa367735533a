"""`pharos impact` as a user runs it (issue 26): several files of a change, or the files
`git diff` names in a local clone; a file not in the repository refused with the closest
paths. A real history built here, ingested by `pharos ingest` into its own data folder."""

from __future__ import annotations

import json

import pytest

from devkit.repos import git
from tests.graph_jobs.test_change_impact import change_history
from tests.graph_jobs.test_history_and_relations import commit
from tests.support.cli_runs import run_pharos


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("impact")
    repo = change_history(root)
    data = root / "data"
    done = run_pharos("ingest", str(repo), data_dir=data)
    assert done.returncode == 0, done.stderr[-3000:]
    return repo, data


def _json(got) -> dict:
    assert got.returncode == 0, got.stderr[-3000:]
    return json.loads(got.stdout)


def test_impact_ranks_the_file_changed_with_every_asked_file_first(shop):
    repo, data = shop
    ans = _json(run_pharos("impact", str(repo), "orders/ledger.py", "./billing/invoice.py",
                           "--json", "-k", "3", data_dir=data))
    assert ans["file_paths"] == ["orders/ledger.py", "billing/invoice.py"]
    top = ans["results"][0]
    assert top["file_path"] == "audit/trail.py"
    assert set(top["related_to"]) == {"orders/ledger.py", "billing/invoice.py"}
    assert top["why"][0] == "tied to 2 of the 2 files asked"
    assert {r["file_path"] for r in ans["results"][1:]} == {"reports/summary.py",
                                                           "mail/sender.py"}
    # the single-file answer puts the ledger's own partner first: the change moves it
    alone = _json(run_pharos("similar", str(repo), "orders/ledger.py", "--json", "-k", "1",
                             data_dir=data))
    assert alone["results"][0]["file_path"] == "reports/summary.py"
    table = run_pharos("impact", str(repo), "orders/ledger.py", "billing/invoice.py",
                       data_dir=data)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split("\t")[1] == "audit/trail.py"


def test_impact_refuses_a_file_not_in_the_repository_with_the_closest_paths(shop):
    repo, data = shop
    one = run_pharos("impact", str(repo), "orders/ledgr.py", data_dir=data)
    assert one.returncode == 2
    assert "'orders/ledgr.py' is not in the repository" in one.stderr
    said = one.stderr.splitlines()
    assert said[said.index("  closest paths:") + 1].strip() == "orders/ledger.py"
    assert one.stdout == ""
    two = run_pharos("impact", str(repo), "billing/invoice.py", "orders/ledgr.py",
                     "mail/sendr.py", data_dir=data)
    assert two.returncode == 2
    assert "2 of the 3 files asked are not in the repository" in two.stderr
    assert "'orders/ledgr.py': closest paths:" in two.stderr
    assert "'mail/sendr.py': closest paths:" in two.stderr
    assert "    mail/sender.py" in two.stderr
    none = run_pharos("impact", str(repo), data_dir=data)
    assert none.returncode == 2 and "name the files of the change" in none.stderr


def test_impact_diff_asks_with_the_files_git_diff_names(shop, tmp_path):
    repo, data = shop
    # uncommitted: two stored files edited, a file the store does not hold staged
    for rel in ("audit/trail.py", "billing/invoice.py"):
        (repo / rel).write_text((repo / rel).read_text() + "# edited\n")
    (repo / "NOTES.md").write_text("notes\n")
    git(repo, "add", "NOTES.md")
    try:
        ans = _json(run_pharos("impact", str(repo), "--diff", "--json", "-k", "3",
                               data_dir=data))
        assert ans["file_paths"] == ["audit/trail.py", "billing/invoice.py"]
        assert ans["left_out"] == ["NOTES.md"]
        assert ans["results"][0]["file_path"] == "orders/ledger.py"  # changed with both
        # the same change committed: --diff REV names it
        commit(repo, {}, 40, "the change")
        committed = _json(run_pharos("impact", str(repo), "--diff", "HEAD~1", "--json",
                                     "-k", "3", data_dir=data))
        assert committed["file_paths"] == ans["file_paths"]
        assert [r["file_path"] for r in committed["results"]] == \
            [r["file_path"] for r in ans["results"]]
        clean = run_pharos("impact", str(repo), "--diff", data_dir=data)
        assert clean.returncode == 2 and "names no file" in clean.stderr
        bad = run_pharos("impact", str(repo), "--diff", "no-such-rev", data_dir=data)
        assert bad.returncode == 2 and "bad revision" in bad.stderr
        option = run_pharos("impact", str(repo), "--diff", "--", "--output=/tmp/x",
                            data_dir=data)
        assert option.returncode == 2 and "is not a revision" in option.stderr
    finally:
        git(repo, "reset", "-q", "--hard", "HEAD")
