#!/usr/bin/env bash
# Stop the dockerd that docker/prepare-engine.sh started: exactly the PID in PIDFILE, nothing else.
# Usage: docker/stop-engine.sh PIDFILE   (waits up to AMLOCAL_ENGINE_TIMEOUT seconds, default 60)
set -euo pipefail
PIDFILE="${1:?usage: stop-engine.sh PIDFILE}"
TIMEOUT="${AMLOCAL_ENGINE_TIMEOUT:-60}"
[ -s "$PIDFILE" ] || { echo "stop-engine: no pid in $PIDFILE; nothing to stop" >&2; exit 0; }
pid=$(cat "$PIDFILE")
# A reused PID must not be killed: only stop it if it is still a dockerd.
if [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" != "dockerd" ]; then
    echo "stop-engine: pid $pid is not a running dockerd; nothing to stop" >&2
    rm -f "$PIDFILE"
    exit 0
fi
kill -TERM "$pid"
deadline=$((SECONDS + TIMEOUT))
while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "stop-engine: dockerd $pid still running after ${TIMEOUT}s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
    fi
    sleep 0.2
done
rm -f "$PIDFILE"
echo "stop-engine: stopped dockerd $pid" >&2
