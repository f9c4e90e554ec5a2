# Two commands set up and run everything on a fresh machine:
#   make train   -> trains the `tiny` preset on the bundled faces in data/ (CPU, ~10 min)
#   make test    -> lints (ruff) and runs the fast test suite
# Both create the virtual environment .venv on first use; it is reinstalled
# when pyproject.toml (the package metadata and dependencies) changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKDIR ?= runs/tiny
STEPS ?=

.PHONY: train test test-slow lint install bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(PY) -m experiments.train --preset=tiny --workdir=$(WORKDIR) $(if $(STEPS),--steps=$(STEPS),)

lint: $(STAMP)
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q tests

test-slow: $(STAMP)
	$(PY) -m pytest -q --run-slow tests

bench: $(STAMP)
	$(PY) benchmarks/bench_generator.py

clean:
	rm -rf $(VENV) build *.egg-info
