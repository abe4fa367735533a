from __future__ import annotations

import pytest

from graph_jobs.settings import Settings


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """Embedded-default settings with a private data directory."""
    monkeypatch.setenv("PHAROS_DATA_DIR", str(tmp_path / "pharos-data"))
    for var in ("MODE", "DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    return Settings(_env_file=None)
