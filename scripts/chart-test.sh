#!/usr/bin/env bash
# Lint, render and validate charts/reverb without a cluster or a helm binary:
# the Helm SDK comes as a Python wheel (helm-python-sdk). Creates or reuses the
# venv at .venv (about 80 MB downloaded once), then runs pytest on tests/chart.
# promtool (Debian package `prometheus`) is used when installed.
# Extra arguments go to pytest, e.g. scripts/chart-test.sh -k probes
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${VENV:-.venv}"
requirements=tests/chart/requirements.txt
stamp="$venv/.chart-test-requirements"

if [[ ! -x "$venv/bin/python" ]]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
# Install only when the pinned list changed since the last run.
if ! cmp -s "$requirements" "$stamp"; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi

if ! command -v promtool >/dev/null 2>&1; then
  echo "chart-test: promtool not found, alert rule tests will be skipped (apt-get install prometheus)" >&2
fi
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/chart "$@"
