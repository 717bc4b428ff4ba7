# Every target runs inside .venv, which `setup` creates and keeps up to date.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOAD_STAMP := $(VENV)/.load-installed
PYTEST_ARGS ?=
WORKERS ?= 8
# Python caches bytecode (and pytest its rewritten test modules) for whatever make runs, even
# where PYTHONDONTWRITEBYTECODE is set (as on this project's build machine): without the cache,
# each of a test run's ~60 Python processes compiled the project and rewrote the tests again.
unexport PYTHONDONTWRITEBYTECODE
# uv when `make setup` installed it (seconds), pip otherwise.
PIP_INSTALL = $(if $(wildcard $(VENV)/bin/uv),$(VENV)/bin/uv pip install -q --python $(1),$(1) -m pip install -q --disable-pip-version-check)

.PHONY: help setup up down status logs reset test lint bench-sandbox deploy destroy build tools tf-check demo e2e unit iam-report image compose-up compose-down test-container

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

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

deploy: setup ## bring the sandbox up if needed, build, apply stack/ with tflocal, print outputs and wall time
	@TIMEFORMAT='deploy: wall time %R s'; time $(PY) -m harness.deploy apply

destroy: setup ## destroy what `make deploy` created in the sandbox
	@$(PY) -m harness.deploy destroy

lint: setup ## ruff, and actionlint (with shellcheck) on .github/workflows
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(VENV)/bin/actionlint -shellcheck=$(VENV)/bin/shellcheck -pyflakes= .github/workflows/*.yml

# When `make test` started (read with the Makefile, before set-up): its last line gives the total.
test: STARTED := $(shell date +%s.%N)
test: setup $(LOAD_STAMP) ## everything CI runs: lint, then unit, sandbox, Terraform and end-to-end suites (-n $(WORKERS))
	@$(MAKE) --no-print-directory lint
	@# One collection first: it rewrites the test modules' asserts into pytest's bytecode cache once,
	@# instead of every worker of a fresh clone doing it (1.1 s of CPU each). Its errors, if any,
	@# are the run's own: it reports them.
	@$(PY) -m pytest --collect-only -q $(PYTEST_ARGS) > /dev/null 2>&1 || true
	@TIMEFORMAT='test: wall time %R s'; time $(PY) -m pytest -n $(WORKERS) --durations=25 $(PYTEST_ARGS)
	@awk -v started=$(STARTED) -v now=$$(date +%s.%N) \
		'BEGIN { printf "make test: %.1f s in all (set-up, lint and tests)\n", now - started }'

unit: setup ## the tests that need no sandbox (functions, scenario definitions, mirror detection)
	@$(PY) -m pytest -m "not sandbox" $(PYTEST_ARGS)

e2e: setup ## end-to-end suites against the sandbox (up + deploy once when needed); prints wall time
	@TIMEFORMAT='e2e: wall time %R s'; time $(PY) -m pytest integration_tests -n $(WORKERS) $(PYTEST_ARGS)

N ?= 20
.PHONY: e2e-repeat
e2e-repeat: setup ## make e2e N times in a row (N=20), stopping at the first failure; prints each wall time
	@scripts/e2e_repeat.sh $(N)

build: setup ## build the Lambda zips build/functions/<name>.zip (LAMBDA_ARCH=x86_64|arm64)
	@$(PY) functions/build.py

demo: setup ## run the demo scenarios (scenarios/*.yaml), deploying first if needed; SCENARIO=<name> for one
	@$(PY) -m scenarios $(SCENARIO)

bench-sandbox: setup ## sandbox benchmark: start-up, RSS, Lambda and ESM latencies
	@$(PY) -m harness.bench

iam-report: setup ## per role: actions used (allowed/denied) vs granted, from the sandbox's IAM policy log
	@$(PY) -m sandbox.iam_report $(ARGS)

TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed

$(TOOLS_STAMP): stack/requirements-tools.txt | $(STAMP)
	@$(PY) -m venv $(TOOLS_VENV)
	@$(call PIP_INSTALL,$(TOOLS_VENV)/bin/python) -r stack/requirements-tools.txt
	@touch $@

tools: $(TOOLS_STAMP) ## .venv-tools: checkov (apart from .venv, whose pins it conflicts with)

tf-check: setup tools ## Terraform stack and stack/bootstrap: fmt, validate, terraform test (mocked, offline), tfvars plans, checkov
	@set -euo pipefail; \
	 cfg_dir=$$(mktemp -d); trap 'rm -rf "$$cfg_dir"' EXIT; \
	 export TF_CLI_CONFIG_FILE=$$($(PY) -c 'import sys, pathlib; from sandbox.terraform import write_cli_config; print(write_cli_config(pathlib.Path(sys.argv[1])))' "$$cfg_dir"); \
	 export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0; \
	 cd stack; \
	 terraform fmt -check -recursive -diff; \
	 terraform init -backend=false -input=false >/dev/null; \
	 terraform validate; \
	 terraform test; \
	 for vars in env/sandbox.tfvars env/aws.tfvars.example; do \
	   terraform test -test-directory=tests/tfvars -var-file=$$vars -var=artifacts_dir=./tests/fixtures; \
	 done; \
	 for module in bootstrap/github_oidc; do \
	   terraform -chdir=$$module init -backend=false -input=false >/dev/null; \
	   terraform -chdir=$$module validate; \
	   terraform -chdir=$$module test; \
	 done; \
	 ../$(TOOLS_VENV)/bin/checkov -d . --framework terraform --compact --quiet --skip-download

PROFILE ?= steady
ARGS ?=

$(LOAD_STAMP): load/requirements.txt | $(STAMP)
	@$(call PIP_INSTALL,$(PY)) -r load/requirements.txt
	@touch $@

.PHONY: load
load: setup $(LOAD_STAMP) ## load test with Locust: PROFILE=steady|flood|burst|smoke ARGS="--rate 25 ..." (python -m load --help)
	@$(PY) -m load $(PROFILE) $(ARGS)

# ------------------------------------------------------------ the sandbox in a container (optional)
# For machines where Docker is the norm; `make up` needs none of it. Needs a Docker engine.
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

image: setup ## the sandbox image, built offline: debootstrap base + wheelhouse, no image pulled
	@TIMEFORMAT='image: wall time %R s'; time scripts/container_image.sh

compose-up: image ## the sandbox container via docker compose on 127.0.0.1:$${SANDBOX_PORT:-4566}; waits until healthy
	@mkdir -p $${SANDBOX_HOME:-.sandbox-container}
	@SANDBOX_RUN_AS=$$(id -u):$$(id -g) $(COMPOSE) up -d
	@$(PY) -m harness.container wait

compose-down: ## remove the compose sandbox container
	@$(COMPOSE) down

test-container: setup image ## checks of the container, then the end-to-end suites against it (testcontainers)
	@TIMEFORMAT='test-container: wall time %R s'; time $(PY) -m pytest --sandbox container -n $(WORKERS) tests/harness/test_container.py integration_tests $(PYTEST_ARGS)
