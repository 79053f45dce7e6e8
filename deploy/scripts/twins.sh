#!/usr/bin/env bash
# make twins: two copies of every service — six processes — on the PostgreSQL and Kafka that
# `make up` runs, in a database of their own (<dbname>_twins, its schemas cleared first),
# under a topic prefix of their own (removed at the end) and on ports of their own (8201-8206,
# TWINS_PORT_BASE to move them); one copy of each killed and restarted under load; rewrites
# docs/scale-out.md (bench/twins.py). What `make up` runs is never touched.
set -euo pipefail
LOG_TAG=twins
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/infra.sh"
source "$here/common.sh"
cd "$ROOT"
export ONESTOP_RUN_DIR="$RUN_DIR"
export ONESTOP_KAFKA_BOOTSTRAP="${ONESTOP_KAFKA_BOOTSTRAP:-$ONESTOP_KAFKA_HOST:$ONESTOP_KAFKA_PORT}"
export ONESTOP_PG_DBNAME="${ONESTOP_PG_DBNAME}_twins"
log "two of each on database $ONESTOP_PG_DBNAME (about 3 minutes; logs in $RUN_DIR/twins)"
exec .venv/bin/python -m bench.twins --write-docs --port-base "${TWINS_PORT_BASE:-8200}" "$@"
