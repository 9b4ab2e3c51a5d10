# The control service image: amlocal installed into /opt/venv, `amlocal serve` as the command.
#
# Build it with docker/build-service-image.sh, which makes the context from the repository's
# files (no .venv, no .git) plus build/ca-certificates.crt (may be empty) for pip.
# Build args: BASE_IMAGE (a public Python slim image by default; a bare Debian base works too),
# EXTRAS (pip extras, e.g. "[azure]" for the ACI target's azureml-core).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS python-base
RUN if ! command -v python3 >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
           python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# Installs happen in a throw-away stage so the CA bundle and PIP_CERT stay out of the final image.
FROM python-base AS venv
LABEL amlocal.stage=service-build
ARG EXTRAS=""
COPY build/ca-certificates.crt /tmp/amlocal-build/
# Dependencies first, from setup.py alone (no packages yet), so source edits reuse this layer.
COPY setup.py README.md /tmp/amlocal-deps/
COPY docker/scoring-requirements.txt docker/scoring.Dockerfile /tmp/amlocal-deps/docker/
RUN python3 -m venv /opt/venv \
    && if [ -s /tmp/amlocal-build/ca-certificates.crt ]; then \
           export PIP_CERT=/tmp/amlocal-build/ca-certificates.crt; fi \
    && PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
       /opt/venv/bin/pip install -q "/tmp/amlocal-deps${EXTRAS}" \
    && /opt/venv/bin/pip uninstall -q -y amlocal
COPY setup.py README.md /src/
COPY docker/scoring-requirements.txt docker/scoring.Dockerfile /src/docker/
COPY amlocal/ /src/amlocal/
COPY service/ /src/service/
COPY training/ /src/training/
COPY scoring/ /src/scoring/
COPY environments/ /src/environments/
RUN PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 /opt/venv/bin/pip install -q --no-deps /src

FROM python-base
LABEL amlocal.kind=service
COPY --from=venv /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AMLOCAL_WORKSPACE=/var/lib/amlocal
WORKDIR /var/lib/amlocal
EXPOSE 5000
# Loopback only, as everywhere in amlocal: run it with --network host, or override --host to
# publish it deliberately.
ENTRYPOINT ["amlocal", "serve"]
CMD ["--host", "127.0.0.1", "--port", "5000"]
