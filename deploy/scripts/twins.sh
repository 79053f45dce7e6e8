#!/usr/bin/env bash
# make twins: two copies of every service — six processes — on the PostgreSQL and Kafka that
# `make up` / `make test` run (started if stopped), in a database of their own (TWINS_DBNAME,
# default <ONESTOP_PG_DBNAME>_twins: its schemas cleared first), under a topic prefix of
# their own (removed at the end) and on ports of their own (TWINS_PORT_BASE+1..6, default
# 8201-8206), logs in var/twins; one copy of each killed and restarted under load. Prints
# the verdicts and rewrites docs/scale-out.md (bench/twins.py; extra arguments go to it,
# `python -m bench.twins -h`). What `make up` runs is never touched.
set -euo pipefail
LOG_TAG=twins
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/common.sh"
bash "$here/infra.sh" >/dev/null || die "PostgreSQL or Kafka could not be started; run make test to see why"
source "$here/common.sh" # the secrets infra.sh may just have written
cd "$ROOT"

db="${TWINS_DBNAME:-${ONESTOP_PG_DBNAME}_twins}"
[[ $db == *twins* ]] || die "TWINS_DBNAME must have 'twins' in its name (its schemas are cleared): $db"
port_base="${TWINS_PORT_BASE:-8200}"
for port in $(seq $((port_base + 1)) $((port_base + 6))); do
  ! wait_for_port 127.0.0.1 "$port" 0 || die "port $port is taken; set TWINS_PORT_BASE"
done
bash "$here/postgres.sh" database "$db" >/dev/null

export ONESTOP_RUN_DIR="$RUN_DIR"
export ONESTOP_PG_DBNAME="$db"
export ONESTOP_KAFKA_BOOTSTRAP="${ONESTOP_KAFKA_BOOTSTRAP:-$ONESTOP_KAFKA_HOST:$ONESTOP_KAFKA_PORT}"
unset ONESTOP_CLOCK_FILE ONESTOP_TOPIC_PREFIX ONESTOP_INTAKE_URL ONESTOP_ROUTING_URL ONESTOP_FOLLOWUP_URL
log "two of each on database $db, ports $((port_base + 1))-$((port_base + 6)) (about 3 minutes; logs in $ROOT/var/twins)"
exec .venv/bin/python -m bench.twins --write-docs --port-base "$port_base" --logs "$ROOT/var/twins" "$@"
