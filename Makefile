# geodispatch: `make run` starts the service with demo data; `make test` runs every check.
# Both install what is missing (Python packages into .venv; Debian packages as root) and are
# safe to re-run.

SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
VENV := .venv
BIN := $(VENV)/bin
ASSETS := assets
RUN_DEBS := libsqlite3-mod-spatialite
TEST_DEBS := $(RUN_DEBS) postgresql-15-postgis-3 chromium fonts-wqy-microhei
TEST_POSTGIS_ADMIN_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

.PHONY: run test lint pytest deps test-deps

# `make run`: migrate, load the demo regions, and serve on :8000 with today's demo day
# (technicians, leads, orders, a dispatch plan, a settled morning), played at DEMO_SPEED
# simulated seconds per second until Ctrl-C. A second `make run` reuses the day. DEMO_ARGS:
# --no-simulate (a still day), --reset (delete the SQLite file and start afresh), --size fast,
# --seed N (see `geodispatch demo live --help`).
DEMO_SPEED ?= 60
DEMO_ARGS ?=

run: deps
	$(BIN)/geodispatch demo live --speed $(DEMO_SPEED) $(DEMO_ARGS)

test: test-deps lint pytest

deps: $(VENV)/.synced $(ASSETS)/node_modules/.installed
	@scripts/system-deps.sh $(RUN_DEBS)
	@# Compile the solver's kernels once here (cached; about 40 s the first time), not in a solve.
	@$(BIN)/python -c "import dispatch; dispatch.warm_up()"
	@# Bytecode of our own modules, as uv sync writes the packages' (docs/solver.md, Start-up).
	@$(BIN)/python -m compileall -q api dispatch geo settlement benchmarks

test-deps: deps
	@scripts/system-deps.sh $(TEST_DEBS)
	@scripts/postgres-up.sh
	@TEST_POSTGIS_ADMIN_URL=$(TEST_POSTGIS_ADMIN_URL) scripts/postgres-roles.sh

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@# --compile-bytecode: every command then starts from bytecode, even in a shell that sets
	@# PYTHONDONTWRITEBYTECODE (numba alone imports in 0.5 s instead of 1.1 s).
	$(UV) sync --frozen --python python3 --compile-bytecode
	@touch $@

# The map's front-end files (Leaflet, its plugins, jQuery, Bootstrap, icon fonts) from the npm
# registry at the versions assets/package-lock.json pins; the service serves them itself
# (api/map/assets.py). npm ci runs again only when the manifest or the lock changes.
$(ASSETS)/node_modules/.installed: $(ASSETS)/package.json $(ASSETS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || scripts/system-deps.sh nodejs npm
	npm ci --prefix $(ASSETS) --no-audit --no-fund --ignore-scripts
	@touch $@

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The whole suite on the embedded SpatiaLite database, then the database tests again on
# PostGIS; each of the two test processes of a pass creates and drops a fresh database of its own.
pytest:
	$(BIN)/pytest -n 2 -q
	TEST_POSTGIS_ADMIN_URL=$(TEST_POSTGIS_ADMIN_URL) $(BIN)/pytest -n 2 -q -m "db" tests
