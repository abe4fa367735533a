"""qdrant-client's local mode, shared by several processes: held only while it is used.

qdrant-client's local mode (``QdrantClient(path=...)``) loads the whole directory into
memory and takes an exclusive, non-blocking ``portalocker`` lock on ``<path>/.lock``: a
second process that opens the same directory fails at once ("Storage folder ... is already
accessed by another instance of Qdrant client"). The embedded default has several such
processes on one machine: ``pharos console``, ``pharos ingest``, ``pharos similar``,
``pharos mcp``. :class:`SharedLocalQdrant` stands in for the client and takes turns:

- Before a call it takes a **lease**: an exclusive lock on ``<path>/.pharos-lease``,
  *waited for* (up to ``wait_s``) instead of refused, then opens the directory. A process
  that waits also holds a shared lock on ``<path>/.pharos-waiting``.
- The holder keeps the directory open between calls (one load serves a burst of calls,
  e.g. the batches of an upload) and gives the lease back, closing the client and so
  releasing qdrant-client's own lock, as soon as another process waits (checked after
  each call, and every ``poll_s`` while idle) or after ``idle_s`` without a call.
- Every lease re-opens the directory, so a process always reads what the previous holder
  wrote: the data a reader sees is never older than its lease.

What a lease costs is one load of the directory (measured: ~20 ms at 1,000 points,
~90 ms at 5,000, ~0.8 s at 20,000; docs/architecture.md). Several processes that want the
store at once take turns call by call; none fails.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

from graph_jobs.errors import VectorStoreError

LEASE_FILE = ".pharos-lease"
WAITING_FILE = ".pharos-waiting"
FOREIGN_WAIT_S = 5.0  # for a holder that does not take the lease


class LeaseTimeout(VectorStoreError):
    """Another process held the local vector store for longer than we would wait."""


class SharedLocalQdrant:
    """A ``QdrantClient(path=path)`` opened per lease; see the module docstring.

    Attribute access returns the client's method wrapped in a lease; :meth:`session`
    holds one lease across several calls.
    """

    def __init__(self, path: str | Path, *, wait_s: float = 300.0, idle_s: float = 5.0,
                 poll_s: float = 0.05) -> None:
        self.path = Path(path)
        self.wait_s, self.idle_s, self.poll_s = wait_s, idle_s, poll_s
        self._mutex = threading.RLock()
        self._client = None
        self._lease = None  # open file holding the exclusive lock
        self._depth = 0  # calls in progress in this process
        self._last_use = 0.0
        self._reaper: threading.Thread | None = None
        self._yielded_at: float | None = None  # when we last gave the lease to a waiter
        self.leases = 0  # times the directory was opened (tests, benches)

    # --- the client's surface ----------------------------------------------------------
    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        from qdrant_client import QdrantClient

        if not callable(getattr(QdrantClient, name, None)):
            raise AttributeError(name)

        def leased(*args, **kwargs):
            with self.session() as client:
                return getattr(client, name)(*args, **kwargs)

        leased.__name__ = name
        return leased

    @contextlib.contextmanager
    def session(self):
        """The open client, held for the ``with`` block."""
        with self._mutex:
            if self._client is None:
                self._acquire()
            self._depth += 1
            try:
                yield self._client
            finally:
                self._depth -= 1
                self._last_use = time.monotonic()
                if self._depth == 0 and self._others_waiting():
                    self._release(yielded=True)

    def close(self) -> None:
        with self._mutex:
            self._release()

    @property
    def held(self) -> bool:
        return self._client is not None

    # --- the lease ---------------------------------------------------------------------
    def _acquire(self) -> None:
        import portalocker
        from qdrant_client import QdrantClient

        self.path.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_s
        if self._yielded_at is not None:  # let the waiter we yielded to go first
            while self._others_waiting() and time.monotonic() - self._yielded_at < 2.0:
                time.sleep(0.01)
            self._yielded_at = None
        lease = open(self.path / LEASE_FILE, "a+")  # noqa: SIM115 - held until released
        waiting = None
        try:
            while True:
                try:
                    portalocker.lock(lease, portalocker.LockFlags.EXCLUSIVE
                                     | portalocker.LockFlags.NON_BLOCKING)
                    break
                except portalocker.exceptions.LockException:
                    if waiting is None:  # tell the holder someone waits
                        waiting = open(self.path / WAITING_FILE, "a+")  # noqa: SIM115
                        portalocker.lock(waiting, portalocker.LockFlags.SHARED)
                    if time.monotonic() > deadline:
                        raise LeaseTimeout(
                            f"the local vector store {self.path} stayed in use by another "
                            f"Pharos process for {self.wait_s:.0f} s; try again when it "
                            "has finished") from None
                    time.sleep(0.02)
            # a program that does not take the lease (an older Pharos, a script with its
            # own QdrantClient) may hold it for good: wait a little, then say so
            foreign_deadline = min(deadline, time.monotonic() + FOREIGN_WAIT_S)
            while True:
                try:
                    client = QdrantClient(path=str(self.path),
                                          force_disable_check_same_thread=True)
                    break
                except RuntimeError as exc:
                    if "already accessed" not in str(exc):
                        raise
                    if time.monotonic() > foreign_deadline:
                        portalocker.unlock(lease)
                        raise LeaseTimeout(
                            f"the local vector store {self.path} is open in another program "
                            "that does not take turns (an older pharos, or a script with its "
                            "own QdrantClient): close it and try again") from exc
                    time.sleep(0.05)
        except BaseException:
            lease.close()
            raise
        finally:
            if waiting is not None:
                with contextlib.suppress(Exception):
                    portalocker.unlock(waiting)
                waiting.close()
        self._client, self._lease = client, lease
        self.leases += 1
        self._last_use = time.monotonic()
        self._reaper = threading.Thread(target=self._reap, name="pharos-qdrant-lease",
                                        daemon=True)
        self._reaper.start()

    def _release(self, yielded: bool = False) -> None:
        if yielded:
            self._yielded_at = time.monotonic()
        client, lease = self._client, self._lease
        self._client = self._lease = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if lease is not None:
            import portalocker

            with contextlib.suppress(Exception):
                portalocker.unlock(lease)
            lease.close()

    def _others_waiting(self) -> bool:
        """True while another process holds a shared lock on the waiting file."""
        import portalocker

        try:
            fh = open(self.path / WAITING_FILE, "a+")  # noqa: SIM115
        except OSError:
            return False
        try:
            portalocker.lock(fh, portalocker.LockFlags.EXCLUSIVE
                             | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.exceptions.LockException:
            fh.close()
            return True
        portalocker.unlock(fh)
        fh.close()
        return False

    def _reap(self) -> None:
        """While the lease is held and no call runs: give it back when someone waits
        or after ``idle_s``."""
        me = threading.current_thread()
        while True:
            time.sleep(self.poll_s)
            with self._mutex:
                if self._reaper is not me or self._client is None:
                    return
                if self._depth:
                    continue
                if time.monotonic() - self._last_use >= self.idle_s:
                    self._release()
                    return
                if self._others_waiting():
                    self._release(yielded=True)
                    return



def lease_refused(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) is a :class:`LeaseTimeout`."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, LeaseTimeout):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
