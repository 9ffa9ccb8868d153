# The two commands of the README: `make up` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SERVER_STAMP := $(VENV)/.installed-server

.PHONY: up test lint unit sysdeps clean fuzz-api fuzz fuzz-props

# `make up` needs the services (the `server` extra); `make test` everything (`test` includes it).
$(SERVER_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q -e '.[server]'
	touch $(SERVER_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q -e '.[test]'
	touch $(STAMP) $(SERVER_STAMP)

# Start the whole stack on the embedded default (SQLite, keys in DATA_DIR) and show it working:
# `make up PORT_BASE=6550 DATA_DIR=/tmp/sigstack` for other ports (N..N+6) or another directory.
PORT_BASE ?= 5550
DATA_DIR ?= ./data
up: $(SERVER_STAMP)
	$(VENV)/bin/sigstack up --data-dir '$(DATA_DIR)' --port-base '$(PORT_BASE)' --demo

# System packages the tests use (PostgreSQL client, SoftHSM2, Chromium, docker-registry, Node clients).
sysdeps:
	bash .ci/system-deps

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: $(STAMP) sysdeps lint
	$(PY) -m pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

# Fuzz every service's HTTP API from its OpenAPI document (tests/integration/fuzz, schemathesis)
# with FUZZ_SCALE times the random cases `make test` sends (14,000 requests in about 2 minutes;
# 10: some 105,000 requests, about 20 minutes on one core). Each run sends the same requests.
FUZZ_SCALE ?= 10
fuzz-api: $(STAMP)
	SIGSTACK_FUZZ_SCALE='$(FUZZ_SCALE)' $(PY) -m pytest -q -n 2 --dist loadfile -rA \
		tests/integration/fuzz tests/unit/runtime/test_openapi.py $(PYTEST_ARGS)

# Coverage-guided fuzzing of the parsers of outside input (tests/fuzz/README.md, atheris): each
# family's harness for FUZZ_SECONDS (FUZZ_FAMILIES="notes sct" for some); findings in build/fuzz.
FUZZ_SECONDS ?= 60
FUZZ_FAMILIES ?=
FUZZ_STAMP := $(VENV)/.installed-fuzz
$(FUZZ_STAMP): $(STAMP)
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q -e '.[test,fuzz]'
	touch $(FUZZ_STAMP)

fuzz: $(FUZZ_STAMP)
	$(PY) -m tests.fuzz.run --seconds '$(FUZZ_SECONDS)' $(FUZZ_FAMILIES)

# The same parsers' hypothesis properties (tests/unit/fuzz) with FUZZ_SCALE times the examples of
# `make test` (10: about 5 minutes on 2 cores).
fuzz-props: $(STAMP)
	SIGSTACK_FUZZ_SCALE='$(FUZZ_SCALE)' $(PY) -m pytest -q -n 2 --dist loadfile \
		tests/unit/fuzz $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
