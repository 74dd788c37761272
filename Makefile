# Two entry points for newcomers: `make demo` and `make test`.
# Each creates .venv when absent and (re)installs the project when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
export OMP_NUM_THREADS ?= 1

.PHONY: demo test lint format install clean-demo real-code

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "coderforge needs Python 3.11 (megatron-core 0.16.1); set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/coderforge build recipes/demo.yaml

test: $(STAMP) real-code
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean-demo:
	rm -rf demo-output

# The pinned real-code corpus (tests/realdata/packages.py): downloaded once from PyPI and npm into
# $$CODERFORGE_REAL_CODE (default ~/.cache/coderforge/real-code), never into the repository.
real-code: $(STAMP)
	$(BIN)/python -m tests.realdata.fetch
	$(BIN)/python -m tests.langid.extension_samples
