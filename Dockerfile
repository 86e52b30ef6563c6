# helpdesk-billing: one image for the worker and the HTTP API.
#
#   docker build -t helpdesk-billing .
#   docker run helpdesk-billing                                    # the worker (python worker.py)
#   docker run -p 8000:8000 helpdesk-billing \
#       python starter.py serve --host 0.0.0.0                      # the API, webhook and pages
#
# Settings are HDB_* environment variables (README, "Configuration"); deploy/compose.yaml and
# deploy/k8s/ set them. This file is checked by tests/test_deploy_files.py (no Docker needed).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them: install the package's runtime
# dependencies (no dev extras) from pyproject.toml, then the package itself from the full tree.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# compileall: the workflow sandbox re-imports workflow modules for every run; with bytecode
# written here (the running service may not write into /app) each import is a read.
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q /app

# A non-root user. The code stays root-owned (read-only to the service); what the service writes
# (a SQLite store when no PostgreSQL is given, generated secrets, console traces) goes under
# /var/lib/helpdesk-billing. The example book is the default book: an empty volume mounted at
# /etc/helpdesk-billing/book starts with it.
RUN groupadd --system --gid 10001 hdb \
    && useradd --system --uid 10001 --gid hdb --home-dir /var/lib/helpdesk-billing \
        --shell /usr/sbin/nologin hdb \
    && mkdir -p /var/lib/helpdesk-billing/secrets /etc/helpdesk-billing/book \
    && cp examples/book.toml /etc/helpdesk-billing/book/book.toml \
    && chown -R hdb:hdb /var/lib/helpdesk-billing /etc/helpdesk-billing/book \
    && chmod 700 /var/lib/helpdesk-billing/secrets

# Container defaults; every one is a setting the service reads (settings/). Compose and
# Kubernetes override them (PostgreSQL, mounted secrets, the Temporal address).
ENV HDB_BOOK_PATH=/etc/helpdesk-billing/book/book.toml \
    HDB_DATABASE_URL=sqlite:////var/lib/helpdesk-billing/helpdesk-billing.db \
    HDB_SECRETS_DIR=/var/lib/helpdesk-billing/secrets \
    HDB_OTEL_CONSOLE_FILE=/var/lib/helpdesk-billing/traces.log \
    HDB_API_HOST=0.0.0.0 \
    HDB_API_PORT=8000

USER hdb:hdb
EXPOSE 8000

# The API's readiness (store and Temporal answer); deploy/healthcheck.py exits 0 or 1. The worker
# has no HTTP port: compose gives it its own check (`python deploy/healthcheck.py worker`).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "deploy/healthcheck.py", "api"]

# The worker by default; the API is `python starter.py serve --host 0.0.0.0`, and every other
# command (`python starter.py tokens add NAME --role ROLE`, `reconcile`, ...) runs the same way.
CMD ["python", "worker.py"]
