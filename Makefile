# helpdesk-billing: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo demo-real stop test test-serial test-shifted-clocks lint format bench bench-preview bench-live bench-ingest bench-reports bench-pages clean help

help:
	@echo "make demo   set up, start Temporal + a worker, bill the example events, print a summary"
	@echo "make demo-real  the same against a local django-helpdesk 2.6 and Tryton 8.2 (tests/real/demo.py)"
	@echo "make stop   stop the Temporal server and worker that make demo started"
	@echo "make test   set up and run the test suite (the Temporal and the other suites side by side)"
	@echo "make test-serial  the same suite in one pytest process"
	@echo "make test-shifted-clocks  the suites that start no Temporal server, under faketime in 2027 and 2028"
	@echo "make lint   ruff lint and format check, and the import layers (lint-imports)"
	@echo "make bench  rating benchmark (bench/rating.py)"
	@echo "make bench-preview  starter.py preview of a generated month vs a naive rater (bench/preview.py)"
	@echo "make bench-live  1,000 tickets through a dev server vs a baseline workflow (bench/live.py)"
	@echo "make bench-ingest  6,000 signed events into the webhook vs a bare endpoint (bench/ingest.py)"
	@echo "make bench-reports  every report and the reconciliation over 50,000 tickets, SQLite and PostgreSQL (bench/reports.py)"
	@echo "make bench-pages  the work queue pages over 1,000 and 10,000 waiting tickets, as server time (bench/pages.py)"
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

# axe-core (package.json, from the npm registry) for the browser tests' accessibility checks
# (tests/live/test_queue_browser.py): installed from the lock file when node_modules is missing.
# Without npm the tests that need it skip with a reason; .ci/run installs npm, so CI never skips.
# npm writes node_modules/.package-lock.json on each install (the package files keep 1985 dates).
AXE := node_modules/.package-lock.json
$(AXE): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund; \
	else echo "npm is missing (apt-get install nodejs npm): the accessibility checks will skip" >&2; fi

# The suites that start a Temporal server (marked `temporal`, tests/conftest.py) mostly wait on
# it; the others mostly compute. They run side by side, one process each, so the two cores are
# both used: about 11 minutes instead of 16 one after the other. Each has its own log and
# temporary folder (no pytest cache), shown whole when both end; either failing fails the
# target. `make test-serial` runs them as one (PYTEST_ARGS passes options to either).
PYTEST_ARGS ?=
test: $(STAMP) $(AXE)
	@echo "running the suites with and without a Temporal server side by side; logs follow when both end"
	@logs=$$(mktemp -d); \
	$(PY) -m pytest -m temporal -p no:cacheprovider --basetemp="$$logs/tmp-temporal" $(PYTEST_ARGS) \
		> "$$logs/temporal.log" 2>&1 & temporal=$$!; \
	$(PY) -m pytest -m "not temporal" -p no:cacheprovider --basetemp="$$logs/tmp-rest" $(PYTEST_ARGS) \
		> "$$logs/rest.log" 2>&1 & rest=$$!; \
	status=0; wait $$temporal || status=1; wait $$rest || status=1; \
	echo "== the suites that start a Temporal server"; cat "$$logs/temporal.log"; \
	echo "== the suites that start none"; cat "$$logs/rest.log"; \
	rm -rf "$$logs"; exit $$status

test-serial: $(STAMP) $(AXE)
	$(PY) -m pytest $(PYTEST_ARGS)

# No test may depend on the day it runs: the suites that start no Temporal server run again with
# the clock moved forward by Debian's faketime (libfaketime cannot shift the Temporal server, a Go
# binary, so tests marked `temporal` stay out; see tests/conftest.py). Child processes inherit the
# shifted clock: PostgreSQL, Tryton and django-helpdesk agree with the tests on the date.
SHIFTED_CLOCKS := 2027-03-15 2028-06-30
test-shifted-clocks: $(STAMP)
	@command -v faketime >/dev/null || { echo "faketime is missing: apt-get install faketime" >&2; exit 1; }
	@# The days run side by side, one per core (each pytest is mostly one process): CI's time
	@# stays well under its limit. Each has its own log and temporary folder; they are shown
	@# whole once both end, and either failing fails the target.
	@logs=$$(mktemp -d); pids=""; \
	for day in $(SHIFTED_CLOCKS); do \
		faketime "$$day 12:00:00" $(PY) -m pytest -m "not temporal" -p no:cacheprovider \
			--basetemp="$$logs/tmp-$$day" > "$$logs/$$day.log" 2>&1 & pids="$$pids $$!"; \
	done; \
	status=0; for pid in $$pids; do wait $$pid || status=1; done; \
	for day in $(SHIFTED_CLOCKS); do \
		echo "== the suites without a Temporal server, on $$day"; cat "$$logs/$$day.log"; \
	done; \
	rm -rf "$$logs"; exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) bench/rating.py

bench-preview: $(STAMP)
	$(PY) bench/preview.py

bench-live: $(STAMP)
	$(PY) bench/live.py

bench-ingest: $(STAMP)
	$(PY) bench/ingest.py

bench-reports: $(STAMP)
	$(PY) bench/reports.py

bench-pages: $(STAMP)
	$(PY) bench/pages.py

clean:
	-test -x $(PY) && $(PY) starter.py stop
	rm -rf $(VENV) .data .pytest_cache .ruff_cache .hypothesis node_modules
