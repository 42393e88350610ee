//! LAN discovery over mDNS (`--lan`), with bounded work and memory whatever the LAN sends.
//!
//! libp2p's own mDNS behaviour keeps every `(peer, address)` anyone announces, for as long
//! as the sender says, in a list searched linearly for each new one; it adds all of them to
//! every dial of that peer and hands them to other behaviours; and it reads packets as fast
//! as they come. One machine on the LAN announcing made-up peers could make a node spend its
//! event loop and memory on them and push its relay's address out of the swarm's caches.
//! This behaviour speaks the same packets (nodes running either find each other), but the
//! decisions live in [`Discovery`], which bounds them; this file is the shell around it:
//! sockets, interfaces and timers.
//!
//! IPv4 only, as libp2p's default: one receiving socket on port 5353 (shared with other
//! mDNS software on the machine), joined to the group on every interface that comes up,
//! and one sending socket per interface. Only a node's contacts are looked for; the node
//! announces the addresses it listens on, per interface, to anyone who asks.

pub mod discovery;
pub mod packet;

pub use discovery::{Discovery, Stats};

use libp2p::core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::PeerId;
use rand::Rng;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::time::Sleep;

/// The mDNS group and port.
pub const GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 251), 5353);
/// How long others may believe our announcement.
pub const ANNOUNCE_TTL: u32 = 6 * 60;
/// Time between two queries once started (the first ones come faster: 0.5 s, doubling).
pub const QUERY_INTERVAL: Duration = Duration::from_secs(60);
/// Most packets read in one poll before yielding to the rest of the event loop.
const PACKETS_PER_POLL: usize = 16;

/// What discovery tells the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A contact was announced at an address not known before: worth dialling now.
    Discovered(PeerId),
}

/// The mDNS network behaviour.
pub struct Behaviour {
    core: Discovery,
    local: PeerId,
    /// Addresses we listen on (IPv4 only), announced on the interface they belong to.
    listen: Vec<Multiaddr>,
    recv: UdpSocket,
    senders: HashMap<Ipv4Addr, UdpSocket>,
    watcher: if_watch::tokio::IfWatcher,
    query_at: Pin<Box<Sleep>>,
    probe: Duration,
    /// Set while reading is throttled or an answer waits: when to look again.
    wake: Option<Pin<Box<Sleep>>>,
    buf: Vec<u8>,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("lan::Behaviour")
            .field("interfaces", &self.senders.len())
            .field("stats", &self.core.stats())
            .finish_non_exhaustive()
    }
}

fn receiving_socket() -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(SockProtocol::UDP))?;
    s.set_reuse_address(true)?;
    #[cfg(unix)]
    s.set_reuse_port(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, GROUP.port())).into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

fn sending_socket(ip: Ipv4Addr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(SockProtocol::UDP))?;
    s.bind(&SocketAddr::from((ip, 0)).into())?;
    s.set_multicast_if_v4(&ip)?;
    // Several nodes on one machine find each other too.
    s.set_multicast_loop_v4(true)?;
    s.set_multicast_ttl_v4(255)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// The IPv4 address an address starts with, if it can be announced on a LAN.
fn lan_ip(addr: &Multiaddr) -> Option<Ipv4Addr> {
    let mut parts = addr.iter();
    let Some(Protocol::Ip4(ip)) = parts.next() else {
        return None;
    };
    if ip.is_loopback() || ip.is_unspecified() || parts.any(|p| p == Protocol::P2pCircuit) {
        return None;
    }
    Some(ip)
}

impl Behaviour {
    /// Discovery for `local`, looking for nobody until [`Behaviour::set_wanted`]. Must be
    /// called inside the tokio runtime.
    pub fn new(local: PeerId) -> io::Result<Self> {
        Ok(Self {
            core: Discovery::new(local),
            local,
            listen: Vec::new(),
            recv: receiving_socket()?,
            senders: HashMap::new(),
            watcher: if_watch::tokio::IfWatcher::new()?,
            query_at: Box::pin(tokio::time::sleep(Duration::ZERO)),
            probe: Duration::from_millis(500),
            wake: None,
            buf: vec![0; packet::MAX_PACKET],
            events: VecDeque::new(),
        })
    }

