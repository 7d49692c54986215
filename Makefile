# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: set everything up and run the whole pipeline on the demo world
demo: $(STAMP)
	$(BIN)/growthmap demo

## test: set everything up and run the test suite (one worker per core, a test file per worker)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .

## docs: regenerate the generated docs (contract, CLI, config)
docs: $(STAMP)
	$(BIN)/python -m growthmap.docgen

## examples: run the four example projects on the public data in ../shared/data
.PHONY: examples
examples: $(STAMP)
	for e in adventureworks maven-crm northwind wholesale; do \
		$(BIN)/python examples/run_example.py $$e --charts docs/img || exit 1; done

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) growthmap.duckdb .pytest_cache
