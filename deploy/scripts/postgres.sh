#!/usr/bin/env bash
# PostgreSQL for OneStop: postgres.sh {install|start|stop|status|database NAME}
# Managed (default): a private cluster in $RUN_DIR/postgres run by the `postgres` user.
# ONESTOP_PG_MANAGED=false: the server named by ONESTOP_PG_* is only checked for reachability.
set -euo pipefail
LOG_TAG=postgres
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd / # commands run as `postgres`, which may not be able to read the caller's directory

PG_DIR="$RUN_DIR/postgres" # also the unix socket directory
DATA="$PG_DIR/data"
PG_LOG="$LOG_DIR/postgres.log"
ADDR="$ONESTOP_PG_HOST:$ONESTOP_PG_PORT"

as_pg() { runuser -u postgres -- "$@"; }

# The bin dir of the cluster's major version, else the newest installed one.
pg_bin() {
  local bin
  if [[ -f $DATA/PG_VERSION ]]; then
    bin="/usr/lib/postgresql/$(<"$DATA/PG_VERSION")/bin"
  else
    bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  [[ -n $bin && -x $bin/initdb ]] || return 1
  echo "$bin"
}

require_managed_env() {
  [[ $EUID -eq 0 ]] || die "must run as root (the server runs as the postgres user via runuser)"
  BIN=$(pg_bin) || die "PostgreSQL binaries not found: run '$0 install'"
  id postgres >/dev/null 2>&1 || die "no 'postgres' system user: run '$0 install'"
}

# Prints the postmaster pid, or nothing when the cluster is not running.
running_pid() {
  { as_pg "$BIN/pg_ctl" -D "$DATA" status 2>/dev/null || true; } | sed -n 's/.*(PID: \([0-9]*\)).*/\1/p'
}

# The postgres user needs search (x) permission on every directory above the cluster.
check_traversable() {
  local dir="" part parts
  IFS=/ read -ra parts <<<"${PG_DIR#/}"
  for part in "${parts[@]}"; do
    dir+="/$part"
    as_pg test -x "$dir" ||
      die "user postgres cannot enter $dir ($(stat -c '%A %U:%G' "$dir")); chmod o+x it or set ONESTOP_RUN_DIR elsewhere"
  done
}

write_config() {
  local conf="$DATA/postgresql.conf"
  grep -qx "include_if_exists = 'onestop.conf'" "$conf" ||
    echo "include_if_exists = 'onestop.conf'" >>"$conf"
  as_pg tee "$DATA/onestop.conf" >/dev/null <<EOF
# Written by deploy/scripts/postgres.sh on every start; edit the script, not this file.
listen_addresses = '$ONESTOP_PG_HOST'
port = $ONESTOP_PG_PORT
unix_socket_directories = '$PG_DIR'
max_connections = 200
shared_buffers = 256MB
effective_cache_size = 1GB
work_mem = 4MB
maintenance_work_mem = 64MB
max_worker_processes = 4
max_parallel_workers = 2
max_parallel_workers_per_gather = 1
fsync = on
synchronous_commit = on
full_page_writes = on
# Checkpoints at most every 15 min or 4 GB of WAL (not 5 min or 1 GB): each checkpoint makes
# the next change to every page write the whole page into the WAL again, and under a steady
# flow of cases the default size forced one every ~2 min, with whole pages 70 % of the WAL.
# Those pages are compressed (lz4).
max_wal_size = 4GB
checkpoint_timeout = 15min
wal_compression = lz4
password_encryption = scram-sha-256
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
log_min_duration_statement = 1000
EOF
}

# The services' role may sign in through the Unix socket too, with its password as over TCP
# (the services use the socket when the server is on their host: Settings.pg_address); every
# other local user stays `peer` (the scripts' own psql runs as postgres). Prints "changed"
# when it had to add the line.
write_hba() {
  local hba="$DATA/pg_hba.conf" line="local all $ONESTOP_PG_USER scram-sha-256"
  as_pg grep -qxF "$line" "$hba" && return
  if as_pg grep -q '^local[[:space:]]' "$hba"; then
    as_pg sed -i "0,/^local[[:space:]]/s//$line\n&/" "$hba" # before the first `local` rule
  else
    echo "$line" | as_pg tee -a "$hba" >/dev/null
  fi
  echo changed
}

