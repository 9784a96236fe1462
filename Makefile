# Every target installs what it needs: a fresh clone needs only python3 (3.11-3.13), make and root for apt.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.DEFAULT_GOAL := help
.PHONY: help venv browser dev test bench lint lint-template checkov typecheck openapi openapi-check unit integration e2e \
	dev-tests clean sam-local sam-test

help:
	@echo "make dev    - run the local stack (API on http://127.0.0.1:$${PORT:-3000})"
	@echo "make test   - lint, type-check, template checks, OpenAPI drift and the whole test suite"
	@echo "make bench  - benchmarks: cold start, AWS calls, cost model, concurrency, scheduler scale"
	@echo "make sam-local - sam build, then sam local start-api (Docker) against the local AWS stand-in"
	@echo "make sam-test  - every events/ sample through sam local invoke, the public routes through start-api"

# `make dev` installs what the local stack runs on (runtime and the `dev` extra); `make test` and its
# parts add the `test` extra (pytest, linters, mypy, stubs, Playwright, schemathesis) on top.
$(STAMP): pyproject.toml layers/core/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,test]'
	@touch $(TEST_STAMP)

venv: $(STAMP)

.PHONY: test-venv
test-venv: $(TEST_STAMP)

# The browser tests drive Debian's chromium through Playwright (never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

dev: venv
	$(BIN)/cartconnect-dev up

lint: test-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# sam validate --lint and cfn-lint, offline, from their own tool environment (.tools/).
lint-template:
	bash scripts/lint-template.sh

# checkov on the SAM-translated template, offline, from its own tool environment (.tools/checkov).
checkov:
	bash scripts/checkov.sh

# Benchmarks (ratios and counts taken in one run); writes docs/benchmarks.md.
bench: venv
	$(BIN)/python -m bench

typecheck: test-venv
	$(BIN)/mypy
	@for handler in functions/*/app.py; do $(BIN)/mypy "$$handler" || exit 1; done

openapi: venv
	$(BIN)/cartconnect-dev openapi > docs/openapi.json

openapi-check: venv
	@$(BIN)/cartconnect-dev openapi | diff -u docs/openapi.json - \
	  || { echo "docs/openapi.json drifted from the code: run 'make openapi' and commit it"; exit 1; }

unit: test-venv
	$(BIN)/pytest tests/unit

integration: test-venv
	$(BIN)/pytest tests/integration

e2e: test-venv
	$(BIN)/pytest tests/e2e

# The dev tooling's own tests (the local stack, its gateway, cartconnect-dev); `make test` runs them too.
dev-tests: test-venv
	$(BIN)/pytest tests/dev

test: test-venv lint typecheck lint-template checkov openapi-check browser
	$(BIN)/pytest
	$(MAKE) --no-print-directory sam-test

# sam local with Docker, against the local AWS stand-in (moto) and the sandbox store. Installs and starts
# what it needs (Docker, a locally built Lambda base image, the SAM CLI in .tools), caches it in .cache/
# and stops everything it started when it ends: scripts/sam-local.sh.
sam-local: venv
	bash scripts/sam-local.sh start-api

sam-test: venv
	bash scripts/sam-local.sh test

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache .cache
