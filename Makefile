# Developer tasks for olexplore.
#
#   make lab        set everything up (in .venv) and start the explorer in JupyterLab
#   make test       lint and typecheck, then every test, doctest and notebook
#   make test-fast  the same pytest run without the browser and slow tests (no lint/typecheck)
#   make lint       ruff check and ruff format --check
#   make typecheck  pyright on TYPECHECK_PATHS (settings: [tool.pyright] in pyproject.toml)
#   make bench    run every benchmarks/*.py as a module
#   make notebooks  re-execute and save every notebook
#
# Variables that can be overridden on the command line:
#   PYTHON       the interpreter that creates .venv               (python3)
#   EXTRAS       the extras installed into .venv                  (cpu,test,lab,dask)
#   LAB_ARGS     extra arguments for `jupyter lab`, e.g. LAB_ARGS="--no-browser --port=8899"
#   TEST_PATHS   what pytest collects (tests, doctests, notebooks) (tests olexplore notebooks)
#   PYTEST_ARGS  extra arguments for pytest, e.g. PYTEST_ARGS="-k clip -x"
#   TYPECHECK_PATHS  what pyright checks                             (olexplore: the whole package)
#   BENCH_ARGS   extra arguments passed to every benchmark module

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= cpu,test,lab,dask

LAB_ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
TEST_PATHS ?= tests olexplore notebooks
TYPECHECK_PATHS ?= olexplore

# Silence TensorFlow's start-up lines and make runs repeatable.
TEST_ENV := TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 PYTHONHASHSEED=0

# Jupyter refuses to run as root unless told to (containers, CI machines).
ALLOW_ROOT = $(if $(filter 0,$(shell id -u)),--allow-root)

.DEFAULT_GOAL := venv
.PHONY: venv lab test test-fast lint typecheck format bench clean notebooks

# (Re)install only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	touch $@

venv: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --LabApp.default_url=/lab/tree/explorer.ipynb \
		$(ALLOW_ROOT) $(LAB_ARGS)

# Notebooks run with nbval (cells marked NBVAL_CHECK_OUTPUT are compared) and fewer steps.
PYTEST := $(TEST_ENV) OLEXPLORE_QUICK=1 MPLBACKEND=Agg $(BIN)/python -m pytest --doctest-modules \
	--nbval-lax --nbval-sanitize-with notebooks/nbval_sanitize.cfg

test: $(STAMP) lint typecheck
	$(PYTEST) $(TEST_PATHS) $(PYTEST_ARGS)

# The same run without the real-browser and slow tests (markers in pyproject.toml).
test-fast: $(STAMP)
	$(PYTEST) -m "not browser and not slow" $(TEST_PATHS) $(PYTEST_ARGS)

# Re-executes every notebook in place (full step counts), so they read well on GitHub.
notebooks: $(STAMP)
	for nb in notebooks/*.ipynb; do \
		$(TEST_ENV) $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; \
	done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/pyright $(TYPECHECK_PATHS)

format: $(STAMP)
	$(BIN)/ruff check --fix-only .
	$(BIN)/ruff format .
	$(BIN)/ruff check .

bench: $(STAMP)
	@failed=""; ran=0; \
	for file in benchmarks/*.py; do \
		[ -e "$$file" ] || continue; \
		name=$$(basename "$$file" .py); \
		[ "$$name" = "__init__" ] && continue; \
		ran=$$((ran + 1)); \
		echo "== benchmarks.$$name"; \
		$(TEST_ENV) $(BIN)/python -m "benchmarks.$$name" $(BENCH_ARGS) || failed="$$failed $$name"; \
	done; \
	echo "== $$ran benchmark(s) run"; \
	if [ -n "$$failed" ]; then echo "failed benchmarks:$$failed" >&2; exit 1; fi

# Removes build and cache output; keeps .venv (delete it by hand to start afresh).
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis test-artifacts
	find . -path ./$(VENV) -prune -o -path ./.git -prune -o \
		\( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -exec rm -rf {} +
