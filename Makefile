# Two commands on a fresh machine: `make demo` and `make test`.  Each installs
# what it needs into .venv first (only when pyproject.toml changed).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint bench install clean test-floors test-release dist

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[emulator,test]'
	touch $(STAMP)

install: $(STAMP)

# What the demo alone needs (the package, the emulator, a kernel and nbclient):
# a newcomer's first command stays quick; `make test` installs the rest.
DEMO_STAMP := $(VENV)/.installed-demo

$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[emulator]' 'ipykernel>=6.29' 'nbclient>=0.10' 'nbformat>=5.10' 'nbconvert>=7.16'
	touch $(DEMO_STAMP)

# A second kernel environment with ipykernel 6.29, so that the Run All tests
# (tests/test_run_all.py) run on both ipykernel lines.
KERNEL6       := .venv-ipykernel6
KERNEL6_STAMP := $(KERNEL6)/.installed

$(KERNEL6_STAMP): pyproject.toml
	$(PYTHON) -m venv $(KERNEL6)
	$(KERNEL6)/bin/python -m pip install --quiet --upgrade pip
	$(KERNEL6)/bin/python -m pip install --quiet -e . 'ipykernel==6.29.*'
	touch $(KERNEL6_STAMP)

# The oldest supported Python with the oldest supported dependencies
# (.ci/floors.txt, equal to pyproject's lower bounds): the client, core and
# ipykernel-6.29 Run All tests run there too.  3.12 and the newest Python get the
# built wheel in a fresh venv (tests/test_release.py).  They come from pyenv on this
# machine's image; override with `make test PYTHON_OLDEST=... PYTHON_312=...
# PYTHON_NEWEST=...`.  The classifiers in pyproject.toml name exactly these and
# .venv's Python (a test checks it).
PYTHON_OLDEST ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) $(shell command -v python3.10))
PYTHON_312    ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12))
PYTHON_NEWEST ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
RELEASE_PYTHONS := $(PYTHON_312):$(PYTHON_NEWEST)
FLOORS        := build/venv-floors
FLOORS_STAMP  := $(FLOORS)/.installed
FLOOR_TESTS   := tests/core/test_client.py tests/core/test_core.py tests/e2e/test_run_all.py tests/wire/test_connections.py

$(FLOORS_STAMP): pyproject.toml .ci/floors.txt
	@test -n "$(PYTHON_OLDEST)" || { echo "no Python 3.10 found: set PYTHON_OLDEST (pyproject claims >=3.10)"; exit 1; }
	rm -rf $(FLOORS)
	$(PYTHON_OLDEST) -m venv $(FLOORS)
	$(FLOORS)/bin/python -m pip install --quiet --upgrade pip
	$(FLOORS)/bin/python -m pip install --quiet --only-binary :all: -r .ci/floors.txt \
		'pytest>=8' 'pytest-timeout>=2.3' 'nbclient>=0.10' 'nbformat>=5.10'
	$(FLOORS)/bin/python -m pip install --quiet --no-deps -e .
	$(FLOORS)/bin/python -m pip check
	touch $(FLOORS_STAMP)

test-floors: $(FLOORS_STAMP)
	XENODIA_IPYKERNEL6_PYTHON=$(CURDIR)/$(FLOORS)/bin/python $(FLOORS)/bin/python -m pytest -p no:cacheprovider \
		$(FLOOR_TESTS) -k 'not ipykernel-7'

# The wheel as users get it, alone (it also runs inside `make test`'s pytest).
test-release: $(STAMP)
	@test -n "$(PYTHON_312)" -a -n "$(PYTHON_NEWEST)" || { echo "no Python 3.12 or 3.13: set PYTHON_312, PYTHON_NEWEST"; exit 1; }
	XENODIA_RELEASE_PYTHON=$(RELEASE_PYTHONS) $(PY) -m pytest tests/e2e/test_release.py

# sdist and wheel into dist/
dist: $(STAMP)
	$(PY) -m build --outdir dist .

# The quickstart notebook, executed headless against the embedded emulator
# (no key, no network, no money).  `make demo LIVE=1` uses the real API with
# XENODIA_API_KEY instead, and says so first.
demo: $(DEMO_STAMP)
	$(PY) notebooks/run_demo.py $(if $(LIVE),--live,)

# Everything: the lint, the whole suite (browsers, notebooks, wheels, both
# ipykernel lines, the cluster, load) and the oldest-floors run.  What CI runs.
test: $(STAMP) $(KERNEL6_STAMP)
	@test -n "$(PYTHON_312)" -a -n "$(PYTHON_NEWEST)" || { echo "no Python 3.12 or 3.13: set PYTHON_312, PYTHON_NEWEST"; exit 1; }
	$(MAKE) lint
	XENODIA_IPYKERNEL6_PYTHON=$(CURDIR)/$(KERNEL6)/bin/python XENODIA_RELEASE_PYTHON=$(RELEASE_PYTHONS) \
		$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) test-floors

# The edit-test loop: the lint and every test but the end-to-end suites
# (tests/e2e: browsers, notebooks, release wheels, load, the cluster).
test-fast: $(STAMP)
	$(MAKE) lint
	$(PY) -m pytest --ignore=tests/e2e $(PYTEST_ARGS)

# ruff, mypy, and the layers contract ([tool.importlinter] in pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check xenodia_jupyter tests bench notebooks
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf build dist xenodia_outputs $(KERNEL6) .pytest_cache .mypy_cache .ruff_cache
