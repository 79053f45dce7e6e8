# shellcheck shell=bash
# Sourced by the deploy/scripts/*.sh: paths, ONESTOP_* settings and small helpers.
# Callers set LOG_TAG (the "[tag]" prefix of every line) before sourcing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="$(realpath -m "${ONESTOP_RUN_DIR:-$ROOT/var}")" # absolute: scripts change directory
# shellcheck disable=SC2034 # used by the scripts that source this file
LOG_DIR="$RUN_DIR/log"

log() { printf '[%s] %s\n' "${LOG_TAG:-onestop}" "$*"; }
die() { printf '[%s] ERROR: %s\n' "${LOG_TAG:-onestop}" "$*" >&2; exit 1; }

# KEY=value lines of secrets.env; a variable already in the environment wins.
if [[ -f $RUN_DIR/secrets.env ]]; then
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
    [[ -n ${!BASH_REMATCH[1]+set} ]] || export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
  done <"$RUN_DIR/secrets.env"
  unset line
fi

export ONESTOP_PG_HOST="${ONESTOP_PG_HOST:-127.0.0.1}"
export ONESTOP_PG_PORT="${ONESTOP_PG_PORT:-5433}"
export ONESTOP_PG_USER="${ONESTOP_PG_USER:-onestop}"
export ONESTOP_PG_DBNAME="${ONESTOP_PG_DBNAME:-onestop}"
export ONESTOP_PG_MANAGED="${ONESTOP_PG_MANAGED:-true}"
export ONESTOP_KAFKA_HOST="${ONESTOP_KAFKA_HOST:-127.0.0.1}"
export ONESTOP_KAFKA_PORT="${ONESTOP_KAFKA_PORT:-9092}"
export ONESTOP_KAFKA_CONTROLLER_PORT="${ONESTOP_KAFKA_CONTROLLER_PORT:-9093}"
export ONESTOP_KAFKA_MANAGED="${ONESTOP_KAFKA_MANAGED:-true}"

for flag in ONESTOP_PG_MANAGED ONESTOP_KAFKA_MANAGED; do
  [[ ${!flag} == true || ${!flag} == false ]] || die "$flag must be true or false, got '${!flag}'"
done
unset flag
# The managed cluster's Unix socket, which the services use when the server is on this host
# (Settings.pg_address); named here so that a bench or an experiment with a run folder of
# its own still finds it.
if [[ $ONESTOP_PG_MANAGED == true ]]; then
  export ONESTOP_PG_SOCKET_DIR="${ONESTOP_PG_SOCKET_DIR:-$RUN_DIR/postgres}"
fi

# wait_for_port HOST PORT TIMEOUT_SECONDS: succeeds once a TCP connect works.
wait_for_port() {
  local deadline=$((SECONDS + $3))
  # shellcheck disable=SC2016 # $0 and $1 expand in the inner bash
  until timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# Runs apt-get install for the given packages (after an apt-get update).
apt_install() {
  [[ $EUID -eq 0 ]] || die "installing $* needs root"
  log "apt-get install $*"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
