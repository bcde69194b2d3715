#!/usr/bin/env bash
# `make run` / `make demo`: Reverb with a local Slack and Orca stand-in (reverb-sandbox), so the
# whole SlackOps loop can be tried in a browser without a Slack workspace or a Spinnaker.
# Expects `cargo build --workspace --bins` to have run (the Makefile does that first).
#
# Ports: REVERB_LOCAL_PORT (8089), REVERB_LOCAL_SLACK_PORT (9101), REVERB_LOCAL_ORCA_PORT (9102),
# REVERB_LOCAL_FIAT_PORT (9103; Reverb checks every judgment with this fake Fiat).
# REVERB_SANDBOX_SIGNING_SECRET: the Slack signing secret both sides share (a demo value).
# REVERB_LOCAL_DATA_DIR: Reverb's store and the logs (data/local; wiped on start, because the
# sandbox starts empty every time). Ctrl-C stops everything.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/local-stack.sh
source scripts/lib/local-stack.sh

STACK_REVERB_PORT="${REVERB_LOCAL_PORT:-8089}"
STACK_SLACK_PORT="${REVERB_LOCAL_SLACK_PORT:-9101}"
STACK_ORCA_PORT="${REVERB_LOCAL_ORCA_PORT:-9102}"
STACK_FIAT_PORT="${REVERB_LOCAL_FIAT_PORT:-9103}"
STACK_DATA_DIR="${REVERB_LOCAL_DATA_DIR:-data/local}"
STACK_SECRET="${REVERB_SANDBOX_SIGNING_SECRET:-sandbox-signing-secret}"
STACK_BIN_DIR="${CARGO_TARGET_DIR:-target}/debug"

stopping=0
shutdown() {
  ((stopping)) && return
  stopping=1
  if [[ -n "$STACK_SANDBOX_PID$STACK_REVERB_PID" ]]; then
    echo
    echo "Stopping Reverb and the sandbox…"
  fi
  stack_stop
}
trap shutdown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stack_start
echo "Starting the sandbox and Reverb (logs in $STACK_DATA_DIR/)…"
stack_wait_healthy 60

pipeline=$(stack_start_pipeline || true)
if [[ -n "$pipeline" ]]; then
  next="Sample pipeline $pipeline is waiting for a judgment: pick a user on the Slack page and click Approve or Reject."
else
  next="Could not start the sample pipeline; use the Start pipeline button on the Orca page."
fi

cat <<MSG

Reverb and its sandbox are running.

  Slack (sandbox)      $STACK_SLACK_URL/    manual judgments wait in #deploy-approvals
  Orca/Deck (sandbox)  $STACK_ORCA_URL/    start pipelines, judge from "Deck"
  Fiat (sandbox)       $STACK_FIAT_URL/_sandbox/users    who may judge: jane and john (release-managers)
  Reverb health        $STACK_REVERB_URL/health
  Reverb metrics       $STACK_REVERB_URL/metrics
  Logs                 $STACK_DATA_DIR/reverb.log, $STACK_DATA_DIR/sandbox.log

$next
Press Ctrl-C to stop.
MSG

# Until Ctrl-C, or until either process ends on its own (then stop the other one too).
status=0
wait -n "$STACK_SANDBOX_PID" "$STACK_REVERB_PID" || status=$?
echo "A process stopped on its own (exit $status); see $STACK_DATA_DIR/*.log" >&2
exit 1
