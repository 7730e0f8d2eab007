# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv and install what they need; nothing else is required.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-sensors test lint typecheck unit install system-deps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e ".[all]" --group dev
	touch $(STAMP)

install: $(STAMP)

## Debian packages the integration tests talk to (real peers, not mocks).
system-deps:
	@./scripts/install-system-deps.sh

demo: install
	$(VENV)/bin/streamgale demo

demo-sensors: install
	$(VENV)/bin/streamgale demo sensors

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest -q --doctest-modules src/streamgale tests

test: install system-deps lint typecheck unit

bench: install
	$(PY) bench/run_core.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
