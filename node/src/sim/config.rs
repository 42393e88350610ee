//! What a simulation runs: the machines, the workload and the faults.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which faults a run injects during its chaos phase.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Probability that a request or an answer is lost.
    pub loss: f64,
    /// Probability that a request is delivered twice.
    pub duplication: f64,
    /// Latency is uniform in 1..=this (which also reorders).
    pub max_latency_ms: u64,
    /// Links between two machines are cut and healed.
    pub partitions: bool,
    /// Machines crash (losing unflushed writes) and restart.
    pub crashes: bool,
    /// Machines' clocks jump forward.
    pub clock_jumps: bool,
    /// Probability that the relay answers a deposit as taken and throws it away.
    pub relay_loss: f64,
    /// Probability that a node crashes the moment it acknowledges something — mail
    /// acknowledged to its mailbox, a delivery answered — before the store's next flush
    /// completes: the worst moment for a node that would acknowledge what is not yet
    /// durable. (In the group and reset-heavy configurations; 0 in the default and drawn
    /// ones, so that their seeds replay as before.)
    pub crash_after_ack: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            loss: 0.05,
            duplication: 0.05,
            max_latency_ms: 300,
            partitions: true,
            crashes: true,
            clock_jumps: true,
            relay_loss: 0.05,
            crash_after_ack: 0.0,
        }
    }
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Config {
    /// Machines (2 to 4): machine 0 invites each other one, machine 1 invites machine 2.
    pub machines: usize,
    /// Messages the workload sends during the chaos phase.
    pub messages: usize,
    /// Length of the chaos phase (simulated ms).
    pub chaos_ms: u64,
    /// A relay (the real mailbox code) that every node uses as its mailbox.
    pub relay: bool,
    /// The faults injected.
    pub faults: Faults,
    /// Probability that a step of the workload, instead of sending, has a node reset its
    /// session with a contact (`Command::Reset`: a new handshake under the reset secret).
    pub resets: f64,
    /// Probability that the contact resets at the same moment (two resets that cross).
    pub crossing_resets: f64,
    /// Machine 0 makes a group of every machine after the setup (members that are not
    /// contacts are introduced), and the workload also writes to it (sim/groups.rs).
    pub groups: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            machines: 3,
            messages: 40,
            chaos_ms: 60_000,
            relay: true,
            faults: Faults::default(),
            resets: 0.05,
            crossing_resets: 0.0,
            groups: false,
        }
    }
}

impl Config {
    /// The group configuration: four machines (two of them not contacts of each other, so
    /// introductions are exercised), the default faults, and group messages in the workload.
    pub fn groups() -> Self {
        Self {
            machines: 4,
            messages: 60,
            groups: true,
            faults: Faults {
                crash_after_ack: 0.05,
                ..Faults::default()
            },
            ..Self::default()
        }
    }

    /// Resets above all: two machines that often reset their session with each other (a
    /// third of the workload's steps), with latency long enough for two resets to cross,
    /// duplicated requests (a first message seen again after its reset completed) and
    /// crashes (given-up resets kept across a restart): what the rules of
    /// `node/src/node/reset.rs` for crossing and given-up resets are for.
    pub fn resets() -> Self {
        Self {
            machines: 2,
            messages: 40,
            faults: Faults {
                loss: 0.05,
                duplication: 0.1,
                max_latency_ms: 1_500,
                partitions: false,
                crashes: true,
                clock_jumps: false,
                relay_loss: 0.05,
                crash_after_ack: 0.05,
            },
            resets: 0.3,
            crossing_resets: 0.5,
            ..Self::default()
        }
    }

    /// Seeds of the reset-heavy configuration that catch the reset bugs the simulation
    /// found, or the rules of their fix (docs/SIMULATION.md, bug 10), if they are put back,
    /// each picked by putting the bug back and running seeds 1–80: 24 and 60000 ended on
    /// different sessions under the old rule (60000 lost a message); 1 catches the
    /// candidates kept in memory only and the initiator keeping its candidates when its own
    /// reset completes; 5 the candidates in memory only and the pending reset's first
    /// message dropped when a candidate is taken; 48 an answer not waited for left without
    /// a receipt, and such a receipt ignored. And seed 121618 of the drawn configurations
    /// (sim-long): the initiator's receipt for a reset answer, retried after the response
    /// to its first copy was lost, refused as unreadable for ever on a link that kept
    /// reconnecting (each reconnect cleared the failure count). Seeds 133020, 111157 and
    /// 141835: events lost to a crash (bug 12); 152578: a reset's grace held for hours by a
    /// clock set back (bug 13). A regression test: every one must hold, and reset sessions
    /// if its configuration draws resets.
    pub fn regression_seeds() -> Vec<(u64, Self)> {
        let mut seeds = [1, 5, 24, 48, 60000].map(|s| (s, Self::resets())).to_vec();
        seeds.push((121618, Self::from_seed(121618)));
        // Events lost to a crash before the flush's completion (at-least-once reports).
        seeds.push((133020, Self::resets()));
        // A reset's grace held for hours by a clock set back (bug 13).
        for s in [111157, 141835, 152578] {
            seeds.push((s, Self::from_seed(s)));
        }
        seeds
    }

    /// A configuration drawn from `seed` (machines, messages, fault rates), for fuzzing and
    /// long runs.
    pub fn from_seed(seed: u64) -> Self {
        let mut r = StdRng::seed_from_u64(seed ^ 0x5eed_c0f1_9000_0001);
        Self {
            machines: r.gen_range(2..=4),
            messages: r.gen_range(5..=60),
            chaos_ms: r.gen_range(10_000..=120_000),
            relay: r.gen_bool(0.7),
            faults: Faults {
                loss: r.gen_range(0.0..0.2),
                duplication: r.gen_range(0.0..0.2),
                max_latency_ms: r.gen_range(1..=2_000),
                partitions: r.gen_bool(0.7),
                crashes: r.gen_bool(0.7),
                clock_jumps: r.gen_bool(0.5),
                relay_loss: r.gen_range(0.0..0.3),
                crash_after_ack: 0.0,
            },
            resets: if r.gen_bool(0.5) {
                r.gen_range(0.0..0.15)
            } else {
                0.0
            },
            crossing_resets: 0.0,
            groups: false,
        }
    }
}
