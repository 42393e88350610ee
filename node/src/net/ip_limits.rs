//! Incoming connections per source address: one machine (one IPv4 address, one IPv6 /64,
//! which a single subscriber usually gets whole) may hold only a few connections that are
//! still in their handshake and a few established ones, so it cannot take every slot of
//! the node or relay. Peers on the bypass list (contacts, the node's own relay) are never
//! refused; outgoing connections are never counted.
//!
//! libp2p's `connection_limits` counts connections in total and per PeerId (free to make);
//! this counts them per address prefix, which costs an attacker real addresses.

use libp2p::core::{transport::PortUse, ConnectedPoint, Endpoint, Multiaddr};
use libp2p::swarm::{
    behaviour::{ConnectionEstablished, ListenFailure},
    dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::PeerId;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

/// Most incoming connections one source may have in their handshake at once.
pub const MAX_PENDING_PER_SOURCE: usize = 8;
/// Most established incoming connections from one source (peers not on the bypass list) at
/// a profile node: strangers only ever need one or two (to answer an invite).
pub const MAX_ESTABLISHED_PER_SOURCE: usize = 16;
/// The same at a relay, whose users may share an address (carrier-grade NAT, a household):
/// each user holds a connection or two for its reservation, mailbox and circuits.
pub const MAX_ESTABLISHED_PER_SOURCE_RELAY: usize = 128;

/// The unit one machine is counted by: an IPv4 address, or an IPv6 /64 (IPv4-mapped IPv6
/// addresses count as their IPv4 address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// One IPv4 address.
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6([u8; 8]),
}

impl Source {
    /// The source of an address with an IP component; None for one without (a relayed
    /// connection's address names the relay, not the peer: it is counted by the relay).
    pub fn of(addr: &Multiaddr) -> Option<Self> {
        addr.iter().find_map(|p| match p {
            libp2p::multiaddr::Protocol::Ip4(ip) => Some(Self::from_ip(IpAddr::V4(ip))),
            libp2p::multiaddr::Protocol::Ip6(ip) => Some(Self::from_ip(IpAddr::V6(ip))),
            _ => None,
        })
    }

    /// The source of an IP address.
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    let mut p = [0u8; 8];
                    p.copy_from_slice(&o[..8]);
                    Source::V6(p)
                }
            },
        }
    }
}

/// The wider network around a [`Source`]: the IPv4 /24 or the IPv6 /48, what one site or
/// one hosting customer typically holds. Limits per network keep one machine with many
/// addresses from multiplying a per-source limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    /// The first 24 bits of an IPv4 address.
    V4([u8; 3]),
    /// The first 48 bits of an IPv6 address.
    V6([u8; 6]),
}

impl Source {
    /// The network this source belongs to.
    pub fn network(&self) -> Network {
        match *self {
            Source::V4([a, b, c, _]) => Network::V4([a, b, c]),
            Source::V6([a, b, c, d, e, f, _, _]) => Network::V6([a, b, c, d, e, f]),
        }
    }
}

/// Counts incoming connections per [`Source`] and refuses those over the limits.
pub struct Behaviour {
    max_pending: usize,
    max_established: usize,
    pending: HashMap<ConnectionId, Source>,
    established: HashMap<ConnectionId, Source>,
    pending_per: HashMap<Source, usize>,
    established_per: HashMap<Source, usize>,
    bypass: HashSet<PeerId>,
    /// Sources refused until a time, for abuse (see [`Behaviour::penalize`]).
    penalized: HashMap<Source, std::time::Instant>,
    /// New incoming connections from peers not on the bypass list are refused above this
    /// process memory use (see [`Behaviour::with_memory_limit`]).
    max_memory: Option<usize>,
    /// The last memory reading and when it was taken.
    memory: (std::time::Instant, usize),
    /// Refuse a penalized source before its handshake (a relay, which has no contacts to
    /// let through) rather than once the peer is known (a node: a contact behind the same
    /// address is still let in).
    early_penalty: bool,
}

/// How long a memory reading is used before it is taken again.
const MEMORY_READING_TTL: std::time::Duration = std::time::Duration::from_millis(100);

/// Most sources penalized at once (the table is a bound, not a blocklist).
const MAX_PENALIZED: usize = 4096;

/// Why a connection was refused.
#[derive(Debug, thiserror::Error)]
#[error("too many {0} connections from one address (or one refused for a while)")]
pub struct Exceeded(&'static str);

impl Behaviour {
    /// At most `max_pending` connections in their handshake and `max_established`
    /// established ones per source.
    pub fn new(max_pending: usize, max_established: usize) -> Self {
        Self {
            max_pending,
            max_established,
            pending: HashMap::new(),
            established: HashMap::new(),
            pending_per: HashMap::new(),
            established_per: HashMap::new(),
            bypass: HashSet::new(),
            penalized: HashMap::new(),
            max_memory: None,
            memory: (std::time::Instant::now(), 0),
            early_penalty: false,
        }
    }

    /// Refuses penalized sources before their handshake (see the field).
    pub fn with_early_penalty(mut self) -> Self {
        self.early_penalty = true;
        self
    }

    /// Refuses new incoming connections above `bytes` of resident memory — except from
    /// peers on the bypass list, and never the node's own dials. (libp2p's memory limit
    /// refuses every new connection, in and out, contacts' too: a node pushed over it by
    /// strangers could not even reconnect to its own relay.)
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.max_memory = Some(bytes);
        self
    }

    fn over_memory(&mut self) -> bool {
        let Some(max) = self.max_memory else {
            return false;
        };
        let now = std::time::Instant::now();
        if self.memory.1 == 0 || now.duration_since(self.memory.0) >= MEMORY_READING_TTL {
            if let Some(stats) = memory_stats::memory_stats() {
                self.memory = (now, stats.physical_mem.max(1));
            }
        }
        self.memory.1 > max
    }

    /// Refuses new connections from `source` for `period` (its current ones are the
    /// caller's to close): for a source that keeps asking after being told to try later.
    pub fn penalize(&mut self, source: Source, period: std::time::Duration) {
        let now = std::time::Instant::now();
        if self.penalized.len() >= MAX_PENALIZED {
            self.penalized.retain(|_, until| *until > now);
            if self.penalized.len() >= MAX_PENALIZED {
                return;
            }
        }
        self.penalized.insert(source, now + period);
    }

    /// Whether `source` is refused now.
    pub fn is_penalized(&self, source: &Source) -> bool {
        self.penalized
            .get(source)
            .is_some_and(|until| *until > std::time::Instant::now())
    }

    /// Never refuse `peer` (a contact, or the node's own relay).
    pub fn bypass(&mut self, peer: PeerId) {
        self.bypass.insert(peer);
    }

    /// Count `peer` like anyone else again.
    pub fn remove_bypass(&mut self, peer: &PeerId) {
        self.bypass.remove(peer);
    }

    /// Established incoming connections counted for `source`.
    pub fn established_from(&self, source: &Source) -> usize {
        self.established_per.get(source).copied().unwrap_or(0)
    }

    fn forget_pending(&mut self, id: &ConnectionId) {
        if let Some(s) = self.pending.remove(id) {
            decrement(&mut self.pending_per, &s);
        }
    }
}

