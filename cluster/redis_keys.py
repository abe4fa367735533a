"""Every Redis key name and limit of the queue, in one place.

The Lua scripts (``queue_scripts``) get their key names from here, and the lifecycle's
values (job statuses, stages, the scripts' own replies) from :mod:`cluster.statuses`:
:func:`lua` writes them into each script's source where it is defined, so Python and Lua
cannot drift apart. The first three names are the ones a user of the old system already knows.
"""

from __future__ import annotations

from cluster.statuses import (
    CancelReply,
    EnqueueReply,
    FailReply,
    JobStatus,
    RenewReply,
    Stage,
)

QUEUE = "ingest_queue"  # LIST: pending task JSON, FIFO (RPUSH in, LPOP out)
HISTORY = "job_history"  # LIST: the last HISTORY_LIMIT finished jobs, newest first
WORKER_STATUS = "worker_status"  # STRING: the latest worker status line
WORKER_PREFIX = "worker_status:"  # + worker id: STRING, that worker's heartbeat JSON
INFLIGHT = "pharos:inflight"  # ZSET: job id -> lease deadline / retry time (ms)
PENDING = "pharos:pending_repos"  # HASH: repository@ref -> pending job id (dedup)
DEAD = "pharos:dead_letter"  # LIST: jobs that failed their attempts, with the last error
WORKERS = "pharos:workers"  # SET: worker ids that have sent a heartbeat
JOB_PREFIX = "pharos:job:"  # + job id: HASH, the job's record
CLAIMING_PREFIX = "pharos:claiming:"  # + worker id: LIST, where BLMOVE lands (TCP)

HISTORY_LIMIT = 100
JOB_RECORD_TTL_S = 7 * 24 * 3600  # a finished job's hash is kept this long


def job_key(job_id: str) -> str:
    return JOB_PREFIX + job_id


def claiming_key(worker_id: str) -> str:
    return CLAIMING_PREFIX + worker_id


def _values(prefix: str, enum) -> dict[str, str]:
    return {f"@{prefix}_{m.name}@": m.value for m in enum}


LUA_NAMES = {  # placeholder in the scripts -> its value
    "@JOB_PREFIX@": JOB_PREFIX, "@WORKER_PREFIX@": WORKER_PREFIX, "@WORKERS@": WORKERS,
    "@WORKER_STATUS@": WORKER_STATUS, "@HISTORY_LAST@": str(HISTORY_LIMIT - 1),
    "@JOB_RECORD_TTL_S@": str(JOB_RECORD_TTL_S),
    # the lifecycle's values: '@JOB_PENDING@', '@STAGE_CLAIMED@', '@RENEW_LOST@', ...
    **_values("JOB", JobStatus), **_values("STAGE", Stage),
    **_values("ENQUEUE", EnqueueReply), **_values("RENEW", RenewReply),
    **_values("FAIL", FailReply), **_values("CANCEL", CancelReply),
}


def lua(source: str) -> str:
    """``source`` with every placeholder of :data:`LUA_NAMES` replaced by its value."""
    for placeholder, value in LUA_NAMES.items():
        source = source.replace(placeholder, value)
    if "@" in source.replace("'@'", ""):
        raise ValueError("a Lua script names a key placeholder that redis_keys lacks")
    return source
