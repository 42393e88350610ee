//! A deterministic simulation of a network of Cairn nodes (feature `sim`).
//!
//! Several nodes — the real [`Runtime`], with its real store over an in-memory disk — run
//! in one thread over a simulated network and clock, all randomness drawn from one seed:
//! the same seed replays the same run, step for step. The world carries out what each
//! node asks of its [`shell::SimShell`] (requests, answers, flushes) with latency, loss,
//! duplication and reordering; it crashes and restarts nodes (writes not yet flushed are
//! lost), cuts links and heals them, and makes clocks jump. The workload sets contacts up
//! through invites and sends bursts of messages; [`oracle`] checks at every step that no
//! message is shown twice, altered, to anyone else, or reported delivered before it was
//! shown, and at the end, once the network healed, that every message reported `queued` was
//! shown and reported delivered, and that every session still carries messages both ways.
//! See docs/SIMULATION.md.

mod bounds;
mod config;
mod groups;
mod machines;
mod oracle;
mod relay;
pub mod script;

pub use config::{Config, Faults};
mod report;
pub use report::{Failure, Report, Totals};
mod shell;
mod verify;
mod workload;

use crate::api::{Command, Event};
use crate::net::protocol::Response;
use crate::node::{NetEvent, NodeConfig, NodeRng, RequestId, Responder, Runtime};
use crate::profile::Profile;
use crate::store::{MemDisk, Store};
use libp2p::{Multiaddr, PeerId};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use shell::{Action, Io, SimShell};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a request waits for its answer before it fails (libp2p's is 30 s).
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// The node's housekeeping tick.
const TICK_MS: u64 = 200;
/// Longest the setup (invites, handshakes) may take.
const SETUP_MS: u64 = 120_000;
/// The nodes' `resend_after`: how long a message a hop took waits for its receipt before it
/// is encrypted again (then twice that, and so on: `renew_delay`).
pub const RESEND_AFTER_MS: u64 = 5_000;
/// How long the healed network runs before the end is checked: twice the longest wait for a
/// renewal (a message whose deposit a relay threw away on its last renewal waits that long
/// for the next), and a minute.
pub fn heal_ms() -> u64 {
    2 * crate::node::renew_delay(RESEND_AFTER_MS, crate::node::MAX_RENEWALS) + 60_000
}
/// The housekeeping tick once the network healed (nothing is due often then).
const HEALED_TICK_MS: u64 = 1_000;
/// Every machine's clock at the start (Unix ms, early 2027).
const START_CLOCK_MS: u64 = 1_800_000_000_000;
/// Most two machines' clocks differ after jumps.
pub const MAX_SKEW_MS: u64 = 24 * 3_600_000;
/// Lines of trace kept for a failure report.
const TRACE_KEPT: usize = 60;

struct Machine {
    name: String,
    disk: MemDisk,
    master: [u8; 32],
    addr: Multiaddr,
    epoch: u32,
    io: Rc<RefCell<Io>>,
    node: Option<Runtime<SimShell>>,
    events: Option<mpsc::UnboundedReceiver<Event>>,
    peer: Option<PeerId>,
    clock_offset_ms: u64,
}

#[derive(Debug)]
enum Item {
    ToRelay(usize, u32, RequestId, crate::net::protocol::Request),
    Tick(usize),
    Net(usize, u32, NetEvent),
    Answer(usize, u32, RequestId, Response),
    Fail(usize, u32, RequestId, PeerId, bool),
    Flush(usize, u32, u64, Vec<crate::files::vault::Slot>),
    Job(usize, u32, u64, crate::node::shell::JobOutcome),
    Accept(usize, String, String),
    Workload,
    Fault,
    Restart(usize),
    Heal(usize, usize),
    /// A command to machine `i` (accepting an introduction).
    Command(usize, Command),
    /// Machine `i` (of this epoch) crashes at once: it just acknowledged something
    /// (`Faults::crash_after_ack`).
    CrashNow(usize, u32),
}

struct World {
    seed: u64,
    config: Config,
    rng: StdRng,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Item>,
    machines: Vec<Machine>,
    /// Requests in flight: (sender, its epoch, id) → the peer asked.
    open: BTreeMap<(usize, u32, RequestId), PeerId>,
    /// Who is waiting for each answer: responder → (sender, its epoch, id).
    responders: BTreeMap<(usize, Responder), (usize, u32, RequestId)>,
    next_responder: u64,
    partitioned: BTreeSet<(usize, usize)>,
    invites: BTreeMap<usize, VecDeque<usize>>,
    established: BTreeSet<(usize, usize)>,
    oracle: oracle::Oracle,
    groups: groups::GroupSim,
    relay: Option<relay::SimRelay>,
    chaos: bool,
    sent: usize,
    report: Report,
    trace: VecDeque<String>,
    /// Every event of every machine, kept for a scripted run (`script.rs`).
    log: Option<Vec<(usize, Event)>>,
    /// A scripted run's contacts, instead of [`World::pairs`]'s.
    script_pairs: Option<Vec<(usize, usize)>>,
    digest: u64,
}

/// Runs one simulation.
pub fn run(seed: u64, config: &Config) -> Result<Report, Failure> {
    let mut w = World::new(seed, config.clone());
    w.run().map_err(|violation| w.failure(violation))?;
    w.report.seed = seed;
    w.report.sim_ms = w.now;
    w.report.digest = w.digest;
    let (queued, shown, unreported) = w.oracle.counts();
    w.report.queued = queued;
    w.report.shown = shown;
    w.report.unreported = unreported;
    Ok(w.report.clone())
}

fn mix(h: u64, bytes: &[u8]) -> u64 {
    // FNV-1a: a digest for comparing runs, not a security function.
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

impl World {
    fn new(seed: u64, config: Config) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = config.machines.clamp(2, 4);
        let machines = (0..n)
            .map(|i| {
                let mut master = [0u8; 32];
                rng.fill_bytes(&mut master);
                Machine {
                    name: format!("n{i}"),
                    disk: MemDisk::new(),
                    master,
                    addr: format!("/ip4/10.9.0.{}/tcp/4001", i + 1)
                        .parse()
                        .unwrap_or_else(|_| Multiaddr::empty()),
                    epoch: 0,
                    io: Rc::new(RefCell::new(Io::new(PeerId::random(), 0))),
                    node: None,
                    events: None,
                    peer: None,
                    clock_offset_ms: START_CLOCK_MS,
                }
            })
            .collect::<Vec<_>>();
        let names = machines.iter().map(|m| m.name.clone()).collect();
        Self {
            seed,
            config,
            rng,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            machines,
            open: BTreeMap::new(),
            responders: BTreeMap::new(),
            next_responder: 0,
            partitioned: BTreeSet::new(),
            invites: BTreeMap::new(),
            established: BTreeSet::new(),
            oracle: oracle::Oracle::new(names),
            groups: groups::GroupSim::default(),
            relay: None,
            chaos: false,
            sent: 0,
            report: Report::default(),
            trace: VecDeque::new(),
            log: None,
            script_pairs: None,
            digest: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn failure(&self, violation: String) -> Failure {
        Failure {
            seed: self.seed,
            step: self.report.steps,
            sim_ms: self.now,
            violation,
            trace: self.trace.iter().cloned().collect(),
        }
    }

    fn note(&mut self, line: String) {
        if self.trace.len() >= TRACE_KEPT {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{:>9} ms {line}", self.now));
    }

    fn at(&mut self, t: u64, item: Item) {
        self.seq += 1;
        self.queue.insert((t, self.seq), item);
    }

    fn latency(&mut self) -> u64 {
        let max = self.config.faults.max_latency_ms.max(1);
        if self.chaos {
            self.rng.gen_range(1..=max)
        } else {
            self.rng.gen_range(1..=20)
        }
    }

    fn roll(&mut self, p: f64) -> bool {
        self.chaos && p > 0.0 && self.rng.gen_bool(p.min(1.0))
    }

    fn up(&self, i: usize) -> bool {
        self.machines.get(i).is_some_and(|m| m.node.is_some())
    }

    /// Whether machines `i` and `j` can reach each other (the relay is machine
    /// `machines.len()`).
    fn linked(&self, i: usize, j: usize) -> bool {
        let up = |k: usize| {
            if k == self.machines.len() {
                self.relay.as_ref().is_some_and(relay::SimRelay::up)
            } else {
                self.up(k)
            }
        };
        i != j && up(i) && up(j) && !self.partitioned.contains(&(i.min(j), i.max(j)))
    }

    fn relay_index(&self) -> usize {
        self.machines.len()
    }

    fn epoch(&self, i: usize) -> u32 {
        self.machines.get(i).map_or(0, |m| m.epoch)
    }

    fn machine_of(&self, peer: &PeerId) -> Option<usize> {
        self.machines
            .iter()
            .position(|m| m.peer.as_ref() == Some(peer))
    }

    /// Gives machine `i` an input (if it is up), then carries out what it asked for and
    /// checks what it reported.
    fn input(&mut self, i: usize, f: impl FnOnce(&mut Runtime<SimShell>)) -> Result<(), String> {
        let now = self.now;
        let Some(m) = self.machines.get_mut(i) else {
            return Ok(());
        };
        m.io.borrow_mut().now_ms = now + m.clock_offset_ms;
        let Some(node) = m.node.as_mut() else {
            return Ok(());
        };
        f(node);
        if node.flush_wanted() {
            node.start_flush();
        }
        node.after_inputs();
        bounds::within_caps(i, node)?;
        if std::mem::take(&mut m.io.borrow_mut().acked_unflushed) {
            return Err(format!(
                "n{i} acknowledged mail to its mailbox before it was durable"
            ));
        }
        self.carry_out(i);
        self.observe(i)
    }

    fn carry_out(&mut self, i: usize) {
        let Some(m) = self.machines.get(i) else {
            return;
        };
        let actions = std::mem::take(&mut m.io.borrow_mut().actions);
        let me = m.peer;
        let epoch = m.epoch;
        for a in actions {
            match a {
                Action::Request { to, id, request } => {
                    if matches!(request, crate::net::protocol::Request::MailboxAck { .. }) {
                        self.crash_after_ack(i, epoch);
                    }
                    self.open.insert((i, epoch, id), to);
                    let deadline = self.now + REQUEST_TIMEOUT_MS;
                    self.at(deadline, Item::Fail(i, epoch, id, to, false));
                    if self.relay.as_ref().is_some_and(|r| r.peer == to) {
                        let r = self.relay_index();
                        let t = self.now + self.latency();
                        if !self.linked(i, r) {
                            self.at(t, Item::Fail(i, epoch, id, to, false));
                        } else if self.roll(self.config.faults.loss) {
                            self.report.lost += 1;
                        } else {
                            self.at(t, Item::ToRelay(i, epoch, id, request));
                        }
                        continue;
                    }
                    let Some(j) = self.machine_of(&to) else {
                        continue;
                    };
                    if !self.linked(i, j) {
                        let t = self.now + self.latency();
                        self.at(t, Item::Fail(i, epoch, id, to, false));
                        continue;
                    }
                    if self.roll(self.config.faults.loss) {
                        self.report.lost += 1;
                        continue;
                    }
                    let copies = if self.roll(self.config.faults.duplication) {
                        self.report.duplicated += 1;
                        2
                    } else {
                        1
                    };
                    let Some(from) = me else { continue };
                    for _ in 0..copies {
                        let r = Responder(self.next_responder);
                        self.next_responder += 1;
                        self.responders.insert((j, r), (i, epoch, id));
                        let t = self.now + self.latency();
                        let ej = self.epoch(j);
                        self.at(
                            t,
                            Item::Net(
                                j,
                                ej,
                                NetEvent::Request {
                                    peer: from,
                                    request: request.clone(),
                                    responder: r,
                                },
                            ),
                        );
                    }
                }
                Action::Respond(r, response) => {
                    self.crash_after_ack(i, epoch);
                    if let Some((s, se, id)) = self.responders.remove(&(i, r)) {
                        if self.linked(i, s) && !self.roll(self.config.faults.loss) {
                            let t = self.now + self.latency();
                            self.at(t, Item::Answer(s, se, id, response));
                        } else {
                            self.report.lost += 1;
                        }
                    }
                }
                Action::Ignore(r) => {
                    if let (Some((s, se, id)), Some(p)) = (self.responders.remove(&(i, r)), me) {
                        let t = self.now + self.latency();
                        self.at(t, Item::Fail(s, se, id, p, true));
                    }
                }
                Action::Flush(id, slots) => {
                    let t = self.now + self.rng.gen_range(1..=30);
                    self.at(t, Item::Flush(i, epoch, id, slots));
                }
                Action::Job(id, outcome) => self.at(self.now + 1, Item::Job(i, epoch, id, outcome)),
            }
        }
    }

    /// Machine `i` just acknowledged something: perhaps it crashes now, before its writes
    /// are flushed (no draw when the fault is off, so other configurations replay as
    /// before).
    fn crash_after_ack(&mut self, i: usize, epoch: u32) {
        let p = self.config.faults.crash_after_ack;
        if self.chaos && self.config.faults.crashes && p > 0.0 && self.roll(p) {
            self.at(self.now, Item::CrashNow(i, epoch));
        }
    }

    fn observe(&mut self, i: usize) -> Result<(), String> {
        let mut events = Vec::new();
        if let Some(rx) = self.machines.get_mut(i).and_then(|m| m.events.as_mut()) {
            while let Ok(ev) = rx.try_recv() {
                events.push(ev);
            }
        }
        for ev in events {
            let json = serde_json::to_string(&ev).unwrap_or_default();
            self.digest = mix(mix(self.digest, &[i as u8]), json.as_bytes());
            self.note(format!("n{i} {json}"));
            self.oracle.observe(i, &ev, self.now)?;
            if let Some(log) = self.log.as_mut() {
                log.push((i, ev.clone()));
            }
            let names: Vec<String> = self.machines.iter().map(|m| m.name.clone()).collect();
            self.groups.observe(i, self.epoch(i), &ev, &names)?;
            match ev {
                Event::Introduction { id, .. } => self.accept_introduction(i, id),
                Event::Invite { code, .. } => {
                    if let Some(j) = self.invites.get_mut(&i).and_then(VecDeque::pop_front) {
                        let alias = format!("n{i}");
                        let t = self.now + 10;
                        self.at(t, Item::Accept(j, code, alias));
                    }
                }
                Event::SessionEstablished { alias } => {
                    if let Some(j) = self.machines.iter().position(|m| m.name == alias) {
                        self.established.insert((i, j));
                    }
                }
                Event::Error { code, message, .. } => {
                    if matches!(code, crate::api::ErrorCode::StoreFailed) {
                        return Err(format!("n{i}: store failed: {message}"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn pairs(&self) -> Vec<(usize, usize)> {
        if let Some(p) = &self.script_pairs {
            return p.clone();
        }
        let n = self.machines.len();
        let mut p: Vec<(usize, usize)> = (1..n).map(|j| (0, j)).collect();
        if n >= 3 {
            p.push((1, 2));
        }
        p
    }

    fn run(&mut self) -> Result<(), String> {
        self.set_up()?;
        // Chaos: the workload and the faults.
        self.chaos = true;
        let end = self.now + self.config.chaos_ms;
        self.at(self.now + 1, Item::Workload);
        self.at(self.now + 1, Item::Fault);
        self.run_until(end, |_| false)?;
        self.heal_and_check()
    }

    /// Starts the relay and the machines, and sets up the contacts on a quiet network.
    fn set_up(&mut self) -> Result<(), String> {
        if self.config.relay {
            self.start_relay()?;
        }
        for i in 0..self.machines.len() {
            self.start(i)?;
            let t = self.now + self.rng.gen_range(0..TICK_MS);
            self.at(t, Item::Tick(i));
        }
        // Setup: invites and handshakes, on a quiet network.
        for (a, b) in self.pairs() {
            self.invites.entry(a).or_default().push_back(b);
            self.input(a, |n| {
                n.command(Command::Invite {
                    ttl_secs: None,
                    for_contact: None,
                })
            })?;
        }
        let wanted: BTreeSet<(usize, usize)> = self
            .pairs()
            .into_iter()
            .flat_map(|(a, b)| [(a, b), (b, a)])
            .collect();
        self.run_until(SETUP_MS, |w| wanted.is_subset(&w.established))?;
        if !wanted.is_subset(&self.established) {
            return Err("the contacts were not set up".into());
        }
        self.mark_verified()?;
        if self.config.groups {
            self.set_up_group()?;
        }
        Ok(())
    }

    fn heal_and_check(&mut self) -> Result<(), String> {
        // Heal: every link up, every machine running, no loss; then the end is checked.
        self.chaos = false;
        self.partitioned.clear();
        self.restart_relay()?;
        for i in 0..self.machines.len() {
            if !self.up(i) {
                self.start(i)?;
            }
        }
        self.update_links()?;
        self.note("healed".into());
        let end = self.now + heal_ms();
        self.run_until(end, |_| false)?;
        self.oracle.check_end()?;
        if self.config.groups {
            self.check_group_end()?;
        }
        // Every session still carries messages both ways.
        for (a, b) in self.pairs() {
            for (from, to) in [(a, b), (b, a)] {
                self.send(from, to, "final")?;
            }
        }
        let end = self.now + 60_000;
        self.run_until(end, |_| false)?;
        self.oracle.check_end()?;
        self.list_contacts()?;
        self.check_nothing_left()
    }

    fn send(&mut self, from: usize, to: usize, label: &str) -> Result<(), String> {
        let text = format!("{label} {} n{from}>n{to}", self.sent);
        self.sent += 1;
        self.oracle.send(&text, from, to);
        let cmd = Command::Send {
            to: format!("n{to}").into(),
            text: text.clone(),
            client_ref: Some(text.into()),
        };
        self.input(from, |n| n.command(cmd))
    }

    fn run_until(&mut self, end: u64, done: impl Fn(&World) -> bool) -> Result<(), String> {
        while let Some((&(t, _), _)) = self.queue.first_key_value() {
            if done(self) {
                // Time stays where it stopped: what is queued before `end` is still to
                // come, and must not run in the past.
                return Ok(());
            }
            if t > end {
                break;
            }
            let Some(((t, _), item)) = self.queue.pop_first() else {
                break;
            };
            self.now = t;
            self.report.steps += 1;
            self.step(item)?;
        }
        self.now = self.now.max(end.min(self.now + SETUP_MS));
        Ok(())
    }

    fn step(&mut self, item: Item) -> Result<(), String> {
        match item {
            Item::Tick(i) => {
                self.input(i, |n| n.housekeeping())?;
                let t = self.now + if self.chaos { TICK_MS } else { HEALED_TICK_MS };
                self.at(t, Item::Tick(i));
            }
            Item::Net(i, e, ev) if e == self.epoch(i) => self.input(i, |n| n.net_event(ev))?,
            Item::Net(..) => {}
            Item::Answer(i, e, id, response) => {
                if e == self.epoch(i) && self.open.remove(&(i, e, id)).is_some() {
                    self.input(i, |n| n.net_event(NetEvent::Response { id, response }))?;
                }
            }
            Item::Fail(i, e, id, peer, refused) => {
                if e == self.epoch(i) && self.open.remove(&(i, e, id)).is_some() {
                    self.input(i, |n| {
                        n.net_event(NetEvent::RequestFailed { id, peer, refused })
                    })?;
                }
            }
            Item::Flush(i, e, id, slots) if e == self.epoch(i) => {
                if let Some(m) = self.machines.get(i) {
                    let vault = m.io.borrow().vault.clone();
                    crate::files::vault::sync_slots(&vault, &slots).map_err(|e| e.to_string())?;
                    m.disk.flush_now();
                }
                self.input(i, |n| n.flush_completed(id, Ok(())))?;
            }
            Item::Flush(..) => {}
            Item::Job(i, e, id, outcome) if e == self.epoch(i) => {
                self.input(i, |n| n.job_completed(id, outcome))?;
            }
            Item::Job(..) => {}
            Item::Accept(i, code, alias) => {
                self.input(i, |n| {
                    n.command(Command::Accept {
                        code,
                        alias: alias.into(),
                    })
                })?;
            }
            Item::Command(i, cmd) => self.input(i, |n| n.command(cmd))?,
            Item::ToRelay(i, e, id, request) => self.relay_serves(i, e, id, request),
            Item::Workload => self.workload()?,
            Item::Fault => self.fault()?,
            Item::Restart(i) if i == self.relay_index() => self.restart_relay()?,
            Item::Restart(i) => {
                if !self.up(i) {
                    self.start(i)?;
                }
            }
            Item::CrashNow(i, e) if e == self.epoch(i) && self.up(i) => {
                self.note(format!("n{i} crashes right after acknowledging"));
                self.crash(i)?;
                let t = self.now + self.rng.gen_range(100..=5_000);
                self.at(t, Item::Restart(i));
            }
            Item::CrashNow(..) => {}
            Item::Heal(a, b) => {
                self.partitioned.remove(&(a, b));
                self.note(format!("n{a}-n{b} healed"));
                self.update_links()?;
            }
        }
        Ok(())
    }

    fn fault(&mut self) -> Result<(), String> {
        if !self.chaos {
            return Ok(());
        }
        let n = self.machines.len();
        let f = self.config.faults.clone();
        match self.rng.gen_range(0..3) {
            0 if f.crashes => {
                // The relay (index n) crashes too.
                let i = self.rng.gen_range(0..n + usize::from(self.relay.is_some()));
                let crashed = if i == n {
                    self.relay.as_ref().is_some_and(relay::SimRelay::up)
                } else {
                    self.up(i)
                };
                if crashed {
                    if i == n {
                        self.crash_relay()?;
                    } else {
                        self.crash(i)?;
                    }
                    let t = self.now + self.rng.gen_range(100..=20_000);
                    self.at(t, Item::Restart(i));
                }
            }
            1 if f.partitions => {
                // The relay (index n) can be cut off too.
                let m = n + usize::from(self.relay.is_some());
                let a = self.rng.gen_range(0..m);
                let b = self.rng.gen_range(0..m);
                if a != b && self.partitioned.insert((a.min(b), a.max(b))) {
                    self.report.partitions += 1;
                    self.note(format!("n{}-n{} cut", a.min(b), a.max(b)));
                    self.update_links()?;
                    let t = self.now + self.rng.gen_range(500..=40_000);
                    self.at(t, Item::Heal(a.min(b), a.max(b)));
                }
            }
            2 if f.clock_jumps => {
                // A clock set wrong, or corrected: forward or back, anywhere within half a
                // day of the true time, so two clocks differ by at most a day (the protocol
                // tolerates two).
                let i = self.rng.gen_range(0..n);
                let half = MAX_SKEW_MS / 2;
                let offset = START_CLOCK_MS - half + self.rng.gen_range(0..=MAX_SKEW_MS);
                if let Some(m) = self.machines.get_mut(i) {
                    m.clock_offset_ms = offset;
                }
                self.report.clock_jumps += 1;
                self.note(format!(
                    "n{i} clock set to true time {:+} ms",
                    offset as i64 - START_CLOCK_MS as i64
                ));
            }
            _ => {}
        }
        let t = self.now + self.rng.gen_range(1_000..=10_000);
        self.at(t, Item::Fault);
        Ok(())
    }
}
