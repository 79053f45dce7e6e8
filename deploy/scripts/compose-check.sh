#!/usr/bin/env bash
# Validates compose.yaml with a real compose implementation (Debian's docker-compose 1.29,
# which parses and checks the file against its Compose-spec schema without a Docker engine).
set -euo pipefail
LOG_TAG=compose
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# --no-install-recommends inside apt_install keeps the docker.io engine off the machine.
command -v docker-compose >/dev/null || apt_install docker-compose

# Dummy values for the required variables, for this check only.
export ONESTOP_PG_PASSWORD=compose-check ONESTOP_JWT_SECRET=compose-check-jwt-secret-of-32-chars \
  ONESTOP_DATA_KEYS=k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
  ONESTOP_PETITIONER_ID_SECRET=compose-check-petitioner ONESTOP_CASE_CODE_SECRET=compose-check-codes \
  ONESTOP_EVIDENCE_SIGNING_SECRET=compose-check-evidence

log "$(docker-compose version --short 2>/dev/null || true): docker-compose -f compose.yaml config -q"
docker-compose --project-directory "$ROOT" -f "$ROOT/compose.yaml" config -q
log "compose.yaml is valid ($(docker-compose -f "$ROOT/compose.yaml" config --services | paste -sd " "))"
