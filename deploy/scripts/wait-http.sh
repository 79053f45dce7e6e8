#!/usr/bin/env bash
# wait-http.sh URL [TIMEOUT_SECONDS=60]: polls URL until it answers 200; on timeout prints
# the last status and body and fails.
set -euo pipefail
LOG_TAG=wait-http
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

(($# >= 1)) || die "usage: $0 URL [TIMEOUT_SECONDS]"
url=$1
timeout=${2:-60}
[[ $timeout =~ ^[0-9]+$ ]] || die "TIMEOUT_SECONDS must be a whole number, got '$timeout'"

deadline=$((SECONDS + timeout))
log "waiting up to ${timeout}s for 200 from $url"
while :; do
  # The status code is appended as the last line; curl errors leave it at 000.
  answer=$(curl -sS --max-time 5 -w '\n%{http_code}' "$url" 2>&1) || true
  code=${answer##*$'\n'}
  if [[ $code == 200 ]]; then
    log "$url answered 200"
    exit 0
  fi
  ((SECONDS < deadline)) || break
  sleep 1
done
die "no 200 from $url within ${timeout}s; last answer (HTTP ${code:-000}): $(head -c 500 <<<"${answer%$'\n'*}")"
