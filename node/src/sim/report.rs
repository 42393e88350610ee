//! What a run reports: its counts, a failure with its seed and trace, totals over many runs.

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Steps (scheduled items handled).
    pub steps: u64,
    /// Messages queued, and shown.
    pub queued: usize,
    /// Messages shown.
    pub shown: usize,
    /// Of those, messages shown that their sender never reported queued: it crashed after
    /// the message became durable and before it handled the flush's completion (sent
    /// after its restart, as it should be).
    pub unreported: usize,
    /// Faults injected.
    pub crashes: u32,
    /// Links cut.
    pub partitions: u32,
    /// Requests and answers lost.
    pub lost: u64,
    /// Requests delivered twice.
    pub duplicated: u64,
    /// Deposits the relay answered as taken and threw away.
    pub relay_lost: u64,
    /// Clock jumps.
    pub clock_jumps: u32,
    /// Session resets the workload started.
    pub resets: u32,
    /// Simulated time at the end (ms).
    pub sim_ms: u64,
    /// A digest of every event every node emitted, in order (equal for equal runs).
    pub digest: u64,
}

/// What several runs did, summed (for reports of many seeds).
#[derive(Clone, Debug, Default)]
pub struct Totals {
    /// Runs.
    pub runs: u64,
    /// Every run's counts added up (`seed`, `digest` unused).
    pub sum: Report,
}

impl Totals {
    /// Adds one run.
    pub fn add(&mut self, r: &Report) {
        let s = &mut self.sum;
        self.runs += 1;
        s.steps += r.steps;
        s.queued += r.queued;
        s.shown += r.shown;
        s.unreported += r.unreported;
        s.crashes += r.crashes;
        s.partitions += r.partitions;
        s.lost += r.lost;
        s.duplicated += r.duplicated;
        s.relay_lost += r.relay_lost;
        s.clock_jumps += r.clock_jumps;
        s.resets += r.resets;
        s.sim_ms += r.sim_ms;
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.sum;
        write!(
            f,
            "{} runs, {} steps, {} messages ({} shown, {} of them after a crash hid that \
             they were queued), {} s simulated; faults: {} crashes, \
             {} partitions, {} lost, {} duplicated, {} deposits thrown away by the relay, \
             {} clock jumps; {} session resets",
            self.runs,
            s.steps,
            s.queued,
            s.shown,
            s.unreported,
            s.sim_ms / 1000,
            s.crashes,
            s.partitions,
            s.lost,
            s.duplicated,
            s.relay_lost,
            s.clock_jumps,
            s.resets
        )
    }
}

/// A run that broke an invariant.
#[derive(Debug)]
pub struct Failure {
    /// The seed that replays it.
    pub seed: u64,
    /// The step at which it broke.
    pub step: u64,
    /// Simulated time (ms).
    pub sim_ms: u64,
    /// What broke.
    pub violation: String,
    /// The last steps before it.
    pub trace: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "simulation seed {} broke at step {} ({} ms simulated): {}",
            self.seed, self.step, self.sim_ms, self.violation
        )?;
        writeln!(
            f,
            "replay: CAIRN_SIM_SEED={} cargo test -p cairn-tests --test sim replay -- --nocapture",
            self.seed
        )?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}
