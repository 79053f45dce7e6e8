#!/usr/bin/env bash
# make screenshots: the console's main views as PNG files in docs/screenshots/, by real
# Chromium on a stack of their own (the tests' database, topics and ports).
set -euo pipefail
LOG_TAG=screenshots
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/infra.sh"
bash "$here/browser.sh"
source "$here/common.sh"
cd "$ROOT"
export ONESTOP_RUN_DIR="$RUN_DIR"
export ONESTOP_KAFKA_BOOTSTRAP="${ONESTOP_KAFKA_BOOTSTRAP:-$ONESTOP_KAFKA_HOST:$ONESTOP_KAFKA_PORT}"
log "taking the console's screenshots (about a minute)"
exec "$ROOT/.venv/bin/python" -m tests.e2e.screenshots
