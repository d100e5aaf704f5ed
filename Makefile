# The README's commands. `make report` and `make test` set everything up on a
# fresh machine with python3, pip and make; `make gpu-check` installs nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
GPU_OUT ?= reports
SHELL := bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: report test gpu-check doctor lessons asv clean

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

## make asv: quick asv run of this checkout in .venv (real + simulator environments);
## results in .asv/results/$(ASV_MACHINE), the site in .asv/html (docs/asv.md says more)
ASV_MACHINE ?= $(shell hostname)
asv: $(STAMP)
	$(VENV)/bin/asv machine --yes --machine $(ASV_MACHINE) > /dev/null
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/asv run --python=same --quick \
		--set-commit-hash $$(git rev-parse HEAD) --machine $(ASV_MACHINE) \
		$$($(PY) -m numbabench.asvsuite bench-args)
	$(VENV)/bin/asv publish
	@echo "asv: .asv/results/$(ASV_MACHINE); browse with $(VENV)/bin/asv preview"

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