fn decrement(map: &mut HashMap<Source, usize>, s: &Source) {
    if let Some(n) = map.get_mut(s) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(s);
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(source) = Source::of(remote) else {
            return Ok(());
        };
        if self.early_penalty && self.is_penalized(&source) {
            return Err(ConnectionDenied::new(Exceeded("penalized")));
        }
        let n = self.pending_per.entry(source).or_default();
        if *n >= self.max_pending {
            return Err(ConnectionDenied::new(Exceeded("pending")));
        }
        *n += 1;
        self.pending.insert(connection_id, source);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.forget_pending(&connection_id);
        if self.bypass.contains(&peer) {
            return Ok(dummy::ConnectionHandler);
        }
        if self.over_memory() {
            return Err(ConnectionDenied::new(Exceeded("memory-limited")));
        }
        if let Some(source) = Source::of(remote) {
            if self.is_penalized(&source) {
                return Err(ConnectionDenied::new(Exceeded("penalized")));
            }
            if self.established_from(&source) >= self.max_established {
                return Err(ConnectionDenied::new(Exceeded("established")));
            }
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint: ConnectedPoint::Listener { send_back_addr, .. },
                ..
            }) => {
                if self.bypass.contains(&peer_id) {
                    return;
                }
                if let Some(source) = Source::of(send_back_addr) {
                    *self.established_per.entry(source).or_default() += 1;
                    self.established.insert(connection_id, source);
                }
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                if let Some(s) = self.established.remove(&connection_id) {
                    decrement(&mut self.established_per, &s);
                }
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.forget_pending(&connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches an IPv6 /64 counted per address (every address of a subscriber's /64 would
    /// be a new machine), or IPv4-mapped addresses counted apart from their IPv4 address.
    #[test]
    fn sources_are_addresses_and_slash_64s() {
        let a: Multiaddr = "/ip6/2001:db8:1:2:aaaa::1/tcp/1".parse().unwrap();
        let b: Multiaddr = "/ip6/2001:db8:1:2:ffff::9/tcp/2".parse().unwrap();
        let c: Multiaddr = "/ip6/2001:db8:1:3::1/tcp/1".parse().unwrap();
        assert_eq!(Source::of(&a), Source::of(&b));
        assert_ne!(Source::of(&a), Source::of(&c));
        let v4: Multiaddr = "/ip4/192.0.2.7/tcp/1".parse().unwrap();
        let mapped: Multiaddr = "/ip6/::ffff:192.0.2.7/tcp/1".parse().unwrap();
        assert_eq!(Source::of(&v4), Source::of(&mapped));
        let other: Multiaddr = "/ip4/192.0.2.8/tcp/1".parse().unwrap();
        assert_ne!(Source::of(&v4), Source::of(&other));
        let relayed: Multiaddr = "/p2p-circuit".parse().unwrap();
        assert_eq!(Source::of(&relayed), None);
    }

    /// Catches a pending-handshake limit that does not hold per source, that holds across
    /// sources, or that is not given back when a handshake fails.
    #[test]
    fn pending_limit_per_source_and_released_on_failure() {
        let mut b = Behaviour::new(MAX_PENDING_PER_SOURCE, MAX_ESTABLISHED_PER_SOURCE);
        let local: Multiaddr = "/ip4/127.0.0.1/tcp/9".parse().unwrap();
        let from = |i: u8| -> Multiaddr { format!("/ip4/10.0.0.{i}/tcp/5").parse().unwrap() };
        let ids: Vec<ConnectionId> = (0..MAX_PENDING_PER_SOURCE)
            .map(|_| ConnectionId::new_unchecked(rand_id()))
            .collect();
        for id in &ids {
            assert!(b
                .handle_pending_inbound_connection(*id, &local, &from(1))
                .is_ok());
        }
        let extra = ConnectionId::new_unchecked(rand_id());
        assert!(b
            .handle_pending_inbound_connection(extra, &local, &from(1))
            .is_err());
        assert!(b
            .handle_pending_inbound_connection(extra, &local, &from(2))
            .is_ok());
        b.forget_pending(&ids[0]);
        let again = ConnectionId::new_unchecked(rand_id());
        assert!(b
            .handle_pending_inbound_connection(again, &local, &from(1))
            .is_ok());
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1_000_000);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
