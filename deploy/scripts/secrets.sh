#!/usr/bin/env bash
# secrets.sh [rotate-data-key] — creates $RUN_DIR/secrets.env (mode 600) and adds any missing
# secret; never changes an existing value and never prints one. One secret per purpose:
# the database password, the Kafka passwords (the operator's and each service's), the token
# key, the data keyring (personal data at rest, newest key first), the petitioner-id secret,
# the case-code secret and the secret of follow-up's evidence-signing key (shared/keys.py).
# `rotate-data-key` puts a new key in front of the keyring: new writes use it, the old ones
# still read; `onestop keys reencrypt` then rewrites what the old keys sealed.
set -euo pipefail
LOG_TAG=secrets
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

file="$RUN_DIR/secrets.env"

aes_key() { head -c 32 /dev/urandom | base64 -w0; }
token() { head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }

value_of() { sed -n "s/^$1=//p" "$file" | tail -n1; }

generate() {
  case $1 in
    ONESTOP_PG_PASSWORD) od -An -tx1 -N24 /dev/urandom | tr -d ' \n' ;; # 48 hex chars
    ONESTOP_JWT_SECRET | ONESTOP_PETITIONER_ID_SECRET | ONESTOP_CASE_CODE_SECRET) token ;;
    ONESTOP_EVIDENCE_SIGNING_SECRET) token ;;
    ONESTOP_KAFKA_*PASSWORD*) token ;;
    ONESTOP_DATA_KEYS)
      # a store from the release with one key keeps reading under it (the oldest entry)
      local legacy
      legacy=$(value_of ONESTOP_PII_KEY)
      echo "k1:$(aes_key)${legacy:+,k0:$legacy}" ;;
  esac
}

mkdir -p "$RUN_DIR"
[[ -f $file ]] || { (umask 077 && : >"$file"); log "created $file"; }
chmod 600 "$file"
# Appending after a last line without a newline would glue two entries together.
[[ ! -s $file || -z $(tail -c1 "$file") ]] || echo >>"$file"

if [[ ${1:-} == rotate-data-key ]]; then
  ring=$(value_of ONESTOP_DATA_KEYS)
  [[ -n $ring ]] || die "no ONESTOP_DATA_KEYS in $file: run $0 first"
  last=$(tr ',' '\n' <<<"$ring" | sed -n 's/^k\([0-9]*\):.*/\1/p' | sort -n | tail -n1)
  id="k$((${last:-0} + 1))"
  tmp=$(mktemp "$file.XXXX")
  chmod 600 "$tmp"
  grep -v '^ONESTOP_DATA_KEYS=' "$file" >"$tmp" || true
  printf 'ONESTOP_DATA_KEYS=%s\n' "$id:$(aes_key),$ring" >>"$tmp"
  mv "$tmp" "$file"
  log "new data key $id in front of the keyring; restart the services (make up), then run .venv/bin/onestop keys reencrypt"
  exit 0
fi

# A store made with the one key of an earlier release keeps its petitioner ids and case
# codes: their secrets are not added there (shared/keys.py derives them as it did).
wanted=(ONESTOP_PG_PASSWORD ONESTOP_JWT_SECRET ONESTOP_DATA_KEYS ONESTOP_KAFKA_ADMIN_PASSWORD
  ONESTOP_KAFKA_PASSWORD_INTAKE ONESTOP_KAFKA_PASSWORD_ROUTING ONESTOP_KAFKA_PASSWORD_FOLLOWUP
  ONESTOP_EVIDENCE_SIGNING_SECRET)
grep -q '^ONESTOP_PII_KEY=' "$file" || wanted+=(ONESTOP_PETITIONER_ID_SECRET ONESTOP_CASE_CODE_SECRET)
added=0
for key in "${wanted[@]}"; do
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
