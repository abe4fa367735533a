"""How many CPU threads one embedding uses: sized from the work, not from the machine.

torch's default is one intra-op thread per core. On a small graph those threads spend
their time waiting for each other, and with another process busy on a core a barrier
waits for a descheduled thread: a 123-file repository took 22.8 s to embed with 2
threads beside a busy process and 1.8 s with one. So:

- one thread per ``TOKENS_PER_THREAD`` walk tokens (nodes × walks × length), at least one;
- at most the cores this process may run on: its CPU affinity, capped by
  ``PHAROS_EMBED_THREADS`` when set, else by ``OMP_NUM_THREADS`` (Ray sets it to an
  actor's ``num_cpus``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

TOKENS_PER_THREAD = 1_000_000


def usable_cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    for name in ("PHAROS_EMBED_THREADS", "OMP_NUM_THREADS"):
        raw = os.environ.get(name, "").strip()
        if raw.isdigit() and int(raw) > 0:
            return max(1, min(cores, int(raw)))
    return max(1, cores)


def threads_for(tokens: int, cores: int | None = None) -> int:
    """Intra-op threads for a corpus of ``tokens`` walk tokens."""
    cores = usable_cores() if cores is None else cores
    return max(1, min(cores, tokens // TOKENS_PER_THREAD))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Run the block with ``n`` intra-op threads, then put back what was there."""
    import torch

    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
