"""The embedded commands, as the CLI runs them: `pharos graph` (JSON, a clear error for a
bad source), `pharos ingest / similar / jobs / map` on a real repository, and the
settings they read (moved here from tests/graph_jobs: tests mirror the packages)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from devkit.repos import make_repo
from graph_jobs.settings import RunMode, SettingsError
from pharos_cli.app import app
from pharos_cli.settings import Settings


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


def test_cli_ingest_similar_jobs_map(monkeypatch, tmp_path, requests_repo):
    from pharos_cli.app import app
    from pharos_cli.settings import get_settings

    monkeypatch.setenv("PHAROS_DATA_DIR", str(tmp_path / "data"))
    for var in ("DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "MODE"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    run = CliRunner().invoke
    try:
        res = run(app, ["ingest", str(requests_repo), "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert out["status"] == "complete" and out["files_processed"] == out["embeddings_generated"]
        assert out["duration_seconds"] > 0 and {"graph", "embed", "store"} <= set(out["timings"])
        res = run(app, ["similar", str(requests_repo), "requests/api.py", "-k", "3", "--json"])
        assert res.exit_code == 0, res.output
        got = json.loads(res.stdout)
        assert len(got["results"]) == 3 and got["answered_by"] == "vector+rerank"
        assert all(h["why"] for h in got["results"])
        # piped (not a terminal): tab-separated rows, gh's convention (issue 27)
        res = run(app, ["similar", str(requests_repo), "requests/api.py"])
        rows = [line.split("\t") for line in res.stdout.splitlines()]
        assert res.exit_code == 0 and rows and all(len(r) == 5 and r[4] for r in rows)
        res = run(app, ["similar", str(requests_repo), "requests/api.py", "--all"])
        rows = [line.split("\t") for line in res.stdout.splitlines()]  # issue 14: by role
        # issue 30: a sixth column says why (what the two files declare)
        assert res.exit_code == 0 and rows and all(len(r) == 6 and r[5] for r in rows)
        res = run(app, ["similar", str(requests_repo), "@top", "--json"])
        assert res.exit_code == 0 and len(json.loads(res.stdout)["results"]) > 0
        res = run(app, ["similar", str(requests_repo), "missing.py"])
        assert res.exit_code == 2
        res = run(app, ["jobs", "--json"])
        assert json.loads(res.stdout)["jobs"][0]["job_id"] == out["job_id"]
        for name in ("map.png", "map.html"):
            res = run(app, ["map", str(requests_repo), "--out", str(tmp_path / name)])
            assert res.exit_code == 0, res.output
            assert (tmp_path / name).stat().st_size > 1000
        assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
        res = run(app, ["ingest", str(tmp_path / "nope")])  # refused before a job exists
        assert res.exit_code == 2 and "no such directory" in res.output
    finally:
        get_settings.cache_clear()
