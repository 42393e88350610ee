//! The sparse post-quantum ratchet of protocol v4 (docs/PROTOCOL.md §12.10).
//!
//! From time to time the two sides run a fresh ML-KEM-768 exchange *inside* ordinary
//! messages and mix its secret into the root key at a DH step, so that post-compromise
//! security also holds against an adversary who can break X25519 later.
//!
//! **Epochs.** Epoch 0 is the handshake's own KEM exchange (hybrid, protocol 3 and later).
//! Epoch `e > 0` has a *keyholder* — the responder for odd `e`, the initiator for even `e`,
//! so both sides' randomness takes turns — and an *encapsulator*, the other side:
//!
//! 1. the keyholder waits [`PQ_EPOCH_GAP`] receiving DH steps after the last epoch, then
//!    draws a key pair at its next send and carries its encapsulation key (1,184 bytes) in
//!    fragments, cyclically, until a ciphertext fragment comes back;
//! 2. the encapsulator, once it has every byte of the key, encapsulates to it at its next
//!    send and carries the ciphertext (1,088 bytes) the same way; it keeps the secret;
//! 3. the keyholder, once it has every byte of the ciphertext, decapsulates; at its next
//!    sending DH step it derives the new chain from `dh ‖ secret`
//!    (`"cairn/v4 pq ratchet root"`) instead of `dh` alone and marks that chain's headers
//!    (the top bit of `pn`); the encapsulator, reading the first message of a marked chain,
//!    derives the same. Both are then at epoch `e`, and the roles swap for `e + 1`.
//!
//! **Fragments never change a message's size.** A protocol v4 body is
//! `pad(fragment_len u16 | fragment | plaintext)` padded to the bucket that
//! `2 + plaintext` alone would take: the fragment only fills room the padding would have
//! filled with zeros, so the size on the wire is the same whether a message carries KEM
//! material or not. A fragment is `kind u8 (1 key, 2 ciphertext) | epoch u32 | offset u16 |
//! bytes`; a message with less than 8 bytes of room carries none. Fragments are inside
//! the body's AEAD: a lost, late, repeated or reordered one is just sent again later.
//!
//! Everything here works on the session's copy, committed only when a message is accepted
//! (the ratchet's rule): a rejected message changes nothing.

use super::Role;
use crate::kem::{self, EncapsulationKey, KemCiphertext, KemKeyPair};
use crate::wire::{Reader, WireError, Writer};
use rand_core::{CryptoRng, RngCore};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Receiving DH steps after one epoch before the keyholder starts the next.
pub const PQ_EPOCH_GAP: u32 = 2;
/// The length field every protocol v4 body starts with.
pub(crate) const LEN_FIELD: usize = 2;
/// `kind | epoch | offset` before a fragment's bytes.
const FRAGMENT_HEADER_LEN: usize = 1 + 4 + 2;
const KIND_KEY: u8 = 1;
const KIND_CIPHERTEXT: u8 = 2;
/// The header's `pn` bit that marks a chain derived with a post-quantum secret.
pub(crate) const PN_FLAG: u32 = 1 << 31;
const SEED_LEN: usize = 64;

/// A KEM value arriving in fragments: the bytes and which of them have come.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Assembly {
    buf: Vec<u8>,
    have: Vec<u8>,
    /// Bytes received so far (bits set in `have`).
    count: usize,
}

impl Assembly {
    fn new(len: usize) -> Self {
        Self {
            buf: vec![0; len],
            have: vec![0; len.div_ceil(8)],
            count: 0,
        }
    }

