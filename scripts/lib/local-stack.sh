# shellcheck shell=bash
# Starting and stopping the local stack: the sandbox (fake Slack + fake Orca + fake Fiat) and
# Reverb, wired to each other. Sourced by scripts/run-local.sh and scripts/browser-test.sh.
#
# Inputs (set before calling stack_start):
#   STACK_SLACK_PORT, STACK_ORCA_PORT, STACK_REVERB_PORT  ports on 127.0.0.1
#   STACK_FIAT_PORT     the fake Fiat's port (default REVERB_LOCAL_FIAT_PORT, else 9103)
#   STACK_DATA_DIR      Reverb's store and both logs go here (wiped on start)
#   STACK_SECRET        the Slack signing secret the sandbox signs with and Reverb checks
#   STACK_BIN_DIR       where reverb and reverb-sandbox were built (default target/debug)
# Outputs: STACK_SANDBOX_PID, STACK_REVERB_PID, STACK_SLACK_URL, STACK_ORCA_URL, STACK_REVERB_URL,
#   STACK_FIAT_URL (exported; the fake Orca already checks permissions with that Fiat).

STACK_SANDBOX_PID=""
STACK_REVERB_PID=""

stack_log() { printf '%s\n' "$*" >&2; }

stack_require() {
  local bin
  for bin in "$STACK_BIN_DIR/reverb" "$STACK_BIN_DIR/reverb-sandbox"; do
    if [[ ! -x "$bin" ]]; then
      stack_log "missing $bin: build first with 'cargo build --workspace --bins' (make build)"
      return 1
    fi
  done
  if ! command -v curl >/dev/null 2>&1; then
    stack_log "curl is needed to check the services (apt-get install curl)"
    return 1
  fi
}

# True when something already listens on 127.0.0.1:$1.
stack_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# HTTP status of GET $1, or 000 when nothing answers.
stack_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}

stack_start() {
  STACK_BIN_DIR="${STACK_BIN_DIR:-target/debug}"
  stack_require || return 1
  STACK_FIAT_PORT="${STACK_FIAT_PORT:-${REVERB_LOCAL_FIAT_PORT:-9103}}"
  local port
  for port in "$STACK_SLACK_PORT" "$STACK_ORCA_PORT" "$STACK_FIAT_PORT" "$STACK_REVERB_PORT"; do
    if stack_port_busy "$port"; then
      stack_log "port $port on 127.0.0.1 is already in use; pick others with the port variables"
      return 1
    fi
  done
  rm -rf "$STACK_DATA_DIR"
  mkdir -p "$STACK_DATA_DIR"
  STACK_SLACK_URL="http://127.0.0.1:$STACK_SLACK_PORT"
  STACK_ORCA_URL="http://127.0.0.1:$STACK_ORCA_PORT"
  export STACK_FIAT_URL="http://127.0.0.1:$STACK_FIAT_PORT"
  STACK_REVERB_URL="http://127.0.0.1:$STACK_REVERB_PORT"

  REVERB_SANDBOX_SIGNING_SECRET="$STACK_SECRET" RUST_LOG="${RUST_LOG:-info}" \
    "$STACK_BIN_DIR/reverb-sandbox" \
    --slack-addr "127.0.0.1:$STACK_SLACK_PORT" \
    --orca-addr "127.0.0.1:$STACK_ORCA_PORT" \
    --fiat-addr "127.0.0.1:$STACK_FIAT_PORT" \
    --reverb-url "$STACK_REVERB_URL" \
    >"$STACK_DATA_DIR/sandbox.log" 2>&1 &
  STACK_SANDBOX_PID=$!

  # Only config/local and the variables below configure this Reverb: REVERB_CONFIG_DIR would be
  # read after config/local, and a non-local profile would skip echo-local.yml.
  env -u REVERB_CONFIG_DIR \
    SPRING_PROFILES_ACTIVE=local \
    REVERB_LOCAL_PORT="$STACK_REVERB_PORT" \
    REVERB_LOCAL_SLACK_PORT="$STACK_SLACK_PORT" \
    REVERB_LOCAL_ORCA_PORT="$STACK_ORCA_PORT" \
    REVERB_LOCAL_FIAT_PORT="$STACK_FIAT_PORT" \
    REVERB_LOCAL_DATA_DIR="$STACK_DATA_DIR" \
    REVERB_SANDBOX_SIGNING_SECRET="$STACK_SECRET" \
    "$STACK_BIN_DIR/reverb" --config-dir config/local \
    >"$STACK_DATA_DIR/reverb.log" 2>&1 &
  STACK_REVERB_PID=$!
}

# Waits (up to $1 seconds, default 60) until the fake Slack, Orca and Fiat and Reverb answer.
stack_wait_healthy() {
  local deadline=$((SECONDS + ${1:-60}))
  local -a pending=("$STACK_SLACK_URL/_sandbox/stats" "$STACK_ORCA_URL/health" "$STACK_FIAT_URL/health" "$STACK_REVERB_URL/health")
  while ((${#pending[@]} > 0)); do
    local -a still=()
    local url
    for url in "${pending[@]}"; do
      [[ "$(stack_status "$url")" == 200 ]] || still+=("$url")
    done
    pending=("${still[@]}")
    ((${#pending[@]} == 0)) && return 0
    if ! kill -0 "$STACK_SANDBOX_PID" 2>/dev/null; then
      stack_log "reverb-sandbox exited; its log ($STACK_DATA_DIR/sandbox.log):"
      tail -n 20 "$STACK_DATA_DIR/sandbox.log" >&2
      return 1
    fi
    if ! kill -0 "$STACK_REVERB_PID" 2>/dev/null; then
      stack_log "reverb exited; its log ($STACK_DATA_DIR/reverb.log):"
      tail -n 20 "$STACK_DATA_DIR/reverb.log" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      stack_log "not healthy in time: ${pending[*]}"
      return 1
    fi
    sleep 0.2
  done
}

# Starts a sample pipeline on the fake Orca; prints its execution id. $1: optional JSON body.
stack_start_pipeline() {
  local body="${1:-}" answer
  [[ -n "$body" ]] || body='{}'
  answer=$(curl -s --max-time 60 -X POST -H 'Content-Type: application/json' \
    -d "$body" "$STACK_ORCA_URL/_sandbox/pipelines") || return 1
  # {"id":"01…"}: the id is the only string value.
  sed -n 's/.*"id":"\([0-9A-Z]*\)".*/\1/p' <<<"$answer"
}

# Stops what stack_start started (only those two processes) and waits for them.
# Safe under `set -e`: a process that is already gone, or that ends by the signal, is no error.
stack_stop() {
  local pid
  for pid in "$STACK_REVERB_PID" "$STACK_SANDBOX_PID"; do
    if [[ -n "$pid" ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "$STACK_REVERB_PID" "$STACK_SANDBOX_PID"; do
    if [[ -n "$pid" ]]; then wait "$pid" 2>/dev/null || true; fi
  done
  STACK_REVERB_PID=""
  STACK_SANDBOX_PID=""
  return 0
}
