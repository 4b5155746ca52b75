# srgan: `make demo` upscales the sample photos with the shipped model, `make test` runs the tests.
# Both create .venv and install everything on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# PyTorch's CPU-only wheels (no CUDA libraries, no Triton): `make install-cpu`.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: help install install-cpu assets test test-all test-oldest mutate lint format demo clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -m srgan.assets fetch
	touch $(STAMP)

install: $(STAMP)  ## create .venv, install srgan (editable) with the test tools, fetch the metric backbones

install-cpu:  ## install with PyTorch's CPU-only wheels (without the CUDA libraries and Triton)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# A .venv made by another target holds the CUDA build: replaced, not kept as "satisfied".
	$(BIN)/pip uninstall -q -y torch torchvision
	$(BIN)/pip install -q torch torchvision --index-url $(TORCH_CPU_INDEX)
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -m srgan.assets fetch
	touch $(STAMP)

assets: $(STAMP)  ## fetch the metric backbones again (after the cache was cleared or moved)
	$(BIN)/python -m srgan.assets fetch

# The fast suite, its tests shared between the cores (at most 4 processes).
FAST_TESTS := -q -n auto --maxprocesses=4 --dist worksteal -m "not slow and not gpu"

test: $(STAMP)  ## run the fast test suite (CPU, no downloads after install; under 5 min idle on 2 cores)
	$(BIN)/python -m pytest $(FAST_TESTS)

test-all: $(STAMP)  ## run every test but the GPU ones, the slow ones too
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4 --dist worksteal -m "not gpu"

test-oldest:  ## run the fast suite in .venv-oldest, made with the oldest versions pyproject.toml allows
	$(PYTHON) -m venv .venv-oldest
	.venv-oldest/bin/pip install -q --upgrade pip
	$(PYTHON) tests/oldest.py > .venv-oldest/constraints.txt
	.venv-oldest/bin/pip install -q -c .venv-oldest/constraints.txt -e '.[test]'
	.venv-oldest/bin/python -m srgan.assets fetch
	.venv-oldest/bin/python -m pytest $(FAST_TESTS)

mutate: $(STAMP)  ## plant known bugs one at a time and check that the tests catch each
	$(BIN)/python tests/mutants.py

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check srgan benchmarks tests
	$(BIN)/ruff format --check srgan benchmarks tests

format: $(STAMP)  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix srgan benchmarks tests
	$(BIN)/ruff format srgan benchmarks tests

demo: $(STAMP)  ## upscale the photos in samples/ with the shipped default model into demo-output/
	$(BIN)/python -m srgan.upscale samples demo-output --overwrite

clean:  ## remove build outputs, runs/, results/ and demo-output/ (keeps .venv)
	rm -rf build dist *.egg-info runs demo-output results .pytest_cache
