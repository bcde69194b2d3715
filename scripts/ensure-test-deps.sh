#!/usr/bin/env bash
# Installs what `make test` needs beyond the Rust toolchain, when it is missing:
#   prometheus + promtool (metrics lint, scrape test), chromium + chromedriver (browser test),
#   python3-venv (chart tests). Debian packages; needs root (CI and our machines run as root).
#   cargo-nextest and cargo-deny (`make deny`) come from crates.io with `cargo install`.
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fc-list 2>/dev/null | grep -qi "noto color emoji" || need+=(fonts-noto-color-emoji)
command -v curl >/dev/null 2>&1 || need+=(curl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
# 0.20.2 needs rustc >= 1.88 and builds with the 1.95 toolchain CI uses (rust-toolchain.toml).
cargo deny --version >/dev/null 2>&1 || cargo install cargo-deny --locked --version 0.20.2

if [[ ${#need[@]} -eq 0 ]]; then
  exit 0
fi
# De-duplicate.
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if [[ $(id -u) -ne 0 ]]; then
  echo "ensure-test-deps: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
  exit 1
fi
echo "ensure-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
