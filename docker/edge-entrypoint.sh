#!/usr/bin/env bash
# Start the Ray head (dashboard on 8265), then the worker pool in the foreground.
# SIGTERM (docker stop) goes to `pharos worker`, which drains: no new claims, running
# jobs finish within PHAROS_DRAIN_GRACE_S or go back to the queue; then Ray stops.
set -euo pipefail
ray_args=(--head --port="${RAY_PORT:-6379}" --dashboard-host=0.0.0.0 --dashboard-port=8265
          --ray-client-server-port=10001 --disable-usage-stats)
[ -n "${PHAROS_NUM_GPUS:-}" ] && ray_args+=(--num-gpus="${PHAROS_NUM_GPUS}")
[ -n "${RAY_OBJECT_STORE_BYTES:-}" ] && ray_args+=(--object-store-memory="${RAY_OBJECT_STORE_BYTES}")
ray start "${ray_args[@]}"
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; ray stop --grace-period 30; exit 0' TERM INT
pharos worker --address auto --grace-s "${PHAROS_DRAIN_GRACE_S:-60}" "$@" &
child=$!
wait "$child"
status=$?
ray stop --grace-period 10 || true
exit "$status"
