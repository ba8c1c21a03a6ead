# Needs only Python 3.11+ (as $(PYTHON)), git and make: every target installs what it uses.
PYTHON ?= python3
TOOLS := .tools
UV := $(abspath $(TOOLS)/bin/uv)
VENV := .venv
DEMO_DIR ?= build/demo
DEMO_PROJECT := $(DEMO_DIR)/my-service
RUNS ?= 5
LOOPS ?= 4
# bench/project/ is type-checked against a render with every option on, installed here.
BENCH_TYPES := build/bench-types
BENCH_RENDER := $(BENCH_TYPES)/my-service
TEMPLATE_FILES := cookiecutter.json $(shell find hooks '{{cookiecutter.project_slug}}' -type f)

.DEFAULT_GOAL := help
.PHONY: help demo test test-fast test-slow test-weekly test-busy lint format clean bench bench-types mutation

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.9,<1"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	@touch $@

demo: $(VENV)/.synced  ## Render a project with the defaults, run its tests, then serve it (Ctrl-C stops)
	rm -rf $(DEMO_PROJECT)
	$(UV) run --no-sync cookiecutter --no-input --output-dir $(DEMO_DIR) .
	cd $(DEMO_PROJECT) && $(UV) sync --quiet && $(UV) run --no-sync pytest
	@echo "Serving the service beside the fake upstream its tests use."
	@echo "Try: curl http://127.0.0.1:8000/items/1   (Ctrl-C stops both)"
	@# A background job ignores Ctrl-C in a script: the traps stop the upstream on the way out.
	cd $(DEMO_PROJECT) && { \
	  .venv/bin/python -m tests.upstream & upstream=$$!; \
	  trap 'kill $$upstream 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	  .venv/bin/python -m my_service; }

test: test-fast test-slow  ## Run every check: the fast tier, then the slow tier

test-fast: lint  ## Render every combination, check structure and lint, unit-test the hooks
	$(UV) run --no-sync pytest -m "not slow"

test-slow: $(VENV)/.synced  ## Install, type-check and run generated projects; end-to-end tests
	$(UV) run --no-sync pytest -m "slow and not weekly" -n 2 --dist loadfile

test-weekly: $(VENV)/.synced  ## Every option's suite on the newest releases, warnings as errors
	$(UV) run --no-sync pytest -m weekly -n 2

test-busy: $(VENV)/.synced  ## The slow tier 5 times in a row beside 4 busy loops (RUNS=, LOOPS=)
	$(UV) run --no-sync python -m tests.under_load --runs $(RUNS) --loops $(LOOPS) -- -m "slow and not weekly" -n 2 --dist loadfile

bench: $(VENV)/.synced  ## Benchmarks, one report on stdout (BENCH_ARGS="--parts 2 6", --quick)
	$(UV) run --no-sync python -m bench.run $(BENCH_ARGS)

mutation: $(VENV)/.synced  ## Mutation testing of a rendered service with mutmut (MUTATION_ARGS="--modules retries.py")
	$(UV) run --no-sync python -m bench.mutation $(MUTATION_ARGS)

# Rendered and installed again only when the template changes.
$(BENCH_TYPES)/.synced: $(VENV)/.synced $(TEMPLATE_FILES)
	rm -rf $(BENCH_TYPES)
	$(UV) run --no-sync cookiecutter --no-input --output-dir $(BENCH_TYPES) . \
	  database=postgres tracing=true metrics=true jobs=true auth=jwt >/dev/null
	cd $(BENCH_RENDER) && $(UV) sync --quiet
	@touch $@

bench-types: $(BENCH_TYPES)/.synced  ## mypy --strict on bench/project/, as part of a render with every option
	MYPYPATH=$(BENCH_RENDER)/src:$(BENCH_RENDER) $(BENCH_RENDER)/.venv/bin/mypy \
	  --config-file $(BENCH_RENDER)/pyproject.toml --cache-dir $(BENCH_TYPES)/.mypy_cache bench/project

lint: $(VENV)/.synced bench-types  ## ruff and mypy on the template's own code (bench/project/ too)
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy

format: $(VENV)/.synced  ## Format the template's own code
	$(UV) run --no-sync ruff format .
	$(UV) run --no-sync ruff check --fix .

clean:  ## Remove the tool environments and build output
	rm -rf $(TOOLS) $(VENV) build
