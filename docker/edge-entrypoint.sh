#!/usr/bin/env bash
# Start the Ray head (dashboard and Jobs API on 8265), then the worker pool.
#
# Ray's control plane runs code for whoever reaches it (the Jobs API takes a shell command:
# CVE-2023-48022, "ShadowRay"), so token auth is always on: RAY_AUTH_MODE=token, with the
# operator's RAY_AUTH_TOKEN, or else a token generated on first start into the data volume
# ($PHAROS_DATA_DIR/ray/auth_token, mode 0600; RAY_AUTH_TOKEN_PATH moves it) and reused
# afterwards. Any other RAY_AUTH_MODE is refused: there is no opt-out. The head is checked
# before the pool starts: a dashboard that answers without the token stops the container.
#
# SIGTERM (docker stop) goes to `pharos worker`, which drains: no new claims, running jobs
# finish within PHAROS_DRAIN_GRACE_S or go back to the queue; then this head's Ray stops
# (its own processes only, not every Ray on the machine as `ray stop` would).
# What of its run is still running PHAROS_RAY_STOP_WAIT_S (15) later is killed (see reap).
#
# Ports (env): RAY_PORT (GCS, 6379), RAY_DASHBOARD_PORT (8265), RAY_CLIENT_PORT (10001),
# RAY_DASHBOARD_HOST (0.0.0.0: inside the container; the compose file publishes on
# 127.0.0.1), and if set RAY_DASHBOARD_AGENT_PORT, RAY_METRICS_EXPORT_PORT; RAY_NODE_IP_ADDRESS
# (the address this head gives other machines: a private network's, see docs/deployment.md).
set -euo pipefail
say() { echo "edge-entrypoint: $*" >&2; }

if [ "${RAY_AUTH_MODE:-token}" != token ]; then
  say "refusing to start: RAY_AUTH_MODE=${RAY_AUTH_MODE}. The Ray dashboard, Jobs API and" \
      "GCS run code for anyone who reaches them (CVE-2023-48022); token auth has no" \
      "opt-out here. Unset RAY_AUTH_MODE; give your own token with RAY_AUTH_TOKEN."
  exit 2
fi
export RAY_AUTH_MODE=token
if [ -n "${RAY_AUTH_TOKEN:-}" ]; then
  say "Ray token auth on; the token is the operator's (RAY_AUTH_TOKEN)"
else
  token_file="${RAY_AUTH_TOKEN_PATH:-${PHAROS_DATA_DIR:-$HOME/.pharos}/ray/auth_token}"
  if [ ! -s "$token_file" ]; then
    (umask 077 && mkdir -p "$(dirname "$token_file")" \
      && python3 -c 'import secrets; print(secrets.token_hex(32), end="")' >"$token_file.$$" \
      && mv -f "$token_file.$$" "$token_file")
    say "generated a Ray auth token"
  fi
  chmod 600 "$token_file" 2>/dev/null || true
  export RAY_AUTH_TOKEN_PATH="$token_file"
  say "Ray token auth on; the token is in $token_file (read it there; it is never printed)"
fi

# when this run began, in seconds since boot: what of its session started since is its own
read -r run_start _ </proc/uptime
gcs_port="${RAY_PORT:-6379}"
dash_host="${RAY_DASHBOARD_HOST:-0.0.0.0}"
dash_port="${RAY_DASHBOARD_PORT:-8265}"
ray_args=(--head --block --port="$gcs_port" --dashboard-host="$dash_host"
          --dashboard-port="$dash_port" --ray-client-server-port="${RAY_CLIENT_PORT:-10001}"
          --disable-usage-stats)
[ -n "${PHAROS_NUM_GPUS:-}" ] && ray_args+=(--num-gpus="${PHAROS_NUM_GPUS}")
[ -n "${RAY_OBJECT_STORE_BYTES:-}" ] && ray_args+=(--object-store-memory="${RAY_OBJECT_STORE_BYTES}")
[ -n "${RAY_NODE_IP_ADDRESS:-}" ] && ray_args+=(--node-ip-address="${RAY_NODE_IP_ADDRESS}")
[ -n "${RAY_DASHBOARD_AGENT_PORT:-}" ] && \
  ray_args+=(--dashboard-agent-listen-port="${RAY_DASHBOARD_AGENT_PORT}")
[ -n "${RAY_METRICS_EXPORT_PORT:-}" ] && \
  ray_args+=(--metrics-export-port="${RAY_METRICS_EXPORT_PORT}")

