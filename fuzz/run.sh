#!/usr/bin/env bash
# Run every fuzz target for SECONDS each under libFuzzer (cargo-fuzz, nightly), two at a time on
# a 2-core machine (JOBS to change), with overflow checks on. Corpora grow in fuzz/corpus/<target>,
# crashes land in fuzz/artifacts/<target>, logs in fuzz/logs. Prints each target's executions.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
JOBS=${JOBS:-2}
TARGETS=${TARGETS:-"elf_core minidump buildinfo pclntab dwarf process"}
# Seeds from the committed fixtures (a normal build: before the fuzzing flags are set).
(cd .. && GOMORTEM_SEEDS_DIR=fuzz/corpus cargo test --release --test fuzz_seeds write_seeds -- --ignored --quiet >/dev/null)
export RUSTFLAGS="${RUSTFLAGS:-} -C overflow-checks=on"
cargo +nightly fuzz build --sanitizer none --release --debug-assertions
mkdir -p logs
run_one() {
    t=$1
    mkdir -p "artifacts/$t"
    # -fork=1 -ignore_crashes=1: a crash is saved in artifacts/ and the fuzzing goes on.
    # -rss_limit_mb: the process target's clean run peaks at 213 MB (the 55 MB dump held twice,
    # the executable, the analysis): a mutated dump may take at most twice that (issue 14).
    rss=2048
    [ "$t" = process ] && rss=430
    cargo +nightly fuzz run --sanitizer none --release --debug-assertions "$t" "corpus/$t" -- \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$SECONDS_EACH" -timeout=60 -rss_limit_mb=$rss \
        -artifact_prefix="artifacts/$t/" >"logs/$t.log" 2>&1 || true
    # The fork mode's status lines: "#<executions>: cov: …".
    execs=$(grep -ao '^#[0-9]*: cov' "logs/$t.log" | tail -n 1 | tr -dc '0-9' || true)
    crashes=$(find "artifacts/$t" -name 'crash-*' | wc -l)
    ooms=$(find "artifacts/$t" -name 'oom-*' | wc -l)
    timeouts=$(find "artifacts/$t" -name 'timeout-*' | wc -l)
    echo "$t: ${SECONDS_EACH} s, $execs executions, $crashes crashes, $ooms over the memory limit, $timeouts timeouts (logs/$t.log)"
}
export -f run_one
export SECONDS_EACH
printf '%s\n' $TARGETS | xargs -P "$JOBS" -I{} bash -c 'run_one {}'
