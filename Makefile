# Squall: every target sets up its own virtual environment in .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: test demo bench lint clean report-screenshot browser conformance-live fidelity

# `make report-screenshot DIR=runs/x` or `make report-screenshot runs/x`
ifeq (report-screenshot,$(firstword $(MAKECMDGOALS)))
  DIR ?= $(word 2,$(MAKECMDGOALS))
  ifneq ($(DIR),)
    $(eval $(DIR):;@:)
  endif
endif

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# One stamp per extra: reinstall only when pyproject.toml changes.
$(VENV)/.stamp-%: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[$*]'
	@touch $@

# httpbin (a third-party target for the adapter and proxy tests) pins greenlet<3 on
# Python 3.11, which gevent cannot use; it never imports greenlet, so it goes in without
# its pins (its real needs are in the test extra).
$(VENV)/.stamp-httpbin: $(VENV)/.stamp-test
	$(PIP) install --no-deps 'httpbin==0.10.4'
	@touch $@

test: $(VENV)/.stamp-test $(VENV)/.stamp-httpbin browser
	$(BIN)/python -m pytest -q --durations=20 $(PYTEST_ARGS)

# The report tests load reports in Debian's headless Chromium: install it where we can
# (root with apt-get); elsewhere those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	      >/dev/null || echo "note: could not install chromium: the browser tests will skip"; \
	  else echo "note: no chromium and no root apt-get: the browser tests will skip"; fi; }

report-screenshot: $(VENV)/.stamp-test browser
	@test -n "$(DIR)" || { echo "usage: make report-screenshot DIR=runs/NAME"; exit 2; }
	$(BIN)/python -m reports.screenshot $(DIR)

# The engine conformance suite with the live engine against the reference system (real
# processes, every case; about 20 minutes at the default time scale of 10).
CONFORMANCE_SCALE ?= 10
conformance-live: $(VENV)/.stamp-test
	SQUALL_CONFORMANCE_LIVE=1 SQUALL_CONFORMANCE_SCALE=$(CONFORMANCE_SCALE) \
	  $(BIN)/python -m pytest -q --durations=10 tests/conformance -k live $(PYTEST_ARGS)

# Sim-vs-live fidelity of the scenario library after calibration: per scenario a pilot live
# run, `squall calibrate` on it, then `squall fidelity --twin` on other arrivals (about
# 75 minutes on two cores; SCENARIOS="telecom-diagnostics mmc" picks some; REJUDGE=1 judges
# what is recorded again, in seconds). Writes runs/fidelity/table.md, the README's table.
fidelity: $(VENV)/.stamp-test
	$(BIN)/python benchmarks/fidelity_library.py

demo: $(VENV)/.stamp-test
	$(BIN)/python -m harness.cli.demo

bench: $(VENV)/.stamp-test $(VENV)/.stamp-httpbin
	@for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check harness faults reports sut_adapters tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache .hypothesis
