//! The Double Ratchet with header encryption (Signal specification, section 4).
//!
//! One [`Session`] per contact. It is created only by a finished handshake
//! ([`crate::handshake`]), so an unfinished handshake cannot send messages.
//!
//! Every decryption works on copies: keys are derived into locals, the AEAD is
//! checked, and only then is the session changed. A forged, truncated, replayed or
//! otherwise rejected message leaves the session byte-for-byte as it was.
//!
//! Cairn performs the second half of a DH ratchet step (new key pair, new sending
//! chain) lazily, at the next send, rather than at receipt as the Signal
//! specification's pseudocode does. The messages on the wire are the same; it keeps
//! decryption free of randomness, and lets the responder of the handshake (Signal's
//! "Bob") send first: it already knows the initiator's first ratchet key.

mod body;
pub(crate) mod codec;
pub(crate) mod header;
pub(crate) mod keys;
pub(crate) mod pq;
pub(crate) mod skipped;
mod walk;

use crate::dh::RatchetKeyPair;
use crate::envelope::{prefix, Envelope, EnvelopeKind, AEAD_TAG_LEN, ENCRYPTED_HEADER_LEN};
use crate::kdf::{hmac, label};
use crate::padding::{self, PaddingError};
use crate::protocol::Protocol;
use crate::routing::{MailboxKey, TagKey, ROUTING_EPOCH_SECS};
use body::{body_ad, body_key, header_ad, open_body};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use header::{Header, HEADER_NONCE_LEN};
use keys::{ChainKey, HeaderKey, MessageKey, RootKey};
pub use pq::PQ_EPOCH_GAP;
use pq::{PqState, PN_FLAG};
use rand_core::{CryptoRng, RngCore};
use skipped::SkippedKeys;
pub use skipped::{
    MAX_CHAIN_JUMP, MAX_SKIP, MAX_SKIPPED_AGE_SECS, MAX_SKIPPED_KEYS, MAX_SKIPPED_STEPS,
};
use thiserror::Error;
use walk::{advance, advance_to_end};
use x25519_dalek::PublicKey;

/// Length of the session's associated data (the Noise handshake hash).
pub const SESSION_AD_LEN: usize = 32;

/// The longest plaintext a session of any protocol encrypts: protocol v4 frames the
/// post-quantum fragment with two bytes of the largest bucket ([`Session::max_plaintext_len`]).
pub const MAX_SESSION_PLAINTEXT_LEN: usize = padding::MAX_PLAINTEXT_LEN - pq::LEN_FIELD;

/// Why a message could not be encrypted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptError {
    /// The message does not fit one envelope.
    #[error(transparent)]
    TooLarge(#[from] PaddingError),
    /// The sending chain reached 2³² messages (never in practice).
    #[error("sending chain exhausted")]
    ChainExhausted,
    /// The peer's ratchet key produced a non-contributory DH result.
    #[error("the contact's ratchet key is invalid")]
    BadRatchetKey,
}

/// Why a message was rejected. Deliberately coarse: the reason never depends on
/// secret data beyond "this key opened it or not", so it is no oracle.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecryptError {
    /// Not a ratchet message, or its length is wrong.
    #[error("malformed message")]
    Malformed,
    /// No key of this session authenticates it: forged, damaged, or not ours.
    #[error("message rejected: not authentic for this session")]
    Rejected,
    /// Authentic header, but this message was already received (or its skipped key
    /// was evicted or expired).
    #[error("message already received")]
    Replayed,
    /// Authentic header, but the message is further ahead in its chain than
    /// [`MAX_CHAIN_JUMP`] allows. The message may become readable later (never with
    /// this session as it is): a node keeps it rather than discarding it.
    #[error("message is too far ahead of the last one received")]
    TooFarAhead,
    /// The sender's new ratchet key gives a non-contributory DH result.
    #[error("message carries an invalid ratchet key")]
    BadRatchetKey,
}

/// Which side of the handshake this session was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Accepted the invite and sent Noise message 1 (Signal's "Alice").
    Initiator,
    /// Issued the invite and answered (Signal's "Bob").
    Responder,
}

