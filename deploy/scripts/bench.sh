#!/usr/bin/env bash
# make bench: start what is missing (make up), then measure OneStop's throughput and latency
# beside raw PostgreSQL and Kafka baselines and rewrite docs/benchmarks.md with the figures.
# Extra arguments go to the Python bench (see: .venv/bin/python -m bench.pipeline -h).
set -euo pipefail
LOG_TAG=bench
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/common.sh"

bash "$here/up.sh" >/dev/null || die "make up failed; run it alone to see why"
# up.sh may just have generated var/secrets.env: read it now.
source "$here/common.sh"

export ONESTOP_RUN_DIR="$RUN_DIR"
export ONESTOP_KAFKA_BOOTSTRAP="${ONESTOP_KAFKA_BOOTSTRAP:-$ONESTOP_KAFKA_HOST:$ONESTOP_KAFKA_PORT}"
cd "$ROOT"
log "running the bench (about 2–3 minutes; the machine is busy meanwhile)"
"$ROOT/.venv/bin/python" -m bench.queue_rush # 27 windows and 4 kiosks at once: tickets/s, calls/s, latency
"$ROOT/.venv/bin/python" -m bench.pipeline --write-docs "$@"
# the console's pages, on the data the pipeline just made
exec "$ROOT/.venv/bin/python" -m bench.console_pages --write-docs