    fn add(&mut self, offset: usize, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            let p = offset + i;
            if let (Some(slot), Some(bits)) = (self.buf.get_mut(p), self.have.get_mut(p / 8)) {
                *slot = *b;
                if *bits & (1 << (p % 8)) == 0 {
                    *bits |= 1 << (p % 8);
                    self.count += 1;
                }
            }
        }
    }

    fn complete(&self) -> bool {
        self.count == self.buf.len()
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.put(&self.buf);
        out.put(&self.have);
    }

    fn read(r: &mut Reader<'_>, len: usize) -> Result<Self, WireError> {
        let buf = r.take(len)?.to_vec();
        let have = r.take(len.div_ceil(8))?.to_vec();
        // Bits past the end would make a value look complete that is not.
        if len % 8 != 0 && have.last().is_some_and(|b| b >> (len % 8) != 0) {
            return Err(WireError::Invalid);
        }
        let count = have.iter().map(|b| b.count_ones() as usize).sum();
        Ok(Self { buf, have, count })
    }
}

/// Our ciphertext for an epoch we encapsulate, and its secret.
#[derive(Clone)]
pub(crate) struct Out {
    ct: Vec<u8>,
    secret: Zeroizing<[u8; 32]>,
    cursor: u16,
}

/// Where this side is in the exchange of the next epoch.
#[derive(Clone)]
pub(crate) enum Part {
    /// Keyholder of the next epoch, waiting for [`PQ_EPOCH_GAP`] to pass.
    Wait,
    /// Keyholder: the key pair's seed and encapsulation key (sent from `cursor`), whether
    /// the other side has it all (a ciphertext fragment came), the ciphertext as it
    /// arrives, and the secret once decapsulated (mixed at our next sending step).
    Key {
        seed: Zeroizing<[u8; SEED_LEN]>,
        /// The key pair of `seed`, derived once (shared by the session's copies).
        pair: Arc<KemKeyPair>,
        cursor: u16,
        acked: bool,
        ct: Assembly,
        ready: Option<Zeroizing<[u8; 32]>>,
    },
    /// Encapsulator: the encapsulation key as it arrives, then our ciphertext and secret.
    Encap { ek: Assembly, out: Option<Out> },
}

/// A session's post-quantum ratchet state.
#[derive(Clone)]
pub(crate) struct PqState {
    /// Epochs mixed into the root key so far (0: only the handshake's).
    pub(crate) epoch: u32,
    /// The session's receiving DH steps when `epoch` last moved.
    since: u32,
    part: Part,
}

fn keyholder(epoch: u32) -> Role {
    if epoch % 2 == 1 {
        Role::Responder
    } else {
        Role::Initiator
    }
}

fn part_for(role: Role, epoch: u32) -> Part {
    if keyholder(epoch) == role {
        Part::Wait
    } else {
        Part::Encap {
            ek: Assembly::new(kem::ENCAPSULATION_KEY_LEN),
            out: None,
        }
    }
}

impl PqState {
    /// The state of a new session: epoch 0 done by the handshake.
    pub(crate) fn new(role: Role) -> Self {
        Self {
            epoch: 0,
            since: 0,
            part: part_for(role, 1),
        }
    }

