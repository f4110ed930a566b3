# Targets mirror CI exactly: .ci/run is `make install lint test` on a fresh clone.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A second environment holding the lowest versions pyproject allows (.ci/lowest.txt).
LOWEST ?= .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed
# A third holding the spark extra's floors too (.ci/lowest-spark.txt replacing lowest.txt's pins).
LOWEST_SPARK ?= .venv-lowest-spark
LOWEST_SPARK_STAMP := $(LOWEST_SPARK)/.installed

.PHONY: install demo test test-latest test-lowest test-lowest-spark lint format bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	@touch $(STAMP)

install: $(STAMP)  ## create or reuse .venv and install smsdata with its dev tools

demo: $(STAMP)  ## the main job: a whole run against the built-in simulator
	$(BIN)/smsdata demo

$(LOWEST_STAMP): pyproject.toml .ci/lowest.txt
	@test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python -m pip install --quiet -c .ci/lowest.txt -e '.[dev]'
	@touch $(LOWEST_STAMP)

$(LOWEST_SPARK_STAMP): pyproject.toml .ci/lowest.txt .ci/lowest-spark.txt
	@test -x $(LOWEST_SPARK)/bin/python || $(PYTHON) -m venv $(LOWEST_SPARK)
	$(LOWEST_SPARK)/bin/python -m pip install --quiet --upgrade pip
	# lowest.txt's pins, each one lowest-spark.txt names replaced by its pin there
	awk -F'==' 'FNR == NR { if ($$0 !~ /^#/ && NF == 2) spark[$$1] = $$0; next } \
		$$0 !~ /^#/ && ($$1 in spark) { next } { print } END { for (name in spark) print spark[name] }' \
		.ci/lowest-spark.txt .ci/lowest.txt > $(LOWEST_SPARK)/constraints.txt
	$(LOWEST_SPARK)/bin/python -m pip install --quiet -c $(LOWEST_SPARK)/constraints.txt -e '.[dev,spark]'
	@touch $(LOWEST_SPARK_STAMP)

test: test-latest test-lowest test-lowest-spark  ## the test suite on the newest dependencies, then on every declared floor

test-latest: $(STAMP)  ## the test suite in .venv (the newest versions pyproject allows)
	$(BIN)/python -m pytest

# The floors' suite: lint with the lowest ruff, then everything but Spark, which needs the spark
# extra (pyspark 4.3 needs pyarrow 18 where smsdata's own floor is 15): test-lowest-spark runs it.
test-lowest: $(LOWEST_STAMP)  ## the test suite in .venv-lowest (every `>=` floor of pyproject)
	$(LOWEST)/bin/ruff check .
	$(LOWEST)/bin/ruff format --check .
	SMSDATA_LOWEST=1 $(LOWEST)/bin/python -m pytest -m 'not spark'

test-lowest-spark: $(LOWEST_SPARK_STAMP)  ## the Spark tests in .venv-lowest-spark (the spark extra's floors with the rest)
	SMSDATA_LOWEST=spark $(LOWEST_SPARK)/bin/python -m pytest -m spark
	SMSDATA_LOWEST=spark $(LOWEST_SPARK)/bin/python -m pytest tests/test_floors.py

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
