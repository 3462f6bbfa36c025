# Two commands on a fresh machine:
#   make demo   - creates .venv, installs the package, runs the offline demo
#   make test   - creates .venv, installs the package with test extras, runs the fast
#                 lane of pytest (not marked slow) in TEST_JOBS processes (pytest-xdist;
#                 default 2, one a core here)
# Also: make test-slow (tests marked slow), make test-all (both), make docs (the site),
#   make lint (ruff: lint rules and format check), make bench (comparisons with keras.applications, BN folding and adapt_bn_statistics on TensorFlow),
#   make bench-backends (BN folding and adapt_bn_statistics on JAX and PyTorch),
#   make test-export (the export stage: SavedModel/TFLite/ONNX export of every family)
#   make test-backends - creates .venv-backends with the "backends" extras (CPU torch
#                 2.13.0, jax, keras-hub), runs tests/backends once with KERAS_BACKEND=jax
#                 and once with KERAS_BACKEND=torch: one architecture per family
#                 (KAB_BACKENDS_ARCHS=all: every entry of tests/architectures.py, slower),
#                 KerasHub's backbones, keras.distribution (JAX) and DDP (PyTorch)
# The compatibility stage (CI runs it last):
#   make test-compat - for each combination of COMPAT_COMBINATIONS in turn: a fresh
#                 .venv-compat/<name> with that Python, TensorFlow and Keras, the package
#                 installed, and the tests marked compat; one combination:
#                 make test-compat COMPAT=tf2.18-keras3.8-py3.12 (.ci/compat.sh)
# CI (`bash .ci/run`) runs lint, test, test-slow, docs, test-export, test-backends and
# test-compat (the installs of the last two beside the first stages).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
TEST_JOBS ?= 2
BACKENDS_VENV ?= .venv-backends
BACKENDS_PY := $(BACKENDS_VENV)/bin/python

# The combinations `make test-compat` runs, tf<V>-keras<V>-py<X.Y> (V: X.Y.Z exactly, or
# X.Y for its newest patch release): the oldest TensorFlow and Keras setup.py declares,
# on its oldest Python; one in the middle; the newest TensorFlow on the oldest and the
# newest Python it has wheels for (3.10, 3.13), each with the newest Keras that installs
# there (Keras 3.13 and later need Python 3.11). `make test` runs TensorFlow 2.21 and
# Keras 3.15 on Python 3.11.
COMPAT_COMBINATIONS := tf2.16.1-keras3.3.3-py3.10 tf2.18-keras3.8-py3.12 \
	tf2.21-keras3.12-py3.10 tf2.21-keras3.15-py3.13
COMPAT ?= $(COMPAT_COMBINATIONS)
# The files with tests marked compat (the others import packages the stage does not
# install); tests/test_versions.py checks this list against the markers.
COMPAT_TESTS := tests/test_versions.py tests/test_contract.py tests/test_weight_compat.py \
	tests/test_bn_statistics.py tests/test_finetune.py tests/test_convert.py \
	tests/test_deploy.py tests/test_cli.py tests/test_keras_internals.py tests/test_layers.py

.PHONY: demo test test-slow test-all test-export test-backends test-compat test-compat-install bench bench-backends docs lint clean

# pip writes the bytecode (.pyc) of what it installs: keep it so (no --no-compile). The
# machines here set PYTHONDONTWRITEBYTECODE=1, so Python itself never caches it, and
# without pip's every fresh process compiles TensorFlow from source (measured: the slow
# lane, which starts many, took 27:50 instead of 22:21).
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

# Compare with keras.applications (about 12 minutes on 2 cores for sections 1-6; sections 7-8,
# adapt/predict and the pinned/folded train steps, add roughly half an hour); see docs/performance.md.
bench: $(VENV)/.installed-bench
	cd benchmarks && TF_CPP_MIN_LOG_LEVEL=3 $(abspath $(PY)) run_all.py --plot ../docs/performance.png

# The fast lane (the README's test command): everything not marked slow.
test: $(VENV)/.installed-test
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n $(TEST_JOBS) -m "not slow and not export" $(PYTEST_ARGS)

# The slow lane: tests marked slow (CI runs it after `make test`).
test-slow: $(VENV)/.installed-test
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n $(TEST_JOBS) --dist worksteal -m "slow and not export" $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: no test is marked slow

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

# The backend virtualenv (PyTorch, JAX, TensorFlow, KerasHub) is installed without
# bytecode, and its commands run with Python writing the bytecode of what they import
# (LAZY_BYTECODE): they import a part of it, so pip's compiling of every module (most of
# the CPU of this install, beside CI's first stages) is mostly work nothing reads.
LAZY_BYTECODE := env -u PYTHONDONTWRITEBYTECODE
$(BACKENDS_VENV)/.installed-backends: $(BACKENDS_PY) setup.py
	$(BACKENDS_PY) -m pip install --quiet --no-compile -e ".[backends]"
	touch $@

# bench_fold (the folded model's predict and compiled-call speed) and bench_adapt (adapt/predict), paired rounds, on JAX and
# PyTorch, in .venv-backends; see docs/performance.md.
bench-backends: $(BACKENDS_VENV)/.installed-backends
	cd benchmarks && KERAS_BACKEND=jax $(LAZY_BYTECODE) $(abspath $(BACKENDS_PY)) bench_fold.py
	cd benchmarks && KERAS_BACKEND=torch $(LAZY_BYTECODE) $(abspath $(BACKENDS_PY)) bench_fold.py
	cd benchmarks && KERAS_BACKEND=jax $(LAZY_BYTECODE) $(abspath $(BACKENDS_PY)) bench_adapt.py
	cd benchmarks && KERAS_BACKEND=torch $(LAZY_BYTECODE) $(abspath $(BACKENDS_PY)) bench_adapt.py

# The same tests once per backend; a backend that cannot be imported fails the stage.
# The distribution tests start their own processes on 127.0.0.1 and kill them after a
# time limit (tests/backends/test_distribution.py). The JAX run's programs are tiny and
# each compiled once, so XLA compiles them without LLVM's optimisations (half the time
# of the JAX run, measured; the benchmarks keep XLA's default).
JAX_TEST_XLA_FLAGS := --xla_backend_optimization_level=0
test-backends: $(BACKENDS_VENV)/.installed-backends
	KERAS_BACKEND=jax XLA_FLAGS="$(strip $(XLA_FLAGS) $(JAX_TEST_XLA_FLAGS))" $(LAZY_BYTECODE) $(BACKENDS_PY) -m pytest tests/backends $(PYTEST_ARGS)
	KERAS_BACKEND=torch $(LAZY_BYTECODE) $(BACKENDS_PY) -m pytest tests/backends $(PYTEST_ARGS)

# The compatibility stage: a fresh virtualenv per combination of COMPAT, one after
# another (installing TensorFlow is most of the time; see CONTRIBUTING.md).
test-compat:
	COMPAT_TESTS="$(COMPAT_TESTS)" PYTEST_ARGS="$(PYTEST_ARGS)" bash .ci/compat.sh $(COMPAT)

# The stage's installs alone (each virtualenv made, the package imported, marked ready):
# CI runs this beside the first stages, then the stage with COMPAT_PHASE=test.
test-compat-install:
	COMPAT_PHASE=install COMPAT_TESTS="$(COMPAT_TESTS)" bash .ci/compat.sh $(COMPAT)

clean:
	rm -rf $(VENV) $(BACKENDS_VENV) .venv-compat build *.egg-info .pytest_cache
