#!/usr/bin/env bash
# make bench: Reverb's five benchmarks with fixed parameters (about 3 minutes on 2 cores, after the build).
# Needs the release binaries (`cargo build --release --workspace --bins`; `make bench` builds them).
# Arguments, when given, pick benchmarks by name: `scripts/bench.sh slow-clients footprint`.
# Every load goes to 127.0.0.1. Results: a table per benchmark on stdout, JSON in bench-results/,
# and a summary of every target at the end. See docs/benchmarks.md.
#
# Exit status: non-zero when a benchmark could not run; unmet targets are reported, and fail
# the script only with BENCH_STRICT=1.
set -uo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
bench="$target_dir/release/reverb-bench"
for bin in reverb reverb-bench; do
    if [[ ! -x "$target_dir/release/$bin" ]]; then
        echo "bench.sh: $target_dir/release/$bin is missing; run 'make bench' (or cargo build --release --workspace --bins)" >&2
        exit 2
    fi
done

out=bench-results
mkdir -p "$out"
rm -f "$out"/*.json

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
started=$(date +%s)
failed=()
selected=("$@")
run() {
    if (( ${#selected[@]} > 0 )) && [[ ! " ${selected[*]} " == *" $1 "* ]]; then
        return
    fi
    echo
    echo "== reverb-bench $*"
    if ! "$bench" --out-dir "$out" "$@"; then
        failed+=("$1")
    fi
}

run outbox-makespan --messages 600 --channels 20 --rate 1 --burst 3 --hot 60 \
    --unlimited-messages 5000 --store-messages 10000 --connections 4
run events --rate 1000 --fixed-secs 10 --fixed-connections 64 --max-secs 5 --connections 32 --warmup-secs 1
run callback-ack --clicks 200 --rounds 3 --orca-delay-ms 2000
run footprint --starts 10 --idle-secs 3 --notifications 10000 --channels 20 --connections 4
run slow-clients --connections 50 --body-bytes 16777216 --body-timeout-secs 10 --health-rate 100 --event-rate 50

echo
"$bench" --out-dir "$out" summary
targets_met=$?
echo
echo "bench.sh: finished in $(( $(date +%s) - started )) s; load average now $(cut -d' ' -f1-3 /proc/loadavg); JSON in $out/"

if (( ${#failed[@]} > 0 )); then
    echo "bench.sh: could not run: ${failed[*]}" >&2
    exit 1
fi
if [[ "${BENCH_STRICT:-0}" == 1 && $targets_met -ne 0 ]]; then
    echo "bench.sh: some targets are not met (BENCH_STRICT=1)" >&2
    exit 1
fi
