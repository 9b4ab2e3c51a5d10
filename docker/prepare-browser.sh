#!/usr/bin/env bash
# Make sure a headless Chromium and its driver are here for the dashboard's browser tests.
#
# Usage: docker/prepare-browser.sh
#   Idempotent. Installs Debian's `chromium` and `chromium-driver` with apt when either is
#   missing (as root), then prints `chromium=<path>` and `chromedriver=<path>`. Exit 1 with the
#   reason on stderr when they cannot be had (no apt as non-root, no package mirror).
#   A browser downloaded at run time (playwright install) is not used: there may be no internet.
set -euo pipefail

log() { echo "prepare-browser: $*" >&2; }
have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

if ! have; then
    if [ "$(id -u)" != 0 ]; then
        log "chromium is missing and installing it needs root: apt-get install -y chromium chromium-driver"
        exit 1
    fi
    # One of us at a time; apt waits for any other apt (prepare-engine.sh may be installing).
    state_dir="${AMLOCAL_STATE_DIR:-/var/run/amlocal}"
    mkdir -p "$state_dir"
    exec 9>"$state_dir/prepare-browser.lock"
    flock -w 900 9
    if ! have; then
        export DEBIAN_FRONTEND=noninteractive
        apt=(apt-get -o DPkg::Lock::Timeout=600 -q)
        "${apt[@]}" install -y chromium chromium-driver >&2 \
            || { "${apt[@]}" update >&2 && "${apt[@]}" install -y chromium chromium-driver >&2; }
    fi
fi
have || { log "chromium or chromedriver is still missing"; exit 1; }
echo "chromium=$(command -v chromium)"
echo "chromedriver=$(command -v chromedriver)"
