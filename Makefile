# The two commands: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test test-fast test-slow lint format bench vectors tables clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup lint
	$(PY) -m pytest -m "not slow"

test-slow: setup
	$(PY) -m pytest -m slow

demo: setup
	$(PY) -m tools.demo

bench: setup
	$(PY) bench/protocol_bench.py
	$(PY) bench/firmware_bench.py
	$(PY) bench/heap_bench.py
	$(PY) bench/backend_bench.py
	$(PY) bench/merkle_bench.py
	$(PY) bench/device_bench.py --host

# Regenerate the pinned vectors and the precomputed tables (normally never needed: both are
# committed and the test suite checks them against a fresh derivation).
vectors: setup
	$(PY) -m tools.gen_vectors

tables: setup
	$(PY) -m tools.gen_ristretto_tables
	$(PY) -m tools.gen_p256_table

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The deployable ESP32 bundle (.mpy modules, entry points, config template, pin map,
# MANIFEST.sha256) in out/device-bundle/; hardware/FLASHING.md has the install steps.
.PHONY: device-bundle
device-bundle: setup
	$(PY) -m tools.device_bundle

# The hardware figures: hardware/wiring.svg from hardware/pinmap.json, and
# hardware/power_budget.svg plus the power table of hardware/BOM.md from
# hardware/power_budget.json. Both are committed; tests/host checks they are current.
.PHONY: wiring power-budget hardware
wiring: setup
	$(PY) -m tools.wiring_diagram

power-budget: setup
	$(PY) -m tools.power_budget

hardware: wiring power-budget
