//! The versioned byte format of a session, for the encrypted store.
//!
//! ```text
//! version u8 (=3) | protocol u8 | role u8 | ad [32] | dhs_secret [32] | opt dhr |
//! opt pending_remote | send_step_due u8 | rk [32] | opt cks | opt ckr | opt hks | opt hkr |
//! nhks [32] | nhkr [32] | hkr_since u64 | nhkr_since u64 | ns u32 | nr u32 | pn u32 |
//! recv_steps u32 | tag_send [32] | tag_recv [32] |
//! chain_count u16 | chains: (hk [32] | step u32 | at u64 | since u64 | until u64 |
//!                            key_count u16 | (n u32 | mk [32])*)*
//! opt X = u8 flag (0/1) followed by 32 bytes if 1
//! ```
//!
//! Older versions are still read, as protocol v1 sessions (the only protocol they knew):
//! version 2 had no `protocol`, `hkr_since`, `nhkr_since`, nor a chain's `since` and
//! `until` (all read as 0, "not known"); version 1 (before skipped keys expired) also
//! had neither `recv_steps` nor a chain's `step` and `at`: its chains count from step 0
//! and are dated at the next receive.
//!
//! The bytes hold secrets: they are returned in a zeroizing buffer and must only
//! ever be written sealed (the store encrypts every value).

use super::keys::{ChainKey, HeaderKey, MessageKey, RootKey};
use super::skipped::{SkippedChain, SkippedKeys, MAX_SKIP, MAX_SKIPPED_KEYS};
use super::{Role, Session};
use crate::dh::RatchetKeyPair;
use crate::protocol::Protocol;
use crate::routing::TagKey;
use crate::wire::{Reader, WireError, Writer};
use std::collections::VecDeque;
use thiserror::Error;
use x25519_dalek::PublicKey;
use zeroize::Zeroizing;

/// Session state format version written for a protocol v4 session (with the post-quantum
/// ratchet's state at the end); sessions of older protocols are still written as version 3.
pub const SESSION_STATE_VERSION: u8 = 4;
/// Version written for sessions of protocols 1 to 3.
const SESSION_STATE_V3: u8 = 3;
/// Earlier versions, still read.
const SESSION_STATE_V1: u8 = 1;
const SESSION_STATE_V2: u8 = 2;
/// Largest serialised session: fixed part plus every skipped key with its chain.
pub const MAX_SESSION_STATE_LEN: usize =
    512 + MAX_SKIPPED_KEYS * (36 + 34 + 28) + 1 + super::pq::MAX_PQ_STATE_LEN;

/// Session state decoding failures.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStateError {
    /// A format version this code does not know.
    #[error("unsupported session state version {0}")]
    UnsupportedVersion(u8),
    /// Larger than [`MAX_SESSION_STATE_LEN`].
    #[error("session state is too large")]
    TooLarge,
    /// Structurally invalid (truncated, trailing bytes, bad flag, limits exceeded).
    #[error("session state is malformed: {0}")]
    Malformed(#[from] WireError),
    /// Internally inconsistent (e.g. skipped keys over their limits).
    #[error("session state is inconsistent")]
    Inconsistent,
}

fn put_opt(out: &mut Vec<u8>, v: Option<&[u8; 32]>) {
    match v {
        Some(b) => {
            out.put_u8(1);
            out.put(b);
        }
        None => out.put_u8(0),
    }
}

fn get_opt(r: &mut Reader<'_>) -> Result<Option<[u8; 32]>, WireError> {
    if r.bool()? {
        Ok(Some(r.array()?))
    } else {
        Ok(None)
    }
}

