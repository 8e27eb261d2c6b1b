# gruvsynth: set-up, tests and the paper's reproduction.
#
#   make test        set up (.venv, pip, Debian packages) and run lint + the whole test suite
#                    (2 pytest-xdist workers, then the tests marked serial alone;
#                    TEST_WORKERS=0: one process)
#   make test-fast   set up and run lint + the tests not marked slow that start no Keras
#                    process of their own (for development: a few minutes)
#   make reproduce   set up and run the reproduction (see README.rst)
#
# Everything a fresh Debian machine lacks is installed on the way, and said.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Keras backends installed beside TensorFlow for the tests (JAX and PyTorch must work too).
# `make test BACKENDS=` tests TensorFlow alone.
BACKENDS ?= jax torch
# torch: the CPU build this workplace keeps on disk; elsewhere PyPI serves the default build.
TORCH_SPEC ?= torch==2.13.0
# chromium: the HTML page's browser test; fonts-dejavu-core: readable text in its screenshot.
SYSTEM_PACKAGES ?= ffmpeg wesnoth-1.16-music warzone2100-music chromium fonts-dejavu-core
PYTEST_ARGS ?=
# pytest-xdist workers for the tests (tests/conftest.py makes the work units); 0: one process
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,\
	-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder)
# auto: paper if the Keras backend sees a GPU, else quick.  OUT defaults to results/<profile>.
PROFILE ?= auto
OUT ?=
DATA ?= data

.PHONY: help setup system venv test test-fast lint docs reproduce clean

help:
	@sed -n '2,10p' Makefile | sed 's/^# \{0,1\}//'

system:
	@PYTHON=$(PYTHON) .ci/install-system-packages $(SYSTEM_PACKAGES)

$(VENV)/.installed: setup.cfg setup.py pyproject.toml Makefile
	@echo "python: creating $(VENV) and installing gruvsynth with its test extras"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[test,docs]"
	@if [[ " $(BACKENDS) " == *" jax "* ]]; then echo "python: installing JAX"; $(PIP) install -q -e ".[jax]"; fi
	@if [[ " $(BACKENDS) " == *" torch "* ]]; then echo "python: installing $(TORCH_SPEC)"; $(PIP) install -q "$(TORCH_SPEC)"; fi
	@touch $@

venv: $(VENV)/.installed

setup: system venv

lint: venv
	$(VENV)/bin/ruff check .

# Two passes: everything but the tests marked serial on the workers, then those alone.
# (pytest exits 5 when a pass selects no test: PYTEST_ARGS may select only one kind.)
test: setup lint
	$(PY) -m pytest $(XDIST) --serial=skip $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest --serial=only $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-fast: setup lint
	$(PY) -m pytest $(XDIST) -m "not slow and not process" $(PYTEST_ARGS)

docs: venv
	$(VENV)/bin/sphinx-build -W -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

reproduce: setup
	$(PY) experiments/reproduce.py --profile $(PROFILE) $(if $(OUT),--out $(OUT)) --data $(DATA)

clean:
	rm -rf build dist *.egg-info docs/_build .pytest_cache .ruff_cache
