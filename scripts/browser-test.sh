#!/usr/bin/env bash
# The SlackOps loop in headless Chromium: starts the sandbox and Reverb on free ports (as
# run-local.sh does, with a throwaway store) and runs tests/browser/test_slackops.py.
# Builds nothing: run `cargo build --workspace --bins` first.
#
# Needs: python3 (standard library only), chromium and chromium-driver (Debian packages:
# /usr/bin/chromium, /usr/bin/chromedriver; override with CHROMIUM / CHROMEDRIVER), curl.
# Screenshots: target/browser-screenshots/<run>/, and copied to docs/img/ unless
# BROWSER_TEST_DOC_SCREENSHOTS=0. Extra arguments go to the test (e.g. --only approve_in_slack).
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/local-stack.sh
source scripts/lib/local-stack.sh

fail() {
  echo "browser test: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
[[ -x "$CHROMIUM" ]] || fail "no Chromium at $CHROMIUM (apt-get install chromium chromium-driver)"
[[ -x "$CHROMEDRIVER" ]] || fail "no chromedriver at $CHROMEDRIVER (apt-get install chromium-driver)"
command -v python3 >/dev/null 2>&1 || fail "python3 is needed"

free_ports() {
  python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()'
}
read -r STACK_SLACK_PORT STACK_ORCA_PORT STACK_REVERB_PORT STACK_FIAT_PORT < <(free_ports)
STACK_DATA_DIR="$(mktemp -d -t reverb-browser-test-XXXXXX)"
STACK_SECRET="browser-test-secret-$RANDOM$RANDOM"
STACK_BIN_DIR="${CARGO_TARGET_DIR:-target}/debug"
RUN_DIR="${CARGO_TARGET_DIR:-target}/browser-screenshots/$(date +%Y%m%d-%H%M%S)"
DOCS_DIR="docs/img"
[[ "${BROWSER_TEST_DOC_SCREENSHOTS:-1}" == 0 ]] && DOCS_DIR=""
mkdir -p "$RUN_DIR"

cleanup() {
  stack_stop
  # Keep the services' logs next to the screenshots, then drop the throwaway store.
  cp "$STACK_DATA_DIR"/*.log "$RUN_DIR"/ 2>/dev/null || true
  rm -rf "$STACK_DATA_DIR"
}
trap cleanup EXIT

stack_start || fail "could not start the sandbox and Reverb"
stack_wait_healthy 60 || fail "the sandbox or Reverb did not become healthy"
echo "sandbox Slack $STACK_SLACK_URL, Orca $STACK_ORCA_URL, Reverb $STACK_REVERB_URL; run folder $RUN_DIR"

status=0
python3 tests/browser/test_slackops.py \
  --slack "$STACK_SLACK_URL" --orca "$STACK_ORCA_URL" \
  --run-dir "$RUN_DIR" --docs-dir "$DOCS_DIR" \
  --chromium "$CHROMIUM" --chromedriver "$CHROMEDRIVER" "$@" || status=$?
exit "$status"
