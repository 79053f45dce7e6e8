#!/usr/bin/env bash
# What both the system and the tests stand on: .venv, secrets, PostgreSQL and Kafka,
# installed if missing and started if stopped; Prometheus installed (its promtool checks
# the metrics and the alert rules in the tests).
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/python.sh"
bash "$here/secrets.sh"
bash "$here/postgres.sh" install
bash "$here/postgres.sh" start
bash "$here/kafka.sh" install
bash "$here/kafka.sh" start
bash "$here/prometheus.sh" install
