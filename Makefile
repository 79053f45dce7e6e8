# OneStop — one command per job. Each prints what it does and fails loudly.
SHELL := /bin/bash
SCRIPTS := deploy/scripts
.DEFAULT_GOAL := help

.PHONY: help up down status test unit lint bench bench-large faults twins compose-check screenshots

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t16

up:  ## install what is missing, start PostgreSQL, Kafka and the three services
	@bash $(SCRIPTS)/up.sh

down:  ## stop everything; data stays in var/
	@bash $(SCRIPTS)/down.sh

status:  ## show what runs
	@bash $(SCRIPTS)/status.sh

test:  ## install and start what is needed, then run all tests
	@bash $(SCRIPTS)/test.sh

unit:  ## only the fast tests (no PostgreSQL, no Kafka)
	@bash $(SCRIPTS)/python.sh && .venv/bin/pytest tests/unit

lint:  ## ruff (format check + lint) and mypy
	@bash $(SCRIPTS)/python.sh
	.venv/bin/ruff format --check shared services tests bench
	.venv/bin/ruff check shared services tests bench
	.venv/bin/mypy shared services bench

bench:  ## measure throughput and latency beside the raw PostgreSQL and Kafka baselines
	@bash $(SCRIPTS)/bench.sh

bench-large:  ## the same figures against 10,000 and 1,000,000 stored cases (half an hour or more)
	@bash $(SCRIPTS)/bench-large.sh

faults:  ## the fault experiments on a stack of their own; results in docs/faults.md
	@bash $(SCRIPTS)/faults.sh

twins:  ## two copies of every service under load, one of each killed; docs/scale-out.md
	@bash $(SCRIPTS)/twins.sh

compose-check:  ## validate compose.yaml with a real compose tool
	@bash $(SCRIPTS)/compose-check.sh

screenshots:  ## the console's main views as PNG files in docs/screenshots/ (real Chromium)
	@bash $(SCRIPTS)/screenshots.sh
