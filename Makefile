# The two commands: `make run` (local server + Azurite) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PEERS := .venv-peers
PY := $(VENV)/bin/python
# pytest-xdist workers per run: `auto` = one per core, each with its own Azurite and served app;
# PYTEST_WORKERS=0 runs in this process (a debugger, -x that stops at once). A test file runs
# whole in one worker: some files' last test checks what the file's earlier tests added up to.
PYTEST_WORKERS ?= auto
PYTEST := $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: run test lint bench clean help

help:
	@echo "make run    - start Azurite and the SCIM app on http://127.0.0.1:7071 (PORT=..., AZURITE_PORT=...; Ctrl-C stops)"
	@echo "make test   - install what is missing (Python packages, Azurite, Debian's chromium), run lint checks and the whole test suite (the console's browser tests in a session of their own); then the store and e2e suites on the SDK backend, and the store and a SCIM round over HTTPS with managed-identity tokens on both backends"
	@echo "make lint   - ruff, mypy and the import-layer contracts (lint-imports)"
	@echo "make clean  - remove virtualenvs, node_modules and caches"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@echo "==> Creating $(VENV) and installing Python dependencies (first run takes a minute)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	@$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@$(PY) -c "import azure.functions, azure.data.tables, pytest, hypothesis" || (echo "Python dependencies failed to install; see the pip output above"; exit 1)
	@touch $@

$(PEERS)/.installed: requirements-peers.txt
	@echo "==> Creating $(PEERS) with the black-box SCIM testers (scim2-tester, scim-sanity)"
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	@$(PEERS)/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
	@$(PEERS)/bin/python -m pip install --disable-pip-version-check -q -r requirements-peers.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> Installing Azurite from npm (pinned in package-lock.json)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The console's browser tests (tests/console) drive Debian's chromium through Playwright; no
# browser is downloaded (Playwright's own installer is never run).
CHROMIUM := /usr/bin/chromium

.PHONY: browser
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "==> Installing Chromium from Debian's packages (for the console's browser tests)"; \
		if [ "$$(id -u)" != 0 ]; then echo "installing chromium needs root: sudo apt-get install -y chromium"; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
			|| { echo "apt-get could not install chromium; see the output above"; exit 1; }; \
		test -x $(CHROMIUM) || { echo "chromium installed but $(CHROMIUM) is missing"; exit 1; }; \
	fi

.PHONY: deps
deps: $(VENV)/.installed $(PEERS)/.installed node_modules/.installed browser

run: $(VENV)/.installed node_modules/.installed
	@$(PY) tools/run_local.py

lint: $(VENV)/.installed
	@echo "==> ruff"
	@$(VENV)/bin/ruff check .
	@echo "==> mypy"
	@$(VENV)/bin/mypy
	@echo "==> lint-imports (layer contracts in pyproject.toml)"
	@$(VENV)/bin/lint-imports --no-cache

test: deps lint
	@echo "==> pytest (Azurite is started and stopped by the tests)"
	@$(PYTEST) --ignore=tests/console
	@# A session of their own: the console lists every tenant of the app it signs in to, and
	@# the main session's Azurite holds thousands of other tests' tenants and rows.
	@echo "==> pytest tests/console: the web console in headless Chromium, against an app of its own"
	@$(PYTEST) tests/console -q
	@echo "==> pytest tests/store tests/e2e on the SDK backend (SCIM_STORAGE_CLIENT=sdk)"
	@SCIM_STORAGE_CLIENT=sdk $(PYTEST) tests/store tests/e2e -q
	@for client in direct sdk; do \
		echo "==> pytest tests/store + SCIM smoke, storage as in Azure: HTTPS, managed-identity tokens (SCIM_TEST_STORAGE=https-oauth SCIM_STORAGE_CLIENT=$$client)"; \
		SCIM_TEST_STORAGE=https-oauth SCIM_STORAGE_CLIENT=$$client $(PYTEST) tests/store tests/e2e/test_storage_smoke.py -q || exit 1; \
	done

# Entra-cycle benchmark (not part of `make test`): ours on Azurite vs scim2-server, 1k and 10k
# users; docs/performance.md. Extra options: make bench BENCH_ARGS="--huge --big-group 50000"
bench: $(VENV)/.installed node_modules/.installed
	@if [ ! -f .venv-bench/.installed ] || [ benchmarks/requirements-bench.txt -nt .venv-bench/.installed ]; then \
		echo "==> Creating .venv-bench (scim2-server peer, py-spy, matplotlib; pinned)"; \
		test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench; \
		.venv-bench/bin/python -m pip install --disable-pip-version-check -q -r benchmarks/requirements-bench.txt && touch .venv-bench/.installed; \
	fi
	@$(PY) benchmarks/entra_bench.py --profile $(BENCH_ARGS)
	@.venv-bench/bin/python benchmarks/plot.py -o benchmarks/results/perf-scale.png

clean:
	rm -rf $(VENV) $(PEERS) node_modules .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis .run
