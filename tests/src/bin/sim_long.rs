//! Runs simulation seeds (`cairn_node::api::sim`) for as long as asked, each with the
//! configuration it draws (every fourth the reset-heavy one), and reports seeds a second, steps and faults injected; stops at
//! the first seed that breaks an invariant, printing how to replay it.
//!
//! `sim_long SECONDS [FIRST_SEED]` (see `tests/sim-long.sh`).

use cairn_node::api::sim::{self, Config};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let first: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() * 1000)
            .unwrap_or(1)
    });
    let end = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut totals = sim::Totals::default();
    let mut seed = first;
    while Instant::now() < end {
        // Every fourth seed runs the reset-heavy configuration instead of its drawn one.
        let resets = seed % 4 == 0;
        let config = if resets {
            Config::resets()
        } else {
            Config::from_seed(seed)
        };
        match sim::run(seed, &config) {
            Ok(r) => totals.add(&r),
            Err(f) => {
                eprintln!("{f}with {config:?}");
                if resets {
                    eprintln!("(replay with CAIRN_SIM_CONFIG=resets)");
                }
                std::process::exit(1);
            }
        }
        seed += 1;
    }
    let t = start.elapsed().as_secs_f64();
    println!(
        "seeds {first}..{seed} in {t:.0} s ({:.2} seeds/s): {totals}; every invariant held",
        totals.runs as f64 / t.max(1e-9)
    );
}
