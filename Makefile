# Two commands work on a fresh machine: `make demo` and `make test`.
# `demo` installs what the platform needs to run; `test`, `lint` and `bench` add the dev extra
# (pytest, ruff, a browser driver, reference libraries), so a newcomer's first run stays quick.
PYTHON    ?= python3
VENV      ?= .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: setup demo serve test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(DEV_STAMP)

setup: $(DEV_STAMP)

demo: $(STAMP)
	$(BIN)/optrunner demo

# The trading service on the demo month's data: a day replayed at a watchable pace, the
# dashboard at http://127.0.0.1:8000/ (the token's file is printed). Ctrl-C stops it.
serve: $(STAMP)
	$(BIN)/optrunner serve --demo

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(DEV_STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
