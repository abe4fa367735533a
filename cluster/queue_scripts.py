"""The queue's Lua scripts. Each runs as one atomic ``EVAL`` (one command of budget).

Key names, limits, job statuses, stages and the scripts' replies come from
:mod:`cluster.redis_keys` and :mod:`cluster.statuses`: each script is passed through
:func:`~cluster.redis_keys.lua` where it is defined, which writes those values into its
source (no placeholder may be left). The list here is a reader's map.

Keys (standalone Redis / one Upstash database; job keys are built inside the scripts):

  ingest_queue            LIST  pending task JSON, FIFO (RPUSH in, LPOP out)
  pharos:pending_repos    HASH  repo key -> job id of its pending task (de-duplication)
  pharos:inflight         ZSET  job id -> lease deadline (ms since epoch); a failed attempt
                                waiting out its backoff (status 'retrying') is here too,
                                with the time it goes back to the queue
  pharos:job:{id}         HASH  task, status, attempts, stage, progress, worker, error...
  pharos:dead_letter      LIST  tasks that failed max_attempts times, with the last error
  job_history             LIST  last 100 finished jobs (JSON), newest first
  worker_status           STRING the latest worker status line (what the old API read)
  worker_status:{worker}  STRING JSON heartbeat, expires after the heartbeat TTL
  pharos:workers          SET   worker ids that have sent a heartbeat
  pharos:claiming:{worker} LIST  TCP transport only: BLMOVE lands here, claim takes it
"""

from cluster.redis_keys import lua

# Shared Lua helpers -------------------------------------------------------------------
_HEARTBEAT = """
local function heartbeat(worker, wjson, ttl, line)
  redis.call('SET', '@WORKER_PREFIX@' .. worker, wjson, 'EX', ttl)
  redis.call('SADD', '@WORKERS@', worker)
  redis.call('SET', '@WORKER_STATUS@', line, 'EX', ttl)
end
local function finish(jk, history, status, record, now)
  redis.call('HSET', jk, 'status', status, 'finished_at', now, 'stage', '')
  redis.call('LPUSH', history, record)
  redis.call('LTRIM', history, 0, @HISTORY_LAST@)
  redis.call('EXPIRE', jk, @JOB_RECORD_TTL_S@)
end
"""

# KEYS: queue, pending, jobkey   ARGV: repo_key, job_id, task_json, max_size, now_ms
ENQUEUE = lua("""
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then
  local st = redis.call('HGET', '@JOB_PREFIX@' .. existing, 'status')
  if st == '@JOB_RETRYING@' then
    return {'@ENQUEUE_EXISTING@', existing, 0, redis.call('LLEN', KEYS[1])}
  end
  if st == '@JOB_PENDING@' then
    local items = redis.call('LRANGE', KEYS[1], 0, -1)
    for i, t in ipairs(items) do
      if string.find(t, existing, 1, true) then
        return {'@ENQUEUE_EXISTING@', existing, i, #items}
      end
    end
  end
  redis.call('HDEL', KEYS[2], ARGV[1])
end
local n = redis.call('LLEN', KEYS[1])
if n >= tonumber(ARGV[4]) then
  return {'@ENQUEUE_FULL@', '', 0, n}
end
redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], 'task', ARGV[3], 'status', '@JOB_PENDING@', 'repo_key', ARGV[1],
           'attempts', 0, 'submitted_at', ARGV[5], 'stage', '', 'progress', 0)
redis.call('EXPIRE', KEYS[3], @JOB_RECORD_TTL_S@)
return {'@ENQUEUE_QUEUED@', ARGV[2], n + 1, n + 1}
""")

