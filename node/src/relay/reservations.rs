//! Who may hold a relay reservation: a share per address and per network, so that one
//! machine cannot take every slot, and renewals of the users who hold one are never
//! refused for want of room.
//!
//! libp2p's relay asks its rate limiters about every reservation request (new or renewal)
//! with the peer and its address; [`Limiter`] answers from a table the relay loop keeps
//! up to date with the relay's events (accepted, closed, timed out, denied).

use crate::net::ip_limits::{Network, Source};
use libp2p::{Multiaddr, PeerId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Most peers holding reservations from one IPv4 address or IPv6 /64 (a household or an
/// office behind one address has a few users, each with a device or two).
pub const MAX_RESERVATIONS_PER_SOURCE: usize = 8;
/// Most peers holding reservations from one IPv4 /24 or IPv6 /48.
pub const MAX_RESERVATIONS_PER_NETWORK: usize = 32;
/// Most peers holding reservations at once. libp2p's own limit is set well above it
/// ([`RESERVATION_SLOTS`]) and counts renewals too: with room to spare there, a renewal is
/// never refused because strangers took the new slots.
pub const MAX_RESERVATION_HOLDERS: usize = 1024;
/// The relay's `max_reservations` (one peer may hold up to 4 at once, one a connection).
pub const RESERVATION_SLOTS: usize = 4 * MAX_RESERVATION_HOLDERS + 64;

#[derive(Debug)]
struct Holder {
    source: Option<Source>,
    /// Reservations accepted and not yet closed (0 while the first is being answered).
    count: usize,
}

#[derive(Debug, Default)]
struct Table {
    holders: HashMap<PeerId, Holder>,
    per_source: HashMap<Source, usize>,
    per_network: HashMap<Network, usize>,
}

impl Table {
    fn admit(&mut self, peer: PeerId, addr: &Multiaddr) -> bool {
        if self.holders.contains_key(&peer) {
            // A renewal, or another connection of a holder: within libp2p's per-peer limit.
            return true;
        }
        if self.holders.len() >= MAX_RESERVATION_HOLDERS {
            return false;
        }
        let source = Source::of(addr);
        if let Some(s) = source {
            if self.per_source.get(&s).copied().unwrap_or(0) >= MAX_RESERVATIONS_PER_SOURCE
                || self.per_network.get(&s.network()).copied().unwrap_or(0)
                    >= MAX_RESERVATIONS_PER_NETWORK
            {
                return false;
            }
            *self.per_source.entry(s).or_default() += 1;
            *self.per_network.entry(s.network()).or_default() += 1;
        }
        self.holders.insert(peer, Holder { source, count: 0 });
        true
    }

    fn forget(&mut self, peer: &PeerId) {
        let Some(h) = self.holders.remove(peer) else {
            return;
        };
        if let Some(s) = h.source {
            decrement(&mut self.per_source, &s);
            decrement(&mut self.per_network, &s.network());
        }
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, k: &K) {
    if let Some(n) = map.get_mut(k) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(k);
        }
    }
}

/// The shared table; [`ReservationLimits::limiter`] goes into the relay's configuration,
/// the relay loop reports the relay's events.
#[derive(Clone, Debug, Default)]
pub struct ReservationLimits(Arc<Mutex<Table>>);

impl ReservationLimits {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The rate limiter to give libp2p's relay.
    pub fn limiter(&self) -> Box<dyn libp2p::relay::RateLimiter> {
        Box::new(Limiter(self.clone()))
    }

    /// A reservation of `peer` was accepted (`renewed`: it already had it on that
    /// connection).
    pub fn accepted(&self, peer: PeerId, renewed: bool) {
        let mut t = self.table();
        if let Some(h) = t.holders.get_mut(&peer) {
            h.count = if renewed { h.count.max(1) } else { h.count + 1 };
        }
    }

    /// A reservation of `peer` timed out. (libp2p's `ReservationClosed` is not one: it is
    /// reported whenever any connection of the peer closes, reservation or not, so the
    /// relay loop leaves holders to this, to [`ReservationLimits::disconnected`] and to
    /// denials.)
    pub fn ended(&self, peer: PeerId) {
        let mut t = self.table();
        let gone = t.holders.get_mut(&peer).is_some_and(|h| {
            h.count = h.count.saturating_sub(1);
            h.count == 0
        });
        if gone {
            t.forget(&peer);
        }
    }

    /// A reservation request of `peer` was denied, or its last connection closed: if it
    /// holds no reservation, its slot is free again.
    pub fn denied(&self, peer: PeerId) {
        let mut t = self.table();
        if t.holders.get(&peer).is_some_and(|h| h.count == 0) {
            t.forget(&peer);
        }
    }

    /// `peer`'s last connection closed: whatever it held is gone.
    pub fn disconnected(&self, peer: PeerId) {
        self.table().forget(&peer);
    }

    /// Whether `peer` holds a reservation here (a user whose home relay this is).
    pub fn holds(&self, peer: &PeerId) -> bool {
        self.table().holders.get(peer).is_some_and(|h| h.count > 0)
    }

    /// Peers holding or being granted a reservation.
    pub fn holders(&self) -> usize {
        self.table().holders.len()
    }
}

/// Circuits one source may open: a burst of this many, then one a minute (libp2p's own
/// limit, per exact IP address, would let every address of an IPv6 /64 have its own).
pub const CIRCUITS_PER_SOURCE_BURST: f64 = 60.0;
/// Circuits one network (/24, /48) may open at once, then 4 a minute.
pub const CIRCUITS_PER_NETWORK_BURST: f64 = 4.0 * CIRCUITS_PER_SOURCE_BURST;

/// A rate limit on new circuits per source and per network, for libp2p's relay.
pub fn circuit_limiter() -> Box<dyn libp2p::relay::RateLimiter> {
    Box::new(CircuitLimiter {
        start: Instant::now(),
        per_source: super::quota::RateLimit::new(1.0 / 60.0, CIRCUITS_PER_SOURCE_BURST),
        per_network: super::quota::RateLimit::new(4.0 / 60.0, CIRCUITS_PER_NETWORK_BURST),
    })
}

struct CircuitLimiter {
    start: Instant,
    per_source: super::quota::RateLimit<Source>,
    per_network: super::quota::RateLimit<Network>,
}

impl libp2p::relay::RateLimiter for CircuitLimiter {
    fn try_next(&mut self, _peer: PeerId, addr: &Multiaddr, now: Instant) -> bool {
        let Some(s) = Source::of(addr) else {
            return true;
        };
        let ms = u64::try_from(now.saturating_duration_since(self.start).as_millis())
            .unwrap_or(u64::MAX);
        // Both must have room; only then is either charged.
        let ok = self.per_source.has(s, ms) && self.per_network.has(s.network(), ms);
        if ok {
            self.per_source.charge(s, 1.0, ms);
            self.per_network.charge(s.network(), 1.0, ms);
        }
        ok
    }
}

struct Limiter(ReservationLimits);

impl libp2p::relay::RateLimiter for Limiter {
    fn try_next(&mut self, peer: PeerId, addr: &Multiaddr, _now: Instant) -> bool {
        let ok = self.0.table().admit(peer, addr);
        if !ok {
            tracing::debug!("reservation refused: the address or network holds its share");
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/4001").parse().unwrap()
    }

    /// Catches a limit that one address or network can exceed, that refuses a holder's
    /// renewal, or that never frees a slot.
    #[test]
    fn reservations_per_address_and_network() {
        let limits = ReservationLimits::default();
        let mut l = limits.limiter();
        let now = Instant::now();
        let mut first = Vec::new();
        for _ in 0..MAX_RESERVATIONS_PER_SOURCE {
            let p = PeerId::random();
            assert!(l.try_next(p, &addr("198.51.100.1"), now));
            limits.accepted(p, false);
            first.push(p);
        }
        assert!(
            !l.try_next(PeerId::random(), &addr("198.51.100.1"), now),
            "the address holds its share"
        );
        assert!(
            l.try_next(first[0], &addr("198.51.100.1"), now),
            "a renewal always passes"
        );
        limits.accepted(first[0], true);
        // The rest of the /24 up to the network's share.
        let mut n = MAX_RESERVATIONS_PER_SOURCE;
        let mut host = 2;
        while n < MAX_RESERVATIONS_PER_NETWORK {
            let p = PeerId::random();
            assert!(l.try_next(p, &addr(&format!("198.51.100.{host}")), now));
            limits.accepted(p, false);
            n += 1;
            if n % MAX_RESERVATIONS_PER_SOURCE == 0 {
                host += 1;
            }
        }
        assert!(
            !l.try_next(PeerId::random(), &addr("198.51.100.200"), now),
            "the /24 holds its share"
        );
        assert!(l.try_next(PeerId::random(), &addr("198.51.101.1"), now));
        // Slots come back when reservations end or a request is denied.
        limits.ended(first[1]);
        assert!(!limits.holds(&first[1]));
        let p = PeerId::random();
        assert!(l.try_next(p, &addr("198.51.100.1"), now));
        limits.denied(p);
        assert!(l.try_next(PeerId::random(), &addr("198.51.100.1"), now));
        assert!(limits.holds(&first[0]));
    }

    /// Catches a circuit limit that every address of a /64 gets afresh.
    #[test]
    fn circuits_per_slash_64() {
        let mut l = circuit_limiter();
        let now = Instant::now();
        let v6 = |i: u32| -> Multiaddr {
            format!("/ip6/2001:db8::{i:x}/udp/1/quic-v1")
                .parse()
                .unwrap()
        };
        let mut n = 0;
        while l.try_next(PeerId::random(), &v6(n + 1), now) {
            n += 1;
            assert!(n <= 1000, "no limit");
        }
        assert_eq!(n as f64, CIRCUITS_PER_SOURCE_BURST);
        let other: Multiaddr = "/ip6/2001:db8:0:1::1/udp/1/quic-v1".parse().unwrap();
        assert!(l.try_next(PeerId::random(), &other, now), "another /64");
    }

    /// Catches a total that strangers can exceed from many networks.
    #[test]
    fn holders_in_total() {
        let limits = ReservationLimits::default();
        let mut l = limits.limiter();
        let now = Instant::now();
        let mut i = 0u32;
        while l.try_next(
            PeerId::random(),
            &addr(&format!("10.{}.{}.1", i / 256, i % 256)),
            now,
        ) {
            i += 1;
        }
        assert_eq!(limits.holders(), MAX_RESERVATION_HOLDERS);
    }
}
