# trialmeta — two commands for a newcomer: `make run` and `make test`.
# Both create .venv if missing and install the locked dependencies first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-12)
CORES ?= 2
SNAKEMAKE := $(VENV)/bin/snakemake
RUFF := $(VENV)/bin/ruff
PY_DIRS := workflow/ tests/

.PHONY: run test setup lint format bench bench-slurm clean help check

help:
	@echo "make run    # set up .venv, run the workflow on data/trials into results/"
	@echo "make run TRIALS='my_review/*.csv' RESULTS=my_results  # your own tables"
	@echo "make test   # set up .venv, run the whole test suite"
	@echo "make lint   # ruff check, ruff format --check, snakemake --lint, snakefmt --check"
	@echo "make format # rewrite in place: ruff format, ruff check --fix, snakefmt"
	@echo "make check RESULTS=new REF=old  # CI gate: exit 1 when a number or file differs"
	@echo "make bench  # pooling and workflow benchmarks in tests/benchmarks (not part of make test)"
	@echo "make bench-slurm  # the workflow through a local single-node SLURM (root, Debian packages)"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.installed-*
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip sync --quiet --python $(PY) --require-hashes --compile-bytecode requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	@# bytecode written once here: every workflow job is a new Python process, and where
	@# PYTHONDONTWRITEBYTECODE is set each would otherwise compile pandas/matplotlib (~2 CPU-s)
	$(PY) -m compileall -q -j 0 workflow/trialmeta >/dev/null
	@touch $@

setup: $(STAMP)

# make run                                    the shipped example (config/example.yaml)
# make run TRIALS='my_review/*.csv' RESULTS=my_results   your own tables (config/config.yaml)
# TRIALS: paths or globs separated by spaces; the run ends with a summary naming the report.
TRIALS ?=
RESULTS ?= results
comma := ,
empty :=
space := $(empty) $(empty)
TRIALS_YAML = [$(subst $(space),$(comma),$(foreach t,$(TRIALS),"$(t)"))]
RUN_CONFIG = $(if $(strip $(TRIALS)),,--configfile config/example.yaml) \
	--config $(if $(strip $(TRIALS)),'trials=$(TRIALS_YAML)') 'results=$(RESULTS)'

run: setup
	$(SNAKEMAKE) --snakefile workflow/Snakefile --workflow-profile workflow/profiles/default \
		--cores $(CORES) $(RUN_CONFIG)

test: setup
	$(PY) -m pytest -n $(CORES) --dist loadgroup

lint: setup
	$(RUFF) check $(PY_DIRS)
	$(RUFF) format --check $(PY_DIRS)
	$(SNAKEMAKE) --snakefile workflow/Snakefile --lint
	$(VENV)/bin/snakefmt --check workflow/

# Fixes what ruff can fix and prints what is left for a person (make lint fails on it).
format: setup
	$(RUFF) check --fix --exit-zero $(PY_DIRS)
	$(RUFF) format $(PY_DIRS)
	$(VENV)/bin/snakefmt workflow/

# CI gate (README, "Continuous integration"): 0 when RESULTS agrees with REF (numbers within
# tolerances, other files byte-identical), 1 otherwise. CHECK_ARGS: e.g. --tolerances tol.yaml.
REF ?=
CHECK_ARGS ?=
check: setup
	@test -n "$(REF)" || { echo "usage: make check RESULTS=new REF=old" >&2; exit 2; }
	$(VENV)/bin/trialmeta-check $(CHECK_ARGS) '$(RESULTS)' '$(REF)'

bench: setup
	$(PY) tests/benchmarks/bench_pooling.py
	$(PY) tests/benchmarks/bench_workflow.py --analyses 1000 --studies 10 --cores $(CORES)

bench-slurm: setup
	$(PY) tests/benchmarks/bench_slurm.py

clean:
	rm -rf results .snakemake