/// Keys a finished handshake hands to the ratchet.
pub(crate) struct SessionSeed {
    pub(crate) protocol: Protocol,
    pub(crate) ad: [u8; SESSION_AD_LEN],
    pub(crate) sk: RootKey,
    /// Header key of the initiator's first sending chain (shared_hka).
    pub(crate) hk_initiator: HeaderKey,
    /// Header key of the responder's first sending chain (shared_nhkb).
    pub(crate) hk_responder: HeaderKey,
    pub(crate) tag_initiator: TagKey,
    pub(crate) tag_responder: TagKey,
}

/// A Double Ratchet session with one contact.
#[derive(Clone)]
pub struct Session {
    pub(crate) protocol: Protocol,
    pub(crate) role: Role,
    pub(crate) ad: [u8; SESSION_AD_LEN],
    pub(crate) dhs: RatchetKeyPair,
    pub(crate) dhr: Option<PublicKey>,
    /// Responder only, before its first step: the initiator's first ratchet key,
    /// known from the handshake, used if the responder sends before receiving.
    pub(crate) pending_remote: Option<PublicKey>,
    /// The sending half of a DH step is due before the next send.
    pub(crate) send_step_due: bool,
    pub(crate) rk: RootKey,
    pub(crate) cks: Option<ChainKey>,
    pub(crate) ckr: Option<ChainKey>,
    pub(crate) hks: Option<HeaderKey>,
    pub(crate) hkr: Option<HeaderKey>,
    pub(crate) nhks: HeaderKey,
    pub(crate) nhkr: HeaderKey,
    /// Unix seconds when the current receiving chain's header key became known (as the
    /// next one); 0 = not known. Bounds the epochs its routing tags are looked for in.
    pub(crate) hkr_since: u64,
    /// Unix seconds when the next receiving header key was derived; 0 = not known.
    pub(crate) nhkr_since: u64,
    pub(crate) ns: u32,
    pub(crate) nr: u32,
    pub(crate) pn: u32,
    /// Receiving DH steps made so far (the age of skipped chains is counted in them).
    pub(crate) recv_steps: u32,
    pub(crate) skipped: SkippedKeys,
    /// Protocol v1 only: the routing-tag keys, fixed for the session's life.
    pub(crate) tag_send: TagKey,
    pub(crate) tag_recv: TagKey,
    /// The last (epoch, tag) computed for sending; not serialised.
    pub(crate) send_tag_cache: Option<(u64, crate::envelope::RoutingTag)>,
    /// Protocol v4: the sparse post-quantum ratchet (`pq.rs`).
    pub(crate) pq: Option<PqState>,
    /// Protocol v4: our current sending chain was derived with a post-quantum secret (its
    /// headers say so).
    pub(crate) pq_flag: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("protocol", &self.protocol)
            .field("role", &self.role)
            .field("ns", &self.ns)
            .field("nr", &self.nr)
            .field("pn", &self.pn)
            .field("skipped", &self.skipped.total)
            .field("pq_epoch", &self.pq.as_ref().map(|p| p.epoch))
            .finish_non_exhaustive()
    }
}

/// What a successful receive changes, computed before anything is committed.
struct ReceivePlan {
    /// Set when the message starts a new receiving chain (DH ratchet step).
    step: Option<StepPlan>,
    /// Skipped keys of the chain the message is in.
    new_skipped: Vec<(u32, MessageKey)>,
    /// Protocol v4: the post-quantum fragment the message carried.
    fragment: Vec<u8>,
    /// Positions skipped without keeping their keys (beyond [`MAX_SKIP`]).
    unkept: u32,
    ckr: ChainKey,
    n: u32,
}

struct StepPlan {
    remote: PublicKey,
    /// Skipped keys left in the old receiving chain (up to the header's `pn`).
    old_skipped: Vec<(u32, MessageKey)>,
    /// Positions of the old chain skipped without keeping their keys.
    old_unkept: u32,
    rk: RootKey,
    nhkr: HeaderKey,
    /// Protocol v4: the post-quantum state after the step (it moves when the chain is
    /// marked).
    pq: Option<PqState>,
}

