//! The deterministic simulation as the runtime core's own test: what cargo-mutants runs
//! against each mutant of `node/src/node/` (docs/FUZZING.md, "Mutation testing"). Ignored in a
//! normal run — `tests/tests/sim.rs` runs more seeds in CI — and run with
//! `cargo test -p cairn-node --features sim --test sim_core -- --include-ignored`.
//!
//! Would catch: any mutant of the runtime that makes a seed break an invariant (a message
//! lost, shown twice or altered, delivered before it was shown, a session left unusable,
//! state that grows without bound).

use cairn_node::sim::{self, Config};

fn seeds() -> u64 {
    std::env::var("CAIRN_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

#[test]
#[ignore = "mutation testing: run with --include-ignored"]
fn seeds_hold_every_invariant() {
    for seed in 1..=seeds() {
        for config in [Config::from_seed(seed), Config::default()] {
            if let Err(f) = sim::run(seed, &config) {
                panic!("{f}with {config:?}");
            }
        }
    }
}
