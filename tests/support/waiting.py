"""Poll until a condition holds, and whether a process is still running (tests and
their helper processes)."""

from __future__ import annotations

import time


def wait_for(pred, timeout: float = 120, every: float = 0.2, what: str = "condition"):
    """Return ``pred()``'s first truthy value; AssertionError after ``timeout`` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        if v := pred():
            return v
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (read from /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