impl Session {
    /// Initiator (Signal's RatchetInitAlice): the first ratchet key pair was sent in
    /// Noise message 1; the responder's arrives in message 2.
    pub(crate) fn new_initiator(
        seed: SessionSeed,
        own: RatchetKeyPair,
        remote: PublicKey,
    ) -> Option<Self> {
        let dh = own.dh(&remote)?;
        let (rk, cks, nhks) = seed.sk.step(&dh);
        Some(Self {
            protocol: seed.protocol,
            role: Role::Initiator,
            ad: seed.ad,
            dhs: own,
            dhr: Some(remote),
            pending_remote: None,
            send_step_due: false,
            rk,
            cks: Some(cks),
            ckr: None,
            hks: Some(seed.hk_initiator),
            hkr: None,
            nhks,
            nhkr: seed.hk_responder,
            hkr_since: 0,
            nhkr_since: 0,
            ns: 0,
            nr: 0,
            pn: 0,
            recv_steps: 0,
            skipped: SkippedKeys::default(),
            tag_send: seed.tag_initiator,
            tag_recv: seed.tag_responder,
            send_tag_cache: None,
            pq: seed
                .protocol
                .pq_ratchet()
                .then(|| PqState::new(Role::Initiator)),
            pq_flag: false,
        })
    }

    /// Responder (Signal's RatchetInitBob), also remembering the initiator's first
    /// ratchet key so it can send before it has received.
    pub(crate) fn new_responder(
        seed: SessionSeed,
        own: RatchetKeyPair,
        remote_first: PublicKey,
    ) -> Self {
        Self {
            protocol: seed.protocol,
            role: Role::Responder,
            ad: seed.ad,
            dhs: own,
            dhr: None,
            pending_remote: Some(remote_first),
            send_step_due: false,
            rk: seed.sk,
            cks: None,
            ckr: None,
            hks: None,
            hkr: None,
            nhks: seed.hk_responder,
            nhkr: seed.hk_initiator,
            hkr_since: 0,
            nhkr_since: 0,
            ns: 0,
            nr: 0,
            pn: 0,
            recv_steps: 0,
            skipped: SkippedKeys::default(),
            tag_send: seed.tag_responder,
            tag_recv: seed.tag_initiator,
            send_tag_cache: None,
            pq: seed
                .protocol
                .pq_ratchet()
                .then(|| PqState::new(Role::Responder)),
            pq_flag: false,
        }
    }

    /// The longest plaintext this session encrypts (its protocol's framing taken off).
    pub fn max_plaintext_len(&self) -> usize {
        match self.pq {
            Some(_) => MAX_SESSION_PLAINTEXT_LEN,
            None => padding::MAX_PLAINTEXT_LEN,
        }
    }

    /// Protocol v4: post-quantum epochs mixed into the root key so far (0: only the
    /// handshake's); None before protocol v4.
    pub fn pq_epoch(&self) -> Option<u32> {
        self.pq.as_ref().map(|p| p.epoch)
    }

