//! Scripted runs of the simulated world: a test says what happens when — a command to a
//! node, time passing, a crash, a restart — and reads what each node reported. The same
//! nodes, store, network and oracle as a random run, with no random fault: for the
//! runtime's rules that the random workload does not reach (an invite's lifetime, a file's
//! transfer across a crash…), checked deterministically, in simulated time.
//!
//! ```no_run
//! # use cairn_node::sim::script::Script;
//! # use cairn_node::api::{Command, Event};
//! let mut s = Script::new(1, 2, false).unwrap();  // n0 and n1, contacts of each other
//! s.command(0, Command::Status).unwrap();
//! s.run_for(1_000).unwrap();
//! assert!(s.events(0).iter().any(|e| matches!(e, Event::Status { .. })));
//! ```

use super::*;

/// A group change a hostile member makes up ([`Script::forge_group_ops`]); machines by
/// index.
#[derive(Clone, Debug)]
pub enum Forged {
    /// The group begins (with this name).
    Create(String),
    /// A member is added.
    Add(usize),
    /// A member is removed.
    Remove(usize),
    /// A member is made an admin.
    Promote(usize),
}

/// A scripted run.
pub struct Script {
    world: World,
}

impl Script {
    /// `machines` (2 to 4) machines named `n0`, `n1`…, with a relay as every node's mailbox
    /// if `relay`, set up as a random run sets them up (n0 invites every other, n1 invites
    /// n2), on a quiet network; then nothing happens until the script says.
    pub fn new(seed: u64, machines: usize, relay: bool) -> Result<Self, String> {
        Self::with_contacts(seed, machines, relay, None)
    }

    /// As [`Script::new`], with only these pairs of machines made contacts (the first of
    /// each invites the second): machines that are not contacts, for introductions.
    pub fn with_contacts(
        seed: u64,
        machines: usize,
        relay: bool,
        pairs: Option<&[(usize, usize)]>,
    ) -> Result<Self, String> {
        let config = Config {
            machines,
            relay,
            faults: Faults {
                loss: 0.0,
                duplication: 0.0,
                max_latency_ms: 20,
                partitions: false,
                crashes: false,
                clock_jumps: false,
                relay_loss: 0.0,
                crash_after_ack: 0.0,
            },
            resets: 0.0,
            ..Config::default()
        };
        let mut world = World::new(seed, config);
        world.script_pairs = pairs.map(<[(usize, usize)]>::to_vec);
        world.log = Some(Vec::new());
        world.set_up().map_err(|e| world.failure(e).to_string())?;
        // What the set-up reported is not the script's.
        world.log = Some(Vec::new());
        Ok(Self { world })
    }

    fn check(&mut self, r: Result<(), String>) -> Result<(), String> {
        r.map_err(|e| self.world.failure(e).to_string())
    }

    /// Gives node `i` a command (as its front end would).
    pub fn command(&mut self, i: usize, cmd: Command) -> Result<(), String> {
        let r = self.world.input(i, |n| n.command(cmd));
        self.check(r)
    }

    /// Node `from` sends a text to node `to` (checked by the oracle like the workload's).
    pub fn send(&mut self, from: usize, to: usize, label: &str) -> Result<(), String> {
        let r = self.world.send(from, to, label);
        self.check(r)
    }

    /// Node `from` sends a text to the group (the one the run made, checked by the oracle
    /// like the workload's); the text, which has `label` in it.
    pub fn group_send(
        &mut self,
        from: usize,
        group: &crate::api::GroupRef,
        label: &str,
    ) -> Result<String, String> {
        let r = self.world.group_send_from(group.clone(), from, label);
        match r {
            Ok(t) => Ok(t),
            Err(e) => Err(self.world.failure(e).to_string()),
        }
    }

    /// Node `from` forwards the message `message` it received (its text `text`) to node
    /// `to`, as a message of its own (checked by the oracle like a text it sent).
    pub fn forward(
        &mut self,
        from: usize,
        to: usize,
        message: crate::api::MessageId,
        text: &str,
    ) -> Result<(), String> {
        let client_ref = self.world.oracle.forward(text, from, to);
        self.command(
            from,
            Command::Forward {
                message: Some(message),
                file: None,
                to: Some(format!("n{to}").into()),
                group: None,
                original: false,
                client_ref: Some(client_ref.into()),
            },
        )
    }

    /// Lets `ms` of simulated time pass.
    pub fn run_for(&mut self, ms: u64) -> Result<(), String> {
        let end = self.world.now + ms;
        let r = self.world.run_until(end, |_| false);
        self.world.now = self.world.now.max(end);
        self.check(r)
    }

