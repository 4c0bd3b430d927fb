# One image for both halves: `alerter api` (the default) and `alerter worker`.
#
# The base image is a build argument so that a deployment can pin it by digest, which a tag
# never is: find the digest with `docker buildx imagetools inspect python:3.11-slim` and build
# with `--build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest>`. The default follows the
# tag, for a first build.
ARG PYTHON_IMAGE=python:3.11-slim

# Build stage: install the pinned dependencies and the package into a venv.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml constraints.txt README.md ./
COPY alerter ./alerter
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -c constraints.txt .

# Run stage: slim, no build tools, non-root with a numeric id (Kubernetes' runAsNonRoot
# cannot check a user name).
FROM ${PYTHON_IMAGE}
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin alerter \
 && mkdir -p /app/.alerter \
 && chown 10001:10001 /app /app/.alerter
COPY --from=build /opt/venv /opt/venv
COPY rules /app/rules
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ALERTER_HOST=0.0.0.0 \
    ALERTER_PORT=8000 \
    ALERTER_RULES=/app/rules \
    ALERTER_STATE_DIR=/app/.alerter
# `alerter api` serves from one process a CPU the container may use (its CPU limit counts:
# `docker run --cpus 2` gives two); ALERTER_API_PROCESSES sets the number.
USER 10001:10001
EXPOSE 8000
# Suits either command: the api answers /health; a worker (no port) is checked by its own
# heartbeat in Redis (`alerter worker --check`).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, subprocess, sys, urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('ALERTER_PORT', '8000'), timeout=4)\nexcept OSError:\n    sys.exit(subprocess.call(['alerter', 'worker', '--check']))"]
ENTRYPOINT ["alerter"]
CMD ["api"]
