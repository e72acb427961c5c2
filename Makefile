# Two commands on a fresh machine: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CRM := $(VENV)/bin/crm
STAMP := $(VENV)/.installed-stamp
CONSTRAINTS := requirements/constraints.txt
NODE_STAMP := node_modules/.installed-stamp
STATIC_STAMP := src/crm/web/static/vendor/.stamp
PYTEST_ARGS ?=

.PHONY: setup browser run test lint format bench serve clean constraints

setup: $(STAMP) $(STATIC_STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade uv || true
	if [ -x $(VENV)/bin/uv ]; then \
	  $(VENV)/bin/uv pip install -q --python $(PY) -c $(CONSTRAINTS) -e '.[dev]'; \
	else $(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[dev]'; fi
	touch $@

# The newest versions pyproject.toml allows, written down; then `make test` before committing.
constraints: setup
	{ sed -n '/^#/p' $(CONSTRAINTS); \
	  $(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	    --upgrade --no-header --no-annotate -q; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(STATIC_STAMP): $(NODE_STAMP) scripts/copy_static.sh
	scripts/copy_static.sh
	touch $@

run: setup
	$(CRM) migrate --no-input -v 0
	$(CRM) demo --if-empty
	$(CRM) serve

serve: setup
	$(CRM) serve

browser:
	scripts/need_chromium.sh

test: setup lint browser
	$(VENV)/bin/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/bandit -q -c pyproject.toml -r src

format: setup
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: setup
	mkdir -p benchmarks/results
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) node_modules src/crm/web/static/vendor
