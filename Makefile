# gpucompare: `make report` then `make test` on a fresh machine with Python 3.11+ and make.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= reports/latest
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# One BLAS thread per process: the build runs sections in parallel, and the calibration's small
# SVDs slow down 5-10x when OpenBLAS threads compete for the same cores.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with $(CURDIR)/tests/nbval_sanitize.cfg

.PHONY: help env report pdf notebooks check-data test test-fast screenshots lint format bench lab clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

env: $(STAMP) ## create .venv and install the package with its test tools

report: $(STAMP) ## build the default report into reports/latest/
	$(BIN)/gpucompare report --out $(OUT) --jobs $(JOBS)

pdf: $(STAMP) ## the report plus reports/latest/report.pdf (needs the chromium package)
	$(BIN)/gpucompare report --out $(OUT) --jobs $(JOBS) --pdf

notebooks: $(STAMP) ## re-execute the committed notebooks so their outputs match the defaults
	$(BIN)/gpucompare notebooks

test: $(STAMP) ## data validation, unit tests, notebook tests (nbval) and the end-to-end build
	$(BIN)/gpucompare check-data
	$(BIN)/python -m pytest tests notebooks $(NBVAL) -n auto --dist loadgroup --no-loadscope-reorder

screenshots: $(STAMP) ## the browser tests, saving a full-page screenshot of every page (folders printed)
	$(BIN)/python -m pytest tests/test_browser.py --screenshots -rA -q | grep -E "screenshots|passed|failed"

check-data: $(STAMP) ## validate data/: schema, units, sources and cross-field sanity
	$(BIN)/gpucompare check-data

lint: $(STAMP) ## ruff format check and lint (notebooks included), and the layer contract
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test-fast: $(STAMP) ## the unit layer only (model, data, audit, sections, params, architecture): seconds
	$(BIN)/python -m pytest tests/core tests/data tests/model tests/audit tests/sections tests/test_params.py tests/test_architecture.py -q -p no:nbval -n auto --dist loadgroup --no-loadscope-reorder

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## time builds, sweeps, Monte Carlo, one-line commands, scenario switches, preview edits (bench/results/)
	$(BIN)/python bench/bench_models.py
	$(BIN)/python bench/bench_throughput.py
	$(BIN)/python bench/bench_build.py
	$(BIN)/python bench/bench_cli.py
	$(BIN)/python bench/bench_scenarios.py
	$(BIN)/python bench/bench_preview.py

# Extra arguments for `jupyter lab`, e.g. `make lab LAB_ARGS=--no-browser` on a machine without a
# browser; as root (containers) JupyterLab refuses to start without --allow-root, so it is added.
LAB_ARGS ?=
LAB_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

lab: $(STAMP) ## open the notebooks in JupyterLab (headless: make lab LAB_ARGS=--no-browser)
	$(BIN)/jupyter lab notebooks $(LAB_ROOT) $(LAB_ARGS)

clean: ## stop this checkout's kernel servers; remove the virtual environment, caches and built reports
	if [ -x $(BIN)/python ]; then $(BIN)/python -c 'from gpucompare.report import forkserver; forkserver.stop_servers()'; fi
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis bench/results
	find reports -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
