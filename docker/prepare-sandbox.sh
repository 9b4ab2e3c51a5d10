#!/usr/bin/env bash
# Make sure bubblewrap can confine user code here (README: "User code and its privileges").
#
# Usage: docker/prepare-sandbox.sh
#   Idempotent. Installs Debian's `bubblewrap` with apt when `bwrap` is missing (as root), then
#   checks that a sandbox starts (`bwrap --unshare-pid ... true`). Exit 0 when it does; else 1
#   with bwrap's reason on stderr (no apt as non-root, user namespaces disabled, ...).
#   The agent needs nothing more: as root it creates the `amlocal-run` system user itself.
set -euo pipefail

log() { echo "prepare-sandbox: $*" >&2; }

if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        log "bwrap is missing and installing it needs root: apt-get install -y bubblewrap"
        exit 1
    fi
    # One of us at a time; apt waits for any other apt (prepare-engine.sh may be installing).
    state_dir="${AMLOCAL_STATE_DIR:-/var/run/amlocal}"
    mkdir -p "$state_dir"
    exec 9>"$state_dir/prepare-sandbox.lock"
    flock -w 600 9
    if ! command -v bwrap >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt=(apt-get -o DPkg::Lock::Timeout=600 -q)
        "${apt[@]}" install -y bubblewrap >&2 \
            || { "${apt[@]}" update >&2 && "${apt[@]}" install -y bubblewrap >&2; }
    fi
fi
if ! reason=$(bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid --die-with-parent \
        -- true 2>&1); then
    log "bwrap cannot make a sandbox here: $reason"
    exit 1
fi
echo "bwrap=$(command -v bwrap)"
