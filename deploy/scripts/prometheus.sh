#!/usr/bin/env bash
# Prometheus for OneStop: prometheus.sh {install|start|stop|status}
# Debian's package (server and promtool); a server the project owns, state in
# $RUN_DIR/prometheus, scraping the three services, with OneStop's recording and alert rules
# (deploy/prometheus/rules) and console (deploy/prometheus/consoles). ONESTOP_PROMETHEUS_MANAGED
# =false: nothing is started (point your own Prometheus at the services' /metrics).
set -euo pipefail
LOG_TAG=prometheus
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

export ONESTOP_PROMETHEUS_PORT="${ONESTOP_PROMETHEUS_PORT:-9090}"
export ONESTOP_PROMETHEUS_MANAGED="${ONESTOP_PROMETHEUS_MANAGED:-true}"
P_DIR="$RUN_DIR/prometheus"
CONFIG="$P_DIR/prometheus.yml"
PID_FILE="$P_DIR/prometheus.pid"
HOST=127.0.0.1
ADDR="$HOST:$ONESTOP_PROMETHEUS_PORT"
CONSOLES="$ROOT/deploy/prometheus/consoles"

running_pid() {
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 0
  # a zombie or another program that got the pid is not ours
  if [[ $pid =~ ^[0-9]+$ ]] && [[ $(ps -o stat= -p "$pid" 2>/dev/null) != Z* ]] &&
    grep -qzxF -- "--config.file=$CONFIG" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "$pid"
  fi
}

answers() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$ONESTOP_PROMETHEUS_PORT && printf 'GET /-/ready HTTP/1.0\r\n\r\n' >&3 && grep -q ' 200 ' <&3" 2>/dev/null; }

cmd_install() {
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    log "found $(prometheus --version 2>&1 | head -n1)"
    return
  fi
  apt_install prometheus
  log "installed $(prometheus --version 2>&1 | head -n1)"
}

render_config() {
  mkdir -p "$P_DIR"
  cat >"$CONFIG.tmp" <<YAML
# Written by deploy/scripts/prometheus.sh from the ONESTOP_* settings; edit the script.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $ROOT/deploy/prometheus/rules/*.yml
scrape_configs:
  - job_name: onestop-intake
    static_configs: [{targets: ["127.0.0.1:${ONESTOP_INTAKE_PORT:-8001}"], labels: {service: intake}}]
  - job_name: onestop-routing
    static_configs: [{targets: ["127.0.0.1:${ONESTOP_ROUTING_PORT:-8002}"], labels: {service: routing}}]
  - job_name: onestop-followup
    static_configs: [{targets: ["127.0.0.1:${ONESTOP_FOLLOWUP_PORT:-8003}"], labels: {service: followup}}]
  - job_name: prometheus
    static_configs: [{targets: ["$ADDR"]}]
YAML
  promtool check config "$CONFIG.tmp" >/dev/null || die "the generated $CONFIG.tmp does not check"
  mv "$CONFIG.tmp" "$CONFIG"
}

cmd_start() {
  if [[ $ONESTOP_PROMETHEUS_MANAGED == false ]]; then log "ONESTOP_PROMETHEUS_MANAGED=false: not starting"; return; fi
  command -v prometheus >/dev/null || die "Prometheus is not installed: run '$0 install'"
  render_config
  local pid
  pid=$(running_pid)
  if [[ -n $pid ]]; then
    kill -HUP "$pid" # the configuration and the rules as they are now
    log "already running at http://$ADDR (pid $pid); configuration reloaded"
    return
  fi
  ! wait_for_port "$HOST" "$ONESTOP_PROMETHEUS_PORT" 0 || die "$ADDR is already taken by another process"
  mkdir -p "$P_DIR/data" "$LOG_DIR"
  setsid nohup prometheus --config.file="$CONFIG" --storage.tsdb.path="$P_DIR/data" \
    --storage.tsdb.retention.time=15d --web.listen-address="$ADDR" --web.enable-lifecycle \
    --web.console.templates="$ROOT/deploy/prometheus/consoles" --web.console.libraries="$CONSOLES" \
    >>"$LOG_DIR/prometheus.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PID_FILE"
  local deadline=$((SECONDS + 30))
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      tail -n 20 "$LOG_DIR/prometheus.log" >&2
      die "Prometheus did not become ready on $ADDR"
    fi
    sleep 0.3
  done
  log "running at http://$ADDR (pid $pid)"
}

cmd_stop() {
  local pid
  pid=$(running_pid)
  if [[ -z $pid ]]; then rm -f "$PID_FILE"; log "already stopped"; return; fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.3; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  pid=$(running_pid)
  if [[ -n $pid ]]; then log "running at http://$ADDR (pid $pid)"; else log "stopped"; fi
}

case "${1:-}" in
  install | start | stop | status) "cmd_$1" ;;
  *) die "usage: $0 {install|start|stop|status}" ;;
esac
