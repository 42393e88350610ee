//! What LAN discovery remembers and decides, without sockets or clocks (the caller passes
//! `now`), so that every rule here is unit-tested:
//!
//! - packets are read at most [`PACKETS_PER_SEC`] a second (bursts of [`PACKET_BURST`]); the
//!   kernel drops what waits beyond its buffer, so a flood costs a bounded amount of work;
//! - only contacts' announcements are kept (anyone on the LAN can announce any PeerId), at
//!   most [`MAX_ADDRS`] addresses per contact and [`MAX_ADDRS_PER_SOURCE`] from one sender,
//!   for at most [`MAX_TTL`];
//! - an announced address is moved to the IP address the packet came from (as libp2p does),
//!   so nobody can make the node dial a third machine;
//! - an address the node reached the contact at is kept over unproven ones; an unproven one
//!   gives way to a newer announcement when the list is full, so a flood from a few machines
//!   can delay a contact's address but not keep it out;
//! - queries are answered at most once per [`ANSWER_GAP`], however many arrive.

use super::packet::{self, Packet, PacketError};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Most addresses kept per contact (as many as a card carries).
pub const MAX_ADDRS: usize = cairn_crypto::card::MAX_ADDRS;
/// Most addresses of one contact kept from one sender's IP address.
pub const MAX_ADDRS_PER_SOURCE: usize = 2;
/// Longest an announcement is believed, whatever TTL it claims.
pub const MAX_TTL: Duration = Duration::from_secs(10 * 60);
/// Packets read per second from the mDNS port, on average.
pub const PACKETS_PER_SEC: f64 = 20.0;
/// Packets that may be read at once after a quiet time.
pub const PACKET_BURST: f64 = 100.0;
/// Shortest time between two answers to queries.
pub const ANSWER_GAP: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
struct Found {
    addr: Multiaddr,
    source: IpAddr,
    expires: Instant,
    /// The node connected to the contact at this address.
    proven: bool,
}

/// Counters, for tests and figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets read.
    pub read: u64,
    /// Packets that were not valid DNS.
    pub malformed: u64,
    /// Announcements of peers that are not contacts (ignored).
    pub strangers: u64,
}

/// LAN discovery's state.
#[derive(Debug)]
pub struct Discovery {
    local: PeerId,
    wanted: HashSet<PeerId>,
    found: HashMap<PeerId, Vec<Found>>,
    tokens: f64,
    refilled: Option<Instant>,
    answer_due: bool,
    last_answer: Option<Instant>,
    stats: Stats,
}

impl Discovery {
    /// Discovery for the node `local`, with no contacts yet.
    pub fn new(local: PeerId) -> Self {
        Self {
            local,
            wanted: HashSet::new(),
            found: HashMap::new(),
            tokens: PACKET_BURST,
            refilled: None,
            answer_due: false,
            last_answer: None,
            stats: Stats::default(),
        }
    }

    /// Replaces the peers whose announcements are kept (the contacts); what was found for
    /// others is forgotten.
    pub fn set_wanted(&mut self, peers: HashSet<PeerId>) {
        self.found.retain(|p, _| peers.contains(p));
        self.wanted = peers;
    }

