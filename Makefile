# Targets mirror CI exactly: .ci/run is `make lint test` on a fresh clone.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create or reuse .venv and install smsdata with its dev tools

demo: $(STAMP)  ## the main job: a whole run against the built-in simulator
	$(BIN)/smsdata demo

test: $(STAMP)  ## the test suite
	$(BIN)/python -m pytest

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
