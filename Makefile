# Annals — `make help` lists the targets. Everything installs itself on first use.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-integration test-e2e lint format bench bench-quick clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled ahead: where PYTHONDONTWRITEBYTECODE is set (as on CI), Python
# would compile every module again in every process it starts, about 0.6 s each.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced ## create .venv from the lock file (uv.lock)
	@$(BIN)/python -m compileall -q -j 0 service events projections queries bench

run: install ## serve on http://127.0.0.1:8000 (embedded PostgreSQL, example timeline loaded)
	$(BIN)/annals serve --load-example

test: install ## every test: unit, integration (real PostgreSQL), e2e (HTTP and processes)
	$(BIN)/pytest tests -q

test-unit: install ## unit tests only (no database)
	$(BIN)/pytest tests/unit -q

test-integration: install ## integration tests (real PostgreSQL)
	$(BIN)/pytest tests/integration -q

test-e2e: install ## end-to-end tests (the service and the CLI as processes)
	$(BIN)/pytest tests/e2e -q

lint: install ## ruff, ruff format --check, mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## 1M-event benchmark beside raw PostgreSQL and the peer (docs/PERFORMANCE.md)
	$(BIN)/python bench/bench.py

bench-quick: install ## the same at 20,000 events, in under two minutes
	$(BIN)/python bench/bench.py --quick

clean: ## remove the virtualenvs and caches (keeps ./var, the embedded database)
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