# KEYS: queue, inflight, pending, dead, history, claiming
# ARGV: worker, now_ms, lease_ms, max_attempts, from_claiming, worker_json, ttl, line,
#       iso_now, then (worker, worker_json, line) of every other idle slot of the machine:
#       one claim keeps all their heartbeats alive
CLAIM = lua(_HEARTBEAT + """
heartbeat(ARGV[1], ARGV[6], ARGV[7], ARGV[8])
for i = 10, #ARGV, 3 do heartbeat(ARGV[i], ARGV[i + 1], ARGV[7], ARGV[i + 2]) end
local now = tonumber(ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 20)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  local jk = '@JOB_PREFIX@' .. id
  local task = redis.call('HGET', jk, 'task')
  if task and redis.call('HGET', jk, 'status') == '@JOB_RETRYING@' then
    redis.call('HSET', jk, 'status', '@JOB_PENDING@')
    redis.call('RPUSH', KEYS[1], task)
    redis.call('HSET', KEYS[3], redis.call('HGET', jk, 'repo_key'), id)
  elseif task then
    local attempts = tonumber(redis.call('HGET', jk, 'attempts') or '0')
    local err = 'worker lost: lease expired (worker ' .. (redis.call('HGET', jk, 'worker') or '?') .. ')'
    if attempts >= tonumber(ARGV[4]) then
      redis.call('HSET', jk, 'error', err)
      local t = cjson.decode(task)
      -- the history view of graph_jobs.job_record.JobRecord, field for field
      local rec = cjson.encode({job_id = id, repo_url = t.repo_url, status = '@JOB_FAILED@',
        error = err, attempts = attempts, duration_seconds = 0, files_processed = 0,
        embeddings_generated = 0, timestamp = ARGV[9],
        worker = redis.call('HGET', jk, 'worker') or cjson.null})
      redis.call('LPUSH', KEYS[4], rec)
      finish(jk, KEYS[5], '@JOB_FAILED@', rec, now)
    else
      redis.call('HSET', jk, 'status', '@JOB_PENDING@', 'error', err .. '; requeued', 'stage', '')
      redis.call('LPUSH', KEYS[1], task)
      redis.call('HSET', KEYS[3], redis.call('HGET', jk, 'repo_key'), id)
    end
  end
end
local task
if ARGV[5] == '1' then task = redis.call('LPOP', KEYS[6]) else task = redis.call('LPOP', KEYS[1]) end
if not task then return nil end
local t = cjson.decode(task)
local jk = '@JOB_PREFIX@' .. t.job_id
local attempts = redis.call('HINCRBY', jk, 'attempts', 1)
redis.call('HSET', jk, 'status', '@JOB_RUNNING@', 'worker', ARGV[1], 'started_at', now,
           'stage', '@STAGE_CLAIMED@', 'progress', 0, 'cancel', 0)
if redis.call('HGET', jk, 'task') == false then redis.call('HSET', jk, 'task', task) end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), t.job_id)
local rk = redis.call('HGET', jk, 'repo_key')
if rk and redis.call('HGET', KEYS[3], rk) == t.job_id then redis.call('HDEL', KEYS[3], rk) end
return {task, attempts}
""")

# KEYS: inflight   ARGV: job_id, worker, now_ms, lease_ms, stage, progress, worker_json, ttl, line
RENEW = lua(_HEARTBEAT + """
local jk = '@JOB_PREFIX@' .. ARGV[1]
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('HGET', jk, 'worker') ~= ARGV[2] then
  return '@RENEW_LOST@'
end
redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
redis.call('HSET', jk, 'stage', ARGV[5], 'progress', ARGV[6])
heartbeat(ARGV[2], ARGV[7], ARGV[8], ARGV[9])
if redis.call('HGET', jk, 'cancel') == '1' then return '@RENEW_CANCEL@' end
return '@RENEW_OK@'
""")

# KEYS: inflight, history   ARGV: job_id, worker, status, record_json, now, worker_json, ttl,
#                                 line, error, files, embeddings, duration
ACK = lua(_HEARTBEAT + """
local jk = '@JOB_PREFIX@' .. ARGV[1]
heartbeat(ARGV[2], ARGV[6], ARGV[7], ARGV[8])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('HGET', jk, 'worker') ~= ARGV[2] then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HSET', jk, 'error', ARGV[9], 'files_processed', ARGV[10],
           'embeddings_generated', ARGV[11], 'duration_seconds', ARGV[12], 'progress', 1)
finish(jk, KEYS[2], ARGV[3], ARGV[4], ARGV[5])
return 1
""")

# KEYS: inflight, history, queue, pending, dead
# ARGV: job_id, worker, error, max_attempts, now, failed_record_json, worker_json, ttl, line,
#       backoff_ms (0: requeue at once)
FAIL = lua(_HEARTBEAT + """
local jk = '@JOB_PREFIX@' .. ARGV[1]
heartbeat(ARGV[2], ARGV[7], ARGV[8], ARGV[9])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('HGET', jk, 'worker') ~= ARGV[2] then
  return '@FAIL_LOST@'
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HSET', jk, 'error', ARGV[3])
local attempts = tonumber(redis.call('HGET', jk, 'attempts') or '0')
if attempts >= tonumber(ARGV[4]) then
  redis.call('LPUSH', KEYS[5], ARGV[6])
  finish(jk, KEYS[2], '@JOB_FAILED@', ARGV[6], ARGV[5])
  return '@FAIL_DEAD@'
end
redis.call('HSET', KEYS[4], redis.call('HGET', jk, 'repo_key'), ARGV[1])
local backoff = tonumber(ARGV[10] or '0')
if backoff > 0 then
  -- back off: wait in the in-flight set, owned by no worker, until a claim requeues it
  redis.call('HSET', jk, 'status', '@JOB_RETRYING@', 'stage', '', 'worker', '',
             'retry_at', tonumber(ARGV[5]) + backoff)
  redis.call('ZADD', KEYS[1], tonumber(ARGV[5]) + backoff, ARGV[1])
  return '@FAIL_RETRY@'
end
redis.call('HSET', jk, 'status', '@JOB_PENDING@', 'stage', '')
redis.call('RPUSH', KEYS[3], redis.call('HGET', jk, 'task'))
return '@FAIL_RETRY@'
""")

