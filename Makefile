# The README's commands. `make report` and `make test` set everything up on a
# fresh machine with python3, pip and make; `make gpu-check` installs nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SHELL := bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: report test gpu-check doctor lessons asv asv-history asv-compare clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

## make report: the quick sweep on every target available here, the table, then the HTML report.
## A failed or wrong cell (exit 1) still gets its report, which flags it; anything worse stops here.
report: $(STAMP)
	@status=0; $(PY) -m numbabench run --sizes quick || status=$$?; \
	case $$status in 0|1) ;; *) exit $$status;; esac; \
	if [ $$status -eq 1 ]; then echo "some cells failed or were wrong: the report flags them" >&2; fi; \
	$(PY) -m numbabench report

## make test: the whole test suite (no GPU needed)
test: $(STAMP)
	$(PY) -m pytest

## make lessons: Jupyter (with jupytext) for the self-paced lessons; your copies go to my-lessons/
LESSONS_STAMP := $(VENV)/.lessons-stamp
$(LESSONS_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[lessons]'
	@touch $@

lessons: $(LESSONS_STAMP)
	$(PY) -m numbabench lessons

## make asv: the whole asv suite, quick (one sample of each benchmark), in this checkout's .venv;
## results in .asv/results/$(ASV_MACHINE), the site in .asv/html (docs/asv.md says more)
ASV_MACHINE ?= $(shell hostname)
ASV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/asv
ASV_NICE := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" nice -n 10 $(VENV)/bin/asv
asv: $(STAMP)
	$(ASV) machine --yes --machine $(ASV_MACHINE) > /dev/null
	$(ASV) run --python=same --quick --set-commit-hash $$(git rev-parse HEAD) --machine $(ASV_MACHINE)
	$(ASV) publish
	@echo "asv: .asv/results/$(ASV_MACHINE); browse with $(VENV)/bin/asv preview"

## make asv-history: asv builds and measures ASV_COMMITS commits spread over main since ASV_SINCE
## with the newest Numba of the matrix, and the tip of main with the others, then publishes the
## history to reports/$(ASV_MACHINE)/asv (asv's results with their sidecars, and the site).
## Long (docs/asv.md says how long here); commits measured before are skipped.
ASV_COMMITS ?= 10
ASV_SINCE ?= f3d76cd
ASV_PYVER = $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ASV_ENV = virtualenv-py$(ASV_PYVER)-numba$(1)-NUMBA_ENABLE_CUDASIM0
ASV_NUMBA ?= 0.68.1
ASV_OTHER_NUMBA ?= 0.67.0 0.66.0
ASV_NUMBA_ENV = $(call ASV_ENV,$(ASV_NUMBA))
ASV_OUT ?= reports/$(ASV_MACHINE)/asv
asv-history: $(STAMP)
	$(ASV) machine --yes --machine $(ASV_MACHINE) > /dev/null
	$(ASV_NICE) run --quick --machine $(ASV_MACHINE) --skip-existing-commits --steps $(ASV_COMMITS) \
		-E $(ASV_NUMBA_ENV) $(ASV_SINCE)..main
	$(ASV_NICE) run --quick --machine $(ASV_MACHINE) $(foreach v,$(ASV_OTHER_NUMBA),-E $(call ASV_ENV,$(v))) main^!
	rm -rf $(ASV_OUT) && mkdir -p $(ASV_OUT)/results/$(ASV_MACHINE)
	cp .asv/results/benchmarks.json $(ASV_OUT)/results/
	cp .asv/results/$(ASV_MACHINE)/machine.json .asv/results/$(ASV_MACHINE)/*-virtualenv-* $(ASV_OUT)/results/$(ASV_MACHINE)/
	$(PY) -c 'import json, os; c = json.load(open("asv.conf.json")); o = os.path.abspath("$(ASV_OUT)"); \
		c.update({k: os.path.abspath(c[k]) for k in ("repo", "benchmark_dir", "env_dir")}); \
		c.update(results_dir=o + "/results", html_dir=o + "/html"); json.dump(c, open(".asv/publish.conf.json", "w"))'
	$(ASV) --config .asv/publish.conf.json publish
	@du -sh $(ASV_OUT)

## make asv-compare BASE=<ref>: asv continuous between BASE and HEAD in the newest Numba's
## environment; prints what got slower or faster by more than ASV_FACTOR (docs/asv.md: why 2, and 5 under load)
BASE ?= main
ASV_FACTOR ?= 2
asv-compare: $(STAMP)
	$(ASV) machine --yes --machine $(ASV_MACHINE) > /dev/null
	$(ASV) continuous --interleave-rounds -a rounds=2 --machine $(ASV_MACHINE) -E $(ASV_NUMBA_ENV) \
		--factor $(ASV_FACTOR) --show-stderr \
		--split $(BASE) HEAD

doctor: $(STAMP)
	$(PY) -m numbabench doctor

## make gpu-check: the device check in one command, within 8 minutes (numbabench/gpucheck.py):
## prerequisites, doctor, the GPU-marked tests, a sweep with the `gpu` sizes, its report and a
## compute-sanitizer memcheck of lesson 5's out-of-bounds kernel, each step with its own timeout,
## fresh compile caches, every file under GPU_OUT (at most 8). Installs nothing; never stops before
## the last step; a GPU step on a machine without one says why it was skipped. Exit status: the
## tests'. Uses .venv's python when there is one, else $(PYTHON).
GPU_OUT ?= gpu-check
GPU_PYTHON ?= $(if $(wildcard $(PY)),$(PY),$(PYTHON))
gpu-check:
	PYTHONPATH=$(CURDIR) $(GPU_PYTHON) -m numbabench.gpucheck --out $(GPU_OUT)

clean:
	rm -rf $(VENV) build *.egg-info
