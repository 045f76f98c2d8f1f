# followerledger: `make demo` and `make test` work from a fresh clone with only Python 3.11+,
# pip and make. The first run creates .venv and installs the locked dependencies into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint bench install clean deploy browser kills

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Installs the project and its locked runtime + dev dependencies (uv.lock).
$(VENV)/.installed: pyproject.toml uv.lock | $(BIN)/uv
	$(BIN)/uv sync --frozen --inexact --python $(BIN)/python
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/uv sync --frozen --inexact --group bench --python $(BIN)/python
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/followerledger demo

# Deploys every flow in prefect.yaml (a local Prefect server under warehouse/_prefect unless
# PREFECT_API_URL is set) and says how to start a worker. See docs/operations.md.
deploy: $(VENV)/.installed
	$(BIN)/followerledger deploy

# Debian's headless Chromium, for the report's browser test; installed only when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium chromium-driver; }

# The tests include a smoke run of every benchmark (dlt comes with the bench group). Three
# pytest-xdist workers on two cores: many tests wait on Prefect servers, workers and signals.
test: $(VENV)/.installed-bench browser
	$(BIN)/pytest -q -n 3 --dist worksteal

# The long kill harness: snapshot, refresh, compaction and import SIGKILLed at 38 points
# (tests/kills.py; `make test` runs a short version); prints what each kill left.
kills: $(VENV)/.installed
	$(BIN)/python -m tests.kills --long

# mypy checks bench/ against the bench group's dlt and pyinstrument, so lint installs it.
lint: $(VENV)/.installed-bench
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/uv lock --check

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
