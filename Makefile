# The two promised commands: `make run` (the whole system on its embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := libs/common services/collector services/classifier services/routing services/api-gateway
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))

.PHONY: install run test lint contracts bench bench-pipeline clean token faults

$(STAMP): $(PYPROJECTS) requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e 'libs/common[testing]' $(addprefix -e ,$(filter-out libs/common,$(PACKAGES))) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python scripts/run_local.py

test: install
	$(BIN)/python -m pytest -q

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

contracts: install
	$(BIN)/python scripts/contracts.py

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/classifier.py

bench-pipeline: install
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf var