    /// What is under way, for tests and statistics: (epoch, keyholder waiting, key being
    /// sent, ciphertext being sent, secret ready).
    pub(crate) fn stage(&self) -> &'static str {
        match &self.part {
            Part::Wait => "wait",
            Part::Key { ready: Some(_), .. } => "ready",
            Part::Key { .. } => "key",
            Part::Encap { out: Some(_), .. } => "ciphertext",
            Part::Encap { .. } => "collect",
        }
    }

    /// Before a send (randomness at hand): start the next epoch when due, or encapsulate
    /// to a key that has come in full. A key that fails FIPS 203's check is collected again.
    pub(crate) fn prepare(&mut self, recv_steps: u32, rng: &mut (impl RngCore + CryptoRng)) {
        match &mut self.part {
            Part::Wait if recv_steps.saturating_sub(self.since) >= PQ_EPOCH_GAP => {
                let mut seed = Zeroizing::new([0u8; SEED_LEN]);
                rng.fill_bytes(seed.as_mut());
                let pair = Arc::new(KemKeyPair::from_seed(&seed));
                self.part = Part::Key {
                    seed,
                    pair,
                    cursor: 0,
                    acked: false,
                    ct: Assembly::new(kem::CIPHERTEXT_LEN),
                    ready: None,
                };
            }
            Part::Encap { ek, out } if out.is_none() && ek.complete() => {
                match EncapsulationKey::from_bytes(&ek.buf) {
                    Ok(key) => {
                        let (ct, secret) = key.encapsulate(rng);
                        *out = Some(Out {
                            ct: ct.as_bytes().to_vec(),
                            secret: Zeroizing::new(*secret.expose_secret()),
                            cursor: 0,
                        });
                    }
                    Err(_) => *ek = Assembly::new(kem::ENCAPSULATION_KEY_LEN),
                }
            }
            _ => {}
        }
    }

    fn next_epoch(&mut self, role: Role, recv_steps: u32) {
        self.epoch = self.epoch.saturating_add(1);
        self.since = recv_steps;
        self.part = part_for(role, self.epoch.saturating_add(1));
    }

    /// At our sending DH step: the decapsulated secret to mix, if we have one (the epoch
    /// then moves on and our new chain is marked).
    pub(crate) fn take_ready(
        &mut self,
        role: Role,
        recv_steps: u32,
    ) -> Option<Zeroizing<[u8; 32]>> {
        let Part::Key {
            ready: Some(secret),
            ..
        } = &self.part
        else {
            return None;
        };
        let secret = secret.clone();
        self.next_epoch(role, recv_steps);
        Some(secret)
    }

    /// The contact's new chain is marked: the secret we encapsulated for it. None if we
    /// have none (the message is then rejected).
    pub(crate) fn take_encapsulated(
        &mut self,
        role: Role,
        recv_steps: u32,
    ) -> Option<Zeroizing<[u8; 32]>> {
        let Part::Encap { out: Some(o), .. } = &self.part else {
            return None;
        };
        let secret = o.secret.clone();
        self.next_epoch(role, recv_steps);
        Some(secret)
    }

    /// The fragment for a message with `room` bytes free after the length field (empty if
    /// nothing is to be sent or it does not fit).
    pub(crate) fn fragment(&mut self, room: usize) -> Vec<u8> {
        let Some(cap) = room.checked_sub(FRAGMENT_HEADER_LEN).filter(|c| *c > 0) else {
            return Vec::new();
        };
        let epoch = self.epoch.saturating_add(1);
        let (kind, data, cursor) = match &mut self.part {
            Part::Key {
                pair,
                cursor,
                acked: false,
                ready: None,
                ..
            } => (KIND_KEY, &pair.encapsulation_key().as_bytes()[..], cursor),
            Part::Encap { out: Some(o), .. } => (KIND_CIPHERTEXT, &o.ct[..], &mut o.cursor),
            _ => return Vec::new(),
        };
        let start = usize::from(*cursor) % data.len().max(1);
        let n = cap.min(data.len() - start);
        let mut f = Vec::with_capacity(FRAGMENT_HEADER_LEN + n);
        f.put_u8(kind);
        f.put_u32(epoch);
        f.put_u16(u16::try_from(start).unwrap_or(0));
        f.put(data.get(start..start + n).unwrap_or_default());
        *cursor = u16::try_from((start + n) % data.len().max(1)).unwrap_or(0);
        f
    }

    /// A fragment from an authentic message. One for another epoch or role, or malformed
    /// (only a faulty contact sends one), is ignored.
    pub(crate) fn receive(&mut self, fragment: &[u8]) {
        if fragment.is_empty() {
            return;
        }
        let mut r = Reader::new(fragment);
        let (Ok(kind), Ok(epoch), Ok(offset)) = (r.u8(), r.u32(), r.u16()) else {
            return;
        };
        let data = r.rest();
        let offset = usize::from(offset);
        if epoch != self.epoch.saturating_add(1) {
            return;
        }
        match (kind, &mut self.part) {
            (KIND_KEY, Part::Encap { ek, out: None })
                if offset + data.len() <= kem::ENCAPSULATION_KEY_LEN =>
            {
                ek.add(offset, data);
            }
            (
                KIND_CIPHERTEXT,
                Part::Key {
                    pair,
                    acked,
                    ct,
                    ready: ready @ None,
                    ..
                },
            ) if offset + data.len() <= kem::CIPHERTEXT_LEN => {
                *acked = true;
                ct.add(offset, data);
                if ct.complete() {
                    if let Ok(c) = KemCiphertext::from_bytes(&ct.buf) {
                        let secret = pair.decapsulate(&c);
                        *ready = Some(Zeroizing::new(*secret.expose_secret()));
                    }
                }
            }
            _ => {}
        }
    }

    /// Serialises (holds secrets: the caller's buffer zeroizes).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.epoch);
        out.put_u32(self.since);
        match &self.part {
            Part::Wait => out.put_u8(0),
            Part::Key {
                seed,
                cursor,
                acked,
                ct,
                ready,
                ..
            } => {
                out.put_u8(1);
                out.put(seed.as_ref());
                out.put_u16(*cursor);
                out.put_u8(u8::from(*acked));
                ct.write(out);
                match ready {
                    Some(s) => {
                        out.put_u8(1);
                        out.put(s.as_ref());
                    }
                    None => out.put_u8(0),
                }
            }
            Part::Encap { ek, out: o } => {
                out.put_u8(2);
                ek.write(out);
                match o {
                    Some(o) => {
                        out.put_u8(1);
                        out.put(&o.ct);
                        out.put(o.secret.as_ref());
                        out.put_u16(o.cursor);
                    }
                    None => out.put_u8(0),
                }
            }
        }
    }

    /// Reads what [`Self::write`] wrote for a session of `role`.
    pub(crate) fn read(r: &mut Reader<'_>, role: Role) -> Result<Self, WireError> {
        let epoch = r.u32()?;
        let since = r.u32()?;
        let part = match r.u8()? {
            0 => Part::Wait,
            1 => {
                let seed = Zeroizing::new(r.array::<SEED_LEN>()?);
                let cursor = r.u16()?;
                let acked = r.bool()?;
                let ct = Assembly::read(r, kem::CIPHERTEXT_LEN)?;
                let ready = if r.bool()? {
                    Some(Zeroizing::new(r.array::<32>()?))
                } else {
                    None
                };
                if usize::from(cursor) >= kem::ENCAPSULATION_KEY_LEN {
                    return Err(WireError::Invalid);
                }
                let pair = Arc::new(KemKeyPair::from_seed(&seed));
                Part::Key {
                    seed,
                    pair,
                    cursor,
                    acked,
                    ct,
                    ready,
                }
            }
            2 => {
                let ek = Assembly::read(r, kem::ENCAPSULATION_KEY_LEN)?;
                let out = if r.bool()? {
                    let ct = r.take(kem::CIPHERTEXT_LEN)?.to_vec();
                    let secret = Zeroizing::new(r.array::<32>()?);
                    let cursor = r.u16()?;
                    if usize::from(cursor) >= kem::CIPHERTEXT_LEN {
                        return Err(WireError::Invalid);
                    }
                    Some(Out { ct, secret, cursor })
                } else {
                    None
                };
                Part::Encap { ek, out }
            }
            _ => return Err(WireError::Invalid),
        };
        // The part must be the one this side plays in the next epoch.
        let keyholding = matches!(part, Part::Wait | Part::Key { .. });
        if keyholding != (keyholder(epoch.saturating_add(1)) == role) {
            return Err(WireError::Invalid);
        }
        Ok(Self { epoch, since, part })
    }
}

