"""Errors of the ingress. Each becomes one HTTP answer (app.py maps them)::

    InvalidRepoURL (a ValueError)   400: the repository URL breaks the URL policy

Below it: cluster.errors (QueueFull 429, QueueUnavailable 503) and graph_jobs.errors
(NotFound 404, StoreError 503).
"""

from __future__ import annotations


class InvalidRepoURL(ValueError):
    """The URL is refused; the message says why (graph_jobs.url_policy's reason)."""
