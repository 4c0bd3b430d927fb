# One image for both halves: `alerter api` (the default) and `alerter worker`.
# Build stage: install the pinned dependencies and the package into a venv.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml constraints.txt README.md ./
COPY alerter ./alerter
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -c constraints.txt .

# Run stage: slim, no build tools, non-root.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin alerter
COPY --from=build /opt/venv /opt/venv
COPY rules /app/rules
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ALERTER_HOST=0.0.0.0 \
    ALERTER_PORT=8000 \
    ALERTER_RULES=/app/rules
USER alerter
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('ALERTER_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["alerter"]
CMD ["api"]
