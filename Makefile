# The README's commands. `make report` and `make test` set everything up on a
# fresh machine with python3, pip and make; `make gpu-check` installs nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
GPU_OUT ?= reports
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
asv: $(STAMP)
	$(ASV) machine --yes --machine $(ASV_MACHINE) > /dev/null
	$(ASV) run --python=same --quick --set-commit-hash $$(git rev-parse HEAD) --machine $(ASV_MACHINE)
	$(ASV) publish
	@echo "asv: .asv/results/$(ASV_MACHINE); browse with $(VENV)/bin/asv preview"

## make asv-history: asv builds and measures the last ASV_COMMITS commits of main with the newest
## Numba of the matrix, and the tip of main with every Numba of the matrix, then publishes; the
## results and the site are copied to reports/$(ASV_MACHINE)/asv. Long: docs/asv.md says how long.
ASV_COMMITS ?= 10
ASV_NUMBA_ENV ?= virtualenv-py3.11-numba0.68.1-NUMBA_ENABLE_CUDASIM0
ASV_OUT ?= reports/$(ASV_MACHINE)/asv
asv-history: $(STAMP)
	$(ASV) machine --yes --machine $(ASV_MACHINE) > /dev/null
	nice -n 10 $(ASV) run --quick --machine $(ASV_MACHINE) --skip-existing-commits \
		-E $(ASV_NUMBA_ENV) main~$(ASV_COMMITS)..main
	nice -n 10 $(ASV) run --quick --machine $(ASV_MACHINE) --skip-existing-commits main^!
	$(ASV) publish
	rm -rf $(ASV_OUT) && mkdir -p $(ASV_OUT)
	cp -r .asv/results $(ASV_OUT)/results
	cp -r .asv/html $(ASV_OUT)/html
	@du -sh $(ASV_OUT)

## make asv-compare BASE=<ref>: asv continuous between BASE and HEAD in the newest Numba's
## environment; prints what got slower or faster by more than ASV_FACTOR (docs/asv.md: why 1.5)
BASE ?= main
ASV_FACTOR ?= 1.5
asv-compare: $(STAMP)
	$(ASV) machine --yes --machine $(ASV_MACHINE) > /dev/null
	$(ASV) continuous --quick --machine $(ASV_MACHINE) -E $(ASV_NUMBA_ENV) --factor $(ASV_FACTOR) \
		--split $(BASE) HEAD

doctor: $(STAMP)
	$(PY) -m numbabench doctor

## make gpu-check: on a GPU machine whose python3 already has numba, numba-cuda, cupy,
## pandas and matplotlib (no network, nothing installed): doctor, the tests including the
## GPU-only ones, a sweep on every target (GPU_SIZES, default full) and its report, all under
## GPU_OUT. A failing test does not stop the sweep; the tests' status is the exit status.
GPU_SIZES ?= full
gpu-check:
	mkdir -p $(GPU_OUT)
	PYTHONPATH=$(CURDIR) $(PYTHON) -m numbabench doctor > $(GPU_OUT)/doctor.txt 2>&1; cat $(GPU_OUT)/doctor.txt
	status=0; PYTHONPATH=$(CURDIR) $(PYTHON) -m pytest -p no:cacheprovider -ra > $(GPU_OUT)/tests.txt 2>&1 || status=$$?; \
	tail -n 40 $(GPU_OUT)/tests.txt; echo $$status > $(GPU_OUT)/tests.status
	PYTHONPATH=$(CURDIR) $(PYTHON) -m numbabench run --sizes $(GPU_SIZES) --out $(GPU_OUT)/gpu-check.json || [ $$? -eq 1 ]
	PYTHONPATH=$(CURDIR) $(PYTHON) -m numbabench report $(GPU_OUT)/gpu-check.json --out $(GPU_OUT)/report
	@exit $$(cat $(GPU_OUT)/tests.status)

clean:
	rm -rf $(VENV) build *.egg-info