# --block: `ray start` stays this script's child and, on SIGTERM, stops exactly the
# processes it started. Ray's own drain on SIGTERM (for Serve) is off: the pool has drained
# its jobs by then, and the store actor would hold Ray's drain for its whole 30 s.
export RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="${RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S:-0}"
ray start "${ray_args[@]}" &
ray_pid=$!
child=
stop() {
  trap '' TERM INT
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" || true
  fi
  if kill -0 "$ray_pid" 2>/dev/null; then
    kill -TERM "$ray_pid" 2>/dev/null || true
    wait "$ray_pid" || true
  fi
}
# Ray's processes outlive `ray start --block` by a moment: the dashboard agent notices that
# its raylet is gone only once it has finished starting, which on a busy machine takes many
# seconds. So the stop waits PHAROS_RAY_STOP_WAIT_S for them to leave, then kills the ones
# still there, so that neither the container's stop nor the next start meets this head's
# processes. This script's processes are those of its own session (it leads one as a
# container's PID 1, under systemd or `setsid`) started since its run began (run_start,
# seconds since boot as /proc/uptime counts them): a login shell's earlier jobs (`exec
# edge-entrypoint.sh`) are older, and from a terminal's session it reaps nothing.
reap() {
  python3 - "$$" "$run_start" "${PHAROS_RAY_STOP_WAIT_S:-15}" <<'PY' || true
import os, signal, sys, time

me = int(sys.argv[1])
since = int(float(sys.argv[2]) * os.sysconf("SC_CLK_TCK"))  # /proc's start times are ticks
try:
    wait = float(sys.argv[3])
except ValueError:
    print(f"edge-entrypoint: PHAROS_RAY_STOP_WAIT_S={sys.argv[3]!r} is not a number of "
          "seconds; 15 s used", file=sys.stderr)
    wait = 15.0
if os.getsid(0) != me:
    sys.exit(0)


def left():
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (me, os.getpid()):
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()  # from field 3, the state
            if stat[0] == "Z" or int(stat[19]) < since or os.getsid(int(name)) != me:
                continue
            with open(f"/proc/{name}/cmdline", "rb") as f:
                out[int(name)] = f.read().split(b"\0")[0].decode(errors="replace")
        except (OSError, IndexError):
            continue
    return out


deadline = time.monotonic() + wait
while (procs := left()) and time.monotonic() < deadline:
    time.sleep(0.2)
for pid in procs:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
deadline = time.monotonic() + 5  # a kill takes effect when the process next runs
while procs and set(procs) & set(left()) and time.monotonic() < deadline:
    time.sleep(0.1)
if procs:
    print(f"edge-entrypoint: killed {len(procs)} process(es) still running {wait:g} s after "
          f"Ray's stop: {', '.join(sorted(set(procs.values())))}", file=sys.stderr)
PY
}
trap 'stop; reap; exit 0' TERM INT

# wait for the head, then make sure its dashboard refuses a request without the token
check_host="$dash_host"
case "$check_host" in 0.0.0.0 | :: | "") check_host=127.0.0.1 ;; esac
python3 - "$check_host" "$dash_port" "$ray_pid" "${PHAROS_RAY_START_TIMEOUT_S:-180}" <<'PY' &
import os, sys, time, urllib.error, urllib.request

host, port, pid, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
base = f"http://{host}:{port}"
deadline = time.monotonic() + timeout


def status(path):
    try:
        return urllib.request.urlopen(base + path, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


while status("/api/gcs_healthz") != 200:  # public: Ray's health check needs no token
    if time.monotonic() > deadline or not os.path.exists(f"/proc/{pid}"):
        sys.exit("edge-entrypoint: the Ray head did not come up")
    time.sleep(1)
code = status("/api/version")
if code != 401:
    sys.exit(f"edge-entrypoint: refusing to run: the Ray dashboard answered {code} to a "
             "request without the token (token auth needs ray >= 2.52)")
PY
if ! wait $!; then
  stop
  reap
  exit 1
fi
say "Ray head up on :$gcs_port, dashboard on $dash_host:$dash_port (token required)"

# `--address auto` finds this head (not another Ray on the machine) through RAY_ADDRESS;
# RAY_AUTH_MODE and the token travel in the environment to the pool and its actors
export RAY_ADDRESS="127.0.0.1:$gcs_port"
pharos worker --address auto --grace-s "${PHAROS_DRAIN_GRACE_S:-60}" "$@" &
child=$!
set +e
wait -n -p done_pid "$ray_pid" "$child"
status=$?
if [ "${done_pid:-}" = "$ray_pid" ]; then
  say "the Ray head stopped (exit $status)"
  status=1
fi
stop
reap
exit "$status"
