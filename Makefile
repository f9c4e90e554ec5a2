# Two commands set up and run everything on a fresh machine:
#   make train   -> trains the `tiny` preset on the bundled faces in data/ (CPU, ~10 min)
#   make test    -> lints (ruff) and runs the fast test suite
# and one restores the sample photos with the bundled model:
#   make restore -> data/photos/ -> results/sample_photos/ (restored_imgs/, restored_faces/, ...)
# All create the virtual environment .venv on first use; it is reinstalled
# when pyproject.toml or constraints.txt (dependencies and tested versions) changes.
# `make install` installs the package with the extras eval, train and test,
# pinned to the tested versions of constraints.txt (what every target needs).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKDIR ?= runs/tiny
STEPS ?=
PHOTOS ?= data/photos
RESULTS ?= results/sample_photos

.PHONY: train test test-slow lint install restore bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -c constraints.txt -e ".[eval,train,test]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(VENV)/bin/faceres-train --preset=tiny --workdir=$(WORKDIR) $(if $(STEPS),--steps=$(STEPS),)

# Restores the bundled sample photos (rewrites $(RESULTS) on each run).
restore: $(STAMP)
	$(PY) -m faceres_tf.restore -i $(PHOTOS) -o $(RESULTS) --overwrite
	@echo "restored photos: $(RESULTS)/restored_imgs/"

lint: $(STAMP)
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q tests

test-slow: $(STAMP)
	$(PY) -m pytest -q --run-slow tests

bench: $(STAMP)
	$(PY) -m benchmarks.bench_generator

clean:
	rm -rf $(VENV) build *.egg-info
