#!/usr/bin/env bash
# Kafka for OneStop: kafka.sh {install|start|stop|status}
# Managed (default): a single-node KRaft broker built from Maven Central jars, state in
# $RUN_DIR/kafka. ONESTOP_KAFKA_MANAGED=false: the broker at ONESTOP_KAFKA_HOST:PORT is
# only checked to answer.
set -euo pipefail
LOG_TAG=kafka
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

POM="$ROOT/deploy/kafka/pom.xml"
K_DIR="$RUN_DIR/kafka"
LIB="$K_DIR/lib"
DATA="$K_DIR/data"
PROPS="$K_DIR/server.properties"
PID_FILE="$K_DIR/kafka.pid"
CLUSTER_ID_FILE="$K_DIR/cluster.id"
ADDR="$ONESTOP_KAFKA_HOST:$ONESTOP_KAFKA_PORT"
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
# The install marker holds the version and the pom's checksum: editing the pom reinstalls.
STAMP="$VERSION $(sha256sum "$POM" | cut -c1-16)"
START_TIMEOUT=90
STOP_TIMEOUT=30

installed() { [[ -f $LIB/.complete && $(<"$LIB/.complete") == "$STAMP" ]]; }

# Prints the broker pid if the pid file names a live broker of this RUN_DIR.
running_pid() {
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 0
  if [[ $pid =~ ^[0-9]+$ ]] && grep -qzxF -- "$PROPS" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "$pid"
  fi
}

# True when a Kafka broker answers an ApiVersions (v0) request: it is serving clients,
# not merely listening. Reads the response header and checks the correlation id.
answers() {
  # shellcheck disable=SC2016 # $0 and $1 expand in the inner bash
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1"
    printf "\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x2a\xff\xff" >&3
    [[ $(head -c 8 <&3 | od -An -tx1 | tr -d " \n") == ????????0000002a ]]
  ' "$1" "$2" 2>/dev/null
}

java_tool() { java -Xmx256m -cp "$LIB/*" "$@"; }

cmd_install() {
  if [[ $ONESTOP_KAFKA_MANAGED == false ]]; then log "ONESTOP_KAFKA_MANAGED=false: nothing to install"; return; fi
  if installed; then log "Kafka $VERSION already installed in $LIB"; return; fi
  [[ -z $(running_pid) ]] || die "stop the running broker before reinstalling: $0 stop"
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    apt_install default-jre-headless maven
  fi
  local major
  major=$(java -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')
  ((${major:-0} >= 17)) || die "Kafka $VERSION needs Java 17 or newer; java is $(java -version 2>&1 | head -n1)"
  log "fetching Kafka $VERSION jars with Maven into $LIB"
  rm -rf "$LIB.tmp"
  mkdir -p "$LOG_DIR"
  mvn -B -q -f "$POM" org.apache.maven.plugins:maven-dependency-plugin:3.7.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIB.tmp" >"$LOG_DIR/kafka-install.log" 2>&1 || {
    sed 's/\x1b\[[0-9;]*m//g' "$LOG_DIR/kafka-install.log" | tail -n 30 >&2
    die "Maven could not fetch the Kafka jars (full output: $LOG_DIR/kafka-install.log)"
  }
  echo "$STAMP" >"$LIB.tmp/.complete"
  rm -rf "$LIB"
  mv "$LIB.tmp" "$LIB"
  log "installed Kafka $VERSION ($(find "$LIB" -name '*.jar' | wc -l) jars)"
}

# Renders server.properties (mode 600: it holds the operator's password) into $PROPS.next.
render_config() {
  [[ -n ${ONESTOP_KAFKA_ADMIN_PASSWORD:-} ]] ||
    die "ONESTOP_KAFKA_ADMIN_PASSWORD is not set: run deploy/scripts/secrets.sh"
  [[ $ONESTOP_KAFKA_ADMIN_PASSWORD =~ ^[A-Za-z0-9_-]+$ ]] ||
    die "ONESTOP_KAFKA_ADMIN_PASSWORD may hold only letters, digits, - and _"
  (umask 077 && sed -e "s|@KAFKA_HOST@|$ONESTOP_KAFKA_HOST|g" -e "s|@KAFKA_PORT@|$ONESTOP_KAFKA_PORT|g" \
    -e "s|@CONTROLLER_PORT@|$ONESTOP_KAFKA_CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$DATA|g" \
    -e "s|@ADMIN_USER@|${ONESTOP_KAFKA_ADMIN_USER:-onestop-admin}|g" \
    -e "s|@ADMIN_PASSWORD@|$ONESTOP_KAFKA_ADMIN_PASSWORD|g" \
    "$ROOT/deploy/kafka/server.properties.template" >"$PROPS.next")
}

