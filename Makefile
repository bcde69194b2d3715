# Reverb's tasks. `make run` starts Reverb with a local Slack and Orca stand-in; `make test`
# runs everything CI runs.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: build release run demo test test-deps lint deny fmt test-rust test-chart test-browser screenshots bench clean

build:
	$(CARGO) build --workspace --bins

release:
	$(CARGO) build --release --workspace --bins

run demo: build
	scripts/run-local.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Licences, banned crates and sources (deny.toml). Advisories need a network CI does not have.
deny:
	$(CARGO) deny check licenses bans sources

fmt:
	$(CARGO) fmt --all

test-deps:
	scripts/ensure-test-deps.sh

# The end-to-end tests start the real binaries, so build them first.
test-rust: build
	$(CARGO) nextest run --workspace --all-targets --no-fail-fast

test-chart:
	scripts/chart-test.sh

# CI runs keep docs/img/ as committed; `make screenshots` refreshes it.
test-browser: build
	BROWSER_TEST_DOC_SCREENSHOTS=0 scripts/browser-test.sh

screenshots: build
	scripts/browser-test.sh

test: test-deps lint deny test-rust test-chart test-browser

bench: release
	scripts/bench.sh

clean:
	$(CARGO) clean
	rm -rf data bench-results
