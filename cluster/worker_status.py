"""The combined worker status the API shows, from every live heartbeat's ``state``."""

from __future__ import annotations

from cluster.statuses import WorkerState


def combined_state(workers: list[dict]) -> tuple[WorkerState, dict | None]:
    """Training if any worker trains (first by id), else error if any reports one, else
    idle if any is alive, else offline; with the heartbeat that says so."""
    if not workers:
        return WorkerState.OFFLINE, None
    for state in (WorkerState.TRAINING, WorkerState.ERROR):
        for w in workers:
            if WorkerState(w.get("state", WorkerState.IDLE)) is state:
                return state, w
    return WorkerState.IDLE, None


def combined_status(workers: list[dict]) -> str:
    """The status line of :func:`combined_state`: ``Training Graph on {repo}``,
    ``Error: ...``, ``Idle`` or ``Offline``."""
    state, w = combined_state(workers)
    if w is not None:
        return w["status"]
    return "Offline" if state is WorkerState.OFFLINE else "Idle"
