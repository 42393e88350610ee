//! A deterministic two-party simulation of a session, driven by [`Event`]s, with an
//! oracle that checks every step. The property test (`crypto/tests/session_props.rs`)
//! and the fuzz target (`fuzz/fuzz_targets/session.rs`) both drive it, so a failing
//! fuzz input replays as a test.
//!
//! The oracle: every message delivered for the first time decrypts to exactly what
//! was sent — or, if the receiver gave its key up (evicted by a limit, expired by DH
//! steps or age, or skipped past without keeping it), is refused without any change,
//! and no more messages are refused so than keys were given up; a duplicate, replayed,
//! tampered or truncated message is rejected and leaves the receiving session
//! byte-for-byte unchanged; a serialised and restored session behaves as before; the
//! skipped keys stay within their bound; after any sequence, both directions still
//! work (no session is ever stuck); and every message read within the mailbox lookback
//! of its sending carried a routing tag that the receiver, just before reading it, would
//! have collected from a mailbox (`receive_mailbox_keys`): with protocol v2's tags
//! following the ratchet, no mail is ever left behind under a tag nobody asks for.
//!
//! The seed picks the session protocol: odd seeds run protocol v1 (what contacts on older
//! builds still speak), seeds 0 mod 8 protocol v2, 2 mod 8 protocol v3 (hybrid handshake),
//! 4 and 6 mod 8 protocol v4 (with the sparse post-quantum ratchet, whose fragments are
//! then lost, repeated and reordered with the messages that carry them).
//!
//! Besides single sends and network faults, the events model what a mailbox does to a
//! backlog: bursts of hundreds of messages, loss of most of them, the whole backlog
//! shuffled, conversations turning many times (DH steps) while old mail is still on its
//! way, and days passing.

// Indices come from `pick`, which bounds them by the number of messages in flight.
#![allow(clippy::indexing_slicing)]

use crate::card::ProfileCard;
use crate::envelope::Envelope;
use crate::handshake::{initiate, respond};
use crate::identity::IdentityKeyPair;
use crate::invite::Invite;
use crate::protocol::Protocol;
use crate::ratchet::{DecryptError, Session};
use crate::routing::ROUTING_EPOCH_SECS;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// One side of the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The invite's acceptor (handshake initiator).
    A,
    /// The invite's issuer (handshake responder).
    B,
}

