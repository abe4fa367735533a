"""One claim loop per machine: it takes tasks from the queue and hands them to the pool's
free slots, so that an idle edge machine costs the same few Redis commands a day
whatever its pool size.

Idle, the loop sends (``idle_poll_max_s`` = 90 s by default):

- TCP (redis-py): one ``BLMOVE`` that blocks for ``2 * idle_poll_max_s``, then one
  claim script: 2 commands per 180 s, 960 a day;
- REST (Upstash, which cannot block): one claim script per poll, the poll interval
  doubling from ``idle_poll_min_s`` to ``idle_poll_max_s``: 960 a day.

The claim script also refreshes the heartbeat of every other idle slot, so the status
page shows each slot without a command of its own. A busy slot's heartbeat rides on its
lease renewals. Nothing else in the pool talks to Redis while it is idle.

An actor that dies (killed, out of memory) is restarted by Ray, which can take a while
on a loaded machine. Until it answers again (``__ray_ready__``, Ray's own readiness
call), none of its slots claims: a job claimed for a dead actor would only wait for its
lease to lapse, an attempt lost each time, and fail once its attempts are spent (a slot
down for over :data:`DOWN_WARN_S` is logged). A task the actor refuses at submission
(``RayActorError``) goes straight back to the queue (``release``: it never ran, so no
attempt is counted); one that cannot be sent for another reason is a failed attempt.
Once Ray itself is shut down, the loop makes no further Ray call (each would start a
new local cluster behind the caller's back): it hands back a task it claimed meanwhile
and stops.

A slot is ``(actor, index)``: the actor (:class:`cluster.actor_pool.GraphWorker`) runs
the task in that slot's :class:`~cluster.edge_worker.EdgeWorker`, which holds the lease
under the slot's worker id from the claim on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import ray
from ray.exceptions import RayActorError

from cluster.idle_pacer import IdlePacer
from cluster.job_queue import JobQueue, WorkerBeat
from cluster.redis_transport import QueueUnavailable
from cluster.statuses import JobStatus

log = logging.getLogger(__name__)
DOWN_WARN_S = 60.0  # a slot down this long is logged (once)


@dataclass
class Slot:
    actor: object  # a GraphWorker actor handle
    index: int
    beat: WorkerBeat
    running: object | None = None  # the ObjectRef of the task it runs
    down: bool = False  # its actor died: no claim for it until it answers again
    probe: object | None = None  # the ObjectRef of that readiness call
    retry_at: float = 0.0  # (monotonic) when to ask again after a failed call
    down_since: float = 0.0  # (monotonic)
    warned: bool = False  # said that it has been down for long


class ClaimLoop:
    def __init__(self, queue: JobQueue, *, idle_poll_min_s: float = 1.0,
                 idle_poll_max_s: float = 90.0, redis_retry_s: float = 5.0) -> None:
        self.queue = queue
        self.pacer = IdlePacer(queue.t.can_block, idle_poll_min_s, idle_poll_max_s)
        self.redis_retry_s = redis_retry_s
        self.slots: list[Slot] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.stop = threading.Event()

    # --- slots -------------------------------------------------------------------------
    def add(self, actor, worker_ids: list[str], hardware: str) -> None:
        """The slots of one actor, with the worker ids its EdgeWorkers use."""
        with self._lock:
            for i, wid in enumerate(worker_ids):
                self.slots.append(Slot(actor, i, WorkerBeat(wid, hardware)))

    def busy(self) -> list[Slot]:
        with self._lock:
            return [s for s in self.slots if s.running is not None]

    def _free(self) -> list[Slot]:
        """Free slots, the least busy actor's first (spreads jobs over the GPUs)."""
        with self._lock:
            load: dict[int, int] = {}
            for s in self.slots:
                load[id(s.actor)] = load.get(id(s.actor), 0) + (s.running is not None)
            free = [s for s in self.slots if s.running is None and not s.down]
            return sorted(free, key=lambda s: load[id(s.actor)])

    # --- the loop ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the loop once (a second call while it runs does nothing)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self.run, name="pharos-claim-loop",
                                            daemon=True)
            self._thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001 - the loop must outlive any one bad step
                log.exception("claim loop step failed")
                self.stop.wait(self.redis_retry_s)

    def step(self) -> None:
        if not self.slots:  # no actor online yet
            self.stop.wait(0.5)
            return
        if not ray.is_initialized():  # the pool's Ray is gone: a call would start another
            log.error("claim loop: Ray is shut down; no more claims")
            self.stop.set()
            return
        self._collect(timeout=0)
        free = self._free()
        if not free:
            self._collect(timeout=1.0)  # every slot busy: wait for one, not for Redis
            return
        slot, others = free[0], free[1:]
        try:
            task = self.queue.claim(slot.beat, block_s=self.pacer.block_s,
                                    idle=[s.beat for s in others])
        except QueueUnavailable as exc:
            if self.stop.is_set():
                return  # the block was interrupted by shutdown
            log.warning("claim: Redis unreachable (%s); retrying in %.0fs", exc,
                        self.redis_retry_s)
            self.stop.wait(self.redis_retry_s)
            return
        if task is None:
            self.pacer.empty(self.stop)
            return
        if self.stop.is_set():  # draining began while the claim blocked: hand it back
            self.queue.release(task, slot.beat)
            return
        self.pacer.reset()
        if not ray.is_initialized():  # shut down while the claim blocked
            self.queue.release(task, slot.beat)
            self.stop.set()
            return
        try:
            ref = slot.actor.process.remote(slot.index, task)
        except RayActorError as exc:  # not handed over, so it never ran
            log.warning("slot %s: its actor cannot take work (%s); the job goes back to the "
                        "queue", slot.beat.worker_id, type(exc).__name__)
            self.queue.release(task, slot.beat)
            self._mark_down(slot)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. the task cannot be sent: an attempt
            log.exception("slot %s: the task could not be handed over", slot.beat.worker_id)
            self.queue.fail(task, slot.beat, f"{type(exc).__name__}: {exc}"[:500])
            return
        with self._lock:
            slot.running = ref

    def _mark_down(self, slot: Slot) -> None:
        """No claims for ``slot``'s actor until it answers Ray's readiness call: the slot
        and its idle siblings (a sibling still running learns it from its own task)."""
        now = time.monotonic()
        with self._lock:
            siblings = [s for s in self.slots if s.actor is slot.actor
                        and (s is slot or s.running is None) and not s.down]
        for s in siblings:
            s.down, s.probe, s.retry_at, s.down_since, s.warned = True, None, now, now, False
            self._ask(s)

    def _ask(self, slot: Slot) -> None:
        if slot.probe is not None or time.monotonic() < slot.retry_at:
            return
        try:  # waits, inside Ray, for a restarting actor to be up
            slot.probe = slot.actor.__ray_ready__.remote()
        except Exception:  # noqa: BLE001 - Ray cannot even send it now: ask again soon
            slot.retry_at = time.monotonic() + 1.0

    def _probes(self, ready: list) -> None:
        """Down slots: those whose actor answered take work again; ask the others."""
        with self._lock:
            down = [s for s in self.slots if s.down]
        for s in down:
            if s.probe is not None and s.probe in ready:
                try:
                    ray.get(s.probe)
                    s.down = False
                    log.info("slot %s: its actor is back", s.beat.worker_id)
                except Exception as exc:  # noqa: BLE001 - not back yet
                    s.retry_at = time.monotonic() + 1.0
                    if not s.warned and time.monotonic() - s.down_since > DOWN_WARN_S:
                        s.warned = True
                        log.warning("slot %s: its actor has not answered for %.0f s (%s); "
                                    "no claims for it meanwhile", s.beat.worker_id,
                                    time.monotonic() - s.down_since, type(exc).__name__)
                s.probe = None
            if s.down:
                self._ask(s)

    def _collect(self, timeout: float) -> None:
        with self._lock:
            probes = [s.probe for s in self.slots if s.probe is not None]
        refs = [s.running for s in self.busy()] + probes
        if not ray.is_initialized():  # a Ray call now would start another cluster
            return
        if not refs:
            if timeout:  # nothing to wait for now (a down slot asks again soon)
                self.stop.wait(timeout)
            self._probes([])
            return
        # at once: whatever has finished; with a timeout: the first to finish
        ready, _ = ray.wait(refs, num_returns=1 if timeout else len(refs), timeout=timeout)
        self._probes(ready)
        for s in self.busy():
            if s.running not in ready:
                continue
            try:
                out = ray.get(s.running)
                if out.status in (JobStatus.FAILED, JobStatus.RETRYING):
                    s.beat.failed(out.error or "failed")  # shown until its next job
                else:
                    s.beat.idle()
            except RayActorError as exc:  # the actor died; the lease brings the job back
                log.warning("slot %s: %s; its job comes back when its lease lapses, and "
                            "the actor's slots claim again once it is back",
                            s.beat.worker_id, type(exc).__name__)
                s.beat.idle()
                with self._lock:
                    s.running = None
                self._mark_down(s)
                continue
            except Exception as exc:  # noqa: BLE001 - raised inside it; the lease brings it back
                log.warning("slot %s: %s; its job comes back when its lease lapses",
                            s.beat.worker_id, type(exc).__name__)
                s.beat.idle()
            with self._lock:
                s.running = None

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop claiming, and wait for the loop to end, so that no Ray call of it can
        outlive the pool (or ``ray.shutdown``). A claim blocked in BLMOVE is interrupted
        (its connection shut down). A task moved but not yet claimed at that moment is
        returned to the queue by ``rescue`` when a worker with that id starts; one
        claimed after the stop is handed back (``step``)."""
        self.stop.set()
        interrupt = getattr(self.queue.t, "interrupt", None)
        if interrupt is not None:
            interrupt()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("claim loop still running %.0fs after shutdown", timeout)
