# helpdesk-billing: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo demo-real stop test lint format bench bench-live bench-ingest bench-reports clean help

help:
	@echo "make demo   set up, start Temporal + a worker, bill the example events, print a summary"
	@echo "make demo-real  the same against a local django-helpdesk 2.6 and Tryton 8.2 (tests/real/demo.py)"
	@echo "make stop   stop the Temporal server and worker that make demo started"
	@echo "make test   set up and run the test suite"
	@echo "make lint   ruff lint and format check, and the import layers (lint-imports)"
	@echo "make bench  rating benchmark (bench/rating.py)"
	@echo "make bench-live  1,000 tickets through a dev server vs a baseline workflow (bench/live.py)"
	@echo "make bench-ingest  6,000 signed events into the webhook vs a bare endpoint (bench/ingest.py)"
	@echo "make bench-reports  every report and the reconciliation over 50,000 tickets, SQLite and PostgreSQL (bench/reports.py)"
	@echo "make clean  remove the virtualenv and local data"

# The venv is rebuilt only when pyproject.toml changes, so repeated runs are quick.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) starter.py demo

demo-real: $(STAMP)
	$(PY) -m tests.real.demo

stop: $(STAMP)
	$(PY) starter.py stop

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) bench/rating.py

bench-live: $(STAMP)
	$(PY) bench/live.py

bench-ingest: $(STAMP)
	$(PY) bench/ingest.py

bench-reports: $(STAMP)
	$(PY) bench/reports.py

clean:
	-test -x $(PY) && $(PY) starter.py stop
	rm -rf $(VENV) .data .pytest_cache .ruff_cache .hypothesis
