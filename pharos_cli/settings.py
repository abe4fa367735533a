"""Every setting of Pharos, composed once: the job's (``graph_jobs.settings``), the
queue's and edge pool's (``cluster.queue_settings``) and the ingress's
(``serve_app.ingress_settings``), each read from its environment variables."""

from __future__ import annotations

from functools import lru_cache

from serve_app.ingress_settings import IngressSettings


class Settings(IngressSettings):
    """All of them (the ingress's class already extends the queue's, which extends the
    job's); what the CLI builds and hands down."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built once."""
    return Settings()