impl Session {
    /// The exact length of [`Session::to_bytes`], so the buffer holding secrets is
    /// allocated once and never reallocated (a reallocation would leave a copy of the
    /// keys in freed memory).
    fn state_len(&self) -> usize {
        let opt = |present: bool| 1 + if present { 32 } else { 0 };
        1 + 1
            + 1
            + 32
            + 32
            + opt(self.dhr.is_some())
            + opt(self.pending_remote.is_some())
            + 1
            + 32
            + opt(self.cks.is_some())
            + opt(self.ckr.is_some())
            + opt(self.hks.is_some())
            + opt(self.hkr.is_some())
            + 32
            + 32
            + 8
            + 8
            + 4 * 4
            + 32
            + 32
            + 2
            + self
                .skipped
                .chains
                .iter()
                .map(|c| 32 + 4 + 8 + 8 + 8 + 2 + c.keys.len() * 36)
                .sum::<usize>()
    }

    /// Serialises the whole session (secrets included) for the encrypted store.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut pq = Zeroizing::new(Vec::with_capacity(super::pq::MAX_PQ_STATE_LEN));
        if let Some(p) = &self.pq {
            pq.put_u8(u8::from(self.pq_flag));
            p.write(&mut pq);
        }
        let mut out = Zeroizing::new(Vec::with_capacity(self.state_len() + pq.len()));
        let o: &mut Vec<u8> = &mut out;
        o.put_u8(if self.pq.is_some() {
            SESSION_STATE_VERSION
        } else {
            SESSION_STATE_V3
        });
        o.put_u8(self.protocol.as_u8());
        o.put_u8(match self.role {
            Role::Initiator => 0,
            Role::Responder => 1,
        });
        o.put(&self.ad);
        o.put(&Zeroizing::new(self.dhs.secret.to_bytes())[..]);
        put_opt(o, self.dhr.as_ref().map(PublicKey::as_bytes));
        put_opt(o, self.pending_remote.as_ref().map(PublicKey::as_bytes));
        o.put_u8(u8::from(self.send_step_due));
        o.put(self.rk.expose());
        put_opt(o, self.cks.as_ref().map(ChainKey::expose));
        put_opt(o, self.ckr.as_ref().map(ChainKey::expose));
        put_opt(o, self.hks.as_ref().map(HeaderKey::expose));
        put_opt(o, self.hkr.as_ref().map(HeaderKey::expose));
        o.put(self.nhks.expose());
        o.put(self.nhkr.expose());
        o.put_u64(self.hkr_since);
        o.put_u64(self.nhkr_since);
        o.put_u32(self.ns);
        o.put_u32(self.nr);
        o.put_u32(self.pn);
        o.put_u32(self.recv_steps);
        o.put(self.tag_send.expose());
        o.put(self.tag_recv.expose());
        o.put_u16(u16::try_from(self.skipped.chains.len()).unwrap_or(u16::MAX));
        for c in &self.skipped.chains {
            o.put(c.hk.expose());
            o.put_u32(c.step);
            o.put_u64(c.at);
            o.put_u64(c.since);
            o.put_u64(c.until);
            o.put_u16(u16::try_from(c.keys.len()).unwrap_or(u16::MAX));
            for (n, mk) in &c.keys {
                o.put_u32(*n);
                o.put(mk.expose());
            }
        }
        o.put(&pq);
        out
    }

    /// Restores a session serialised by [`Session::to_bytes`]. Untrusted input
    /// (a file on disk): every field and limit is checked.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionStateError> {
        if bytes.len() > MAX_SESSION_STATE_LEN {
            return Err(SessionStateError::TooLarge);
        }
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if !matches!(
            version,
            SESSION_STATE_V1 | SESSION_STATE_V2 | SESSION_STATE_V3 | SESSION_STATE_VERSION
        ) {
            return Err(SessionStateError::UnsupportedVersion(version));
        }
        let v2 = version >= SESSION_STATE_V2;
        let v3 = version >= SESSION_STATE_V3;
        let protocol = if v3 {
            Protocol::from_u8(r.u8()?).ok_or(WireError::Invalid)?
        } else {
            Protocol::V1
        };
        let role = match r.u8()? {
            0 => Role::Initiator,
            1 => Role::Responder,
            _ => return Err(WireError::Invalid.into()),
        };
        let ad = r.array()?;
        let dhs = RatchetKeyPair::from_secret_bytes(*Zeroizing::new(r.array()?));
        let dhr = get_opt(&mut r)?.map(PublicKey::from);
        let pending_remote = get_opt(&mut r)?.map(PublicKey::from);
        let send_step_due = r.bool()?;
        let rk = RootKey::from_bytes(r.array()?);
        let cks = get_opt(&mut r)?.map(ChainKey::from_bytes);
        let ckr = get_opt(&mut r)?.map(ChainKey::from_bytes);
        let hks = get_opt(&mut r)?.map(HeaderKey::from_bytes);
        let hkr = get_opt(&mut r)?.map(HeaderKey::from_bytes);
        let nhks = HeaderKey::from_bytes(r.array()?);
        let nhkr = HeaderKey::from_bytes(r.array()?);
        let (hkr_since, nhkr_since) = if v3 { (r.u64()?, r.u64()?) } else { (0, 0) };
        let ns = r.u32()?;
        let nr = r.u32()?;
        let pn = r.u32()?;
        let recv_steps = if v2 { r.u32()? } else { 0 };
        let tag_send = TagKey::from_bytes(r.array()?);
        let tag_recv = TagKey::from_bytes(r.array()?);
        let chain_count = usize::from(r.u16()?);
        if chain_count > MAX_SKIPPED_KEYS {
            return Err(SessionStateError::Inconsistent);
        }
        let mut skipped = SkippedKeys::default();
        for _ in 0..chain_count {
            let hk = HeaderKey::from_bytes(r.array()?);
            let (step, at) = if v2 { (r.u32()?, r.u64()?) } else { (0, 0) };
            let (since, until) = if v3 { (r.u64()?, r.u64()?) } else { (0, 0) };
            if step > recv_steps {
                return Err(SessionStateError::Inconsistent);
            }
            let count = usize::from(r.u16()?);
            if count == 0 || count > MAX_SKIP as usize {
                return Err(SessionStateError::Inconsistent);
            }
            skipped.total += count;
            if skipped.total > MAX_SKIPPED_KEYS {
                return Err(SessionStateError::Inconsistent);
            }
            let mut keys = VecDeque::with_capacity(count);
            let mut last: Option<u32> = None;
            for _ in 0..count {
                let n = r.u32()?;
                if last.is_some_and(|l| n <= l) {
                    return Err(SessionStateError::Inconsistent);
                }
                last = Some(n);
                keys.push_back((n, MessageKey::from_bytes(r.array()?)));
            }
            if skipped.chains.iter().any(|c| c.hk == hk) {
                return Err(SessionStateError::Inconsistent);
            }
            skipped.chains.push_back(SkippedChain {
                hk,
                step,
                at,
                since,
                until,
                keys,
            });
        }
        // Version 4 ends with the post-quantum ratchet's state, which exactly the sessions
        // of protocol 4 and later have.
        if (version == SESSION_STATE_VERSION) != protocol.pq_ratchet() {
            return Err(SessionStateError::Inconsistent);
        }
        let (pq_flag, pq) = if version == SESSION_STATE_VERSION {
            let flag = r.bool()?;
            (flag, Some(super::pq::PqState::read(&mut r, role)?))
        } else {
            (false, None)
        };
        r.finish()?;
        // Invariants the ratchet relies on.
        let consistent = match role {
            Role::Initiator => pending_remote.is_none() && dhr.is_some(),
            Role::Responder => pending_remote.is_none() || dhr.is_none(),
        } && (hks.is_some() || cks.is_none())
            && (send_step_due || cks.is_some() || pending_remote.is_some() || dhr.is_none())
            && (hkr.is_some() == ckr.is_some());
        if !consistent {
            return Err(SessionStateError::Inconsistent);
        }
        Ok(Self {
            protocol,
            role,
            ad,
            dhs,
            dhr,
            pending_remote,
            send_step_due,
            rk,
            cks,
            ckr,
            hks,
            hkr,
            nhks,
            nhkr,
            hkr_since,
            nhkr_since,
            ns,
            nr,
            pn,
            recv_steps,
            skipped,
            tag_send,
            tag_recv,
            send_tag_cache: None,
            pq,
            pq_flag,
        })
    }
}
