#!/usr/bin/env bash
# make faults: the fault experiments of bench/faults.py on a stack of their own — its own run
# directory, PostgreSQL, Kafka broker and services on ports of their own — started fresh
# with the project's scripts, given the demo territory, broken on purpose under a steady
# registration load, and stopped at the end whatever happened. Rewrites docs/faults.md.
# The stack that `make up` runs is never touched: nothing here reads or kills a pid that
# is not in this stack's run directory.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
root="$(cd "$here/../.." && pwd)"

# Settings the caller exported for another stack (a bootstrap address, a port, a
# password) must not leak into this one: every ONESTOP_* is this stack's own.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^ONESTOP_' || true)
export ONESTOP_RUN_DIR="${FAULTS_RUN_DIR:-$root/var/faults}"
export ONESTOP_PG_PORT="${FAULTS_PG_PORT:-5434}"
export ONESTOP_KAFKA_PORT="${FAULTS_KAFKA_PORT:-9094}"
export ONESTOP_KAFKA_CONTROLLER_PORT="${FAULTS_KAFKA_CONTROLLER_PORT:-9095}"
export ONESTOP_KAFKA_BOOTSTRAP="127.0.0.1:$ONESTOP_KAFKA_PORT"
export ONESTOP_INTAKE_PORT="${FAULTS_INTAKE_PORT:-8101}"
export ONESTOP_ROUTING_PORT="${FAULTS_ROUTING_PORT:-8102}"
export ONESTOP_FOLLOWUP_PORT="${FAULTS_FOLLOWUP_PORT:-8103}"
export ONESTOP_PROMETHEUS_MANAGED=false

LOG_TAG=faults
source "$here/common.sh"
[[ $RUN_DIR != "$(realpath -m "$root/var")" ]] || die "FAULTS_RUN_DIR must not be the run directory of make up"

stop_stack() {
  bash "$here/services.sh" stop || true
  bash "$here/kafka.sh" stop || true
  bash "$here/postgres.sh" stop || true
}

bash "$here/python.sh"
# A run that was interrupted may have left this stack running: only its own pids are stopped.
stop_stack >/dev/null 2>&1
ports=("$ONESTOP_PG_PORT" "$ONESTOP_KAFKA_PORT" "$ONESTOP_KAFKA_CONTROLLER_PORT"
  "$ONESTOP_INTAKE_PORT" "$ONESTOP_ROUTING_PORT" "$ONESTOP_FOLLOWUP_PORT")
for port in "${ports[@]}"; do
  ! wait_for_port 127.0.0.1 "$port" 0 || die "port $port is taken by another process; set FAULTS_*_PORT"
done

# A fresh stack each run: restart times do not grow with earlier runs' cases. The Kafka
# jars stay (kafka.sh reinstalls them only when the pom changes).
log "a fresh stack in $RUN_DIR (PostgreSQL $ONESTOP_PG_PORT, Kafka $ONESTOP_KAFKA_PORT, services $ONESTOP_INTAKE_PORT-$ONESTOP_FOLLOWUP_PORT)"
rm -rf "$RUN_DIR/postgres" "$RUN_DIR/kafka/data" "$RUN_DIR/log" "$RUN_DIR/run"
trap 'log "stopping the stack"; stop_stack' EXIT

bash "$here/secrets.sh"
source "$here/common.sh" # the secrets just written
bash "$here/postgres.sh" install
bash "$here/postgres.sh" start
bash "$here/kafka.sh" install
bash "$here/kafka.sh" start
bash "$here/services.sh" start
cd "$root"
.venv/bin/onestop territory import deploy/territories/ninghe-qiaocheng.yaml

log "the experiments (about 8 minutes; logs in $LOG_DIR)"
.venv/bin/python -m bench.faults --write-docs "$@"
