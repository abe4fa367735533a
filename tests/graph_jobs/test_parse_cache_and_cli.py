"""Re-ingesting re-parses only what changed (cache by git blob id); the CLI's JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from devkit.repos import commit_all, make_repo
from graph_jobs.graph.dependency_graph import build_dependency_graph
from graph_jobs.settings import RunMode, SettingsError
from pharos_cli.app import app
from pharos_cli.settings import Settings


def test_unchanged_repository_reparses_nothing(tmp_path):
    repo = make_repo(tmp_path / "r", {f"m{i}.py": f"import m{i + 1}\n" for i in range(30)})
    cache = tmp_path / "cache.sqlite3"
    first = build_dependency_graph(repo, cache_path=cache)
    again = build_dependency_graph(repo, cache_path=cache)
    assert first.cache_hits == 0 and again.cache_hits == 30 and again.parsed == 0
    assert [(e.source, e.target) for e in again.edges] == [(e.source, e.target) for e in first.edges]
    (repo / "m3.py").write_text("import m7\n")  # changed in the work tree, not committed
    (repo / "new.py").write_text("import m1\n")
    commit_all(repo)
    (repo / "m5.py").write_text("import m9\n")
    third = build_dependency_graph(repo, cache_path=cache)
    assert third.cache_hits == 28  # 31 files; m3, m5 and new.py parsed afresh
    targets = {(e.source, e.target) for e in third.edges}
    assert {("m3.py", "m7.py"), ("m5.py", "m9.py"), ("new.py", "m1.py")} <= targets
    assert ("m3.py", "m4.py") not in targets


def test_cli_graph_json(tmp_path, settings, monkeypatch):
    repo = make_repo(tmp_path / "r", {"pkg/__init__.py": "from . import a\n", "pkg/a.py": "",
                                      "web/x.ts": "import './y';\n", "web/y.ts": ""})
    from pharos_cli.settings import get_settings
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["graph", str(repo), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["files"] == ["pkg/__init__.py", "pkg/a.py", "web/x.ts", "web/y.ts"]
    assert {"source": "pkg/__init__.py", "target": "pkg/a.py", "kind": "from-import",
            "line": 1} in data["edges"]
    assert data["stats"]["languages"]["typescript"] == {
        "files": 2, "imports": 1, "resolved": 1, "unresolved": 0, "parse_errors": 0}
    assert set(data) >= {"files", "edges", "unresolved", "stats"}


def test_cli_clear_error_for_bad_source(tmp_path, settings):
    result = CliRunner().invoke(app, ["graph", f"file://{tmp_path}/none.git"])
    assert result.exit_code == 2
    assert "error:" in result.stderr and "git clone failed" in result.stderr


def test_settings_embedded_default_and_production_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("PHAROS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEON_DATABASE_URL", "postgresql://u@h/db?sslmode=require")
    s = Settings(_env_file=None)
    assert s.mode is RunMode.EMBEDDED and s.max_queue_size == 10 and s.task_ttl_seconds == 86400
    assert s.effective_database_url.startswith("postgresql://")
    assert s.qdrant_path == tmp_path / "qdrant"
    monkeypatch.setenv("MODE", "CLOUD")
    monkeypatch.setenv("REDIS_URL", "redis://localhost:6379/0")
    try:
        Settings(_env_file=None).check_production()
        raise AssertionError("cloud mode without a token must be refused")
    except SettingsError as exc:
        assert "PHAROS_ADMIN_TOKEN" in str(exc)
    monkeypatch.setenv("PHAROS_ADMIN_TOKEN", "s3cret")
    Settings(_env_file=None).check_production()
