"""How long an idle claimer waits between claims (the claim loop's and a standalone
worker's): the one number an idle machine's Redis bill follows."""

from __future__ import annotations

import threading


class IdlePacer:
    """How long an idle claimer waits: a blocking transport blocks in the claim itself
    (``block_s``), a polling one sleeps with exponential backoff between polls."""

    def __init__(self, can_block: bool, min_s: float, max_s: float) -> None:
        self.can_block, self.min_s, self.max_s = can_block, min_s, max_s
        self._wait = min_s

    @property
    def block_s(self) -> float:
        return 2 * self.max_s if self.can_block else 0.0

    def empty(self, stop: threading.Event) -> None:
        """Nothing was claimed: wait before the next poll (REST only)."""
        if not self.can_block:
            stop.wait(self._wait)
            self._wait = min(self.max_s, self._wait * 2)

    def reset(self) -> None:
        self._wait = self.min_s
