"""The combined worker status the API shows, from every live heartbeat."""

from __future__ import annotations


def combined_status(workers: list[dict]) -> str:
    """``Training Graph on {repo}`` if any worker trains (first by id), else ``Error: ...``
    if any reports one, else ``Idle`` if any is alive, else ``Offline``."""
    if not workers:
        return "Offline"
    for w in workers:
        if w.get("status", "").startswith("Training Graph on"):
            return w["status"]
    for w in workers:
        if w.get("status", "").startswith("Error"):
            return w["status"]
    return "Idle"
