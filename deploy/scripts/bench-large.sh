#!/usr/bin/env bash
# make bench-large: OneStop against 10,000 and then 1,000,000 stored cases, in one run
# (bench/large.py): memory, start to ready, history, ledger, inbox and listing latencies,
# beside raw PostgreSQL. Rewrites docs/benchmarks-large.md and docs/benchmarks-large.svg.
#
# It uses the PostgreSQL and Kafka that `make up` / `make test` run (started if stopped), but
# a database of its own (BENCH_LARGE_DBNAME, default <ONESTOP_PG_DBNAME>_bench: emptied
# first, dropped at the end unless BENCH_LARGE_KEEP=1), a Kafka topic prefix of its own
# (removed at the end), and its own copies of the three services on ports
# BENCH_LARGE_PORT_BASE+1..3 (default 8201-8203; +4 kept for the console, which it does not
# start), with pids and logs in var/bench-large.
# The stack `make up` runs is never touched. It takes half an hour to an hour on 2 cores and needs
# ~40 GB of disk for a million cases (it refuses to start growing the store if less than
# 15 GB would be left). Extra arguments go to the Python bench (python -m bench.large -h).
set -euo pipefail
LOG_TAG=bench-large
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/common.sh"
bash "$here/infra.sh" >/dev/null || die "PostgreSQL or Kafka could not be started; run make test to see why"
source "$here/common.sh" # the secrets infra.sh may just have written

infra_dir="$RUN_DIR"
db="${BENCH_LARGE_DBNAME:-${ONESTOP_PG_DBNAME}_bench}"
[[ $db == *bench* ]] || die "BENCH_LARGE_DBNAME must have 'bench' in its name (it is emptied): $db"
port_base="${BENCH_LARGE_PORT_BASE:-8200}"
for port in $((port_base + 1)) $((port_base + 2)) $((port_base + 3)) $((port_base + 4)); do
  ! wait_for_port 127.0.0.1 "$port" 0 || die "port $port is taken; set BENCH_LARGE_PORT_BASE"
done
bash "$here/postgres.sh" database "$db" >/dev/null

export ONESTOP_RUN_DIR="${BENCH_LARGE_RUN_DIR:-$ROOT/var/bench-large}"
export ONESTOP_PG_DBNAME="$db"
export ONESTOP_TOPIC_PREFIX="${BENCH_LARGE_TOPIC_PREFIX:-bench-large-$(date +%s)}"
export ONESTOP_INTAKE_PORT=$((port_base + 1))
export ONESTOP_ROUTING_PORT=$((port_base + 2))
export ONESTOP_FOLLOWUP_PORT=$((port_base + 3))
export ONESTOP_CONSOLE_PORT=$((port_base + 4))
export ONESTOP_KAFKA_BOOTSTRAP="${ONESTOP_KAFKA_BOOTSTRAP:-$ONESTOP_KAFKA_HOST:$ONESTOP_KAFKA_PORT}"
unset ONESTOP_CLOCK_FILE ONESTOP_INTAKE_URL ONESTOP_ROUTING_URL ONESTOP_FOLLOWUP_URL
export BENCH_LARGE_INFRA_DIR="$infra_dir"
if [[ $ONESTOP_PG_MANAGED == true ]]; then export BENCH_LARGE_DATA_DIR="$infra_dir/postgres"; fi
mkdir -p "$ONESTOP_RUN_DIR"

finish() {
  bash "$here/services.sh" stop >/dev/null 2>&1 || true
  if [[ ${BENCH_LARGE_KEEP:-0} == 1 ]]; then
    log "kept database $db (BENCH_LARGE_KEEP=1)"
  else
    log "dropping database $db"
    "$ROOT/.venv/bin/python" - "$db" <<'PY' || log "could not drop database $db"
import sys
import psycopg
from shared.settings import Settings
from shared.store import conninfo
settings = Settings.load(pg_dbname="postgres")
with psycopg.connect(conninfo(settings), autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{sys.argv[1]}" WITH (FORCE)')
PY
  fi
}
trap finish EXIT

cd "$ROOT"
log "database $db, topics $ONESTOP_TOPIC_PREFIX.*, services on $ONESTOP_INTAKE_PORT-$ONESTOP_FOLLOWUP_PORT (logs in $ONESTOP_RUN_DIR/log)"
"$ROOT/.venv/bin/python" -m bench.large --write-docs "$@"
