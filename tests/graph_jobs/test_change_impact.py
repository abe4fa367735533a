"""The impact of a whole change (issue 26): several asked files, one ranking, each answer
saying which of the asked files it relates to; a file not in the repository refused with
the closest stored paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.repos import git
from graph_jobs.errors import NotFound
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.relations.change_impact import (
    FileNotInRepository,
    Impact,
    change_impact,
    combine,
)
from graph_jobs.relations.related_files import Related, related_files
from tests.graph_jobs.test_history_and_relations import commit


def _body(name: str, n: int) -> str:
    return f"def {name}():\n    return {n}\n"


def change_history(tmp_path: Path) -> Path:
    """orders/ledger.py, billing/invoice.py and audit/trail.py change together 3 times;
    ledger changes 6 more times with reports/summary.py alone, invoice 6 more times with
    mail/sender.py alone. Every file in its own folder, with its own words: only the
    history ties them."""
    repo = tmp_path / "shop"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    names = {"orders/ledger.py": "post_entry", "billing/invoice.py": "render_invoice",
             "audit/trail.py": "record_event", "reports/summary.py": "monthly_total",
             "mail/sender.py": "send_mail", "misc/colors.py": "palette",
             "misc/shapes.py": "polygon"}
    commit(repo, {p: _body(f, 0) for p, f in names.items()}, 0, "root")
    day = 1
    for i in range(3):
        commit(repo, {p: _body(names[p], 10 + i) for p in
                      ("orders/ledger.py", "billing/invoice.py", "audit/trail.py")}, day)
        day += 1
    for i in range(6):
        commit(repo, {p: _body(names[p], 20 + i) for p in
                      ("orders/ledger.py", "reports/summary.py")}, day)
        commit(repo, {p: _body(names[p], 30 + i) for p in
                      ("billing/invoice.py", "mail/sender.py")}, day + 0.5)
        day += 1
    return repo


@pytest.fixture
def shop(tmp_path, settings):
    stores = Stores.open(settings)
    res = run_ingest(str(change_history(tmp_path)), settings, stores=stores)
    assert res.status == "complete", res.error
    return stores, res.repo_url


def test_the_file_changed_with_every_asked_file_comes_first(shop):
    stores, repo = shop
    # asked alone, the ledger's strongest partner is the summary (6 commits to 3)
    alone = related_files(stores.vectors, stores.metadata, repo, "orders/ledger.py", 3)
    assert alone[0].file_path == "reports/summary.py"
    got = change_impact(stores.vectors, stores.metadata, repo,
                        ["orders/ledger.py", "billing/invoice.py"], k=4)
    assert all(isinstance(i, Impact) for i in got)
    assert got[0].file_path == "audit/trail.py"  # changed with both asked files
    assert got[0].related_to == ["orders/ledger.py", "billing/invoice.py"] or \
        got[0].related_to == ["billing/invoice.py", "orders/ledger.py"]
    assert got[0].why[0] == "tied to 2 of the 2 files asked"
    assert any(w.startswith("orders/ledger.py: changed together 3 times") for w in got[0].why)
    assert {i.file_path for i in got[1:3]} == {"reports/summary.py", "mail/sender.py"}
    summary = next(i for i in got if i.file_path == "reports/summary.py")
    assert summary.related_to == ["orders/ledger.py"]
    assert summary.why[0] == "tied to 1 of the 2 files asked"
    assert all(i.file_path not in ("orders/ledger.py", "billing/invoice.py") for i in got)
    assert [i.score for i in got] == sorted((i.score for i in got), reverse=True)


def test_one_asked_file_ranks_as_similar_does(shop):
    stores, repo = shop
    alone = related_files(stores.vectors, stores.metadata, repo, "billing/invoice.py", 6)
    got = change_impact(stores.vectors, stores.metadata, repo, ["billing/invoice.py"], k=6)
    assert [i.file_path for i in got] == [h.file_path for h in alone]
    assert not got[0].why[0].startswith("tied to")  # one file asked: no count


def test_a_file_not_in_the_repository_is_refused_with_the_closest_paths(shop):
    stores, repo = shop
    with pytest.raises(FileNotInRepository) as caught:
        change_impact(stores.vectors, stores.metadata, repo,
                      ["billing/invoice.py", "orders/ledgr.py"])
    exc = caught.value
    assert isinstance(exc, NotFound)
    assert exc.missing == ["orders/ledgr.py"]
    assert exc.closest["orders/ledgr.py"][0] == "orders/ledger.py"
    assert "'orders/ledgr.py' is not in the repository" in str(exc)
    assert "closest paths: orders/ledger.py" in str(exc)
    with pytest.raises(NotFound, match="is not stored"):
        change_impact(stores.vectors, stores.metadata, repo + "-nope", ["billing/invoice.py"])
    with pytest.raises(ValueError, match="at least one file"):
        change_impact(stores.vectors, stores.metadata, repo, [])


def _related(path: str, score: float, why: list[str]) -> Related:
    return Related("r", path, "python", score, 0.5, 1, why)


def test_combining_rescales_each_asked_file_and_counts_the_ties():
    # q1's scores are 10x q2's: rescaled, neither drowns the other
    ranked = {"q1": [_related("x", 10.0, ["imports it"]), _related("y", 5.0, ["same folder"]),
                     _related("z", 0.0, ["near in the relation graph"])],
              "q2": [_related("z", 1.0, ["its test"]), _related("y", 0.9, ["imports it"]),
                     _related("x", 0.0, ["near in the relation graph"])]}
    got = combine(["q1", "q2"], ranked, k=3, tie_bonus=0.25)
    assert [i.file_path for i in got] == ["y", "x", "z"]  # y: 0.5 + 0.9 + 0.25
    assert got[0].score == pytest.approx(0.5 + 0.9 + 0.25)
    assert got[0].related_to == ["q2", "q1"]  # the stronger contribution first
    raw = combine(["q1", "q2"], ranked, k=3, how="sum", tie_bonus=0.0)
    assert raw[0].file_path == "x"  # raw sums: q1's scale wins
    with pytest.raises(ValueError):
        combine(["q1"], ranked, how="mean")