# KEYS: queue, pending, history, inflight   ARGV: job_id, now, cancelled_record_json
CANCEL = lua(_HEARTBEAT + """
local jk = '@JOB_PREFIX@' .. ARGV[1]
local status = redis.call('HGET', jk, 'status')
if not status then return {'@CANCEL_UNKNOWN@', ''} end
if status == '@JOB_PENDING@' or status == '@JOB_RETRYING@' then
  local task = redis.call('HGET', jk, 'task')
  if status == '@JOB_PENDING@' then
    redis.call('LREM', KEYS[1], 1, task)
  else  -- waiting out its backoff in the in-flight set
    redis.call('ZREM', KEYS[4], ARGV[1])
  end
  local rec = cjson.decode(ARGV[3])
  rec.repo_url = cjson.decode(task).repo_url
  local rk = redis.call('HGET', jk, 'repo_key')
  if rk and redis.call('HGET', KEYS[2], rk) == ARGV[1] then redis.call('HDEL', KEYS[2], rk) end
  finish(jk, KEYS[3], '@JOB_CANCELLED@', cjson.encode(rec), ARGV[2])
  return {'@CANCEL_CANCELLED@', '@JOB_CANCELLED@'}
end
if status == '@JOB_RUNNING@' then
  redis.call('HSET', jk, 'cancel', 1)
  return {'@CANCEL_CANCELLING@', status}
end
return {'@CANCEL_FINISHED@', status}
""")

# KEYS: queue, inflight, history   ARGV: history limit (0: none, the status alone)
#   -> {queue_len, inflight, n, history_json x n, worker_json...}
# The status and the history in one atomic read: a job the status no longer counts is
# in the history beside it (two reads let a job finish between them, and a console
# that saw the worker idle kept a history without it).
OVERVIEW = lua("""
local limit = tonumber(ARGV[1])
local hist = {}
if limit > 0 then hist = redis.call('LRANGE', KEYS[3], 0, limit - 1) end
local out = {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), #hist}
for _, h in ipairs(hist) do table.insert(out, h) end
for _, w in ipairs(redis.call('SMEMBERS', '@WORKERS@')) do
  local v = redis.call('GET', '@WORKER_PREFIX@' .. w)
  if v then table.insert(out, v) else redis.call('SREM', '@WORKERS@', w) end
end
return out
""")

# KEYS: queue   ARGV: job_id  -> {flat hash..., '__position', n}
JOB = lua("""
local h = redis.call('HGETALL', '@JOB_PREFIX@' .. ARGV[1])
if #h == 0 then return nil end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i, t in ipairs(items) do
  if string.find(t, ARGV[1], 1, true) then
    table.insert(h, '__position'); table.insert(h, i); break
  end
end
return h
""")

# KEYS: claiming(worker), queue  -> tasks a dead predecessor left between BLMOVE and claim
RESCUE = lua("""
local n = 0
while true do
  local t = redis.call('RPOP', KEYS[1])
  if not t then return n end
  redis.call('LPUSH', KEYS[2], t)
  n = n + 1
end
""")

# KEYS: inflight, queue, pending   ARGV: job_id, worker
# A draining worker hands a running job back: front of the queue, attempt not counted.
RELEASE = lua("""
local jk = '@JOB_PREFIX@' .. ARGV[1]
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('HGET', jk, 'worker') ~= ARGV[2] then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HINCRBY', jk, 'attempts', -1)
redis.call('HSET', jk, 'status', '@JOB_PENDING@', 'stage', '', 'error', 'released by a draining worker')
redis.call('LPUSH', KEYS[2], redis.call('HGET', jk, 'task'))
redis.call('HSET', KEYS[3], redis.call('HGET', jk, 'repo_key'), ARGV[1])
return 1
""")

# a heartbeat on its own (``JobQueue.heartbeat``)
HEARTBEAT = lua(_HEARTBEAT + "heartbeat(ARGV[1], ARGV[2], ARGV[3], ARGV[4]) return 1")
