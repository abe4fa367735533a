"""The job's settings, read from the environment (and an optional `.env`).

With nothing set, Pharos runs in the embedded default: a SQLite file and a local Qdrant
directory under ``PHAROS_DATA_DIR`` (unset: a project-local ``.pharos``, else
``~/.pharos``; :mod:`graph_jobs.data_folder`), no Redis, no servers.
The queue's and the ingress's settings live in their packages and extend this class;
``pharos_cli.settings.Settings`` is all of them, composed once.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from graph_jobs.data_folder import default_data_dir


class RunMode(enum.StrEnum):
    EMBEDDED = "EMBEDDED"
    CLOUD = "CLOUD"
    EDGE = "EDGE"


class SettingsError(ValueError):
    """A combination of settings that must not run (e.g. cloud mode with no admin token)."""


class JobSettings(BaseSettings):
    """What a job needs: the run mode, the stores, the graph, embedding and history
    stages, and the clone policy. The queue's settings extend it in
    ``cluster/queue_settings.py``, the ingress's in ``serve_app/ingress_settings.py``;
    ``pharos_cli/settings.py`` composes them once, at the top."""


    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    mode: RunMode = Field(RunMode.EMBEDDED, validation_alias="MODE")

    # --- which repositories a job may clone (graph_jobs.url_policy) -----------------
    allow_local_repos: bool = Field(False, validation_alias="PHAROS_ALLOW_LOCAL_REPOS")
    allowed_git_hosts: str = Field(
        "github.com,gitlab.com,bitbucket.org,codeberg.org",
        validation_alias="PHAROS_ALLOWED_GIT_HOSTS")

    # --- stores ----------------------------------------------------------------------
    database_url: str = Field(
        "", validation_alias=AliasChoices("DATABASE_URL", "NEON_DATABASE_URL")
    )
    qdrant_url: str = Field("", validation_alias="QDRANT_URL")
    qdrant_api_key: str = Field("", validation_alias="QDRANT_API_KEY")
    # unset: the nearest project-local .pharos folder, else ~/.pharos (graph_jobs.data_folder)
    data_dir: Path = Field(default_factory=default_data_dir, validation_alias="PHAROS_DATA_DIR")
    qdrant_collection: str = Field("pharos_files", min_length=1,
                                   validation_alias="PHAROS_QDRANT_COLLECTION")
    qdrant_batch_size: int = Field(100, ge=1, validation_alias="PHAROS_QDRANT_BATCH_SIZE")
    qdrant_retries: int = Field(3, ge=1, validation_alias="PHAROS_QDRANT_RETRIES")
    auto_migrate: bool = Field(True, validation_alias="PHAROS_AUTO_MIGRATE")

    # --- embedding -------------------------------------------------------------------
    device: str = Field("auto", validation_alias="PHAROS_DEVICE")
    embedding_backend: str = Field("auto", validation_alias="PHAROS_EMBEDDING_BACKEND")

    # --- graph stage -----------------------------------------------------------------
    clone_timeout_s: float = Field(300.0, gt=0, validation_alias="PHAROS_CLONE_TIMEOUT_S")
    clone_max_bytes: int = Field(1 << 30, gt=0, validation_alias="PHAROS_CLONE_MAX_BYTES")
    max_file_bytes: int = Field(1 << 20, gt=0, validation_alias="PHAROS_MAX_FILE_BYTES")
    parse_workers: int = Field(0, ge=0, validation_alias="PHAROS_PARSE_WORKERS")
    parse_cache: bool = Field(True, validation_alias="PHAROS_PARSE_CACHE")

    # --- what one job may spend (graph_jobs.job_budget) ---------------------------------
    job_timeout_s: float = Field(1800.0, ge=0, validation_alias="PHAROS_JOB_TIMEOUT_S")  # 0: none
    # the worker's resident memory while a job runs; 0: 80 % of the machine's (cgroup's)
    job_memory_mb: int = Field(0, ge=0, validation_alias="PHAROS_JOB_MEMORY_MB")
    max_files: int = Field(50000, ge=0, validation_alias="PHAROS_MAX_FILES")  # 0: none

    # --- history and relations (related files) ---------------------------------------
    history: bool = Field(True, validation_alias="PHAROS_HISTORY")
    history_max_commits: int = Field(2000, ge=1, validation_alias="PHAROS_HISTORY_MAX_COMMITS")
    history_max_days: float = Field(0, ge=0, validation_alias="PHAROS_HISTORY_MAX_DAYS")
    history_max_commit_files: int = Field(30, ge=2,
                                          validation_alias="PHAROS_HISTORY_MAX_COMMIT_FILES")
    history_half_life_days: float = Field(365.0, gt=0,
                                          validation_alias="PHAROS_HISTORY_HALF_LIFE_DAYS")
    history_session_hours: float = Field(0.0, ge=0,
                                         validation_alias="PHAROS_HISTORY_SESSION_HOURS")
    relations: str = Field("all", pattern="^(all|imports)$", validation_alias="PHAROS_RELATIONS")
    # shared words (graph_jobs.relations.shared_terms): off, or skipped above this many files
    words: bool = Field(True, validation_alias="PHAROS_WORDS")
    words_max_files: int = Field(20000, ge=0, validation_alias="PHAROS_WORDS_MAX_FILES")

    @model_validator(mode="after")
    def _expand(self) -> JobSettings:
        self.data_dir = Path(self.data_dir).expanduser().absolute()
        return self

    # Derived locations for the embedded default.
    @property
    def sqlite_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'pharos.sqlite3'}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or self.sqlite_url

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def parse_cache_path(self) -> Path:
        return self.data_dir / "parse-cache.sqlite3"

    def check_production(self) -> None:
        """Refuse values that are unsafe outside the embedded default (each layer adds
        its own checks)."""
        if self.mode is RunMode.CLOUD and self.allow_local_repos:
            raise SettingsError("PHAROS_ALLOW_LOCAL_REPOS=1 is refused in MODE=CLOUD")


@lru_cache(maxsize=1)
def get_job_settings() -> JobSettings:
    """The job's settings alone (the Alembic environment uses it)."""
    return JobSettings()
