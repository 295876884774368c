# Two commands do all the set-up (see README): `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
JSSP   ?= ../shared/jssp

.PHONY: install run test lint check bench bench-sample format clean crosscheck-full browser

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all]'
	touch $(STAMP)

## The service on its embedded default: SQLite and an in-process worker pool, no Redis.
run: install
	$(BIN)/aps serve

## Lint, type-check, architecture contract, then the whole test suite (what CI runs).
test: install lint browser
	$(BIN)/python -m pytest

## Debian's Chromium for the UI tests (tests/ui), installed only where it is missing.
browser:
	bash scripts/install_browser.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check aps api worker jobs tests
	$(BIN)/mypy aps api worker jobs
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format aps api worker jobs tests
	$(BIN)/ruff check --fix .

## Benchmarks are not tests: our solver vs the plain CP-SAT model on the JSSP library.
bench: install
	mkdir -p results
	$(BIN)/aps bench 'la*' 'ft*' 'abz*' 'orb*' --instances $(JSSP)/instances \
		--time-limit 10 --workers 2 --baseline plain --out results/bench-classic.csv \
		--markdown results/bench-classic.md

bench-sample: install
	mkdir -p results
	$(BIN)/aps bench ta01 ta02 ta11 ta12 ta21 ta22 ta31 ta32 ta41 ta42 ta51 ta52 ta61 ta62 \
		ta71 ta72 --instances $(JSSP)/instances --time-limit 10 --workers 2 \
		--baseline plain --out results/bench-ta-sample.csv --markdown results/bench-ta-sample.md

## MILP (HiGHS) vs CP-SAT on 240 seeded random problems; `make test` runs the first 24.
crosscheck-full: install
	$(BIN)/python -m tests.milp.crosscheck --count 240

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
