# The README's commands. `make report` and `make test` set everything up on a
# fresh machine with python3, pip and make; `make gpu-check` installs nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
GPU_OUT ?= reports
SHELL := bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: report test gpu-check doctor clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

## make report: the quick sweep on every target available here, then the table
report: $(STAMP)
	$(PY) -m numbabench run --sizes quick

## make test: the whole test suite (no GPU needed)
test: $(STAMP)
	$(PY) -m pytest

doctor: $(STAMP)
	$(PY) -m numbabench doctor

## make gpu-check: on a GPU machine whose python3 already has numba, numba-cuda,
## cupy, pandas and matplotlib (no network): tests incl. GPU-only ones, a full
## sweep on every target, results under $(GPU_OUT)/
gpu-check:
	mkdir -p $(GPU_OUT)
	PYTHONPATH=$(CURDIR) $(PYTHON) -m numbabench doctor | tee $(GPU_OUT)/doctor.txt
	PYTHONPATH=$(CURDIR) $(PYTHON) -m pytest -p no:cacheprovider -ra 2>&1 | tee $(GPU_OUT)/tests.txt
	PYTHONPATH=$(CURDIR) $(PYTHON) -m numbabench run --sizes full --out $(GPU_OUT)/gpu-check.json

clean:
	rm -rf $(VENV) build *.egg-info
