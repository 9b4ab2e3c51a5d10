#!/usr/bin/env bash
# Build the control service image from this repository's files.
# Usage: docker/build-service-image.sh [TAG] [BASE_IMAGE]
#   TAG defaults to amlocal-service:latest, BASE_IMAGE to python:3.11-slim (on machines without a
#   registry use the local base from prepare-engine.sh: amlocal/debian:bookworm).
#   EXTRAS='[azure]' adds azureml-core for the ACI target.
set -euo pipefail
TAG="${1:-amlocal-service:latest}"
BASE="${2:-python:3.11-slim}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CA="${AMLOCAL_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
# Tracked and untracked-but-not-ignored files: never .venv, .git or caches.
# Tracked files deleted in the working tree are skipped.
(cd "$REPO" && git ls-files -z -co --exclude-standard \
    | grep -z -E '^(setup\.py|README\.md|docker/|amlocal/|service/|training/|scoring/|environments/)' \
    | while IFS= read -r -d '' f; do if [ -f "$f" ]; then printf '%s\0' "$f"; fi; done \
    | xargs -0 -r cp --parents -t "$ctx")
mkdir -p "$ctx/build"
if [ -f "$CA" ]; then cp "$CA" "$ctx/build/ca-certificates.crt"; else : >"$ctx/build/ca-certificates.crt"; fi
docker build --network host -f "$ctx/docker/service.Dockerfile" \
    --build-arg BASE_IMAGE="$BASE" --build-arg EXTRAS="${EXTRAS:-}" -t "$TAG" "$ctx"
