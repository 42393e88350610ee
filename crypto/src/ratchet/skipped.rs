//! Message keys of skipped messages, kept so late or reordered messages can still be
//! read — bounded per chain and in total, oldest evicted first, and expired after a
//! number of DH ratchet steps and an age.
//!
//! A key that is evicted or expires makes one message unreadable here. That is never
//! the end of the message: the sender gets no receipt for it and encrypts it again at
//! a new chain position (docs/PROTOCOL.md §22), which the receiver can read.

use super::keys::{HeaderKey, MessageKey};
use std::collections::VecDeque;

/// The most skipped keys kept for one chain. A message more than this far behind the
/// newest one received in its chain can no longer be read (the sender's renewal brings
/// it again). Larger tolerates more reordering; each key is 36 bytes of session state.
pub const MAX_SKIP: u32 = 1000;

/// The most chain positions one authenticated message may advance a receiving chain
/// (and, on a DH step, the previous chain to its header's `pn`). Walking a chain costs
/// one HMAC per position (two for the last [`MAX_SKIP`] positions, whose message keys
/// are kept), so one message costs at most 2 × 65,536 + 2 × 1,000 HMAC-SHA256 calls,
/// about 0.1 s on a laptop core. Only a header that authenticates under a header key
/// of the session can start the walk, so this is work only the contact can cause.
/// Far larger than any gap the sender can create without a hostile mailbox: its
/// renewals are capped (docs/PROTOCOL.md §22). A message beyond it is refused with
/// `TooFarAhead` and kept by the recipient's node; a session reset is the way out.
pub const MAX_CHAIN_JUMP: u32 = 1 << 16;

/// The most skipped message keys kept in total, over all chains; the oldest are
/// evicted first. Bounds memory and the store record (about 40 bytes per key).
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// Skipped keys of a chain are dropped once the session has made this many receiving
/// DH steps after the chain was first given skipped keys. Every step is a turn of the
/// conversation, so a message that is still missing after this many turns was lost in
/// transit and will be renewed by its sender. Smaller keeps fewer keys that a seized
/// device could use on a recorded message; larger tolerates a longer-delayed path.
pub const MAX_SKIPPED_STEPS: u32 = 32;

/// Skipped keys of a chain are dropped this long (Unix seconds) after the chain was first
/// given skipped keys: 30 days, twice the default mailbox retention, so a message a
/// mailbox still holds can be read, and no key waits for ever for a message that no
/// mailbox can still hold.
pub const MAX_SKIPPED_AGE_SECS: u64 = 30 * 24 * 3600;

/// Skipped keys of one receiving chain, identified by its header key.
#[derive(Clone)]
pub(crate) struct SkippedChain {
    pub(crate) hk: HeaderKey,
    /// The session's receiving DH step count when this chain first got skipped keys.
    pub(crate) step: u32,
    /// Unix seconds when this chain first got skipped keys; 0 = not known (a state
    /// written by version 1), stamped at the next receive.
    pub(crate) at: u64,
    /// Unix seconds when the chain's header key became known (as the next one); 0 = not
    /// known. With `until`, the epochs in which a protocol v2 contact can have sent on
    /// it, so the epochs whose mail is collected for it.
    pub(crate) since: u64,
    /// Unix seconds when the session moved to a newer receiving chain; 0 = still the
    /// current one (or not known).
    pub(crate) until: u64,
    /// (message number, key), in increasing message number.
    pub(crate) keys: VecDeque<(u32, MessageKey)>,
}

impl SkippedChain {
    /// Past [`MAX_SKIPPED_AGE_SECS`] at `now` (a chain of unknown age is not).
    fn aged_at(&self, now: u64) -> bool {
        self.at != 0 && now.saturating_sub(self.at) > MAX_SKIPPED_AGE_SECS
    }
}

/// All skipped keys, chains in the order they were created.
#[derive(Clone, Default)]
pub(crate) struct SkippedKeys {
    pub(crate) chains: VecDeque<SkippedChain>,
    pub(crate) total: usize,
    /// Keys evicted or expired since this value was loaded (not serialised).
    pub(crate) dropped: u64,
}

