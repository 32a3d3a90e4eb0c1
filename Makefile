# The two commands of the README, and their parts.
#   make run   — install, migrate the embedded SQLite database, load demo data, serve
#   make test  — install, lint and type-check, run the suite on SQLite then on PostgreSQL

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PASSPORT := $(VENV)/bin/passport
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO := instance/demo
export PASSPORT_ENV ?= development

.PHONY: install lock run test test-sqlite test-postgres lint bench bench-analytics bench-http fuzz fuzz-api load clean

install: $(VENV)/.installed

# WeasyPrint (CV PDFs) needs Pango and a font; the service needs them at run time too.
RUNTIME_PACKAGES := '/usr/lib/*/libpango-1.0.so.0:libpango-1.0-0' '/usr/lib/*/libpangoft2-1.0.so.0:libpangoft2-1.0-0' '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core'

# pyproject.toml says which versions work; constraints.txt pins the set the suite last
# passed with, so that a fresh clone installs what CI tested, not whatever was released
# since. `make lock` resolves the newest set again (then run `make test` and commit both).
$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || scripts/ensure-packages.sh /usr/lib/python3*/venv:python3-venv
	@scripts/ensure-packages.sh $(RUNTIME_PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

lock:
	scripts/lock-deps.sh

export PASSPORT_ANALYSTS ?= analyste@example.gouv.fr

# Links the service prints (shares, verification URLs) use the port it listens on, and so
# must the tokens minted beside it (the hints below name the issuer when it is not the
# default one, which the commands use in a plain shell).
run: export PASSPORT_ISSUER ?= http://$(HOST):$(PORT)
# The demo's few hundred holders make cells of a few people: at the default threshold (20)
# the analyst would see every one hidden. Production refuses under 11.
run: export PASSPORT_ANALYTICS_MIN_CELL ?= 3
# The Prometheus scrape token of the demo (production sets its own secret).
run: export PASSPORT_METRICS_TOKEN ?= demo-metrics-token-not-a-secret
run: ISSUER_HINT = $(if $(filter http://127.0.0.1:5000,$(PASSPORT_ISSUER)),,PASSPORT_ISSUER=$(PASSPORT_ISSUER) )
run: install
	@mkdir -p instance
	$(PASSPORT) db upgrade
	@test -f $(DEMO)/manifest.json || $(PASSPORT) demo generate --holders 300 --passages 3000 --per-file 750 --out $(DEMO)
	$(PASSPORT) demo load $(DEMO)
	@echo
	@echo "  Passport API on http://$(HOST):$(PORT)"
	@echo "    Log in in a browser:  http://$(HOST):$(PORT)/demo"
	@echo "      (local FranceConnect on :9400 and ProConnect on :9401: pick a demo user)"
	@echo "    A shared passport, as a recruiter sees it (no login):"
	@echo "      $$(cat $(DEMO)/share-url.txt 2>/dev/null)"
	@echo "    curl http://$(HOST):$(PORT)/health"
	@echo "    OpenAPI: http://$(HOST):$(PORT)/api/openapi.json"
	@echo "    A token without a browser:"
	@echo "      TOKEN=\$$($(ISSUER_HINT)$(PASSPORT) dev token --holder-nir \$$(sed -n 2p $(DEMO)/identities.csv | cut -d, -f1))"
	@echo "      curl -H \"Authorization: Bearer \$$TOKEN\" http://$(HOST):$(PORT)/api/v1/me"
	@echo "    Success rates, as an analyst (small demo: disclosure threshold 3 instead of 20; smaller cells are hidden):"
	@echo "      TOKEN=\$$($(ISSUER_HINT)$(PASSPORT) dev token --analyst $(PASSPORT_ANALYSTS))"
	@echo "      curl -H \"Authorization: Bearer \$$TOKEN\" 'http://$(HOST):$(PORT)/api/v1/analytics/success-rates?group_by=year'"
	@echo "    Metrics, as Prometheus scrapes them:"
	@echo "      curl -H \"Authorization: Bearer $(PASSPORT_METRICS_TOKEN)\" http://$(HOST):$(PORT)/metrics"
	@echo "  Demo data: $(DEMO) (reports in $(DEMO)/reports); try:"
	@echo "    $(PASSPORT) flux validate $(DEMO)/flux-0001.xml"
	@echo "    $(PASSPORT) certifiers list"
	@echo
	@$(PASSPORT) dev providers $(DEMO) & providers=$$!; \
	trap 'kill $$providers 2>/dev/null' EXIT INT TERM; \
	$(PASSPORT) serve --host $(HOST) --port $(PORT)

test: install lint test-sqlite test-postgres

lint: install
	$(VENV)/bin/ruff check passport ingestion tests benchmarks
	$(VENV)/bin/mypy

TEST_PACKAGES := '/usr/lib/postgresql/*/bin/initdb:postgresql' chromium:chromium chromedriver:chromium-driver redis-server:redis-server pdftoppm:poppler-utils wrk:wrk prometheus:prometheus sqlite3:sqlite3

# Branch coverage of passport/ and ingestion/ (child processes included) is measured on the
# SQLite run and must stay at 90 % or more; reports in artifacts/coverage/ and coverage.xml.
test-sqlite: export COVERAGE_FILE = $(CURDIR)/.coverage
test-sqlite: install
	@scripts/ensure-packages.sh $(TEST_PACKAGES)
	@rm -f .coverage .coverage.*
	$(PY) -m pytest --cov --cov-report=term --cov-report=xml --cov-report=html

test-postgres: install
	@scripts/ensure-packages.sh $(TEST_PACKAGES)
	scripts/with-postgres.sh $(PY) -m pytest

bench: install
	@scripts/ensure-packages.sh '/usr/lib/postgresql/*/bin/initdb:postgresql'
	scripts/with-postgres.sh $(PY) -m benchmarks.ingest

bench-analytics: install
	@scripts/ensure-packages.sh '/usr/lib/postgresql/*/bin/initdb:postgresql'
	scripts/with-postgres.sh $(PY) -m benchmarks.analytics

bench-http: install
	@scripts/ensure-packages.sh '/usr/lib/postgresql/*/bin/initdb:postgresql' wrk:wrk
	scripts/with-postgres.sh $(PY) -m benchmarks.http_load

fuzz: install
	scripts/fuzz.sh

fuzz-api: install
	scripts/api-fuzz.sh

load: install
	@scripts/ensure-packages.sh '/usr/lib/postgresql/*/bin/initdb:postgresql' redis-server:redis-server
	scripts/with-postgres.sh $(PY) -m benchmarks.deposits_load

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
