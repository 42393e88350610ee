//! Runs simulation seeds (`cairn_node::sim`) for as long as asked, each with the
//! configuration it draws, and reports seeds a second, steps and faults injected; stops at
//! the first seed that breaks an invariant, printing how to replay it.
//!
//! `sim_long SECONDS [FIRST_SEED]` (see `tests/sim-long.sh`).

use cairn_node::sim::{self, Config};
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
    let (
        mut seeds,
        mut steps,
        mut messages,
        mut crashes,
        mut partitions,
        mut lost,
        mut dup,
        mut jumps,
    ) = (0u64, 0u64, 0usize, 0u32, 0u32, 0u64, 0u64, 0u32);
    let mut seed = first;
    while Instant::now() < end {
        let config = Config::from_seed(seed);
        match sim::run(seed, &config) {
            Ok(r) => {
                seeds += 1;
                steps += r.steps;
                messages += r.queued;
                crashes += r.crashes;
                partitions += r.partitions;
                lost += r.lost;
                dup += r.duplicated;
                jumps += r.clock_jumps;
            }
            Err(f) => {
                eprintln!("{f}with {config:?}");
                std::process::exit(1);
            }
        }
        seed += 1;
    }
    let t = start.elapsed().as_secs_f64();
    println!(
        "seeds {first}..{seed}: {seeds} runs in {t:.0} s ({:.2} seeds/s), {steps} steps, \
         {messages} messages; faults: {crashes} crashes, {partitions} partitions, \
         {lost} lost, {dup} duplicated, {jumps} clock jumps; every invariant held",
        seeds as f64 / t.max(1e-9)
    );
}
