# The two commands of the README: `make up` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up test lint unit sysdeps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Start what exists of the stack on the embedded default (SQLite, keys in ./data) and show it working.
up: $(STAMP)
	$(VENV)/bin/sigstack up --data-dir ./data --demo

# System packages the tests use (PostgreSQL client, SoftHSM2, Chromium, docker-registry, Node clients).
sysdeps:
	bash .ci/system-deps

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: $(STAMP) sysdeps lint
	$(PY) -m pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
