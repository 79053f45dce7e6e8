#!/usr/bin/env bash
# make up: install what is missing, start PostgreSQL, Kafka and the three services.
set -euo pipefail
LOG_TAG=up
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/infra.sh"
bash "$here/services.sh" start
source "$here/common.sh"
# A new centre starts with the demo territory; one that imported its own keeps it.
territory="${ONESTOP_TERRITORY_FILE:-$ROOT/deploy/territories/ninghe-qiaocheng.yaml}"
log "territory: $territory (only if none is registered yet)"
"$ROOT/.venv/bin/onestop" territory import "$territory" --if-empty
bash "$here/prometheus.sh" start
cat <<EOM

OneStop is up.
  console    http://127.0.0.1:${ONESTOP_CONSOLE_PORT:-8004}/   the staff console (sign in with a token below); petitioners: /p
  intake     http://127.0.0.1:${ONESTOP_INTAKE_PORT:-8001}/docs   register cases
  routing    http://127.0.0.1:${ONESTOP_ROUTING_PORT:-8002}/docs   assignments, departments, dispatch rules
  follow-up  http://127.0.0.1:${ONESTOP_FOLLOWUP_PORT:-8003}/docs   deadlines, outcome, return visit, review, statistics, history

  prometheus http://127.0.0.1:${ONESTOP_PROMETHEUS_PORT:-9090}/consoles/onestop.html   operations console; alerts at /alerts
  territory: .venv/bin/onestop territory export   (import FILE to change it; see README)
  a token:   .venv/bin/onestop token --user alice --role clerk
  a history: .venv/bin/onestop history <case_id>
  logs:      $LOG_DIR/   status: make status   stop: make down
EOM
