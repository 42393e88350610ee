//! Walking a chain key forward to a message: the skipped positions' keys kept (the last
//! [`MAX_SKIP`] at most) and the chain key reached.

use super::body::header_ad;
use super::header::Header;
use super::keys::{ChainKey, HeaderKey, MessageKey};
use super::skipped::{MAX_CHAIN_JUMP, MAX_SKIP, MAX_SKIPPED_KEYS};
use super::{DecryptError, Session};
use crate::envelope::{Envelope, EnvelopeKind, ENCRYPTED_HEADER_LEN};

impl Session {
    /// Whether reading `envelope` now would give up skipped keys (walk its chain, or the
    /// previous one, further than [`MAX_SKIP`] keeps, or push the total over
    /// [`MAX_SKIPPED_KEYS`]), judged from its header alone: one header decryption, no
    /// chain walk, no change. False for anything whose header does not open under the
    /// current or next header key. A node uses it to hold back a message that would
    /// overtake mail still waiting in a mailbox.
    pub fn would_give_up_keys(&self, envelope: &Envelope) -> bool {
        if envelope.kind != EnvelopeKind::Message {
            return false;
        }
        let pre = envelope.prefix();
        let Some(enc_header) = envelope.body.get(..ENCRYPTED_HEADER_LEN) else {
            return false;
        };
        let had = header_ad(&self.ad, &pre);
        let skip = MAX_SKIP as usize;
        // Keys the current receiving chain already holds count against its own limit.
        let held = |hk: &Option<HeaderKey>| {
            hk.as_ref()
                .and_then(|hk| self.skipped.chain_index(hk))
                .and_then(|i| self.skipped.chains.get(i))
                .map_or(0, |c| c.keys.len())
        };
        if let Some(hkr) = &self.hkr {
            if let Some(h) = Header::open(hkr, enc_header, &had) {
                let gap = h.n.saturating_sub(self.nr) as usize;
                return held(&self.hkr) + gap > skip || self.skipped.total + gap > MAX_SKIPPED_KEYS;
            }
        }
        if let Some(h) = Header::open(&self.nhkr, enc_header, &had) {
            let old = match &self.ckr {
                Some(_) => self.split_pn(h.pn).0.saturating_sub(self.nr) as usize,
                None => 0,
            };
            let new = h.n as usize;
            return held(&self.hkr) + old > skip
                || new > skip
                || self.skipped.total + old + new > MAX_SKIPPED_KEYS;
        }
        false
    }
}

/// A chain walked from one position to a message: the kept keys of the skipped
/// positions (the last [`MAX_SKIP`] at most), how many were skipped without keeping
/// their key, the chain key after the message, and the message's key.
pub(super) struct Advanced {
    pub(super) skipped: Vec<(u32, MessageKey)>,
    pub(super) unkept: u32,
    pub(super) ck: ChainKey,
    pub(super) mk: MessageKey,
}

/// Walks a chain from position `from` to the message at `to` (see [`Advanced`]).
pub(super) fn advance(ck: &ChainKey, from: u32, to: u32) -> Result<Advanced, DecryptError> {
    if to < from {
        return Err(DecryptError::Replayed);
    }
    let (skipped, unkept, ck) = advance_to_end(ck, from, to)?;
    let (next, mk) = ck.step();
    Ok(Advanced {
        skipped,
        unkept,
        ck: next,
        mk,
    })
}

/// Kept skipped keys, positions not kept, and the chain key reached.
type Walked = (Vec<(u32, MessageKey)>, u32, ChainKey);

/// Walks a chain from position `from` up to (not including) `to`: the kept keys of
/// the skipped positions, how many were not kept, and the chain key at `to`. At most
/// [`MAX_CHAIN_JUMP`] positions; only the last [`MAX_SKIP`] message keys are derived.
pub(super) fn advance_to_end(ck: &ChainKey, from: u32, to: u32) -> Result<Walked, DecryptError> {
    let gap = to.checked_sub(from).ok_or(DecryptError::Replayed)?;
    if gap > MAX_CHAIN_JUMP {
        return Err(DecryptError::TooFarAhead);
    }
    let keep_from = to.saturating_sub(MAX_SKIP).max(from);
    let mut skipped = Vec::with_capacity((to - keep_from) as usize);
    let mut ck = ck.clone();
    for n in from..to {
        if n < keep_from {
            ck = ck.next();
        } else {
            let (next, mk) = ck.step();
            skipped.push((n, mk));
            ck = next;
        }
    }
    Ok((skipped, keep_from - from, ck))
}
