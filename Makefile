# Targets mirror CI exactly: .ci/run is `make install lint test` on a fresh clone.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A second environment holding the lowest versions pyproject allows (.ci/lowest.txt).
LOWEST ?= .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed

.PHONY: install demo test test-latest test-lowest lint format bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create or reuse .venv and install smsdata with its dev tools

demo: $(STAMP)  ## the main job: a whole run against the built-in simulator
	$(BIN)/smsdata demo

$(LOWEST_STAMP): pyproject.toml .ci/lowest.txt
	@test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python -m pip install --quiet -c .ci/lowest.txt -e '.[dev]'
	@touch $(LOWEST_STAMP)

test: test-latest test-lowest  ## the test suite on the newest dependencies, then on every declared floor

test-latest: $(STAMP)  ## the test suite in .venv (the newest versions pyproject allows)
	$(BIN)/python -m pytest

# The floors' suite: lint with the lowest ruff, then everything but Spark: pyspark 4.3 needs
# pyarrow >= 18 where smsdata's own floor is 15, so the Spark tests run on the newest versions only.
test-lowest: $(LOWEST_STAMP)  ## the test suite in .venv-lowest (every `>=` floor of pyproject)
	$(LOWEST)/bin/ruff check .
	$(LOWEST)/bin/ruff format --check .
	SMSDATA_LOWEST=1 $(LOWEST)/bin/python -m pytest -m 'not spark'

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## the benchmarks of bench/README.md (minutes; not part of test)
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/plan.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/receiver.py
