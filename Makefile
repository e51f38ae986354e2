# The README's commands. `make run` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test lint format install install-dev static clean

run: install static
	@echo ""
	@echo "  Serving on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@echo "  Admin: http://$(HOST):$(PORT)/admin/ - make an account with:"
	@echo "    $(BIN)/python manage.py createsuperuser"
	@echo ""
	PATH="$(CURDIR)/$(BIN):$$PATH" bin/serve

test: lint
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-install only when a requirements file changes.
install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

static: install
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
