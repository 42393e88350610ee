//! The deterministic simulation as the runtime core's own test: what cargo-mutants runs
//! against each mutant of `node/src/node/` (docs/FUZZING.md, "Mutation testing"). Ignored in a
//! normal run — `tests/tests/sim.rs` runs more seeds in CI — and run with
//! `cargo test -p cairn-node --features sim --test sim_core -- --include-ignored`.
//! Five tests, so that a two-core machine runs them two at a time.
//!
//! Would catch: any mutant of the runtime that makes a seed break an invariant (a message
//! lost, shown twice or altered, delivered before it was shown, a reset asked for and never
//! carried out, a session left unusable, a group message shown out of order or to a
//! non-member, state that grows without bound).

use cairn_node::sim::{self, Config};

fn seeds() -> u64 {
    std::env::var("CAIRN_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

fn check(seed: u64, config: &Config) {
    if let Err(f) = sim::run(seed, config) {
        panic!("{f}with {config:?}");
    }
}

#[test]
#[ignore = "mutation testing: run with --include-ignored"]
fn drawn_configurations_hold_every_invariant() {
    for seed in 1..=seeds() {
        check(seed, &Config::from_seed(seed));
    }
}

#[test]
#[ignore = "mutation testing: run with --include-ignored"]
fn the_default_configuration_holds_every_invariant() {
    for seed in 1..=seeds() {
        check(seed, &Config::default());
    }
}

/// Seeds that catch the reset bugs the simulation found if they are put back
/// (`Config::regression_seeds`, docs/SIMULATION.md): between them they reach the rules for
/// resets that cross, answered resets kept as durable candidates, and answers to resets
/// given up, which few of the seeds above reach.
#[test]
#[ignore = "mutation testing: run with --include-ignored"]
fn seeds_that_found_bugs_hold_every_invariant() {
    for (seed, config) in Config::regression_seeds() {
        check(seed, &config);
    }
}

/// The group configuration (introductions, group messages, membership changes).
#[test]
#[ignore = "mutation testing: run with --include-ignored"]
fn group_seeds_hold_every_invariant() {
    for seed in 1..=seeds().div_ceil(2) {
        check(seed, &Config::groups());
    }
}

/// The reset-heavy configuration (two machines resetting a third of the time, resets that
/// cross): reaches the rules for crossing, given-up and durable given-up resets.
#[test]
#[ignore = "mutation testing: run with --include-ignored"]
fn reset_heavy_seeds_hold_every_invariant() {
    for seed in 1..=seeds() {
        check(seed, &Config::resets());
    }
}
