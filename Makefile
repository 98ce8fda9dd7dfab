# Two commands on a fresh machine: `make demo` and `make test`.  Each installs
# what it needs into .venv first (only when pyproject.toml changed).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[emulator,test]'
	touch $(STAMP)

install: $(STAMP)

# A second kernel environment with ipykernel 6.29, so that the Run All tests
# (tests/test_run_all.py) run on both ipykernel lines.
KERNEL6       := .venv-ipykernel6
KERNEL6_STAMP := $(KERNEL6)/.installed

$(KERNEL6_STAMP): pyproject.toml
	$(PYTHON) -m venv $(KERNEL6)
	$(KERNEL6)/bin/python -m pip install --quiet --upgrade pip
	$(KERNEL6)/bin/python -m pip install --quiet -e . 'ipykernel==6.29.*'
	touch $(KERNEL6_STAMP)

# The quickstart notebook, executed headless against the embedded emulator
# (no key, no network, no money).  `make demo LIVE=1` uses the real API with
# XENODIA_API_KEY instead, and says so first.
demo: $(STAMP)
	$(PY) notebooks/run_demo.py $(if $(LIVE),--live,)

test: $(STAMP) $(KERNEL6_STAMP)
	$(PY) -m ruff check xenodia_jupyter tests bench notebooks
	$(PY) -m mypy
	XENODIA_IPYKERNEL6_PYTHON=$(CURDIR)/$(KERNEL6)/bin/python $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check xenodia_jupyter tests bench notebooks
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf build xenodia_outputs $(KERNEL6) .pytest_cache .mypy_cache .ruff_cache
