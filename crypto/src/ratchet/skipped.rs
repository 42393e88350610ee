//! Message keys of skipped messages, kept so late or reordered messages can still be
//! read — bounded per chain and in total, oldest evicted first.

use super::keys::{HeaderKey, MessageKey};
use std::collections::VecDeque;

/// How many messages of one chain may be skipped in a single step, and the most keys
/// kept for one chain. Larger tolerates more loss and reordering; smaller limits the
/// work (one HMAC per skipped key) a hostile or broken peer can cause per message.
pub const MAX_SKIP: u32 = 1000;

/// The most skipped message keys kept in total, over all chains; the oldest are
/// evicted first. Bounds memory and the store record (about 40 bytes per key). A
/// message whose key was evicted can no longer be read.
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// Skipped keys of one receiving chain, identified by its header key.
#[derive(Clone)]
pub(crate) struct SkippedChain {
    pub(crate) hk: HeaderKey,
    /// (message number, key), in increasing message number.
    pub(crate) keys: VecDeque<(u32, MessageKey)>,
}

/// All skipped keys, chains in the order they were created.
#[derive(Clone, Default)]
pub(crate) struct SkippedKeys {
    pub(crate) chains: VecDeque<SkippedChain>,
    pub(crate) total: usize,
}

impl SkippedKeys {
    /// Appends keys for chain `hk` (numbers increasing), then evicts the oldest keys
    /// until both limits hold.
    pub(crate) fn extend(&mut self, hk: &HeaderKey, keys: Vec<(u32, MessageKey)>) {
        if keys.is_empty() {
            return;
        }
        self.total += keys.len();
        match self.chains.iter_mut().find(|c| c.hk == *hk) {
            Some(chain) => chain.keys.extend(keys),
            None => self.chains.push_back(SkippedChain {
                hk: hk.clone(),
                keys: keys.into(),
            }),
        }
        for chain in self.chains.iter_mut() {
            while chain.keys.len() > MAX_SKIP as usize {
                chain.keys.pop_front();
                self.total -= 1;
            }
        }
        while self.total > MAX_SKIPPED_KEYS {
            let Some(front) = self.chains.front_mut() else {
                break;
            };
            if front.keys.pop_front().is_some() {
                self.total -= 1;
            }
            if front.keys.is_empty() {
                self.chains.pop_front();
            }
        }
    }

    /// Finds the key for message `n` of chain `chain` (index into `chains`).
    pub(crate) fn find(&self, chain: usize, n: u32) -> Option<&MessageKey> {
        let c = self.chains.get(chain)?;
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

    /// Index of the chain with header key `hk`.
    pub(crate) fn chain_index(&self, hk: &HeaderKey) -> Option<usize> {
        self.chains.iter().position(|c| c.hk == *hk)
    }
}
