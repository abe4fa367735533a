"""The combined worker status the API shows, from every live heartbeat."""

from __future__ import annotations


def combined_status(workers: list[dict]) -> str:
    """``Training Graph on {repo}`` if any worker trains (first by id), else ``Error: ...``
    if any reports one, else ``Idle`` if any is alive, else ``Offline``."""
    if not workers:
        return "Offline"
    for state in ("training", "error"):
        for w in workers:
            if _state(w) == state:
                return w["status"]
    return "Idle"


def _state(w: dict) -> str:
    """The heartbeat's ``state`` field (a worker before that field: from its line)."""
    if "state" in w:
        return w["state"]
    line = w.get("status", "")
    return "training" if line.startswith("Training") else \
        "error" if line.startswith("Error") else "idle"
