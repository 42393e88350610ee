//! Mail responses built and not yet read by their peer.

use crate::net::protocol::MAX_MAIL_RESPONSE_BYTES;
use libp2p::request_response;

/// Bytes of mail responses a relay holds for peers that have not read them yet, in total.
/// A peer that asks and does not read can otherwise make the relay build response after
/// response (the review took one from 22 to 1,035 MiB with one connection).
pub const MAIL_IN_FLIGHT_TOTAL: usize = 64 << 20;
/// The same per peer: a node keeps at most 4 fetches in flight, of at most 1 MiB each, and
/// one more for a response it has read before the relay learnt that it was sent.
pub const MAIL_IN_FLIGHT_PER_PEER: usize = 5 << 20;

/// Accounting of mail responses in flight: reserved when a fetch is answered, released when
/// libp2p reports the response sent or the request failed. A fetch that would go over a
/// budget is answered "try later" without reading the mailbox.
pub struct MailInFlight<K = request_response::InboundRequestId> {
    total: usize,
    per_peer: std::collections::HashMap<libp2p::PeerId, usize>,
    requests: std::collections::HashMap<K, (libp2p::PeerId, usize)>,
}

impl<K> Default for MailInFlight<K> {
    fn default() -> Self {
        Self {
            total: 0,
            per_peer: std::collections::HashMap::new(),
            requests: std::collections::HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq> MailInFlight<K> {
    /// Whether `peer` may have one more response of up to `MAX_MAIL_RESPONSE_BYTES`.
    pub fn has_room(&self, peer: &libp2p::PeerId) -> bool {
        let mine = self.per_peer.get(peer).copied().unwrap_or(0);
        mine + MAX_MAIL_RESPONSE_BYTES <= MAIL_IN_FLIGHT_PER_PEER
            && self.total + MAX_MAIL_RESPONSE_BYTES <= MAIL_IN_FLIGHT_TOTAL
    }

    /// Counts a response of `bytes` to `peer` for request `id`.
    pub fn reserve(&mut self, id: K, peer: libp2p::PeerId, bytes: usize) {
        self.total += bytes;
        *self.per_peer.entry(peer).or_default() += bytes;
        self.requests.insert(id, (peer, bytes));
    }

    /// The response to `id` was sent or failed.
    pub fn release(&mut self, id: &K) {
        let Some((peer, bytes)) = self.requests.remove(id) else {
            return;
        };
        self.total = self.total.saturating_sub(bytes);
        if let Some(n) = self.per_peer.get_mut(&peer) {
            *n = n.saturating_sub(bytes);
            if *n == 0 {
                self.per_peer.remove(&peer);
            }
        }
    }

    /// Bytes in flight in total.
    pub fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod in_flight_tests {
    use super::*;

    /// Catches a budget that one peer can exceed, that one peer's use blocks for others
    /// below the total, or that is never given back.
    #[test]
    fn mail_in_flight_budget_per_peer_and_total() {
        let mut b = MailInFlight::<u64>::default();
        let a = libp2p::PeerId::random();
        let per = MAIL_IN_FLIGHT_PER_PEER / MAX_MAIL_RESPONSE_BYTES;
        for i in 0..per {
            assert!(b.has_room(&a));
            b.reserve(i as u64, a, MAX_MAIL_RESPONSE_BYTES);
        }
        assert!(!b.has_room(&a), "a peer's budget is spent");
        let other = libp2p::PeerId::random();
        assert!(b.has_room(&other));
        b.release(&0);
        assert!(b.has_room(&a), "released when sent");
        // The total binds many peers.
        let mut n = 100;
        while b.has_room(&libp2p::PeerId::random()) {
            b.reserve(n, libp2p::PeerId::random(), MAX_MAIL_RESPONSE_BYTES);
            n += 1;
        }
        assert!(b.total() <= MAIL_IN_FLIGHT_TOTAL);
        assert!(b.total() + MAX_MAIL_RESPONSE_BYTES > MAIL_IN_FLIGHT_TOTAL);
    }
}