    /// The peers to look for (the contacts).
    pub fn set_wanted(&mut self, peers: HashSet<PeerId>) {
        self.core.set_wanted(peers);
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    fn interface_up(&mut self, ip: Ipv4Addr) {
        if ip.is_loopback() || self.senders.contains_key(&ip) {
            return;
        }
        if let Err(e) = self.recv.join_multicast_v4(*GROUP.ip(), ip) {
            tracing::debug!(error = %e, "mDNS: cannot join the group on an interface");
            return;
        }
        match sending_socket(ip) {
            Ok(s) => {
                self.senders.insert(ip, s);
                // Ask at once on the new interface, then faster for a while.
                self.probe = Duration::from_millis(500);
                self.query_at.as_mut().reset(tokio::time::Instant::now());
            }
            Err(e) => tracing::debug!(error = %e, "mDNS: cannot send on an interface"),
        }
    }

    fn interface_down(&mut self, ip: Ipv4Addr) {
        if self.senders.remove(&ip).is_some() {
            let _ = self.recv.leave_multicast_v4(*GROUP.ip(), ip);
        }
    }

    fn send_query(&self) {
        let Ok(q) = packet::query() else { return };
        for s in self.senders.values() {
            // Best effort: a full socket buffer drops the packet, as the network would.
            let _ = s.try_send_to(&q, GROUP.into());
        }
    }

    fn send_answer(&self) {
        for (ip, s) in &self.senders {
            let addrs: Vec<Multiaddr> = self
                .listen
                .iter()
                .filter(|a| lan_ip(a) == Some(*ip))
                .cloned()
                .collect();
            if addrs.is_empty() {
                continue;
            }
            let label: String = rand::thread_rng()
                .sample_iter(&rand::distributions::Alphanumeric)
                .take(32)
                .map(char::from)
                .collect();
            if let Ok(p) = packet::response(&self.local, &addrs, ANNOUNCE_TTL, &label) {
                let _ = s.try_send_to(&p, GROUP.into());
            }
        }
    }

    fn poll_interfaces(&mut self, cx: &mut Context<'_>) {
        while let Poll::Ready(ev) = self.watcher.poll_if_event(cx) {
            match ev {
                Ok(if_watch::IfEvent::Up(net)) => {
                    if let std::net::IpAddr::V4(ip) = net.addr() {
                        self.interface_up(ip);
                    }
                }
                Ok(if_watch::IfEvent::Down(net)) => {
                    if let std::net::IpAddr::V4(ip) = net.addr() {
                        self.interface_down(ip);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "mDNS: interface watch failed");
                    break;
                }
            }
        }
    }

    /// Reads what the budget allows; returns true if it stopped with packets perhaps left.
    fn poll_packets(&mut self, cx: &mut Context<'_>) -> bool {
        for _ in 0..PACKETS_PER_POLL {
            let now = Instant::now();
            if !self.core.admit(now) {
                let mut t = Box::pin(tokio::time::sleep(self.core.next_admission()));
                let _ = t.as_mut().poll(cx);
                self.wake = Some(t);
                return false;
            }
            let mut rb = tokio::io::ReadBuf::new(&mut self.buf);
            match self.recv.poll_recv_from(cx, &mut rb) {
                Poll::Ready(Ok(from)) => {
                    let len = rb.filled().len();
                    let bytes = self.buf.get(..len).unwrap_or_default();
                    match self.core.on_packet(now, from, bytes) {
                        Ok(new) => self.events.extend(new.into_iter().map(Event::Discovered)),
                        Err(e) => tracing::trace!(error = %e, "mDNS: packet ignored"),
                    }
                }
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "mDNS: receive failed");
                    return false;
                }
                Poll::Pending => return false,
            }
        }
        true
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Event;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        maybe_peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        Ok(maybe_peer
            .map(|p| self.core.addresses(&p, Instant::now()))
            .unwrap_or_default())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::NewListenAddr(e)
                if lan_ip(e.addr).is_some() && !self.listen.contains(e.addr) =>
            {
                self.listen.push(e.addr.clone());
            }
            FromSwarm::ExpiredListenAddr(e) => self.listen.retain(|a| a != e.addr),
            FromSwarm::ConnectionEstablished(e) => {
                if let libp2p::core::ConnectedPoint::Dialer { address, .. } = e.endpoint {
                    self.core.proven(&e.peer_id, address);
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        ev: THandlerOutEvent<Self>,
    ) {
        match ev {}
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        if let Some(ev) = self.events.pop_front() {
            return Poll::Ready(ToSwarm::GenerateEvent(ev));
        }
        self.poll_interfaces(cx);
        if self.query_at.as_mut().poll(cx).is_ready() {
            self.send_query();
            self.core.expire(Instant::now());
            self.probe = (self.probe * 2).min(QUERY_INTERVAL);
            let next = tokio::time::Instant::now() + self.probe;
            self.query_at.as_mut().reset(next);
            let _ = self.query_at.as_mut().poll(cx);
        }
        if let Some(w) = self.wake.as_mut() {
            if w.as_mut().poll(cx).is_pending() {
                return self.answer_and_pop(cx);
            }
            self.wake = None;
        }
        if self.poll_packets(cx) {
            // More may be waiting: come back after the rest of the event loop ran.
            cx.waker().wake_by_ref();
        }
        self.answer_and_pop(cx)
    }
}

impl Behaviour {
    fn answer_and_pop(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        let now = Instant::now();
        if self.core.take_answer(now) {
            self.send_answer();
        } else if self.core.answer_waiting() && self.wake.is_none() {
            let mut t = Box::pin(tokio::time::sleep(discovery::ANSWER_GAP));
            let _ = t.as_mut().poll(cx);
            self.wake = Some(t);
        }
        match self.events.pop_front() {
            Some(ev) => Poll::Ready(ToSwarm::GenerateEvent(ev)),
            None => Poll::Pending,
        }
    }
}
