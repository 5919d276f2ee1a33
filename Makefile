# `make run` and `make test` work on a fresh machine: they create .venv with
# Python 3.12+ (oidc-provider-mock needs it) and install the project with the
# `test` extra, which includes `demo` (the reference apps' dependencies and the
# development identity provider). The reference apps themselves are not
# installed: both targets run from this directory, where they are importable.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# First interpreter >= 3.12 found: PATH names, then pyenv's versions.
PYTHON ?= $(shell for p in python3.12 python3.13 python3.14 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	  "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

.PHONY: run test lint bench clean

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.12 or newer is required (python3.12 not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(PY) -m gateway.devstack

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed
	$(PY) bench/session_bench.py
	$(PY) bench/gateway_overhead.py
	$(PY) bench/paths_bench.py --duration 5 --rounds 5
	$(PY) bench/upstream_bench.py --duration 5 --rounds 3
	$(PY) bench/gateway_bench.py --duration 8 --rounds 3

clean:
	rm -rf $(VENV) build *.egg-info