create_role_and_databases() {
  [[ -n ${ONESTOP_PG_PASSWORD:-} ]] || die "ONESTOP_PG_PASSWORD is not set: run deploy/scripts/secrets.sh"
  # The password travels in the environment and stdin, never on a command line.
  as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$ONESTOP_PG_PORT" -d postgres <<'SQL'
\getenv role ONESTOP_PG_USER
\getenv db ONESTOP_PG_DBNAME
\getenv pw ONESTOP_PG_PASSWORD
SELECT format('CREATE ROLE %I', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', d, :'role')
  FROM unnest(ARRAY[:'db', :'db' || '_test']) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', d, :'role')
  FROM unnest(ARRAY[:'db', :'db' || '_test']) AS d \gexec
SQL
  log "role $ONESTOP_PG_USER owns databases $ONESTOP_PG_DBNAME and ${ONESTOP_PG_DBNAME}_test"
}

# Unmanaged mode: true when the server named by ONESTOP_PG_* accepts connections.
external_ready() {
  local bin
  if bin=$(pg_bin); then PATH="$bin:$PATH"; fi
  command -v pg_isready >/dev/null || die "pg_isready not found: apt-get install postgresql-client"
  pg_isready -q -h "$ONESTOP_PG_HOST" -p "$ONESTOP_PG_PORT" -t 10
}

cmd_install() {
  if [[ $ONESTOP_PG_MANAGED == false ]]; then log "ONESTOP_PG_MANAGED=false: nothing to install"; return; fi
  if BIN=$(pg_bin); then log "found $("$BIN/postgres" --version)"; return; fi
  apt_install postgresql
  BIN=$(pg_bin) || die "apt-get installed postgresql but no initdb was found under /usr/lib/postgresql"
  log "installed $("$BIN/postgres" --version)"
}

cmd_start() {
  if [[ $ONESTOP_PG_MANAGED == false ]]; then
    external_ready || die "no PostgreSQL answering on $ADDR (ONESTOP_PG_MANAGED=false)"
    log "external server on $ADDR accepts connections"
    return
  fi
  require_managed_env
  mkdir -p "$PG_DIR" "$LOG_DIR"
  chown postgres:postgres "$PG_DIR"
  chmod 755 "$PG_DIR"
  check_traversable
  touch "$PG_LOG"
  chown postgres:postgres "$PG_LOG"
  chmod 640 "$PG_LOG"

  if [[ ! -f $DATA/PG_VERSION ]]; then
    log "initdb $DATA"
    as_pg "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=peer --auth-host=scram-sha-256 >>"$PG_LOG"
  fi
  write_config
  local hba
  hba=$(write_hba)

  local pid
  pid=$(running_pid)
  if [[ -n $pid ]]; then
    log "already running (pid $pid); config changes apply on restart"
    if [[ $hba == changed ]]; then
      as_pg "$BIN/pg_ctl" -D "$DATA" reload >/dev/null
      log "$ONESTOP_PG_USER may now sign in through the socket in $PG_DIR (pg_hba.conf reloaded)"
    fi
  else
    log "starting on $ADDR (log: $PG_LOG)"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$PG_LOG" -w -t 60 start >/dev/null || {
      tail -n 20 "$PG_LOG" >&2
      die "server did not start; see $PG_LOG"
    }
  fi
  create_role_and_databases
  log "running on $ADDR (pid $(running_pid))"
}

cmd_stop() {
  if [[ $ONESTOP_PG_MANAGED == false ]]; then log "ONESTOP_PG_MANAGED=false: not stopping $ADDR"; return; fi
  require_managed_env
  if [[ -z $(running_pid) ]]; then log "already stopped"; return; fi
  log "stopping"
  as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  log "stopped"
}

# One line; exits 0 either way so that a status overview goes on to the next component.
cmd_status() {
  if [[ $ONESTOP_PG_MANAGED == false ]]; then
    if external_ready; then log "external server on $ADDR accepts connections"; else log "external server on $ADDR not answering"; fi
    return
  fi
  require_managed_env
  local pid
  pid=$(running_pid)
  if [[ -n $pid ]]; then log "running on $ADDR (pid $pid)"; else log "stopped"; fi
}

# A database of its own for a bench or an experiment, owned by the services' role (which
# may not create databases itself). Unmanaged: it must exist already.
cmd_database() {
  local name=${1:-}
  [[ $name =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "usage: $0 database NAME (lower case, digits, _)"
  if [[ $ONESTOP_PG_MANAGED == false ]]; then
    log "ONESTOP_PG_MANAGED=false: database $name must exist on $ADDR"
    return
  fi
  require_managed_env
  [[ -n $(running_pid) ]] || die "the cluster is not running: run '$0 start'"
  as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -v name="$name" -h "$PG_DIR" -p "$ONESTOP_PG_PORT" -d postgres <<'SQL'
\getenv role ONESTOP_PG_USER
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
SQL
  log "role $ONESTOP_PG_USER owns database $name"
}

case "${1:-}" in
  install | start | stop | status) "cmd_$1" ;;
  database) cmd_database "${2:-}" ;;
  *) die "usage: $0 {install|start|stop|status|database NAME}" ;;
esac
