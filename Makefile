# Vigil: `make run` starts the whole product on the embedded default; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DATABASE_URL_TEST ?= postgres://postgres@127.0.0.1:5432/vigil
export REDIS_URL_TEST ?= redis://127.0.0.1:6379/0
SYSTEM_PACKAGES := chromium prometheus prometheus-alertmanager

.PHONY: install run test lint format system-packages services-up clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet ".[dev]"
	touch $@

install: $(VENV)/.installed

# The embedded default: SQLite under var/ and a filesystem broker, no external service.
run: install
	@mkdir -p var
	env -u DATABASE_URL -u REDIS_URL DEBUG=true $(BIN)/python manage.py migrate --noinput
	env -u DATABASE_URL -u REDIS_URL DEBUG=true $(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Vigil is starting on http://127.0.0.1:$${VIGIL_PORT:-8000}"
	@echo "  Log in as alex (responder), sam (manager), casey (viewer) or admin; password: vigil-demo"
	@echo "  Ctrl-C stops web, worker and beat."
	@echo ""
	env -u DATABASE_URL -u REDIS_URL DEBUG=true PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing system packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "The test suite needs these system packages:$$missing"; \
	    echo "Install them with: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# The whole suite, on PostgreSQL and Redis (DATABASE_URL / REDIS_URL override the defaults).
test: install system-packages
	$(BIN)/python scripts/preflight.py "$${DATABASE_URL:-$$DATABASE_URL_TEST}" "$${REDIS_URL:-$$REDIS_URL_TEST}"
	DATABASE_URL="$${DATABASE_URL:-$$DATABASE_URL_TEST}" REDIS_URL="$${REDIS_URL:-$$REDIS_URL_TEST}" \
	  $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

services-up:
	docker compose up -d db redis

clean:
	rm -rf $(VENV) var staticfiles
