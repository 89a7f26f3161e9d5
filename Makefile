# `make run`: set up .venv and train on the bundled sample. `make test`: set up if needed, run the tests.
# CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0

.PHONY: setup run test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

run: setup
	$(VENV)/bin/forecast fit

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/windows.py

clean:
	rm -rf $(VENV) runs lightning_logs
