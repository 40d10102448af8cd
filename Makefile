# Every target bootstraps its own virtual environment from the committed lock file, so a fresh
# machine needs only Python >= 3.11 with pip and venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output
PYTEST_WORKERS ?= 2
# Small least-squares problems run slower with threaded BLAS, badly so when pytest workers or
# pool processes already use every core: one BLAS thread per process.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: venv demo test lint typecheck unit parity bench lock clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The whole mission offline, on a synthetic universe (clearly labelled SYN_*): generate 1,320
# sessions, run research on the first 1,254 (screen, select, optimize, config), then let the
# daemon paper-trade the last 66 sessions one by one with the local paper broker, then show its
# status and the last session_summary log event.
DEMO_PRICES := $(DEMO_DIR)/market/data/cleaned/adj_close_wide.csv
DEMO_CONFIG := $(DEMO_DIR)/research/config/kalman_prod_config.json
demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(BIN)/pairs-research prices generate --base-dir $(DEMO_DIR)/market --sessions 1320
	$(BIN)/pairs-research run --prices $(DEMO_PRICES) --start 2019-01-02 --end 2023-10-23 \
		--base-dir $(DEMO_DIR)/research --no-progress
	mkdir -p $(DEMO_DIR)/daemon
	$(BIN)/pairs-daemon replay --prices $(DEMO_PRICES) --config $(DEMO_CONFIG) \
		--start 2023-10-24 --end 2024-01-23 --state-dir $(DEMO_DIR)/daemon \
		--output $(DEMO_DIR)/daemon/replay.json >/dev/null 2>$(DEMO_DIR)/daemon/daemon.log
	@$(BIN)/python -c "import json,sys; r=json.load(open(sys.argv[1])); \
		print(f\"== paper trading: {r['sessions']} sessions, {len(r['fills'])} fills, final equity {r['final_equity']:.2f}\")" \
		$(DEMO_DIR)/daemon/replay.json
	@echo "== daemon status (paper-traded 2023-10-24 .. 2024-01-23, local paper broker)"
	$(BIN)/pairs-daemon status --state-dir $(DEMO_DIR)/daemon --config $(DEMO_CONFIG)
	@echo "== last session_summary event of $(DEMO_DIR)/daemon/daemon.log (JSON lines)"
	@grep '"session_summary"' $(DEMO_DIR)/daemon/daemon.log | tail -n 1
	$(BIN)/pairs-daemon report --state-dir $(DEMO_DIR)/daemon --config $(DEMO_CONFIG) --out $(DEMO_DIR)/report
	@echo "== artifacts: $(DEMO_DIR)/research (config, reports, plots), $(DEMO_DIR)/daemon (state, replay.json, log), $(DEMO_DIR)/report/report.html (paper vs backtest)"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The daemon against the backtests (every engine) and the crash matrix; prints a short table.
parity: $(STAMP)
	$(BIN)/python -m tests.parity.report

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock:
	$(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --generate-hashes \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --no-header \
		-o requirements.lock

clean:
	rm -rf $(VENV) $(DEMO_DIR) .mypy_cache .ruff_cache .pytest_cache
