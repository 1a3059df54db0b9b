# Tollway in a container: `docker build -t tollway .` then the README's `docker run` line (README: Docker).
# Data (SQLite database, secret.key, the charge journal) lives in the /data volume; the process runs as `tollway`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TOLLWAY_DATA_DIR=/data \
    SQLITE_PATH=/data/tollway.db \
    PATH=/app/.venv/bin:$PATH

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# The README's quick start, word for word (tests/test_deployment.py checks it and runs it).
RUN python3 -m venv .venv && .venv/bin/pip install .

RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tollway \
    && mkdir -p /data && chown tollway /data
USER tollway
WORKDIR /data
VOLUME /data
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/api/status', timeout=4)"]

ENTRYPOINT ["tollway", "serve"]
