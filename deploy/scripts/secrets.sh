#!/usr/bin/env bash
# Creates $RUN_DIR/secrets.env (mode 600) and adds any missing secret. Never changes
# an existing value and never prints one.
set -euo pipefail
LOG_TAG=secrets
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

file="$RUN_DIR/secrets.env"

generate() {
  case $1 in
    ONESTOP_PG_PASSWORD) od -An -tx1 -N24 /dev/urandom | tr -d ' \n' ;;               # 48 hex chars
    ONESTOP_JWT_SECRET) head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=' ;; # 64 chars
    ONESTOP_PII_KEY) head -c 32 /dev/urandom | base64 -w0 ;;                             # AES-256 key
  esac
}

mkdir -p "$RUN_DIR"
[[ -f $file ]] || { (umask 077 && : >"$file"); log "created $file"; }
chmod 600 "$file"
# Appending after a last line without a newline would glue two entries together.
[[ ! -s $file || -z $(tail -c1 "$file") ]] || echo >>"$file"

added=0
for key in ONESTOP_PG_PASSWORD ONESTOP_JWT_SECRET ONESTOP_PII_KEY; do
  if grep -q "^$key=" "$file"; then
    grep -q "^$key=." "$file" || die "$key is empty in $file; delete that line to regenerate it"
    continue
  fi
  value=$(generate "$key")
  [[ -n $value ]] || die "could not generate $key"
  printf '%s=%s\n' "$key" "$value" >>"$file"
  log "added $key"
  added=$((added + 1))
done
((added)) || log "$file has every secret"
