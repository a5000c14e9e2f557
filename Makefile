# sitroom tasks. `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck check bench lock clean docs

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else f"sitroom needs Python 3.11 or newer; $(PYTHON) is {v.major}.{v.minor} (try: make PYTHON=python3.11 ...)")'
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## Load the 2022 outbreak into the embedded SQLite database, print its last regional bulletin,
## create the demo users (passwords printed once) and serve on 127.0.0.1:8000 until Ctrl-C.
demo: $(STAMP)
	$(BIN)/sitroom demo

## Run the test suite (SQLite; set SITROOM_TEST_DATABASE_URL for PostgreSQL).
test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/bench_import.py --rows 1000000
	$(BIN)/python bench/bench_rt.py --series 2000 --days 365

## Regenerate docs/cli.md from the commands (a test checks it is current).
docs: $(STAMP)
	$(BIN)/python -m sitroom.cli.reference > docs/cli.md

## Re-resolve the pinned dependencies after editing pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
