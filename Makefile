# Two commands: `make run` (set up everything and serve) and `make test`.
PYTHON ?= python3
NPM ?= npm
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
RUNTIME_STAMP := $(VENV)/.runtime-installed
TEST_STAMP := $(VENV)/.test-installed
# The dashboard (web/): npm packages from package-lock.json, then a Vite build into web/dist,
# each redone only when what it is made from changes.
WEB_DEPS_STAMP := web/node_modules/.installed
WEB_STAMP := web/dist/.built
WEB_SOURCES := $(shell find web/src -type f) web/index.html web/vite.config.ts web/tsconfig.json

.PHONY: run test lint fmt bench fuzz worker init-db env clean-venv web screenshots

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(RUNTIME_STAMP): config/backend_requirements.txt | $(PY)
	$(PIP) install --quiet -r config/backend_requirements.txt
	touch $@

$(TEST_STAMP): config/test_requirements.txt config/backend_requirements.txt | $(PY)
	$(PIP) install --quiet -r config/test_requirements.txt
	touch $(RUNTIME_STAMP) $@

$(WEB_DEPS_STAMP): web/package.json web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_STAMP): $(WEB_SOURCES) $(WEB_DEPS_STAMP)
	cd web && $(NPM) run --silent build -- --logLevel warn
	touch $@

web: $(WEB_STAMP)

env:
	$(PYTHON) scripts/ensure_env.py

init-db: $(RUNTIME_STAMP) env
	cd backend && ../$(PY) -c "from app import init_database; init_database()"

run: init-db web
	cd backend && exec ../$(PY) app.py

test: $(TEST_STAMP) web
	$(PY) -m pytest tests

# The dashboard's pictures in docs/screenshots, taken by the browser tests.
screenshots: $(TEST_STAMP) web
	DASHBOARD_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/browser

lint: $(TEST_STAMP) $(WEB_DEPS_STAMP)
	$(VENV)/bin/ruff check backend tests bench scripts
	$(VENV)/bin/ruff format --check backend tests bench scripts
	$(VENV)/bin/mypy backend
	cd backend && ../$(VENV)/bin/lint-imports ../.importlinter
	cd web && $(NPM) run --silent typecheck

fmt: $(TEST_STAMP)
	$(VENV)/bin/ruff format backend tests bench scripts
	$(VENV)/bin/ruff check --fix backend tests bench scripts

bench: $(TEST_STAMP) web
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

fuzz: $(TEST_STAMP)
	FUZZ_EXAMPLES=500 $(PY) -m pytest tests/api/test_fuzz.py

worker: init-db
	cd backend && EXECUTOR=celery exec ../$(VENV)/bin/celery -A wsgi:celery worker --pool threads -Q ledger --loglevel=INFO --prefetch-multiplier=1 --concurrency=$${WORKER_CONCURRENCY:-64}

clean-venv:
	rm -rf $(VENV)
