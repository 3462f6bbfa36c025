# Two commands on a fresh machine:
#   make demo   - creates .venv, installs the package, runs the offline demo
#   make test   - creates .venv, installs the package with test extras, runs the fast
#                 lane of pytest (not marked slow) in TEST_JOBS processes (pytest-xdist;
#                 default 2, one a core here)
# Also: make test-slow (tests marked slow), make test-all (both), make docs (the site),
#   make lint (ruff: lint rules and format check), make bench (comparisons with keras.applications, BN folding on TensorFlow),
#   make bench-backends (BN folding's speed on JAX and PyTorch),
#   make test-export (the export stage: SavedModel/TFLite/ONNX export of every family)
#   make test-backends - creates .venv-backends with the "backends" extras (CPU torch
#                 2.13.0, jax, keras-hub), runs tests/backends once with KERAS_BACKEND=jax
#                 and once with KERAS_BACKEND=torch: one architecture per family
#                 (KAB_BACKENDS_ARCHS=all: every entry of tests/architectures.py, slower),
#                 KerasHub's backbones, keras.distribution (JAX) and DDP (PyTorch)
# CI (`bash .ci/run`) runs lint, test, test-slow, docs, test-export and test-backends.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
TEST_JOBS ?= 2
BACKENDS_VENV ?= .venv-backends
BACKENDS_PY := $(BACKENDS_VENV)/bin/python

.PHONY: demo test test-slow test-all test-export test-backends bench bench-backends docs lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: $(PY) setup.py
	$(PY) -m pip install --quiet -e ".[demo]"
	touch $@

$(VENV)/.installed-test: $(PY) setup.py
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed-demo
	KERAS_APPLICATIONS_BN_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2 $(PY) examples/demo.py

$(VENV)/.installed-bench: $(PY) setup.py
	$(PY) -m pip install --quiet -e ".[bench]"
	touch $@

# Compare with keras.applications (about 12 minutes on 2 cores); see docs/performance.md.
bench: $(VENV)/.installed-bench
	cd benchmarks && TF_CPP_MIN_LOG_LEVEL=3 $(abspath $(PY)) run_all.py --plot ../docs/performance.png

# The fast lane (the README's test command): everything not marked slow.
test: $(VENV)/.installed-test
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n $(TEST_JOBS) -m "not slow and not export" $(PYTEST_ARGS)

# The slow lane: tests marked slow (CI runs it after `make test`).
test-slow: $(VENV)/.installed-test
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n $(TEST_JOBS) -m "slow and not export" $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: no test is marked slow

$(VENV)/.installed-export: $(VENV)/.installed-test
	$(PY) -m pip install --quiet -e ".[test,onnx]"
	touch $@

# The export stage: SavedModel, TFLite (folded and not) and ONNX of a pinned model of
# every family (tests marked export; the onnx extra is installed for it).
test-export: $(VENV)/.installed-export
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -p no:xdist -m export $(PYTEST_ARGS)

# Both lanes in one run.
test-all: $(VENV)/.installed-test
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n $(TEST_JOBS) -m "not export" $(PYTEST_ARGS)

$(VENV)/.installed-lint: $(PY) setup.py
	$(PY) -m pip install --quiet -e ".[lint]"
	touch $@

# ruff (ruff.toml): the lint rules, then the formatting, of every Python file.
lint: $(VENV)/.installed-lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

$(VENV)/.installed-docs: $(PY) setup.py
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

# The documentation site (docs/, mkdocs.yml) into build/site; --strict: a broken
# link or a reference mkdocstrings cannot resolve fails the build.
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

$(BACKENDS_PY):
	$(PYTHON) -m venv $(BACKENDS_VENV)
	$(BACKENDS_PY) -m pip install --quiet --upgrade pip

$(BACKENDS_VENV)/.installed-backends: $(BACKENDS_PY) setup.py
	$(BACKENDS_PY) -m pip install --quiet -e ".[backends]"
	touch $@

# bench_fold (the folded model's predict and compiled-call speed, paired rounds) on JAX and
# PyTorch, in .venv-backends; see docs/performance.md.
bench-backends: $(BACKENDS_VENV)/.installed-backends
	cd benchmarks && KERAS_BACKEND=jax $(abspath $(BACKENDS_PY)) bench_fold.py
	cd benchmarks && KERAS_BACKEND=torch $(abspath $(BACKENDS_PY)) bench_fold.py

# The same tests once per backend; a backend that cannot be imported fails the stage.
# The distribution tests start their own processes on 127.0.0.1 and kill them after a
# time limit (tests/backends/test_distribution.py).
test-backends: $(BACKENDS_VENV)/.installed-backends
	KERAS_BACKEND=jax $(BACKENDS_PY) -m pytest tests/backends $(PYTEST_ARGS)
	KERAS_BACKEND=torch $(BACKENDS_PY) -m pytest tests/backends $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(BACKENDS_VENV) build *.egg-info .pytest_cache
