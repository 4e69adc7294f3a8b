# headwater: `make demo` runs the examples, `make test` runs every test.
# Both set up everything on a fresh clone (virtualenv, dependencies, database schema).

# The virtualenv's interpreter: the system's CPython 3.11 where there is one that can make
# a virtualenv (Debian: package python3.11-venv), else the first python3.11 on PATH.
# Distributions build theirs with PGO and LTO; pyenv builds without them unless told
# (--enable-optimizations --with-lto), and headwater then runs 15-25% slower
# (bench/README.md). Another one: `make clean`, then `make PYTHON=/path/to/python3.11 ...`.
SYSTEM_PYTHON := /usr/bin/python3.11
PYTHON ?= $(shell $(SYSTEM_PYTHON) -c 'import ensurepip' 2>/dev/null && echo $(SYSTEM_PYTHON) || echo python3.11)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# headwater's own modules as bytecode: the editable install leaves src/ uncompiled, and with
# PYTHONDONTWRITEBYTECODE set (as on our machines) every start would compile them again
# (~0.2 s). compileall writes .pyc files whatever that variable says; re-run when a source changes.
BYTECODE := $(VENV)/.bytecode
PY_SOURCES := $(shell find src -name '*.py')
PYTEST_WORKERS ?= 2
DEMO_PORT ?= 8080
# The web UI's browser code: npm packages from ui/package-lock.json, bundled by esbuild
# into the Python package's static folder (build output, not committed).
UI_BUNDLE := src/headwater/web/static/dist/app.js
UI_SOURCES := $(wildcard ui/src/*.js) ui/build.mjs
NPM := npm --prefix ui --no-audit --no-fund --loglevel=error

.PHONY: demo test test-fast lint format bench schema clean help

help:
	@echo "make demo   - run the example pipelines (SQLite, local artifacts)"
	@echo "make test   - lint, type-check and run all tests (SQLite and PostgreSQL)"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - benchmarks (a table of medians)"
	@echo "make schema - rewrite the SQLite schema snapshot after adding a migration"

# venv brings setuptools, whose .pth file imports _distutils_hack in every process (~0.5 ms
# of each `headwater run`): uninstalled, as nothing here uses it (pip builds in isolation).
$(STAMP): pyproject.toml ui/package.json ui/package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip uninstall --quiet --yes setuptools
	$(NPM) ci
	$(NPM) run build
	@touch $(STAMP)

$(BYTECODE): $(STAMP) $(PY_SOURCES)
	$(BIN)/python -m compileall -q src
	@touch $(BYTECODE)

$(UI_BUNDLE): $(STAMP) $(UI_SOURCES)
	$(NPM) run build
	@touch $(UI_BUNDLE)

demo: $(BYTECODE) $(UI_BUNDLE)
	$(BIN)/headwater db upgrade -C examples
	$(BIN)/headwater run -C examples orders_etl
	$(BIN)/headwater run -C examples word_count -p top=5
	$(BIN)/headwater run -C examples orders_report
	@echo
	@echo "Files, large outputs and logs: examples/.headwater/artifacts/<pipeline>/<task>/<cache key>/"
	@echo "(small outputs live in the database; the API and UI show them as output.json and params.json)"
	@echo "Run 'make demo' again: every task is reused from the cache."
	@echo "Now serving the examples over HTTP (Ctrl-C to stop): open http://127.0.0.1:$(DEMO_PORT)/ or try:"
	@echo "  curl -s -X POST 'http://127.0.0.1:$(DEMO_PORT)/api/v1/pipelines/word_count/runs?top=3'"
	$(BIN)/headwater serve -C examples --port $(DEMO_PORT)

lint: $(BYTECODE) $(UI_BUNDLE)
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests examples bench
	$(BIN)/ruff check --fix src tests examples bench

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q -m "not serial"
	$(BIN)/pytest -q -m serial

test-fast: $(BYTECODE) $(UI_BUNDLE)
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q -m "not slow"

bench: $(BYTECODE) $(UI_BUNDLE)
	$(BIN)/python bench/run.py

# A new SQLite database is made from this snapshot of what the migrations build (no
# Alembic at start-up); tests/integration/test_migrations.py fails when it is stale.
schema: $(STAMP)
	$(BIN)/python -m headwater.store.migrate
	$(BIN)/ruff format src/headwater/store/sqlite_schema.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache examples/.headwater ui/node_modules \
		src/headwater/web/static/dist tests/ui/screenshots