# The services' principals, the topics and the ACLs (shared/kafka_access.py), as the operator.
provision() {
  log "provisioning the services' users, topics and ACLs"
  (cd "$ROOT" && ONESTOP_KAFKA_BOOTSTRAP="$ADDR" "$ROOT/.venv/bin/onestop" kafka provision) ||
    die "could not provision the broker on $ADDR"
}

format_storage() {
  [[ ! -f $DATA/meta.properties ]] || return 0
  if [[ ! -s $CLUSTER_ID_FILE ]]; then
    java_tool kafka.tools.StorageTool random-uuid >"$CLUSTER_ID_FILE.tmp"
    mv "$CLUSTER_ID_FILE.tmp" "$CLUSTER_ID_FILE"
  fi
  log "formatting $DATA (cluster id $(<"$CLUSTER_ID_FILE"))"
  java_tool kafka.tools.StorageTool format -t "$(<"$CLUSTER_ID_FILE")" -c "$PROPS" --ignore-formatted \
    >>"$LOG_DIR/kafka.out" 2>&1 || { tail -n 20 "$LOG_DIR/kafka.out" >&2; die "StorageTool format failed"; }
}

launch() {
  log "starting on $ADDR (logs: $LOG_DIR/kafka.log, $LOG_DIR/kafka.out)"
  cd "$K_DIR" # JVM crash files land here
  setsid nohup java -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.xml" \
    -Dkafka.logs.dir="$LOG_DIR" -Dkafka.console.level=WARN \
    -cp "$LIB/*" kafka.Kafka "$PROPS" >>"$LOG_DIR/kafka.out" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PID_FILE"

  local deadline=$((SECONDS + START_TIMEOUT))
  until answers "$ONESTOP_KAFKA_HOST" "$ONESTOP_KAFKA_PORT"; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      tail -n 20 "$LOG_DIR/kafka.log" "$LOG_DIR/kafka.out" >&2 2>/dev/null || true
      kill -0 "$pid" 2>/dev/null && die "broker (pid $pid) did not answer on $ADDR within ${START_TIMEOUT}s"
      rm -f "$PID_FILE"
      die "broker exited during startup"
    fi
    sleep 0.5
  done
  log "running on $ADDR (pid $pid)"
}

cmd_start() {
  if [[ $ONESTOP_KAFKA_MANAGED == false ]]; then
    answers "$ONESTOP_KAFKA_HOST" "$ONESTOP_KAFKA_PORT" ||
      die "no Kafka broker answering on $ADDR (ONESTOP_KAFKA_MANAGED=false)"
    log "external broker on $ADDR answers"
    return
  fi
  installed || die "Kafka $VERSION is not installed: run '$0 install'"
  mkdir -p "$DATA" "$LOG_DIR"
  render_config
  local pid
  pid=$(running_pid)
  if [[ -n $pid ]] && cmp -s "$PROPS.next" "$PROPS"; then
    rm -f "$PROPS.next"
    log "already running on $ADDR (pid $pid)"
    provision
    return
  fi
  # A broker started from an older configuration (e.g. before it demanded authentication)
  # is restarted on the new one; its data stays.
  if [[ -n $pid ]]; then log "its configuration changed: restarting"; cmd_stop; fi
  mv "$PROPS.next" "$PROPS"
  for port in "$ONESTOP_KAFKA_PORT" "$ONESTOP_KAFKA_CONTROLLER_PORT"; do
    ! wait_for_port "$ONESTOP_KAFKA_HOST" "$port" 0 ||
      die "$ONESTOP_KAFKA_HOST:$port is already taken by another process"
  done
  format_storage
  launch
  provision
}

cmd_stop() {
  if [[ $ONESTOP_KAFKA_MANAGED == false ]]; then log "ONESTOP_KAFKA_MANAGED=false: not stopping $ADDR"; return; fi
  local pid
  pid=$(running_pid)
  if [[ -z $pid ]]; then rm -f "$PID_FILE"; log "already stopped"; return; fi
  log "stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done # ports freed
      break
    fi
    sleep 0.5
  done
  rm -f "$PID_FILE"
  log "stopped"
}

# One line; exits 0 either way so that a status overview goes on to the next component.
cmd_status() {
  local pid state
  if answers "$ONESTOP_KAFKA_HOST" "$ONESTOP_KAFKA_PORT"; then state="answering"; else state="not answering"; fi
  if [[ $ONESTOP_KAFKA_MANAGED == false ]]; then log "external broker on $ADDR $state"; return; fi
  pid=$(running_pid)
  if [[ -n $pid ]]; then log "running on $ADDR (pid $pid), $state"; else log "stopped"; fi
}

case "${1:-}" in
  install | start | stop | status) "cmd_$1" ;;
  *) die "usage: $0 {install|start|stop|status}" ;;
esac
