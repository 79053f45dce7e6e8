#!/usr/bin/env bash
# make down: stop Prometheus, the services, Kafka and PostgreSQL; the data stays in var/.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/prometheus.sh" stop
bash "$here/services.sh" stop
bash "$here/kafka.sh" stop
bash "$here/postgres.sh" stop
