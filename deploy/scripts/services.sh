#!/usr/bin/env bash
# services.sh {start|stop|status} [service…] — the three OneStop services as background
# processes, each with its HTTP API, relay and consumer, and the console (the staff's and
# petitioners' web pages, on the services' APIs). Logs in var/log/<service>.log.
set -euo pipefail
LOG_TAG=services
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

export ONESTOP_RUN_DIR="$RUN_DIR"
export ONESTOP_KAFKA_BOOTSTRAP="${ONESTOP_KAFKA_BOOTSTRAP:-$ONESTOP_KAFKA_HOST:$ONESTOP_KAFKA_PORT}"
declare -A PORTS=(
  [intake]="${ONESTOP_INTAKE_PORT:-8001}"
  [routing]="${ONESTOP_ROUTING_PORT:-8002}"
  [followup]="${ONESTOP_FOLLOWUP_PORT:-8003}"
  [console]="${ONESTOP_CONSOLE_PORT:-8004}"
)
host="${ONESTOP_HTTP_HOST:-127.0.0.1}"
[[ $host == 0.0.0.0 ]] && host=127.0.0.1
command=${1:-status}
shift || true
services=("$@")
((${#services[@]})) || services=(intake routing followup console)

# The pid of the running service: the pid file names a live process (not a zombie left by a
# crash) whose command line is this service's, so a reused pid is not mistaken for it.
pid_of() {
  local file="$RUN_DIR/run/$1.pid" pid
  pid=$(cat "$file" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(ps -o stat= -p "$pid" 2>/dev/null) =~ ^[^Z] ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "serve $1 *$" || return 1
  echo "$pid"
}

start() {
  local name=$1 port=${PORTS[$1]} pid
  mkdir -p "$RUN_DIR/run" "$LOG_DIR"
  if pid=$(pid_of "$name"); then
    log "$name already running (pid $pid, port $port)"
  else
    log "starting $name on $host:$port"
    cd "$ROOT"
    setsid nohup "$ROOT/.venv/bin/onestop" serve "$name" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/run/$name.pid"
  fi
}

wait_ready() {
  local name=$1 url="http://$host:${PORTS[$1]}/health/ready" deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if ! pid_of "$name" >/dev/null; then
      tail -n 30 "$LOG_DIR/$name.log" >&2 || true
      die "$name exited while starting; its log is above ($LOG_DIR/$name.log)"
    fi
    ((SECONDS < deadline)) || die "$name not ready after 60 s: $(curl -sS "$url" 2>&1 | head -c 500)"
    sleep 0.3
  done
  log "$name ready at http://$host:${PORTS[$name]}"
}

stop() {
  local name=$1 pid
  if ! pid=$(pid_of "$name"); then
    log "$name not running"
    rm -f "$RUN_DIR/run/$name.pid"
    return
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { log "$name did not stop in 10 s; killing it"; kill -KILL "$pid"; }
  rm -f "$RUN_DIR/run/$name.pid"
}

case $command in
  start)
    for s in "${services[@]}"; do start "$s"; done
    for s in "${services[@]}"; do wait_ready "$s"; done ;;
  stop) for s in "${services[@]}"; do stop "$s"; done ;;
  status)
    for s in "${services[@]}"; do
      if pid=$(pid_of "$s"); then
        state=$(curl -fsS "http://$host:${PORTS[$s]}/health/ready" 2>/dev/null \
          | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["status"], "relay position", (r.get("relay") or {}).get("position"))' 2>/dev/null \
          || echo "not answering")
        log "$s running (pid $pid, port ${PORTS[$s]}): $state"
      else
        log "$s stopped"
      fi
    done ;;
  *) die "usage: services.sh {start|stop|status} [intake|routing|followup|console]…" ;;
esac
