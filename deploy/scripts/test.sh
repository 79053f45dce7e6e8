#!/usr/bin/env bash
# make test: install and start what the tests need, then run the whole pyramid.
# Tests use their own database (<dbname>_test), topic prefix and HTTP ports, so they never
# touch what `make up` runs.
set -euo pipefail
LOG_TAG=test
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/infra.sh"
bash "$here/browser.sh" # the console's browser tests drive real Chromium
source "$here/common.sh"
cd "$ROOT"
export ONESTOP_RUN_DIR="$RUN_DIR"
export ONESTOP_KAFKA_BOOTSTRAP="${ONESTOP_KAFKA_BOOTSTRAP:-$ONESTOP_KAFKA_HOST:$ONESTOP_KAFKA_PORT}"
log "lint: ruff format --check, ruff check, mypy"
.venv/bin/ruff format --check --quiet shared services tests bench
.venv/bin/ruff check --quiet shared services tests bench
.venv/bin/mypy shared services bench
log "running tests: unit, integration (real PostgreSQL and Kafka), end-to-end"
exec "$ROOT/.venv/bin/pytest" "$@"
