# The README's commands. `make run` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# npm packages for the browser tests (axe-core) and `make audit` (Lighthouse), pinned in
# package-lock.json. Without npm, `make test` goes on and the axe tests skip (on CI they fail).
NODE_PACKAGES := $(if $(and $(wildcard package.json),$(shell command -v npm)),node_modules/.installed)

.PHONY: run dev test test-fast lint audit-code audit-deps audit bench format install install-dev lock static clean

# Both read .env when there is one (DJANGO_DOTENV names another file; variables already set
# win). `make run` serves as production does, through gunicorn, and says where once it listens.
run: install static
	PATH="$(CURDIR)/$(BIN):$$PATH" DJANGO_DOTENV="$${DJANGO_DOTENV-$(wildcard .env)}" SERVE_BANNER="make run" bin/serve

# runserver with DEBUG, reloading on every change, the page cache off, readable logs (bin/dev).
dev: install
	PATH="$(CURDIR)/$(BIN):$$PATH" DJANGO_DOTENV="$${DJANGO_DOTENV-$(wildcard .env)}" bin/dev

test: lint audit-code $(NODE_PACKAGES)
	$(BIN)/pytest

# The edit-test loop, in under two minutes on two cores: lint, then every test on all cores
# (pytest-xdist) but those that drive Chromium, need Java or PostgreSQL, or start the site in
# processes of its own (markers in pyproject.toml), with half the random inputs a run in the
# property tests (HYPOTHESIS_PROFILE=fast). `make test` runs all of them, in full.
test-fast: lint
	HYPOTHESIS_PROFILE="$${HYPOTHESIS_PROFILE:-fast}" $(BIN)/pytest -m "not browser and not java and not postgres and not served" -n auto

# The same checks as .pre-commit-config.yaml: ruff for Python, djLint for templates.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/djlint templates --lint

# Security checks. bandit: no high-severity finding in the site's code (offline;
# `make test` runs it). pip-audit: no known vulnerability in any pinned
# dependency; it asks PyPI's vulnerability API, and --strict makes a package it
# could not check a failure, so an unreachable service fails the run instead of
# passing it unaudited.
audit-code: install-dev
	$(BIN)/bandit --quiet --recursive portfolio casestudies siteprofile --severity-level high

audit-deps: install-dev
	$(BIN)/pip-audit --strict --no-deps --disable-pip --progress-spinner off -r requirements-dev.txt

# Stock Lighthouse on home, the list and two studies, phone and desktop, against the site served
# as `make run` serves it (a scratch database, a free port): prints the scores and fails below
# 100 in any category or on an audit in error. Needs Node.js and Chromium.
audit: install node_modules/.installed
	$(BIN)/python bin/audit

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-install only when a lock file changes. Every package is checked against the hash its lock
# file records, so what is installed is exactly what was tested.
install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@ $(VENV)/.installed

# Dependencies are declared once, direct ones only, in requirements.in (the site) and
# requirements-dev.in (tests and tools); this resolves them into the lock files, every package
# pinned with its hashes, for every platform. Pins already in a lock file are kept: to move
# one package, `make lock UPGRADE="--upgrade-package django"`; to move all, UPGRADE=--upgrade.
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(UPGRADE)
lock: install-dev
	$(UV_COMPILE) requirements.in --output-file requirements.txt
	$(UV_COMPILE) requirements-dev.in --output-file requirements-dev.txt

# The site as production serves it, under wrk, at each size of BENCH_SIZES (studies:tags,
# comma-separated: 1,000 generated studies over 50 tags, then 10,000 over 500), each in a
# scratch database under /tmp: requests/s, latency, the first request after an edit, queries,
# memory and weight against the performance targets (bin/bench). Needs Debian's wrk
# (apt-get install wrk).
BENCH_SIZES ?= 1000:50,10000:500
bench: install
	BENCH_SIZES="$(BENCH_SIZES)" $(BIN)/python bin/bench

static: install
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
