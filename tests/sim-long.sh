#!/usr/bin/env bash
# Runs the deterministic simulation (docs/SIMULATION.md) over new seeds for SECONDS
# (default 600), optimised, starting at FIRST_SEED (default: from the clock, so each run
# covers new seeds). Prints seeds/s, steps and faults injected; on a failure, the seed and
# how to replay it, and exits 1.
#
#   tests/sim-long.sh 3600
#   tests/sim-long.sh 60 12345
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --locked -q -p cairn-tests --bin sim_long -- "${1:-600}" ${2:+"$2"}
