#!/usr/bin/env bash
# Prepare a local Docker engine and a local Debian base image on a machine like ours
# (see ../shared/MACHINE.md): no image registry, bridge/iptables unusable, only loopback traffic.
#
# Usage: docker/prepare-engine.sh [PIDFILE]
#   Idempotent. Installs docker.io and debootstrap with apt when missing, starts dockerd when no
#   engine answers, waits for `docker info`, and makes the base image from this machine's apt
#   mirror when it is absent (the rootfs tarball is cached, so a second run is instant).
#   The last line of stdout is `PIDFILE=<path>` when this run started dockerd (the file holds its
#   PID: stop exactly that one with `docker/stop-engine.sh <path>`), or `PIDFILE=` when an engine
#   was already answering (not ours to stop).
#
# Environment:
#   AMLOCAL_BASE_IMAGE   image to make            (default amlocal/debian:bookworm)
#   AMLOCAL_DEBIAN_SUITE suite to debootstrap     (default bookworm)
#   AMLOCAL_CACHE_DIR    rootfs tarball cache     (default /var/cache/amlocal)
#   AMLOCAL_STATE_DIR    default pidfile, dockerd log, lock (default /var/run/amlocal)
#   AMLOCAL_ENGINE_TIMEOUT  seconds to wait for the engine (default 90)
#   AMLOCAL_LOCK_TIMEOUT    seconds to wait for a concurrent run of this script (default 450)
set -euo pipefail

BASE_IMAGE="${AMLOCAL_BASE_IMAGE:-amlocal/debian:bookworm}"
CACHE_DIR="${AMLOCAL_CACHE_DIR:-/var/cache/amlocal}"
STATE_DIR="${AMLOCAL_STATE_DIR:-/var/run/amlocal}"
TIMEOUT="${AMLOCAL_ENGINE_TIMEOUT:-90}"
LOCK_TIMEOUT="${AMLOCAL_LOCK_TIMEOUT:-450}"  # another run may be in apt or debootstrap (minutes)
PIDFILE="${1:-$STATE_DIR/dockerd.pid}"
SUITE="${AMLOCAL_DEBIAN_SUITE:-bookworm}"

log() { echo "prepare-engine: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$CACHE_DIR" "$STATE_DIR" "$(dirname "$PIDFILE")"

# Two test sessions may prepare at once; only one may start dockerd or import the image.
exec 9>"$STATE_DIR/prepare-engine.lock"
flock -w "$LOCK_TIMEOUT" 9 \
    || die "another prepare-engine.sh held $STATE_DIR/prepare-engine.lock for ${LOCK_TIMEOUT}s"

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "need root to apt-get install ${missing[*]}"
    log "installing ${missing[*]} with apt"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

start_engine() {
    local dlog="$STATE_DIR/dockerd.log" pid deadline
    log "starting dockerd (log: $dlog)"
    # The default bridge and iptables cannot work here; containers use --network host.
    dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
        </dev/null >>"$dlog" 2>&1 9>&- &
    pid=$!
    disown "$pid" 2>/dev/null || true
    echo "$pid" >"$PIDFILE"
    deadline=$((SECONDS + TIMEOUT))
    until engine_answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            tail -n 20 "$dlog" >&2 || true
            die "dockerd (pid $pid) exited before answering; see $dlog"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 "$dlog" >&2 || true
            die "dockerd (pid $pid, pidfile $PIDFILE) did not answer within ${TIMEOUT}s; see $dlog"
        fi
        sleep 0.2
    done
    log "dockerd pid $pid answers"
}

apt_mirror() {
    # The mirror this machine's apt already uses: first URIs: line of a deb822 source, else
    # the first `deb` line of sources.list; security mirrors carry no full suite.
    local uri=""
    if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
        uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
              | grep -v -- '-security' | head -n1 || true)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {print ($2 ~ /^\[/ ? $3 : $2); exit}' \
              /etc/apt/sources.list || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

make_base_image() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        log "base image $BASE_IMAGE present"
        return 0
    fi
    local tarball="$CACHE_DIR/debian-$SUITE-minbase.tar" root mirror
    if [ ! -s "$tarball" ]; then
        mirror=$(apt_mirror)
        root=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
        log "debootstrap --variant=minbase $SUITE from $mirror"
        debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 \
            || { tail -n 20 "$CACHE_DIR/debootstrap.log" >&2; rm -rf "$root"; die "debootstrap failed"; }
        # Package lists and the apt cache only bloat the image; Dockerfiles run apt-get update.
        rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
        tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$root"
    fi
    log "importing $tarball as $BASE_IMAGE"
    docker import --change 'CMD ["/bin/bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$tarball" "$BASE_IMAGE" >/dev/null
}

# If anything fails after we started dockerd, stop it: the caller never learns its pidfile then.
started=""
stop_on_failure() {
    local status=$?
    if [ "$status" -ne 0 ] && [ -n "$started" ] && [ -s "$PIDFILE" ]; then
        log "stopping the dockerd this run started (pid $(cat "$PIDFILE"))"
        "$(dirname "$0")/stop-engine.sh" "$PIDFILE" || true
    fi
}
trap stop_on_failure EXIT

install_packages
if engine_answers; then
    log "an engine already answers; leaving it alone"
else
    started="$PIDFILE"
    start_engine
fi
make_base_image
echo "PIDFILE=$started"
