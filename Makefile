# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test faults bench soak load venv migration vendor i18n clean

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

## Fault injection (tests/faults): every scenario with full volumes, then the table of figures.
## The normal suite runs the short scenarios with small volumes.
faults: $(STAMP)
	CC_FAULTS=full $(BIN)/python -m pytest tests/faults -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m bench

## Video soak (not in CI): 1 publisher and 6 subscribers for 10 minutes with forwarding; prints frame rate
## and the media server's RSS over time (SOAK_SECONDS=120 for a shorter run).
SOAK_SECONDS ?= 600
soak: $(STAMP)
	$(BIN)/python -m bench.bench_video --soak $(SOAK_SECONDS)

## Load test: two app nodes, a worker, PostgreSQL, Redis, 500 dashboards, 20 submissions/s for 5 minutes
## (LOAD_ARGS="--duration 60" for a shorter run; see bench/load.py).
load: $(STAMP)
	$(BIN)/python -m bench.load $(LOAD_ARGS)

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
