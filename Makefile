# The two promised commands: `make run` (the whole system on its embedded default) and `make test`.
# Debian's python3.11 is one static binary built with profile-guided and link-time optimisation; a
# plain source build (pyenv's default: a shared libpython, neither optimisation) runs the services
# 10-16 % slower (bench/interpreters.py). Use Debian's when it can make a virtual environment.
PYTHON ?= $(shell /usr/bin/python3.11 -c 'import ensurepip, venv' >/dev/null 2>&1 && echo /usr/bin/python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := libs/common services/collector services/classifier services/routing services/api-gateway services/console
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))

.PHONY: install run test lint contracts bench bench-pipeline clean token faults chromium

$(STAMP): $(PYPROJECTS) requirements-dev.txt
	command -v chromium >/dev/null 2>&1 || $(MAKE) --no-print-directory chromium
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e 'libs/common[testing]' $(addprefix -e ,$(filter-out libs/common,$(PACKAGES))) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# The console's browser tests drive Debian's Chromium (Playwright uses it; it downloads no browser).
# Without root or apt, the browser tests are skipped and say why.
SUDO := $(shell [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && echo sudo)
chromium:
	@echo "installing Debian's chromium for the browser tests …"
	$(SUDO) apt-get install -y -qq chromium >/dev/null 2>&1 \
	  || ($(SUDO) apt-get update -qq >/dev/null 2>&1 && $(SUDO) apt-get install -y -qq chromium >/dev/null 2>&1) \
	  || echo "warning: could not install chromium (apt-get); the browser tests will be skipped"

run: install
	$(BIN)/python scripts/run_local.py

# Spread over the cores (pytest-xdist; --dist load: schemathesis' cases are lost under loadfile/loadscope).
test: install
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist load

# A one-hour operator token for an internal API: make -s token SERVICE=collector
SERVICE ?= collector
token: install
	@$(BIN)/python -m incidents_common.identity token --for $(SERVICE) --dir var/secrets/identity

# Kill -9 of nats-server and of each service, PostgreSQL stopped, SQLite locked, while complaints flow
faults: install
	$(BIN)/python scripts/faults.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

contracts: install
	$(BIN)/python scripts/contracts.py

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/classifier.py

bench-pipeline: install
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf var
