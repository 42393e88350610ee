#!/usr/bin/env bash
# Runs every Cairn fuzz target for SECONDS each, one at a time at low CPU priority, and prints
# per target: executions, executions per second, coverage (libFuzzer's cov/ft) and crashes.
#
#   fuzz/run-all.sh SECONDS [TARGET...]
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags that
# cargo-fuzz passes (sanitizer, coverage instrumentation). Installs cargo-fuzz if missing.
# Builds every target once with `cargo fuzz build`, then starts each built binary exactly as
# `cargo fuzz run TARGET` would (same artifact directory), without rebuilding in between.
# The committed seed corpus (fuzz/corpus/<target>/) is only read; what the fuzzer finds goes
# to fuzz/target/corpus-work/<target>/ (ignored by git). Crash reproducers go to
# fuzz/artifacts/<target>/: fix the bug and commit the file, and the stable replay test
# (tests/tests/fuzz_replay.rs) keeps it fixed. Logs: fuzz/target/logs/<target>.log; the table
# is also written to fuzz/target/results.md. Exits non-zero if any target crashed.
# CAIRN_FUZZ_NO_BUILD=1 reuses the binaries of the previous build (to continue a run on the
# same build).
set -euo pipefail

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
fi
secs=$1
shift

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v cargo-fuzz >/dev/null 2>&1 && ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz..." >&2
    nice -n 19 cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# Every target, in the order of the replay test.
all_targets=(invite envelope header session_decrypt handshake session session_state card
    store_record protocol content command mdns group sim)
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi

if [[ ${CAIRN_FUZZ_NO_BUILD:-} == 1 ]]; then
    echo "reusing the fuzz targets already built (CAIRN_FUZZ_NO_BUILD=1)" >&2
else
    echo "building fuzz targets (release, AddressSanitizer)..." >&2
    nice -n 19 cargo fuzz build >&2
fi
bin_dir=fuzz/target/x86_64-unknown-linux-gnu/release
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ ${CAIRN_FUZZ_NO_BUILD:-} == 1 ]]; then commit="the previous build (now $commit)"; fi
if [[ -n $(git status --porcelain -- crypto node fuzz 2>/dev/null) ]]; then
    commit="$commit+local changes"
fi

mkdir -p fuzz/target/logs
results=fuzz/target/results.md
{
    echo "Built from $commit on $(date -u +%Y-%m-%d), ${secs}s per target, one target at a time."
    echo
    echo "| target | seconds | executions | exec/s | cov | ft | corpus | crashes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
} >"$results"

any_crash=0
crashed=()
for t in "${targets[@]}"; do
    work=fuzz/target/corpus-work/$t
    artifacts=fuzz/artifacts/$t
    log=fuzz/target/logs/$t.log
    mkdir -p "$work" "$artifacts"
    before=$(find "$artifacts" -type f | wc -l)
    echo "fuzzing $t for ${secs}s..." >&2
    start=$(date +%s)
    status=0
    # The binary `cargo fuzz run` would start, run directly: every target then fuzzes the
    # build made above, even if the sources change while the run goes on.
    extra=()
    if [[ $t == session ]]; then
        # Each input is a list of events. libFuzzer's length control would keep inputs at a
        # few events for the whole run (the target is slow); allow 1,024 events from the start.
        extra=(-len_control=0)
    fi
    nice -n 19 "$bin_dir/$t" -artifact_prefix="$artifacts/" "$work" "fuzz/corpus/$t" \
        -max_total_time="$secs" -timeout=20 -print_final_stats=1 "${extra[@]}" >"$log" 2>&1 ||
        status=$?
    elapsed=$(($(date +%s) - start))
    after=$(find "$artifacts" -type f | wc -l)
    crashes=$((after - before))
    if [[ $status -ne 0 && $crashes -eq 0 ]]; then
        # Failed without leaving a reproducer (build error, out of memory): count it.
        crashes="failed($status)"
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | awk '{print $2}')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | awk '{print $2}')
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
    cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/p' <<<"$last")
    if [[ $crashes != 0 ]]; then
        any_crash=1
        crashed+=("$t")
    fi
    echo "| $t | $elapsed | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $crashes |" >>"$results"
done

echo
cat "$results"
if [[ $any_crash -ne 0 ]]; then
    echo
    for t in "${crashed[@]}"; do
        echo "$t crashed: see fuzz/target/logs/$t.log and fuzz/artifacts/$t/"
    done
    exit 1
fi