#[cfg(test)]
impl PqState {
    /// The largest state `role` can hold: encapsulating, with the whole key in and the
    /// ciphertext out.
    pub(crate) fn largest(role: Role) -> Self {
        let epoch = if keyholder(1) == role { 1 } else { 0 };
        let mut ek = Assembly::new(kem::ENCAPSULATION_KEY_LEN);
        ek.add(0, &[7; kem::ENCAPSULATION_KEY_LEN]);
        Self {
            epoch,
            since: 0,
            part: Part::Encap {
                ek,
                out: Some(Out {
                    ct: vec![8; kem::CIPHERTEXT_LEN],
                    secret: Zeroizing::new([9; 32]),
                    cursor: 3,
                }),
            },
        }
    }
}

/// Largest serialised [`PqState`].
pub(crate) const MAX_PQ_STATE_LEN: usize = 4
    + 4
    + 1
    + (kem::ENCAPSULATION_KEY_LEN + kem::ENCAPSULATION_KEY_LEN.div_ceil(8))
    + 1
    + kem::CIPHERTEXT_LEN
    + 32
    + 2;

/// Splits a protocol v4 body (unpadded) into its fragment and the plaintext.
pub(crate) fn split_body(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = body.split_at_checked(LEN_FIELD)?;
    let n = usize::from(u16::from_be_bytes([*len.first()?, *len.get(1)?]));
    rest.split_at_checked(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn pair() -> (PqState, PqState) {
        (PqState::new(Role::Initiator), PqState::new(Role::Responder))
    }

    /// Catches an exchange that does not complete with fragments of any room, or the two
    /// sides ending with different secrets.
    #[test]
    fn an_epoch_completes_through_fragments_and_both_get_the_secret() {
        for room in [8, 50, 233, 2000] {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(room as u64);
            let (mut a, mut b) = pair();
            // The responder holds epoch 1's key, after the gap.
            b.prepare(PQ_EPOCH_GAP, &mut rng);
            assert_eq!(b.stage(), "key");
            let mut rounds = 0;
            while a.stage() != "ciphertext" {
                a.receive(&b.fragment(room));
                a.prepare(0, &mut rng);
                rounds += 1;
                assert!(rounds < 2000);
            }
            while b.stage() != "ready" {
                b.receive(&a.fragment(room));
                rounds += 1;
                assert!(rounds < 4000);
            }
            // The keyholder stops sending its key once a ciphertext fragment came.
            assert!(b.fragment(room).is_empty());
            let kb = b.take_ready(Role::Responder, 5).unwrap();
            let ka = a.take_encapsulated(Role::Initiator, 5).unwrap();
            assert_eq!(*ka, *kb);
            assert_eq!((a.epoch, b.epoch), (1, 1));
            // Roles swap: the initiator holds epoch 2's key.
            assert_eq!(a.stage(), "wait");
            assert_eq!(b.stage(), "collect");
        }
    }

    /// Catches a fragment for another epoch, or out of range, being taken, and a state
    /// that does not round-trip (each stage).
    #[test]
    fn stale_fragments_are_ignored_and_every_stage_round_trips() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let (mut a, mut b) = pair();
        b.prepare(PQ_EPOCH_GAP, &mut rng);
        let mut f = b.fragment(100);
        f[4] = 2; // epoch 2, not 1
        a.receive(&f);
        let mut g = b.fragment(100);
        g[5] = 0xff; // offset far past the end
        a.receive(&g);
        if let Part::Encap { ek, .. } = &a.part {
            assert!(ek.have.iter().all(|b| *b == 0));
        }
        for (s, role) in [(&a, Role::Initiator), (&b, Role::Responder)] {
            let mut v = Vec::new();
            s.write(&mut v);
            assert!(v.len() <= MAX_PQ_STATE_LEN);
            let back = PqState::read(&mut Reader::new(&v), role).unwrap();
            let mut w = Vec::new();
            back.write(&mut w);
            assert_eq!(v, w);
            // A state read for the wrong side is refused.
            let other = if role == Role::Initiator {
                Role::Responder
            } else {
                Role::Initiator
            };
            assert!(PqState::read(&mut Reader::new(&v), other).is_err());
        }
    }
}
