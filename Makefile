# `make run`: set up .venv and train on the bundled sample. `make test`: set up if needed, run every test tier.
# torch first: on Linux, PyPI's torch is the multi-GB CUDA build; without an NVIDIA GPU (no nvidia-smi) the
# CPU build is taken from PyTorch's own index (its `+cpu` version wins over PyPI's; unreachable: PyPI's).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,--retries 0 --extra-index-url https://download.pytorch.org/whl/cpu)

.PHONY: setup run test test-fast test-pandas2 docs check bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_INDEX) $(TORCH)
	$(PY) -m pip install -q -e ".[dev,docs]" $(EXTRA)
	touch $@

run: setup
	$(VENV)/bin/forecast fit

# every tier: the fast one, then slow (processes, kills, DDP, the docs' commands) and integration (PostgreSQL)
test: setup
	$(PY) -m pytest -q
	$(PY) -m pytest -q -n 0 -m "slow or integration or gpu"

# the default tier alone: in-process, tiny fixtures, about a minute
test-fast: setup
	$(PY) -m pytest -q

# the fast tier again on the oldest pandas the package admits (2.2; .venv takes the newest), in .venv-pandas2
test-pandas2:
	$(MAKE) test-fast VENV=.venv-pandas2 EXTRA="pandas~=2.2.0"

docs: setup
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(VENV)/bin/mkdocs build --strict

# lint, then audit the installed dependencies against known vulnerabilities (PyPI's advisory
# database: needs the network)
check: setup
	$(VENV)/bin/ruff check forecast tests benchmarks docs
	$(VENV)/bin/mypy
	$(PY) -m pip install -q pip-audit
	$(VENV)/bin/pip-audit --skip-editable --progress-spinner off

bench: setup
	$(PY) benchmarks/windows.py

clean:
	rm -rf $(VENV) .venv-pandas2 runs lightning_logs site