impl SkippedKeys {
    /// Appends keys for chain `hk` (numbers increasing), then evicts the oldest keys
    /// until both limits hold. `step` and `now` stamp a chain seen for the first time,
    /// `since` is when its header key became known.
    pub(crate) fn extend(
        &mut self,
        hk: &HeaderKey,
        keys: Vec<(u32, MessageKey)>,
        step: u32,
        now: u64,
        since: u64,
    ) {
        if keys.is_empty() {
            return;
        }
        self.total += keys.len();
        match self.chains.iter_mut().find(|c| c.hk == *hk) {
            Some(chain) => chain.keys.extend(keys),
            None => self.chains.push_back(SkippedChain {
                hk: hk.clone(),
                step,
                at: now,
                since,
                until: 0,
                keys: keys.into(),
            }),
        }
        for chain in self.chains.iter_mut() {
            while chain.keys.len() > MAX_SKIP as usize {
                chain.keys.pop_front();
                self.total -= 1;
                self.dropped += 1;
            }
        }
        while self.total > MAX_SKIPPED_KEYS {
            let Some(front) = self.chains.front_mut() else {
                break;
            };
            if front.keys.pop_front().is_some() {
                self.total -= 1;
                self.dropped += 1;
            }
            if front.keys.is_empty() {
                self.chains.pop_front();
            }
        }
    }

    /// Drops the chains that are older than [`MAX_SKIPPED_STEPS`] receiving steps
    /// (`steps` is the session's count now) or [`MAX_SKIPPED_AGE_SECS`] at `now`.
    /// Chains of unknown age are stamped with `now`.
    pub(crate) fn expire(&mut self, steps: u32, now: u64) {
        let mut dropped = 0usize;
        self.chains.retain_mut(|c| {
            if c.at == 0 {
                c.at = now;
            }
            let keep = steps.saturating_sub(c.step) <= MAX_SKIPPED_STEPS && !c.aged_at(now);
            if !keep {
                dropped += c.keys.len();
            }
            keep
        });
        self.total -= dropped;
        self.dropped += dropped as u64;
    }

    /// Keys given up by `now`: those dropped, and those of chains past their age that
    /// the next change of the session will remove.
    pub(crate) fn dropped_at(&self, now: u64) -> u64 {
        let aged: usize = self
            .chains
            .iter()
            .filter(|c| c.aged_at(now))
            .map(|c| c.keys.len())
            .sum();
        self.dropped + aged as u64
    }

    /// Finds the key for message `n` of chain `chain` (index into `chains`), unless
    /// the chain has expired at `now` (it is removed at the next change of the session).
    pub(crate) fn find(&self, chain: usize, n: u32, now: u64) -> Option<&MessageKey> {
        let c = self.chains.get(chain)?;
        if c.aged_at(now) {
            return None;
        }
        c.keys.iter().find(|(m, _)| *m == n).map(|(_, k)| k)
    }

    /// Removes the key for message `n` of chain `chain`, after it was used.
    pub(crate) fn remove(&mut self, chain: usize, n: u32) {
        let Some(c) = self.chains.get_mut(chain) else {
            return;
        };
        if let Some(pos) = c.keys.iter().position(|(m, _)| *m == n) {
            c.keys.remove(pos);
            self.total -= 1;
        }
        if c.keys.is_empty() {
            self.chains.remove(chain);
        }
    }

    /// Marks chain `hk` (if it has skipped keys) as no longer the current one at `now`.
    pub(crate) fn retire(&mut self, hk: &HeaderKey, now: u64) {
        if let Some(c) = self.chains.iter_mut().find(|c| c.hk == *hk) {
            if c.until == 0 {
                c.until = now;
            }
        }
    }

    /// Index of the chain with header key `hk`.
    pub(crate) fn chain_index(&self, hk: &HeaderKey) -> Option<usize> {
        self.chains.iter().position(|c| c.hk == *hk)
    }
}