impl Side {
    fn other(self) -> Self {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// One step of the simulation. Indices pick an in-flight message modulo the number
/// in flight (events that need a message do nothing when none is in flight).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `from` encrypts a new message of `len` bytes (capped at 3,000).
    Send {
        /// The sender.
        from: Side,
        /// Plaintext length.
        len: u16,
    },
    /// Deliver an in-flight message to its recipient and remove it from the network.
    Deliver(u8),
    /// Lose an in-flight message for ever.
    Drop(u8),
    /// Put a second copy of an in-flight message on the network.
    Duplicate(u8),
    /// Swap two in-flight messages.
    Reorder(u8, u8),
    /// Deliver a copy with one byte changed (`xor` forced non-zero); the original stays.
    Tamper {
        /// Which message.
        index: u8,
        /// Byte position (modulo the length).
        pos: u16,
        /// Bits to flip.
        xor: u8,
    },
    /// Deliver a copy cut to `len` bytes (modulo the length); the original stays.
    Truncate {
        /// Which message.
        index: u8,
        /// Length to keep.
        len: u16,
    },
    /// Deliver again a message that was already delivered.
    Replay(u8),
    /// Serialise one side's session and restore it.
    Restore(Side),
    /// `from` sends a backlog of `count` short messages (capped by [`MAX_SIM_SENDS`]).
    Burst {
        /// The sender.
        from: Side,
        /// How many.
        count: u16,
    },
    /// Lose every in-flight message whose index is not a multiple of `keep_every`
    /// (at least 2): a mailbox that lost most of what it held.
    LoseMost(u8),
    /// Shuffle the whole network, seeded: a backlog returned in random order.
    Shuffle(u8),
    /// `turns` turns of conversation, each message delivered at once: DH steps while
    /// older mail is still in flight.
    Turns(u8),
    /// The clock moves forward by `hours`.
    Wait(u16),
}

/// Most messages a simulation sends in total: enough for gaps beyond `MAX_SKIP` and
/// for evictions by `MAX_SKIPPED_KEYS`, well below `MAX_CHAIN_JUMP`, so a message is
/// never refused as too far ahead and the oracle can demand that every message is
/// read unless its key was given up.
pub const MAX_SIM_SENDS: usize = 3000;

struct InFlight {
    to: Side,
    id: u64,
    wire: Vec<u8>,
    sent_at: u64,
}

/// The mailbox lookback the oracle checks tags against (a node's default: 14 days).
pub const SIM_LOOKBACK_SECS: u64 = 14 * 24 * 3600;

/// A violation of the oracle: the description of what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

/// The two sessions, the network between them, and the oracle's records.
pub struct Simulation {
    a: Session,
    b: Session,
    rng: ChaCha20Rng,
    now: u64,
    next_id: u64,
    in_flight: Vec<InFlight>,
    delivered: Vec<InFlight>,
    delivered_ids: std::collections::HashSet<u64>,
    /// Messages refused on first delivery because their key was given up.
    lost_ids: std::collections::HashSet<u64>,
    /// Keys each side gave up in sessions it has since restored from bytes (A, B).
    dropped_before_restore: [u64; 2],
    /// Messages each side refused because their key was given up (A, B).
    lost: [u64; 2],
    sends: usize,
    /// Counters, for reporting coverage of the event kinds.
    pub stats: SimStats,
}

/// What happened during a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Messages decrypted.
    pub decrypted: usize,
    /// Bad messages (tampered, truncated, duplicated, replayed) rejected.
    pub rejected: usize,
    /// Sessions restored from bytes.
    pub restored: usize,
    /// Messages whose key the receiver had given up (they would be renewed).
    pub lost: usize,
    /// Most skipped keys one side held at once.
    pub max_skipped: usize,
    /// Protocol v4: post-quantum epochs both sides had mixed in at the end.
    pub pq_epochs: u32,
}

/// The plaintext of message `id`: its id and a deterministic filler.
fn content(id: u64, len: usize) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend((0..len).map(|i| (i as u64 ^ id) as u8));
    v
}

