# The scoring image: amlocal's scoring server with one deployment's entry script and models, laid out
# as Azure ML lays them out (/var/azureml-app, azureml-models/<name>/<version>/).
#
# Built from a context that service/targets/docker_image.py generates:
#   build/scoring-requirements.txt  build/ca-certificates.crt (may be empty)
#   scoring/   the scoring package      app/   the entry script (or the no-code entry)
#   models/azureml-models/<name>/<version>/...
# Build args: BASE_IMAGE (a public Python slim image by default; a bare Debian base works too),
# ENTRY_SCRIPT (file name in the app root), MODEL_DIR (path under the app root).
# Only classic-builder instructions are used: the engines we meet may lack BuildKit (buildx).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS python-base
# A bare Debian base has no Python; a Python image already has one and skips apt entirely.
RUN if ! command -v python3 >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
           python3 python3-venv \
        && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*; \
    fi

# The install happens in a throw-away stage so the CA bundle and PIP_CERT never reach the final
# image's layers or configuration. What a server never runs leaves with that stage: the packages'
# own test suites (~110 MB: pandas, scipy, ...) and pip itself; bytecode stays (faster start).
FROM python-base AS venv
LABEL amlocal.stage=scoring-build
COPY build/scoring-requirements.txt build/ca-certificates.crt /tmp/amlocal-build/
RUN python3 -m venv /opt/venv \
    && if [ -s /tmp/amlocal-build/ca-certificates.crt ]; then \
           export PIP_CERT=/tmp/amlocal-build/ca-certificates.crt; fi \
    && PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
       /opt/venv/bin/pip install -q -r /tmp/amlocal-build/scoring-requirements.txt \
    && find /opt/venv/lib -depth -type d -path '*/site-packages/*/tests' -exec rm -rf {} + \
    && /opt/venv/bin/python -m pip uninstall -q -y pip

FROM python-base
LABEL amlocal.kind=scoring
COPY --from=venv /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/opt/amlocal \
    AML_APP_ROOT=/var/azureml-app \
    SERVER_HOST=0.0.0.0 \
    SERVER_PORT=5001
COPY scoring/ /opt/amlocal/scoring/
WORKDIR /var/azureml-app
# What changes per deployment comes last so a new script or model version rebuilds only these.
COPY app/ /var/azureml-app/
COPY models/ /var/azureml-app/
ARG ENTRY_SCRIPT=score.py
ARG MODEL_DIR=azureml-models
ENV AZUREML_ENTRY_SCRIPT=/var/azureml-app/${ENTRY_SCRIPT} \
    AZUREML_MODEL_DIR=/var/azureml-app/${MODEL_DIR}
EXPOSE 5001
# SERVER_HOST defaults to 0.0.0.0 for ACI; the local docker target runs with --network host and
# sets SERVER_HOST=127.0.0.1. Extra `docker run` arguments reach the server.
ENTRYPOINT ["/bin/sh", "-c", "exec python -m scoring --entry_script \"$AZUREML_ENTRY_SCRIPT\" --model_dir \"$AZUREML_MODEL_DIR\" --port \"$SERVER_PORT\" --host \"$SERVER_HOST\" \"$@\"", "scoring"]
