//! A deterministic two-party simulation of a session, driven by [`Event`]s, with an
//! oracle that checks every step. The property test (`crypto/tests/session_props.rs`)
//! and the fuzz target (`fuzz/fuzz_targets/session.rs`) both drive it, so a failing
//! fuzz input replays as a test.
//!
//! The oracle: every message delivered for the first time decrypts to exactly what
//! was sent; a duplicate, replayed, tampered or truncated message is rejected and
//! leaves the receiving session byte-for-byte unchanged; a serialised and restored
//! session behaves as before; after any sequence, both directions still work.

// Indices come from `pick`, which bounds them by the number of messages in flight.
#![allow(clippy::indexing_slicing)]

use crate::card::ProfileCard;
use crate::envelope::Envelope;
use crate::handshake::{initiate, respond};
use crate::identity::IdentityKeyPair;
use crate::invite::Invite;
use crate::ratchet::Session;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

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
}

/// Most messages a simulation sends; keeps every gap within `MAX_SKIP` and the
/// skipped-key total within its limit, so the oracle can demand success.
pub const MAX_SIM_SENDS: usize = 400;

struct InFlight {
    to: Side,
    id: u64,
    wire: Vec<u8>,
}

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
            sends: 0,
            stats: SimStats::default(),
        })
    }

    fn session(&mut self, side: Side) -> &mut Session {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    fn send(&mut self, from: Side, len: usize) -> Result<(), Violation> {
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
        });
        Ok(())
    }

    /// Delivers `wire` to `to`; a bad message must be rejected without any change.
    fn deliver_bad(&mut self, to: Side, wire: &[u8], what: &str) -> Result<(), Violation> {
        let session = self.session(to);
        let before = session.to_bytes();
        let accepted = match Envelope::decode(wire) {
            Ok(env) => session.decrypt(&env).is_ok(),
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
        let env = Envelope::decode(&m.wire)
            .map_err(|e| Violation(format!("own envelope did not decode: {e}")))?;
        let session = self.session(m.to);
        match session.decrypt(&env) {
            Ok(pt) => {
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
            Err(e) => Err(Violation(format!(
                "message {} was rejected on first delivery: {e}",
                m.id
            ))),
        }
    }

    fn pick(&self, i: u8) -> Option<usize> {
        (!self.in_flight.is_empty()).then(|| usize::from(i) % self.in_flight.len())
    }

    /// Applies one event and checks the oracle.
    pub fn apply(&mut self, event: &Event) -> Result<(), Violation> {
        match *event {
            Event::Send { from, len } => {
                if self.sends < MAX_SIM_SENDS {
                    self.send(from, usize::from(len.min(3000)))?;
                }
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
                *session = restored;
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
            self.sends = 0;
            self.send(from, 10)?;
            let m = self.in_flight.remove(0);
            self.deliver(m)?;
        }
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
            match op % 10 {
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
                _ => Event::Restore(side),
            }
        })
        .collect()
}
