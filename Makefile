# Every target runs inside .venv, which `setup` creates and keeps up to date.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help setup up down status logs reset test test-unit test-sandbox lint bench-sandbox build

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml functions/requirements.txt scripts/setup_venv.py
	@python3 scripts/setup_venv.py

setup: $(STAMP) ## create .venv (Python >= 3.13) with LocalStack, the project and the test tools

up: setup ## start the sandbox (LocalStack on 127.0.0.1:$${SANDBOX_PORT:-4566})
	@$(PY) -m sandbox up

down: setup ## stop the sandbox and every process it started
	@$(PY) -m sandbox down

status: setup ## per-service health of the sandbox
	@$(PY) -m sandbox status

logs: setup ## follow the sandbox log
	@$(PY) -m sandbox logs -f

reset: setup ## wipe the sandbox state
	@$(PY) -m sandbox reset

lint: setup ## ruff
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .

test: setup ## all tests: lint, unit and sandbox suites (the README's test command)
	@$(MAKE) --no-print-directory lint
	@$(PY) -m pytest $(PYTEST_ARGS)

build: setup ## build the Lambda zips build/functions/<name>.zip (LAMBDA_ARCH=x86_64|arm64)
	@$(PY) functions/build.py

bench-sandbox: setup ## sandbox benchmark: start-up, RSS, Lambda and ESM latencies
	@$(PY) -m sandbox.bench
