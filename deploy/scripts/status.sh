#!/usr/bin/env bash
# make status: what runs, and whether it answers.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/postgres.sh" status
bash "$here/kafka.sh" status
bash "$here/services.sh" status
bash "$here/prometheus.sh" status
