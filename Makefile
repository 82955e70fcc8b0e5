# Poise: two commands do all the set-up on a fresh machine with Python 3.11+.
#   make run   - create .venv, install, start the app in demo mode (virtual sensors)
#   make test  - create .venv, install test extras, lint, type-check (mypy) and run every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test lint bench bench-all clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/poise gui --demo 1

lint: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: $(STAMP_TEST) lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

# make bench: the issue-15 table (gui, stream, gait, analyze) with targets, a few minutes;
# make bench LOAD=2: the same with two busy processes beside it; make bench-all: every script
bench: $(STAMP_TEST)
	$(BIN)/python bench/summary.py --load $(or $(LOAD),0)

bench-all: $(STAMP_TEST)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