impl Simulation {
    /// Sets up two identities, an invite and a finished handshake from `seed`.
    pub fn new(seed: u64) -> Result<Self, Violation> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let card = |name: &str| ProfileCard {
            display_name: name.into(),
            peer_id: vec![0; 38],
            addrs: vec![vec![4, 127, 0, 0, 1]],
            mailbox: None,
        };
        let now = 1_800_000_000;
        let invite = Invite::new(
            bob.public(),
            vec![1; 38],
            vec![],
            None,
            now + 3600,
            &mut rng,
        )
        .map_err(|e| Violation(format!("invite: {e}")))?;
        let mut invite = invite;
        // Odd seeds keep the protocol they had before v3 (v1), so every recorded seed of v1
        // stays what it was; of the even ones, half run v4 (the post-quantum ratchet).
        invite.protocol = match seed % 8 {
            0 => Protocol::V2,
            2 => Protocol::V3,
            4 | 6 => Protocol::V4,
            _ => Protocol::V1,
        };
        let (pending, m1) = initiate(&alice, &invite, &card("alice"), &mut rng)
            .map_err(|e| Violation(format!("initiate: {e}")))?;
        let (b, m2) = respond(&bob, &invite.keys(), &card("bob"), &m1, &mut rng)
            .map_err(|e| Violation(format!("respond: {e}")))?;
        let a = pending
            .finish(&alice, &m2)
            .map_err(|e| Violation(format!("finish: {}", e.error)))?;
        Ok(Self {
            a: a.session,
            b: b.session,
            rng,
            now,
            next_id: 0,
            in_flight: Vec::new(),
            delivered: Vec::new(),
            delivered_ids: Default::default(),
            lost_ids: Default::default(),
            dropped_before_restore: [0; 2],
            lost: [0; 2],
            sends: 0,
            stats: SimStats::default(),
        })
    }

    fn index(side: Side) -> usize {
        match side {
            Side::A => 0,
            Side::B => 1,
        }
    }

    /// Keys `side` has given up over the whole run.
    fn dropped(&self, side: Side) -> u64 {
        let s = match side {
            Side::A => &self.a,
            Side::B => &self.b,
        };
        self.dropped_before_restore[Self::index(side)] + s.dropped_keys(self.now)
    }

    fn session(&mut self, side: Side) -> &mut Session {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    fn send(&mut self, from: Side, len: usize) -> Result<(), Violation> {
        if self.sends >= MAX_SIM_SENDS {
            return Ok(());
        }
        self.send_unbounded(from, len)
    }

    fn send_unbounded(&mut self, from: Side, len: usize) -> Result<(), Violation> {
        let id = self.next_id;
        self.next_id += 1;
        self.now += 1;
        let pt = content(id, len);
        let now = self.now;
        let mut rng = self.rng.clone();
        let env = self
            .session(from)
            .encrypt(&pt, now, &mut rng)
            .map_err(|e| Violation(format!("encrypt failed: {e}")))?;
        self.rng = rng;
        self.sends += 1;
        self.in_flight.push(InFlight {
            to: from.other(),
            id,
            wire: env.encode(),
            sent_at: now,
        });
        Ok(())
    }

    /// Delivers `wire` to `to`; a bad message must be rejected without any change.
    fn deliver_bad(&mut self, to: Side, wire: &[u8], what: &str) -> Result<(), Violation> {
        let now = self.now;
        let session = self.session(to);
        let before = session.to_bytes();
        let accepted = match Envelope::decode(wire) {
            Ok(env) => session.decrypt(&env, now).is_ok(),
            Err(_) => false,
        };
        if accepted {
            return Err(Violation(format!("{what} message was accepted")));
        }
        if session.to_bytes() != before {
            return Err(Violation(format!("{what} message changed the session")));
        }
        self.stats.rejected += 1;
        Ok(())
    }

    fn deliver(&mut self, m: InFlight) -> Result<(), Violation> {
        if self.delivered_ids.contains(&m.id) {
            return self.deliver_bad(m.to, &m.wire, "duplicated");
        }
        if self.lost_ids.contains(&m.id) {
            return self.deliver_bad(m.to, &m.wire, "given-up");
        }
        let env = Envelope::decode(&m.wire)
            .map_err(|e| Violation(format!("own envelope did not decode: {e}")))?;
        let now = self.now;
        let session = self.session(m.to);
        // A copy, serialised only if the message is refused (serialising a large state
        // on every delivery would dominate the run).
        let before = session.clone();
        let result = session.decrypt(&env, now);
        let skipped = session.skipped_keys();
        if skipped > crate::ratchet::MAX_SKIPPED_KEYS {
            return Err(Violation(format!("{skipped} skipped keys kept")));
        }
        self.stats.max_skipped = self.stats.max_skipped.max(skipped);
        match result {
            Ok(pt) => {
                // Mail sent within the lookback must be under a tag the receiver collects
                // (the node asks one epoch ahead, for a contact's clock). Checked for one
                // message in four: computing every collected key on each delivery would
                // dominate the run.
                if m.id % 4 == 0 && m.sent_at + SIM_LOOKBACK_SECS >= now + ROUTING_EPOCH_SECS {
                    let keys =
                        before.receive_mailbox_keys(now + ROUTING_EPOCH_SECS, SIM_LOOKBACK_SECS);
                    if !keys.iter().any(|k| k.tag() == env.tag) {
                        return Err(Violation(format!(
                            "message {} was under a tag the receiver would not collect ({} keys asked for)",
                            m.id,
                            keys.len()
                        )));
                    }
                }
                let expected_len = pt.len().saturating_sub(8);
                if pt != content(m.id, expected_len) || pt.get(..8) != Some(&m.id.to_be_bytes()[..])
                {
                    return Err(Violation(format!("message {} decrypted wrongly", m.id)));
                }
                self.delivered_ids.insert(m.id);
                self.stats.decrypted += 1;
                self.delivered.push(m);
                Ok(())
            }
            Err(e @ (DecryptError::Replayed | DecryptError::Rejected)) => {
                // Allowed only for a message whose key was given up, one per key.
                if self.session(m.to).to_bytes() != before.to_bytes() {
                    return Err(Violation(format!("refused message {} changed state", m.id)));
                }
                let i = Self::index(m.to);
                self.lost[i] += 1;
                if self.lost[i] > self.dropped(m.to) {
                    return Err(Violation(format!(
                        "message {} was rejected on first delivery ({e}) with no key given up",
                        m.id
                    )));
                }
                self.lost_ids.insert(m.id);
                self.stats.lost += 1;
                Ok(())
            }
            Err(e) => Err(Violation(format!(
                "message {} was rejected on first delivery: {e}",
                m.id
            ))),
        }
    }

    /// One turn each way, delivered at once.
    fn turn(&mut self) -> Result<(), Violation> {
        for from in [Side::A, Side::B] {
            let id = self.next_id;
            self.send_unbounded(from, 4)?;
            let pos = self
                .in_flight
                .iter()
                .rposition(|m| m.id == id)
                .ok_or_else(|| Violation("sent message not in flight".into()))?;
            let m = self.in_flight.remove(pos);
            self.deliver(m)?;
        }
        Ok(())
    }

    fn pick(&self, i: u8) -> Option<usize> {
        (!self.in_flight.is_empty()).then(|| usize::from(i) % self.in_flight.len())
    }

    /// Applies one event and checks the oracle.
    pub fn apply(&mut self, event: &Event) -> Result<(), Violation> {
        match *event {
            Event::Send { from, len } => {
                self.send(from, usize::from(len.min(3000)))?;
            }
            Event::Burst { from, count } => {
                for _ in 0..count {
                    self.send(from, 8)?;
                }
            }
            Event::LoseMost(k) => {
                let k = usize::from(k.max(2));
                let mut i = 0;
                self.in_flight.retain(|_| {
                    i += 1;
                    (i - 1) % k == 0
                });
            }
            Event::Shuffle(seed) => {
                // Fisher-Yates with a generator of its own, so the session's draws
                // do not depend on the network's.
                let mut r = ChaCha20Rng::seed_from_u64(u64::from(seed));
                for i in (1..self.in_flight.len()).rev() {
                    let j = (r.next_u64() % (i as u64 + 1)) as usize;
                    self.in_flight.swap(i, j);
                }
            }
            Event::Turns(n) => {
                for _ in 0..n.min(40) {
                    self.turn()?;
                }
            }
            Event::Wait(hours) => {
                self.now += u64::from(hours) * 3600;
            }
            Event::Deliver(i) => {
                if let Some(i) = self.pick(i) {
                    let m = self.in_flight.remove(i);
                    self.deliver(m)?;
                }
            }
            Event::Drop(i) => {
                if let Some(i) = self.pick(i) {
                    self.in_flight.remove(i);
                }
            }
            Event::Duplicate(i) => {
                if let Some(i) = self.pick(i) {
                    if self.in_flight.len() < 4 * MAX_SIM_SENDS {
                        let m = &self.in_flight[i];
                        let copy = InFlight {
                            to: m.to,
                            id: m.id,
                            wire: m.wire.clone(),
                            sent_at: m.sent_at,
                        };
                        self.in_flight.push(copy);
                    }
                }
            }
            Event::Reorder(x, y) => {
                if let (Some(x), Some(y)) = (self.pick(x), self.pick(y)) {
                    self.in_flight.swap(x, y);
                }
            }
            Event::Tamper { index, pos, xor } => {
                if let Some(i) = self.pick(index) {
                    let m = &self.in_flight[i];
                    let mut wire = m.wire.clone();
                    let p = usize::from(pos) % wire.len();
                    wire[p] ^= xor | 1;
                    let to = m.to;
                    self.deliver_bad(to, &wire, "tampered")?;
                }
            }
            Event::Truncate { index, len } => {
                if let Some(i) = self.pick(index) {
                    let m = &self.in_flight[i];
                    let keep = usize::from(len) % m.wire.len();
                    let wire = m.wire[..keep].to_vec();
                    let to = m.to;
                    self.deliver_bad(to, &wire, "truncated")?;
                }
            }
            Event::Replay(i) => {
                if !self.delivered.is_empty() {
                    let m = &self.delivered[usize::from(i) % self.delivered.len()];
                    let (to, wire) = (m.to, m.wire.clone());
                    self.deliver_bad(to, &wire, "replayed")?;
                }
            }
            Event::Restore(side) => {
                let session = self.session(side);
                let bytes = session.to_bytes();
                let restored = Session::from_bytes(&bytes)
                    .map_err(|e| Violation(format!("restore failed: {e}")))?;
                if restored.to_bytes() != bytes {
                    return Err(Violation("restore did not round-trip".into()));
                }
                let dropped = session.skipped.dropped;
                *session = restored;
                self.dropped_before_restore[Self::index(side)] += dropped;
                self.stats.restored += 1;
            }
        }
        Ok(())
    }

    /// After a run: delivers everything still in flight, then checks that a new
    /// message in each direction still gets through.
    pub fn finish(&mut self) -> Result<(), Violation> {
        while !self.in_flight.is_empty() {
            let m = self.in_flight.remove(0);
            self.deliver(m)?;
        }
        for from in [Side::A, Side::B, Side::B, Side::A] {
            let id = self.next_id;
            self.send_unbounded(from, 10)?;
            let m = self.in_flight.remove(0);
            self.deliver(m)?;
            if !self.delivered_ids.contains(&id) {
                return Err(Violation(format!("the session is stuck: {id} not read")));
            }
        }
        self.stats.pq_epochs = self.a.pq_epoch().min(self.b.pq_epoch()).unwrap_or(0);
        Ok(())
    }

    /// Runs a whole event sequence from `seed` and checks the oracle throughout.
    pub fn run(seed: u64, events: &[Event]) -> Result<SimStats, Violation> {
        let mut sim = Self::new(seed)?;
        for e in events {
            sim.apply(e)?;
        }
        sim.finish()?;
        Ok(sim.stats)
    }
}

