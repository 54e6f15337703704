# The two commands: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test test-fast test-slow campaign lint format bench vectors tables clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# MicroPython's 32-bit WebAssembly port from the npm registry (pinned, checked against its
# SHA-256), run under node by the heap tests and bench/heap_bench.py to measure the firmware's
# heap at the ESP32's word size (firmware/README.md, "Memory"). Without node or npm it is left
# out and those measurements say they were skipped.
WASM_MP_VERSION := 1.29.0-6
WASM_MP_SHA256 := 416fd43c3ff9c60c871e520cda90e725ad866339b5f59668ef79388330454444
WASM_MP := $(VENV)/wasm/package/micropython.mjs
$(WASM_MP): | $(STAMP)
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
	    rm -rf $(VENV)/wasm && mkdir -p $(VENV)/wasm && cd $(VENV)/wasm && \
	    npm pack --silent @micropython/micropython-webassembly-pyscript@$(WASM_MP_VERSION) \
	        >/dev/null 2>&1 && \
	    echo "$(WASM_MP_SHA256)  micropython-micropython-webassembly-pyscript-$(WASM_MP_VERSION).tgz" \
	        | sha256sum -c --quiet && \
	    tar xzf micropython-micropython-webassembly-pyscript-$(WASM_MP_VERSION).tgz; \
	else echo "node/npm not found: the 32-bit WebAssembly heap measurements will be skipped"; fi

setup: $(STAMP) $(WASM_MP)

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

# The >= 1,000 vehicle-month campaign (issue 5) in chunks of CAMPAIGN_VEHICLES x 63 days, one
# seed each, CAMPAIGN_JOBS at a time (20–25 minutes per chunk with two on two cores); chunks
# already done are kept, then the union report and the slow budget checks (README, "Simulator").
CAMPAIGN_SEEDS ?= 3101 3102 3103 3104 3105
CAMPAIGN_VEHICLES ?= 100
CAMPAIGN_JOBS ?= 2
CAMPAIGN_OUT ?= var/campaign
CAMPAIGN_RESULTS = $(foreach s,$(CAMPAIGN_SEEDS),$(CAMPAIGN_OUT)/chunk-$(s)/results.json)
empty :=
space := $(empty) $(empty)
campaign: setup
	mkdir -p $(CAMPAIGN_OUT)
	printf '%s\n' $(CAMPAIGN_SEEDS) | xargs -P $(CAMPAIGN_JOBS) -I{} sh -c \
	    '[ -f $(CAMPAIGN_OUT)/chunk-{}/results.json ] || $(PY) -m simulator fleet --preset long \
	    --seed {} --vehicles $(CAMPAIGN_VEHICLES) --out $(CAMPAIGN_OUT)/chunk-{} \
	    > $(CAMPAIGN_OUT)/chunk-{}.log 2>&1'
	$(PY) -m simulator report $(CAMPAIGN_RESULTS) --out $(CAMPAIGN_OUT)/report
	QUIETMILE_SIM_RESULTS=$(subst $(space),:,$(strip $(CAMPAIGN_RESULTS))) \
	    $(PY) -m pytest -m slow tests/simulator/test_fleet_slow.py

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
