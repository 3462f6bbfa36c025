# Two commands on a fresh machine:
#   make demo   - creates .venv, installs the package, runs the offline demo
#   make test   - creates .venv, installs the package with test extras, runs pytest
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test bench clean

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
	KERAS_APPLICATIONS_BN_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m keras_applications_bn.demo

$(VENV)/.installed-bench: $(PY) setup.py
	$(PY) -m pip install --quiet -e ".[bench]"
	touch $@

# Compare with keras.applications (about 12 minutes on 2 cores); see README "Performance".
bench: $(VENV)/.installed-bench
	cd benchmarks && TF_CPP_MIN_LOG_LEVEL=3 $(abspath $(PY)) run_all.py --plot ../docs/performance.png

test: $(VENV)/.installed-test
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