/// Decodes fuzzer bytes into events: 4 bytes per event, unknown opcodes wrap around.
pub fn events_from_bytes(data: &[u8]) -> Vec<Event> {
    data.chunks_exact(4)
        .map(|c| {
            let (op, x, y, z) = (c[0], c[1], c[2], c[3]);
            let side = if x & 1 == 0 { Side::A } else { Side::B };
            match op % 16 {
                0 | 1 => Event::Send {
                    from: side,
                    len: u16::from_be_bytes([y & 0x0f, z]),
                },
                2 | 3 => Event::Deliver(x),
                4 => Event::Drop(x),
                5 => Event::Duplicate(x),
                6 => Event::Reorder(x, y),
                7 => Event::Tamper {
                    index: x,
                    pos: u16::from_be_bytes([y, z]),
                    xor: z,
                },
                8 => match y % 3 {
                    0 => Event::Truncate {
                        index: x,
                        len: u16::from_be_bytes([y, z]),
                    },
                    1 => Event::Replay(x),
                    _ => Event::Restore(side),
                },
                9 => Event::Restore(side),
                // Bursts of up to 255 (several in a row exceed `MAX_SKIP`): a replay of
                // the whole corpus stays quick in a debug build.
                10 => Event::Burst {
                    from: side,
                    count: u16::from(z),
                },
                11 => Event::LoseMost(y),
                12 => Event::Shuffle(y),
                13 => Event::Turns(y % 16),
                14 => Event::Wait(u16::from_be_bytes([y, z])),
                _ => Event::Deliver(x),
            }
        })
        .collect()
}
