# Two commands for a new user: `make run` and `make test`. Both build .venv from scratch
# when needed (only Python >= 3.11 and make are required) and are safe to repeat.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install when the pins or the project metadata change.
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
DEPS := pyproject.toml constraints.txt
# axe-core for the console's accessibility test, pinned in its package.json (no lock file).
AXE := tests/http/axe/node_modules/axe-core/axe.min.js

.PHONY: run test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "alerter needs Python >= 3.11 (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): $(BIN)/python $(DEPS)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	@touch $@

$(STAMP_TEST): $(BIN)/python $(DEPS)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/alerter serve

$(AXE): tests/http/axe/package.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --prefix tests/http/axe --no-package-lock --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the console's accessibility test will skip (apt-get install npm)"; fi

test: $(STAMP_TEST) $(AXE)
	$(BIN)/ruff check alerter tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2

lint: $(STAMP_TEST)
	$(BIN)/ruff check alerter tests bench
	$(BIN)/mypy

bench: $(STAMP_TEST)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) tests/http/axe/node_modules .alerter .pytest_cache .mypy_cache .ruff_cache