    /// Runs until node `i` reports an event `pred` accepts (among those not yet taken by
    /// [`Script::events`]), at most `ms`; the event.
    pub fn wait_for(
        &mut self,
        i: usize,
        ms: u64,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<Event, String> {
        let end = self.world.now + ms;
        let seen = |w: &World| {
            w.log
                .as_ref()
                .is_some_and(|l| l.iter().any(|(m, e)| *m == i && pred(e)))
        };
        let r = self.world.run_until(end, seen);
        self.check(r)?;
        let log = self.world.log.as_mut().ok_or("no log")?;
        match log.iter().position(|(m, e)| *m == i && pred(e)) {
            Some(k) => Ok(log.remove(k).1),
            None => Err(format!(
                "n{i} did not report the event within {ms} ms; it reported: {:?}",
                log.iter()
                    .filter(|(m, _)| *m == i)
                    .map(|(_, e)| e)
                    .collect::<Vec<_>>()
            )),
        }
    }

    /// What node `i` reported since the last call (or since its last `wait_for`).
    pub fn events(&mut self, i: usize) -> Vec<Event> {
        let Some(log) = self.world.log.as_mut() else {
            return Vec::new();
        };
        let (mine, rest): (Vec<_>, Vec<_>) = log.drain(..).partition(|(m, _)| *m == i);
        *log = rest;
        mine.into_iter().map(|(_, e)| e).collect()
    }

    /// Node `i` crashes: what its store had not flushed is lost.
    pub fn crash(&mut self, i: usize) -> Result<(), String> {
        let r = self.world.crash(i);
        self.check(r)
    }

    /// Node `i` starts again (over what its disk kept).
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        let r = self.world.start(i).and_then(|()| self.world.update_links());
        self.check(r)
    }

    /// Cuts the link between machines `a` and `b` (the relay is machine `machines`).
    pub fn cut(&mut self, a: usize, b: usize) -> Result<(), String> {
        self.world.partitioned.insert((a.min(b), a.max(b)));
        let r = self.world.update_links();
        self.check(r)
    }

    /// Heals the link between machines `a` and `b`.
    pub fn heal(&mut self, a: usize, b: usize) -> Result<(), String> {
        self.world.partitioned.remove(&(a.min(b), a.max(b)));
        let r = self.world.update_links();
        self.check(r)
    }

    /// Sets node `i`'s clock `offset_ms` from the true time (negative: behind), as a user
    /// or a time server would.
    pub fn set_clock(&mut self, i: usize, offset_ms: i64) -> Result<(), String> {
        let m = self.world.machines.get_mut(i).ok_or("no such machine")?;
        m.clock_offset_ms = START_CLOCK_MS.saturating_add_signed(offset_ms);
        Ok(())
    }

    /// Node `from`, a hostile member of `group`, sends `to` (over its session with it) one
    /// part of the group's changes that it made up: each `(author, change)` stamped as
    /// written by machine `author`. An honest node never sends this.
    pub fn forge_group_ops(
        &mut self,
        from: usize,
        to: usize,
        group: &crate::api::GroupRef,
        ops: &[(usize, Forged)],
    ) -> Result<(), String> {
        let key = |i: usize| {
            self.world
                .machines
                .get(i)
                .and_then(|m| m.node.as_ref())
                .map(Runtime::member_key)
                .ok_or_else(|| format!("n{i} is not running"))
        };
        let to = key(to)?;
        let mut made = Vec::new();
        for (author, change) in ops {
            let change = match change {
                Forged::Create(name) => crate::group::Change::Create { name: name.clone() },
                Forged::Add(i) => crate::group::Change::Add(key(*i)?),
                Forged::Remove(i) => crate::group::Change::Remove(key(*i)?),
                Forged::Promote(i) => crate::group::Change::Promote(key(*i)?),
            };
            made.push((key(*author)?, change));
        }
        let mut sent = Err("not sent".to_string());
        let r = self
            .world
            .input(from, |n| sent = n.forge_group_ops(group, to, made));
        self.check(r)?;
        sent
    }

    /// The texts of `group`'s messages node `i` keeps in its store, shown or not.
    pub fn stored_group_texts(
        &mut self,
        i: usize,
        group: &crate::api::GroupRef,
    ) -> Result<Vec<String>, String> {
        self.world
            .machines
            .get(i)
            .and_then(|m| m.node.as_ref())
            .ok_or_else(|| format!("n{i} is not running"))?
            .stored_group_texts(group)
    }

    /// Checks that the run has settled: no node keeps an outbox entry (in memory or on
    /// disk) or state for work that is done, and the mailbox keeps nothing a node could
    /// collect — the random runs' end check. Links should be healed and time given first.
    pub fn check_settled(&mut self) -> Result<(), String> {
        let r = self.world.check_nothing_left();
        self.check(r)
    }

    /// Bytes of envelopes the nodes have asked the relay's mailbox to keep since the run
    /// began (taken or refused); 0 without a relay.
    pub fn mailbox_offered_bytes(&self) -> u64 {
        self.world.relay.as_ref().map_or(0, |r| r.offered)
    }

    /// Simulated time now (ms since the run began).
    pub fn now_ms(&self) -> u64 {
        self.world.now
    }
}