    /// Protocol v4: what the post-quantum ratchet is doing (`wait`, `key`, `ready`,
    /// `collect`, `ciphertext`), for tests and diagnostics.
    pub fn pq_stage(&self) -> Option<&'static str> {
        self.pq.as_ref().map(PqState::stage)
    }

    /// Splits a header's `pn` into the count and, in protocol v4, the post-quantum mark.
    fn split_pn(&self, pn: u32) -> (u32, bool) {
        if self.pq.is_some() {
            (pn & !PN_FLAG, pn & PN_FLAG != 0)
        } else {
            (pn, false)
        }
    }

    /// Which side of the handshake this session was.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The session's associated data (the Noise handshake hash): public, but unique to
    /// this session. Useful as a session identifier.
    pub fn associated_data(&self) -> &[u8; SESSION_AD_LEN] {
        &self.ad
    }

    /// Number of skipped message keys currently kept.
    pub fn skipped_keys(&self) -> usize {
        self.skipped.total
    }

    /// Message keys given up by Unix time `now` since this session was created or
    /// loaded: evicted by the limits, expired, or skipped past without being kept. Each
    /// can make at most one message unreadable here (its sender renews it). The count
    /// is not serialised.
    pub fn dropped_keys(&self, now: u64) -> u64 {
        self.skipped.dropped_at(now)
    }

    /// The session's protocol version.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Receiving DH steps made so far. The routing tags a protocol v2 session collects
    /// change only when this does (or when the epoch turns): a node can keep an index
    /// of them and rebuild it when this number moves.
    pub fn receive_steps(&self) -> u32 {
        self.recv_steps
    }

    /// The routing-tag key of the chain the next message is sent on.
    fn send_tag_key(&self) -> TagKey {
        match self.protocol {
            Protocol::V1 => self.tag_send.clone(),
            Protocol::V2 | Protocol::V3 | Protocol::V4 => {
                chain_tag_key(self.hks.as_ref().unwrap_or(&self.nhks))
            }
        }
    }

    /// The routing tag this session's outgoing messages carry at Unix time `now`.
    pub fn send_tag(&self, now: u64) -> crate::envelope::RoutingTag {
        self.send_tag_key().tag_at(now)
    }

    /// The routing tags incoming messages carry in the epochs from `now` back over
    /// `lookback_secs` (newest first).
    pub fn receive_tags(&self, now: u64, lookback_secs: u64) -> Vec<crate::envelope::RoutingTag> {
        self.receive_mailbox_keys(now, lookback_secs)
            .iter()
            .map(MailboxKey::tag)
            .collect()
    }

    /// The mailbox keys for incoming messages in the epochs from `now` back over
    /// `lookback_secs`, for collecting mail from a mailbox: newest chain first, and in
    /// each chain the newest epoch first (reversed, a backlog comes back in the order
    /// it was written).
    ///
    /// Protocol v1 has one tag key per direction: one key per epoch. In protocol v2 each
    /// sending chain has its own tag key, so the keys are those of the contact's chains
    /// that can still carry mail: the next one (the contact moves to it after our next
    /// message), the current one, and older ones that still have skipped keys (messages
    /// not received yet; a chain without any was received in full). Each chain only in
    /// the epochs it can have been used in, widened by [`CLOCK_SKEW_EPOCHS`] for the
    /// contact's clock.
    pub fn receive_mailbox_keys(&self, now: u64, lookback_secs: u64) -> Vec<MailboxKey> {
        let last = now / ROUTING_EPOCH_SECS;
        let first = now.saturating_sub(lookback_secs) / ROUTING_EPOCH_SECS;
        match self.protocol {
            Protocol::V1 => (first..=last)
                .rev()
                .map(|e| self.tag_recv.mailbox_key(e))
                .collect(),
            Protocol::V2 | Protocol::V3 | Protocol::V4 => {
                let mut chains: Vec<(&HeaderKey, u64, u64)> =
                    vec![(&self.nhkr, self.nhkr_since, now)];
                if let Some(hkr) = &self.hkr {
                    chains.push((hkr, self.hkr_since, now));
                }
                for c in self.skipped.chains.iter().rev() {
                    if Some(&c.hk) != self.hkr.as_ref() {
                        let until = if c.until == 0 { now } else { c.until };
                        chains.push((&c.hk, c.since, until));
                    }
                }
                let mut keys = Vec::new();
                for (hk, since, until) in chains {
                    let lo = match since {
                        0 => first,
                        s => (s / ROUTING_EPOCH_SECS)
                            .saturating_sub(CLOCK_SKEW_EPOCHS)
                            .max(first),
                    };
                    let hi = (until / ROUTING_EPOCH_SECS)
                        .saturating_add(CLOCK_SKEW_EPOCHS)
                        .min(last);
                    let tk = chain_tag_key(hk);
                    keys.extend((lo..=hi).rev().map(|e| tk.mailbox_key(e)));
                }
                keys
            }
        }
    }

    /// Encrypts `plaintext` (padded to its bucket) into an envelope. `now` (Unix
    /// seconds) picks the routing tag; `rng` supplies the header nonce and, after a
    /// receive step, the new ratchet key pair.
    pub fn encrypt(
        &mut self,
        plaintext: &[u8],
        now: u64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Envelope, EncryptError> {
        let framing = if self.pq.is_some() { pq::LEN_FIELD } else { 0 };
        let padded_len = padding::padded_len(plaintext.len() + framing)?;
        // Protocol v4 keeps `pn`'s top bit for the post-quantum mark.
        let last = if self.pq.is_some() {
            PN_FLAG - 1
        } else {
            u32::MAX
        };
        if self.ns >= last {
            return Err(EncryptError::ChainExhausted);
        }
        // Work on a copy so a failure (an invalid pending key) changes nothing.
        let mut next = None;
        if let Some(remote) = self.pending_remote {
            let mut s = self.clone();
            let plan = s
                .plan_step(remote, 0, false)
                .map_err(|_| EncryptError::BadRatchetKey)?;
            s.apply_step(plan, now);
            s.pending_remote = None;
            next = Some(s);
        }
        let state: &mut Session = match next.as_mut() {
            Some(s) => s,
            None => &mut *self,
        };
        if state.send_step_due {
            let remote = state.dhr.ok_or(EncryptError::BadRatchetKey)?;
            let kp = RatchetKeyPair::generate(rng);
            let dh = kp.dh(&remote).ok_or(EncryptError::BadRatchetKey)?;
            // Protocol v4: a decapsulated post-quantum secret goes into this step.
            let (role, steps) = (state.role, state.recv_steps);
            let secret = state.pq.as_mut().and_then(|p| p.take_ready(role, steps));
            let (rk, cks, nhks) = match &secret {
                Some(ss) => state.rk.step_pq(&dh, ss),
                None => state.rk.step(&dh),
            };
            state.pq_flag = secret.is_some();
            state.dhs = kp;
            state.rk = rk;
            state.cks = Some(cks);
            state.nhks = nhks;
            state.send_step_due = false;
            state.send_tag_cache = None;
        }
        let (Some(cks), Some(hks)) = (&state.cks, &state.hks) else {
            return Err(EncryptError::BadRatchetKey);
        };
        let (next_ck, mk) = cks.step();
        let epoch = now / crate::routing::ROUTING_EPOCH_SECS;
        let tag = match state.send_tag_cache {
            Some((e, t)) if e == epoch => t,
            _ => {
                let t = state.send_tag_key().tag_for_epoch(epoch);
                state.send_tag_cache = Some((epoch, t));
                t
            }
        };
        let pre = prefix(EnvelopeKind::Message, &tag);
        let header = Header {
            dh: state.dhs.public,
            pn: if state.pq_flag {
                state.pn | PN_FLAG
            } else {
                state.pn
            },
            n: state.ns,
        };
        let mut body = Vec::with_capacity(ENCRYPTED_HEADER_LEN + padded_len + AEAD_TAG_LEN);
        let mut nonce = [0u8; HEADER_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        header.seal_into(hks, nonce, &header_ad(&state.ad, &pre), &mut body);
        let ad = body_ad(&state.ad, &pre, &body);
        let steps = state.recv_steps;
        match state.pq.as_mut() {
            None => padding::pad_into(plaintext, &mut body)?,
            Some(pq) => {
                // The fragment fills only what padding would: the bucket is the one
                // `2 + plaintext` takes (pq.rs).
                pq.prepare(steps, rng);
                let room = padded_len - 1 - pq::LEN_FIELD - plaintext.len();
                let fragment = pq.fragment(room);
                let mut inner = zeroize::Zeroizing::new(Vec::with_capacity(padded_len));
                inner.extend_from_slice(&u16::try_from(fragment.len()).unwrap_or(0).to_be_bytes());
                inner.extend_from_slice(&fragment);
                inner.extend_from_slice(plaintext);
                padding::pad_into(&inner, &mut body)?;
            }
        }
        let key = body_key(state.protocol, &mk, &nonce);
        let cipher = ChaCha20Poly1305::new(key.as_ref().into());
        let Some(buf) = body.get_mut(ENCRYPTED_HEADER_LEN..) else {
            return Err(EncryptError::ChainExhausted);
        };
        let tag_bytes = cipher
            .encrypt_in_place_detached(&Nonce::default(), &ad, buf)
            .map_err(|_| EncryptError::ChainExhausted)?;
        body.extend_from_slice(&tag_bytes);
        state.cks = Some(next_ck);
        state.ns += 1;
        state.skipped.expire(state.recv_steps, now);
        if let Some(s) = next {
            *self = s;
        }
        Ok(Envelope {
            kind: EnvelopeKind::Message,
            tag,
            body,
        })
    }

    /// Decrypts a ratchet message received at Unix time `now` (seconds; it dates skipped
    /// keys, which expire). On any error the session is unchanged.
    ///
    /// A header that authenticates under the current or next header key may move its
    /// chain up to [`MAX_CHAIN_JUMP`] positions ahead; the keys of the last [`MAX_SKIP`]
    /// skipped positions are kept, older ones are given up.
    pub fn decrypt(&mut self, envelope: &Envelope, now: u64) -> Result<Vec<u8>, DecryptError> {
        if envelope.kind != EnvelopeKind::Message {
            return Err(DecryptError::Malformed);
        }
        let pre = envelope.prefix();
        let (enc_header, ciphertext) = envelope
            .body
            .split_at_checked(ENCRYPTED_HEADER_LEN)
            .ok_or(DecryptError::Malformed)?;
        if ciphertext.len() < AEAD_TAG_LEN {
            return Err(DecryptError::Malformed);
        }
        let had = header_ad(&self.ad, &pre);
        let bad = body_ad(&self.ad, &pre, enc_header);

        // 1. The current receiving chain.
        if let Some(hkr) = &self.hkr {
            if let Some(h) = Header::open(hkr, enc_header, &had) {
                if h.n < self.nr {
                    let idx = self.skipped.chain_index(hkr);
                    return self.decrypt_skipped(idx, h.n, &bad, enc_header, ciphertext, now);
                }
                let ckr = self.ckr.as_ref().ok_or(DecryptError::Rejected)?;
                let adv = advance(ckr, self.nr, h.n)?;
                let body = open_body(self.protocol, &adv.mk, &bad, enc_header, ciphertext)?;
                let (fragment, pt) = self.split(&body)?;
                self.commit(
                    ReceivePlan {
                        step: None,
                        fragment,
                        new_skipped: adv.skipped,
                        unkept: adv.unkept,
                        ckr: adv.ck,
                        n: h.n,
                    },
                    now,
                );
                return Ok(pt);
            }
        }
        // 2. The next header key: the sender has stepped its DH ratchet.
        if let Some(h) = Header::open(&self.nhkr, enc_header, &had) {
            let (pn, marked) = self.split_pn(h.pn);
            let plan = self.plan_step(h.dh, pn, marked)?;
            let adv = advance(&plan.1, 0, h.n)?;
            let body = open_body(self.protocol, &adv.mk, &bad, enc_header, ciphertext)?;
            let (fragment, pt) = self.split(&body)?;
            self.commit(
                ReceivePlan {
                    step: Some(plan.0),
                    fragment,
                    new_skipped: adv.skipped,
                    unkept: adv.unkept,
                    ckr: adv.ck,
                    n: h.n,
                },
                now,
            );
            return Ok(pt);
        }
        // 3. Older chains with skipped keys.
        for idx in 0..self.skipped.chains.len() {
            let Some(chain) = self.skipped.chains.get(idx) else {
                break;
            };
            if let Some(h) = Header::open(&chain.hk, enc_header, &had) {
                return self.decrypt_skipped(Some(idx), h.n, &bad, enc_header, ciphertext, now);
            }
        }
        Err(DecryptError::Rejected)
    }

    fn decrypt_skipped(
        &mut self,
        idx: Option<usize>,
        n: u32,
        ad: &[u8],
        enc_header: &[u8],
        ciphertext: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, DecryptError> {
        let idx = idx.ok_or(DecryptError::Replayed)?;
        let mk = self
            .skipped
            .find(idx, n, now)
            .ok_or(DecryptError::Replayed)?;
        let body = open_body(self.protocol, mk, ad, enc_header, ciphertext)?;
        let (fragment, pt) = self.split(&body)?;
        self.skipped.remove(idx, n);
        self.skipped.expire(self.recv_steps, now);
        if let Some(pq) = self.pq.as_mut() {
            pq.receive(&fragment);
        }
        Ok(pt)
    }

    /// A decrypted body: its post-quantum fragment (protocol v4; empty otherwise) and the
    /// plaintext. An authentic v4 body whose framing is wrong is refused (a faulty contact).
    fn split(&self, body: &[u8]) -> Result<(Vec<u8>, Vec<u8>), DecryptError> {
        if self.pq.is_none() {
            return Ok((Vec::new(), body.to_vec()));
        }
        let (fragment, pt) = pq::split_body(body).ok_or(DecryptError::Rejected)?;
        Ok((fragment.to_vec(), pt.to_vec()))
    }

    /// Plans the receiving half of a DH step to `remote`, whose previous chain had
    /// `pn` messages. Returns the plan and the new receiving chain key.
    /// `marked`: the sender derived the chain with a post-quantum secret (protocol v4),
    /// which must be the one we encapsulated for it.
    fn plan_step(
        &self,
        remote: PublicKey,
        pn: u32,
        marked: bool,
    ) -> Result<(StepPlan, ChainKey), DecryptError> {
        let (old_skipped, old_unkept) = match &self.ckr {
            Some(ckr) if pn > self.nr => {
                let adv = advance_to_end(ckr, self.nr, pn)?;
                (adv.0, adv.1)
            }
            _ => (Vec::new(), 0),
        };
        let dh = self.dhs.dh(&remote).ok_or(DecryptError::BadRatchetKey)?;
        let mut pq = self.pq.clone();
        let (rk, ckr, nhkr) = if marked {
            let steps = self.recv_steps.saturating_add(1);
            let secret = pq
                .as_mut()
                .and_then(|p| p.take_encapsulated(self.role, steps))
                .ok_or(DecryptError::Rejected)?;
            self.rk.step_pq(&dh, &secret)
        } else {
            self.rk.step(&dh)
        };
        Ok((
            StepPlan {
                remote,
                old_skipped,
                old_unkept,
                rk,
                nhkr,
                pq,
            },
            ckr,
        ))
    }

    /// Applies the receiving half of a DH step (no message yet in the new chain).
    /// `now` stamps skipped keys of a chain that had none.
    fn apply_step(&mut self, (plan, ckr): (StepPlan, ChainKey), now: u64) {
        if let Some(hkr) = self.hkr.take() {
            self.skipped
                .extend(&hkr, plan.old_skipped, self.recv_steps, now, self.hkr_since);
            self.skipped.retire(&hkr, now);
        }
        self.skipped.dropped += u64::from(plan.old_unkept);
        self.recv_steps = self.recv_steps.saturating_add(1);
        self.pn = self.ns;
        self.ns = 0;
        self.nr = 0;
        self.hks = Some(self.nhks.clone());
        self.hkr = Some(std::mem::replace(&mut self.nhkr, plan.nhkr));
        self.hkr_since = self.nhkr_since;
        self.nhkr_since = now;
        self.send_tag_cache = None;
        self.dhr = Some(plan.remote);
        self.rk = plan.rk;
        self.ckr = Some(ckr);
        self.cks = None;
        self.send_step_due = true;
        self.pending_remote = None;
        if plan.pq.is_some() {
            self.pq = plan.pq;
        }
    }

    fn commit(&mut self, plan: ReceivePlan, now: u64) {
        if let Some(step) = plan.step {
            // The chain key is replaced below; pass a placeholder-free plan.
            let ckr = plan.ckr.clone();
            self.apply_step((step, ckr), now);
        }
        if let Some(hkr) = &self.hkr {
            let hkr = hkr.clone();
            self.skipped
                .extend(&hkr, plan.new_skipped, self.recv_steps, now, self.hkr_since);
        }
        self.skipped.dropped += u64::from(plan.unkept);
        self.skipped.expire(self.recv_steps, now);
        self.ckr = Some(plan.ckr);
        self.nr = plan.n.saturating_add(1);
        if let Some(pq) = self.pq.as_mut() {
            pq.receive(&plan.fragment);
        }
    }
}

/// How many routing epochs (6 h each) a contact's clock may be off in either direction
/// and its protocol v2 mail still be collected: a chain's tags are looked for from this
/// many epochs before the chain could first be used to this many after it was last
/// used (2 days).
pub const CLOCK_SKEW_EPOCHS: u64 = 8;

/// Protocol v2: the routing-tag key of the chain whose header key is `hk`. Both sides
/// know a chain's header key one DH step before the chain is used (as the next header
/// key), so the receiver can look for its mail before the first message; and since a
/// header key comes from the root key, the tags follow the root key: a stolen state
/// predicts the tags of one more chain, not those after the next DH step.
pub(crate) fn chain_tag_key(hk: &HeaderKey) -> TagKey {
    TagKey::from_bytes(*hmac(hk.expose(), &[label::CHAIN_TAG_KEY]))
}

#[cfg(test)]
mod tests;