    /// Whether a packet may be read now; false if the budget is spent (leave the packet
    /// where it is: the kernel drops what its buffer cannot hold). Reading one, with
    /// [`Discovery::on_packet`], spends a token.
    pub fn admit(&mut self, now: Instant) -> bool {
        if let Some(last) = self.refilled {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * PACKETS_PER_SEC).min(PACKET_BURST);
        }
        self.refilled = Some(now);
        self.tokens >= 1.0
    }

    /// How long until [`Discovery::admit`] can say yes again.
    pub fn next_admission(&self) -> Duration {
        let missing = (1.0 - self.tokens).max(0.0);
        Duration::from_secs_f64(missing / PACKETS_PER_SEC)
    }

    /// Reads a packet from `from`: a query makes an answer due; an announcement of a
    /// contact is kept within the bounds. Returns the contacts that got an address not
    /// known before. A rejected packet changes nothing but the counters.
    pub fn on_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<Vec<PeerId>, PacketError> {
        self.stats.read += 1;
        self.tokens -= 1.0;
        let packet = match packet::parse(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e);
            }
        };
        let mut new = Vec::new();
        match packet {
            Packet::Query => self.answer_due = true,
            Packet::Other => {}
            Packet::Response(list) => {
                for a in list {
                    if a.peer == self.local {
                        continue;
                    }
                    if !self.wanted.contains(&a.peer) {
                        self.stats.strangers += 1;
                        continue;
                    }
                    let ttl = Duration::from_secs(u64::from(a.ttl)).min(MAX_TTL);
                    let mut added = false;
                    for addr in a.addrs {
                        if let Some(addr) = translate(&addr, from.ip()) {
                            added |= self.keep(now, a.peer, addr, from.ip(), ttl);
                        }
                    }
                    if added {
                        new.push(a.peer);
                    }
                }
            }
        }
        Ok(new)
    }

    /// Keeps `addr` for `peer` if the bounds allow; true if it was not known.
    fn keep(
        &mut self,
        now: Instant,
        peer: PeerId,
        addr: Multiaddr,
        source: IpAddr,
        ttl: Duration,
    ) -> bool {
        let list = self.found.entry(peer).or_default();
        list.retain(|f| f.expires > now);
        if ttl.is_zero() {
            // A goodbye: the sender withdraws this address.
            list.retain(|f| f.addr != addr);
            return false;
        }
        let expires = now + ttl;
        if let Some(f) = list.iter_mut().find(|f| f.addr == addr) {
            f.expires = f.expires.max(expires);
            return false;
        }
        if list.iter().filter(|f| f.source == source).count() >= MAX_ADDRS_PER_SOURCE {
            return false;
        }
        if list.len() >= MAX_ADDRS {
            // Full: the oldest unproven address gives way; proven ones stay.
            let Some(oldest) = list
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.proven)
                .min_by_key(|(_, f)| f.expires)
                .map(|(i, _)| i)
            else {
                return false;
            };
            list.swap_remove(oldest);
        }
        list.push(Found {
            addr,
            source,
            expires,
            proven: false,
        });
        true
    }

    /// The node reached `peer` at `addr`: keep that address over unproven ones.
    pub fn proven(&mut self, peer: &PeerId, addr: &Multiaddr) {
        let bare = without_p2p(addr);
        if let Some(list) = self.found.get_mut(peer) {
            for f in list.iter_mut().filter(|f| f.addr == bare) {
                f.proven = true;
            }
        }
    }

    /// The addresses to dial `peer` at (with its `/p2p/` suffix), unexpired.
    pub fn addresses(&self, peer: &PeerId, now: Instant) -> Vec<Multiaddr> {
        self.found
            .get(peer)
            .into_iter()
            .flatten()
            .filter(|f| f.expires > now)
            .filter_map(|f| f.addr.clone().with_p2p(*peer).ok())
            .collect()
    }

    /// Forgets what expired.
    pub fn expire(&mut self, now: Instant) {
        for list in self.found.values_mut() {
            list.retain(|f| f.expires > now);
        }
        self.found.retain(|_, l| !l.is_empty());
    }

    /// Whether to send an answer now (a query came and the last answer is old enough).
    pub fn take_answer(&mut self, now: Instant) -> bool {
        let gap_over = self
            .last_answer
            .is_none_or(|t| now.saturating_duration_since(t) >= ANSWER_GAP);
        if self.answer_due && gap_over {
            self.answer_due = false;
            self.last_answer = Some(now);
            true
        } else {
            false
        }
    }

    /// Whether an answer waits for [`ANSWER_GAP`] to pass.
    pub fn answer_waiting(&self) -> bool {
        self.answer_due
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// How many addresses are kept in all (for tests: the bound).
    pub fn kept(&self) -> usize {
        self.found.values().map(Vec::len).sum()
    }
}

/// `addr` moved to `ip` (the sender's): its first part must be an IP address, followed by
/// ports only (TCP, or UDP with QUIC). Anything else (relay circuits, DNS names) is refused.
pub fn translate(addr: &Multiaddr, ip: IpAddr) -> Option<Multiaddr> {
    let mut parts = addr.iter();
    match parts.next()? {
        Protocol::Ip4(_) | Protocol::Ip6(_) => {}
        _ => return None,
    }
    let mut out = Multiaddr::empty().with(match ip {
        IpAddr::V4(v4) => Protocol::Ip4(v4),
        IpAddr::V6(v6) => Protocol::Ip6(v6),
    });
    let mut has_port = false;
    for p in parts {
        match p {
            Protocol::Tcp(_) | Protocol::Udp(_) => {
                has_port = true;
                out.push(p);
            }
            Protocol::QuicV1 => out.push(p),
            _ => return None,
        }
    }
    has_port.then_some(out)
}

fn without_p2p(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

#[cfg(test)]
mod tests;
