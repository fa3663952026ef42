# The two set-up commands: `make demo` and `make test`. Both work on a fresh machine with Python 3 and make:
# they create .venv, install what they need from pyproject.toml, and run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
SUM := $(shell cksum < pyproject.toml | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.run-$(SUM)
TEST_STAMP := $(VENV)/.test-$(SUM)

.PHONY: demo test lint bench bench-drift-venvs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/python scripts/demo.py

test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2

# lint-imports: the layers between packages ([tool.importlinter] in pyproject.toml).
lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(TEST_STAMP) bench-drift-venvs
	$(BIN)/python benchmarks/encryption.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/audit.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/extraction.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/drift.py
	MLWARDEN_TEST_LARGE_SIZE=5368709120 $(BIN)/python -m pytest -q tests/store/test_large_data.py
	MLWARDEN_TEST_KILLS=200 $(BIN)/python -m pytest -q tests/store/test_put_crash.py

# The drift benchmark's baselines, each in a virtual environment of its own beside the repository (Evidently
# needs pandas<3; NannyML imports statsmodels without declaring it). Idempotent: a venv is made once.
BENCH_VENVS ?= $(abspath ..)/bench-venvs

bench-drift-venvs: $(BENCH_VENVS)/evidently/.installed $(BENCH_VENVS)/nannyml/.installed

$(BENCH_VENVS)/evidently/.installed:
	$(PYTHON) -m venv $(BENCH_VENVS)/evidently
	$(BENCH_VENVS)/evidently/bin/python -m pip install --quiet 'evidently==0.7.23' 'pandas<3' pyarrow
	touch $@

$(BENCH_VENVS)/nannyml/.installed:
	$(PYTHON) -m venv $(BENCH_VENVS)/nannyml
	$(BENCH_VENVS)/nannyml/bin/python -m pip install --quiet 'nannyml==0.13.1' statsmodels 'pandas<3' pyarrow
	touch $@

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
