# The two set-up commands on a fresh machine are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: install browser demo test test-fast stack-test airflow airflow-cli lock clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml devtools/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@# --compile-bytecode: every task, test worker and CLI call is a fresh interpreter, and this machine
	@# sets PYTHONDONTWRITEBYTECODE, so without .pyc files each one compiles what it imports (seconds).
	$(UV) pip install --python $(PY) --quiet --compile-bytecode -r requirements.txt -r requirements-dev.txt
	$(UV) pip install --python $(PY) --quiet --no-deps -e . -e devtools
	@$(MAKE) --no-print-directory browser
	@touch $(STAMP)

browser:  ## Debian's chromium for the weekly report's browser test (apt-get, only when missing; needs root)
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium (headless browser for tests/e2e/test_reports.py)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null; \
	else echo "$(CHROMIUM) is missing and cannot be installed here (not root or no apt-get): the browser test will skip"; fi

install: $(STAMP)  ## create .venv: the production and dev locks, the package and the dev package (devtools/), editable

demo: $(STAMP)  ## simulate 3 days, run every DAG through Airflow, print the summary
	$(PY) -m safety_hub demo --days 3

PYTEST_WORKERS ?= 2

test: $(STAMP)  ## the import contracts, then the whole suite as three pytest runs side by side (tests/lanes.sh): the PostgreSQL run's tests in one process, the DuckDB run's in one, the rest on PYTEST_WORKERS processes (PostgreSQL parts run when SAFETY_HUB_TEST_POSTGRES_URL is set)
	$(VENV)/bin/lint-imports
	PY=$(PY) PYTEST_WORKERS=$(PYTEST_WORKERS) bash tests/lanes.sh

test-fast: $(STAMP)  ## the import contracts, unit and DAG tests only
	$(VENV)/bin/lint-imports
	$(PY) -m pytest tests/unit tests/dags

stack-test: $(STAMP)  ## the production topology natively: Airflow on PostgreSQL, Celery + Redis, 2 workers; 3 days through the scheduler
	$(PY) -m pytest tests/stack -p no:cacheprovider -s

airflow: $(STAMP)  ## the Airflow UI on the project's AIRFLOW_HOME (http://localhost:8080)
	$(PY) -m safety_hub airflow standalone

airflow-cli: $(STAMP)  ## any airflow command on the project's home, e.g. make airflow-cli ARGS="dags list-import-errors"
	$(PY) -m safety_hub airflow $(ARGS)

lock:  ## re-resolve requirements.in into the production lock requirements.txt, then requirements-dev.in (constrained by it) into requirements-dev.txt
	$(UV) pip compile requirements.in -o requirements.txt --python-version 3.11
	$(UV) pip compile requirements-dev.in -o requirements-dev.txt --python-version 3.11

clean:
	rm -rf .airflow data reports

.PHONY: bench-validate bench-load bench-e2e bench-city

bench-validate: $(STAMP)  ## validation of 1M hazard rows against a raw DuckDB read of the same CSV (ARGS="--rows 100000 --profile")
	$(PY) bench/bench_validate.py $(ARGS)

bench-load: $(STAMP)  ## merge_batch of 2M typed rows against DuckDB read_csv and pandas to_sql (ARGS="--rows 100000 --backends duckdb")
	$(PY) bench/bench_load.py $(ARGS)

bench-e2e: $(STAMP)  ## a delivery per kind (CSV 2M rows, XLSX 50k, REST 200k, SQL 1M) through extract, land, validate, load and the build, each stage in a fresh process, vs a DuckDB read of the same rows (ARGS="--kinds csv --rows 10000000 --backends duckdb,postgres --warm")
	$(PY) bench/bench_e2e.py $(ARGS)

bench-city: $(STAMP)  ## a city-profile quarter (62 working days) through land, validate, load and the incremental build, week by week (ARGS="--days 250 --backends duckdb,postgres")
	$(PY) bench/bench_city.py $(ARGS)
