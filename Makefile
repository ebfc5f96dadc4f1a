# PayFirst: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PORT ?= 5000
# Two workers: the suite is I/O-bound on PostgreSQL and the browser; each worker has its own database.
PYTEST_ARGS ?= -n 2

.PHONY: wrk install demo test bench translations clean browser dist

install: $(VENV)/.installed node_modules/.installed static/vendor/.copied translations

$(VENV)/.installed: pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "PayFirst needs Python 3.11 or newer"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# Third-party front-end files are copied from node_modules at build time, never committed; the catalogues are
# compiled. portal/assets.py does both, as the wheel's build does (setup.py).
static/vendor/.copied: node_modules/.installed portal/assets.py
	$(BIN)/python portal/assets.py vendor
	touch $@

translations: $(VENV)/.installed
	$(BIN)/python portal/assets.py translations

# The wheel that is the whole app (templates, static files with the front-end packages, migrations, compiled
# catalogues): what docs/deploy.md installs on a server.
dist: install
	rm -rf build dist
	$(BIN)/pip wheel --no-deps --no-build-isolation -q -w dist .
	@ls dist/*.whl

# Headless Chromium for the browser tests comes from Debian's package, and a Chinese font with it, so that the
# screenshots the browser tests keep show the pages' Chinese instead of boxes (a missing font fails nothing).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Chromium (Debian: apt-get install chromium) for the browser tests"; exit 1; fi; }
	@fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null 2>&1 \
	    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; } \
	    || echo "No Chinese font installed (apt-get install fonts-noto-cjk): screenshots will show boxes"; \
	  else echo "Install a Chinese font (Debian: apt-get install fonts-noto-cjk) for readable screenshots"; fi; }

demo: install
	mkdir -p instance
	$(FLASK) db upgrade
	$(FLASK) demo seed --port $(PORT)
	$(FLASK) demo run --port $(PORT)

# The walls first (the import-linter contracts in pyproject.toml): a broken one fails the build before pytest.
# The linters first: ruff (pyproject.toml [tool.ruff]) and the import walls ([tool.importlinter]).
LINTED := portal worker tests bench scripts wsgi.py migrations

test: install browser
	$(BIN)/ruff check $(LINTED)
	$(BIN)/lint-imports
	$(BIN)/python scripts/test_services.py -- $(BIN)/python -m pytest $(PYTEST_ARGS)

# wrk drives the notify benchmark; Debian's package, like Chromium.
wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "Install wrk (Debian: apt-get install wrk) for the notify benchmark"; exit 1; fi; }

bench: install wrk
	$(BIN)/python scripts/test_services.py -- $(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules static/vendor instance/*.db build dist
