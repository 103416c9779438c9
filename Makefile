# casehub — the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv browser pg-client demo test test-fast bench bench-all bench-backfill eval-dedup up lint clean stack stack-down test-stack

help:
	@echo "make demo   run the ingest DAGs against the partner simulators (SQLite, var/)"
	@echo "make test   run the test suite (PostgreSQL tests need 127.0.0.1:5432)"
	@echo "make bench  the performance harness: 100 000 records of every inbound channel through the pipeline"
	@echo "            and a bare COPY + upsert (PostgreSQL); figures in var/bench/latest.json; RECORDS=N"
	@echo "make bench-all  the harness, then every other benchmark in benchmarks/ (SQLite and PostgreSQL)"
	@echo "make bench-backfill  the backfill path: 1 000 000 records by one and by two workers (PostgreSQL)"
	@echo "make eval-dedup  duplicate detection's precision, recall and F1 on its labelled set"
	@echo "make up     the DAGs in the Airflow UI (http://127.0.0.1:8080) with the simulators"
	@echo "make stack  the production stack as local processes: CeleryExecutor on Redis, PostgreSQL (var/stack)"
	@echo "make stack-down  stop exactly what make stack started"
	@echo "make test-stack  a whole cycle through the scheduler on the stack, a worker killed, the scheduler restarted"
	@echo "make lint   ruff and mypy"

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The browser test drives Debian's headless Chromium through its matching driver; installed when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "installing Debian's chromium and chromium-driver (the browser test needs them)"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# The reports' PDFs are printed by WeasyPrint, which needs Pango and a font with Chinese glyphs, and
# cuts that font down fast with HarfBuzz's subsetter; the tests turn the PDFs into PNG pages with
# poppler's pdftoppm. Debian's packages, installed when missing.
pdf:
	@command -v pdftoppm >/dev/null && fc-list | grep -q "WenQuanYi Micro Hei" && ldconfig -p | grep -q libpangoft2 \
	  && ldconfig -p | grep -q libharfbuzz-subset || { \
	  echo "installing Debian's poppler-utils, Pango, HarfBuzz's subsetter and fonts-wqy-microhei (the reports' PDFs need them)"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils libpango-1.0-0 \
	    libpangoft2-1.0-0 libharfbuzz-subset0 fonts-wqy-microhei; }

# The store scan test reads a pg_dump of a PostgreSQL store; Debian's client is installed when missing.
pg-client:
	@command -v pg_dump >/dev/null || { \
	  echo "installing Debian's postgresql-client (the store scan test needs pg_dump)"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client; }

demo: venv
	$(BIN)/casehub demo

test: venv browser pdf pg-client
	$(BIN)/python -m pytest

test-fast: venv
	$(BIN)/python -m pytest -m "not slow"

# The performance harness (docs/operations.md, "Measuring performance"): `make bench RECORDS=20000`.
RECORDS ?= 100000
bench: venv
	$(BIN)/python benchmarks/bench_pipeline.py --records $(RECORDS)

bench-all: bench
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_webhooks.py
	$(BIN)/python benchmarks/bench_outbox.py
	$(BIN)/python benchmarks/bench_quality.py
	$(BIN)/python benchmarks/bench_keys.py
	$(BIN)/python benchmarks/bench_reports.py
	$(BIN)/python benchmarks/bench_dedup.py

# The backfill path at scale: 1 000 000 records by one worker, then by two (PostgreSQL).
bench-backfill: venv
	$(BIN)/python benchmarks/bench_backfill.py --records 1000000 --workers 1 2

eval-dedup: venv
	$(BIN)/python evaluation/dedup/evaluate.py

up: venv
	$(BIN)/casehub up

stack: venv
	$(BIN)/casehub stack up

stack-down: venv
	$(BIN)/casehub stack down

# Its own state directory, ports and databases: a `make stack` running beside it is left alone.
test-stack: venv
	CASEHUB_TEST_STACK=1 $(BIN)/python -m pytest tests/stack -p no:cacheprovider

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
