# Squall: every target sets up its own virtual environment in .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: test demo bench lint clean report-screenshot

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# One stamp per extra: reinstall only when pyproject.toml changes.
$(VENV)/.stamp-%: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[$*]'
	@touch $@

test: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: $(VENV)/.stamp-test
	$(BIN)/python -m harness.cli.demo

bench: $(VENV)/.stamp-test
	@for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check harness faults reports sut_adapters tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache .hypothesis
