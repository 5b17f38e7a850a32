# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench venv migration vendor i18n clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## Set up and start the whole system (web app, worker, real-time) on SQLite and a private Redis.
run: $(STAMP)
	$(BIN)/command-center up

## Run the whole suite on SQLite, and again on PostgreSQL when one answers.
test: $(STAMP)
	$(BIN)/python -m tests.run_suites

bench: $(STAMP)
	$(BIN)/python -m bench

## Regenerate the initial migration from the models (before the first release only).
migration: $(STAMP)
	rm -f command_center/migrations/versions/0001_initial.py
	$(BIN)/python -m command_center.cli makemigration --rev-id 0001 --message initial

vendor:
	cd frontend && ./vendor.sh

## Extract, update and compile the message catalogs (zh_Hans, en).
i18n: $(STAMP)
	frontend/i18n.sh

clean:
	rm -rf $(VENV) var
