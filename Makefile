# Reverb's tasks. `make run` starts Reverb with a local Slack and Orca stand-in; `make test`
# runs everything CI runs.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: build release run demo test lint fmt test-rust test-chart test-metrics bench clean

build:
	$(CARGO) build --workspace --bins

release:
	$(CARGO) build --release --workspace --bins

run demo: build
	scripts/run-local.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

test-rust:
	$(CARGO) nextest run --workspace --all-targets --no-fail-fast

test-chart:
	scripts/chart-test.sh

test-metrics: build
	scripts/check-metrics.sh

test: lint test-rust test-chart test-metrics

bench: release
	scripts/bench.sh

clean:
	$(CARGO) clean
	rm -rf data bench-results
