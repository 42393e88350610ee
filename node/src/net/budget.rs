//! How many request bytes a node reads at once (docs/THREAT_MODEL.md §6.3), and from whom.
//!
//! A request's buffer is taken from a budget when its length prefix arrives and given back
//! when it is read (or the stream fails); over the budget, the request is read and
//! discarded a small piece at a time and answered "try later" ([`Request::Unread`]). Two
//! budgets, each with a share per connection and a total:
//!
//! - **strangers** (any connection whose peer is not a contact): 2 MiB per connection, 64
//!   MiB in all. Without it, connections announcing 256 KiB requests and sending them
//!   slowly took a node from 13 to 662 MiB.
//! - **contacts**: 6 MiB per connection, 32 MiB in all, a pool strangers cannot touch. A
//!   contact sending a large file keeps [`MAX_CONTACT_REQUESTS_READ`] requests of bulk
//!   chunks in flight (docs/PROTOCOL.md §25.5), which the sender's stream interleaves, so
//!   they are read at once; with the strangers' share only eight were, the rest answered
//!   "try later", and a transfer was bound by a 2 MiB window.
//!
//! The codec cannot see the peer of its stream: libp2p's request-response behaviour clones
//! its codec for each new connection's handler. [`Behaviour`] wraps that behaviour and
//! names the peer to the codec just before that clone ([`Peers`]), and the node keeps the
//! set of its contacts' peers there (read at each large frame, so a stranger who becomes a
//! contact gets the contacts' budget on the connection it has).
//!
//! [`Request::Unread`]: super::protocol::Request::Unread

use super::protocol::{Codec, MAX_REQUEST_LEN};
use libp2p::core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p::request_response;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::PeerId;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};

/// Request bytes that strangers' connections together may be reading at once.
pub const MAX_BUFFERED_REQUEST_BYTES: usize = 64 << 20;
/// The same for the requests of one stranger's connection: room for 8 of the largest
/// requests; one address (16 connections) can then hold at most half of the total.
pub const MAX_BUFFERED_PER_CONNECTION: usize = 8 * MAX_REQUEST_LEN;
/// Largest requests a contact's connection may have in reading at once: what a node
/// keeps in flight to a contact that takes bulk chunks (four streams of the 32 a
/// connection has stay free for everything else).
pub const MAX_CONTACT_REQUESTS_READ: usize = 28;
/// The share of one contact's connection (7 MiB).
pub const MAX_BUFFERED_PER_CONTACT_CONNECTION: usize = MAX_CONTACT_REQUESTS_READ * MAX_REQUEST_LEN;
/// Request bytes that contacts' connections together may be reading at once: five
/// contacts sending large files at full speed.
pub const MAX_BUFFERED_CONTACT_BYTES: usize = 32 << 20;
/// Requests up to this size (a single chat envelope: the padding buckets up to 4 KiB, with
/// its frame) are read without a budget: their memory is bounded by the streams per
/// connection and the connections per address alone (32 × 8 KiB per connection), and a
/// contact's messages then get through even while strangers hold their whole budget.
pub const SMALL_REQUEST_LEN: usize = 8 << 10;

static STRANGER_BYTES: AtomicUsize = AtomicUsize::new(0);
static CONTACT_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Adds `n` to `counter` if that stays within `max`.
fn take_from(counter: &AtomicUsize, n: usize, max: usize) -> bool {
    let mut current = counter.load(Ordering::Relaxed);
    loop {
        let Some(next) = current.checked_add(n).filter(|next| *next <= max) else {
            return false;
        };
        match counter.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(seen) => current = seen,
        }
    }
}

/// The contacts' peers, and the peer of the connection whose codec is being cloned.
#[derive(Default)]
pub struct Peers {
    contacts: RwLock<HashSet<PeerId>>,
    next: Mutex<Option<PeerId>>,
    /// The peers named to new connections, in order (what the tests see of libp2p's
    /// private handlers).
    #[cfg(test)]
    named: Mutex<Vec<Option<PeerId>>>,
}

impl Peers {
    /// Replaces the set of contacts' peers.
    pub fn set_contacts(&self, peers: HashSet<PeerId>) {
        *self
            .contacts
            .write()
            .unwrap_or_else(PoisonError::into_inner) = peers;
    }

    fn is_contact(&self, peer: &PeerId) -> bool {
        self.contacts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(peer)
    }

    fn set_next(&self, peer: Option<PeerId>) {
        *self.next.lock().unwrap_or_else(PoisonError::into_inner) = peer;
    }

    /// The peer named for the connection being set up (taken: named once).
    pub(super) fn take_next(&self) -> Option<PeerId> {
        let next = self
            .next
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        #[cfg(test)]
        self.named
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(next);
        next
    }
}

/// The read budget of one connection: bytes it is reading now, and its peer.
pub struct ConnectionBudget {
    used: AtomicUsize,
    peer: Option<PeerId>,
    peers: Arc<Peers>,
}

impl ConnectionBudget {
    /// A connection with `peer` (None: unknown, a stranger's budget).
    pub fn new(peer: Option<PeerId>, peers: Arc<Peers>) -> Self {
        Self {
            used: AtomicUsize::new(0),
            peer,
            peers,
        }
    }

    /// Its share and its pool with that pool's total, as its peer stands now.
    fn limits(&self) -> (usize, &'static AtomicUsize, usize) {
        if self.peer.is_some_and(|p| self.peers.is_contact(&p)) {
            (
                MAX_BUFFERED_PER_CONTACT_CONNECTION,
                &CONTACT_BYTES,
                MAX_BUFFERED_CONTACT_BYTES,
            )
        } else {
            (
                MAX_BUFFERED_PER_CONNECTION,
                &STRANGER_BYTES,
                MAX_BUFFERED_REQUEST_BYTES,
            )
        }
    }

    /// Bytes this connection is reading now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// Bytes taken from a connection's share and from its pool, given back on drop.
pub struct ReadBudget {
    n: usize,
    pool: &'static AtomicUsize,
    connection: Arc<ConnectionBudget>,
}

impl ReadBudget {
    /// Takes `n` bytes from `connection`'s share and its pool, or None (and nothing taken)
    /// if that would exceed either.
    pub fn take(connection: &Arc<ConnectionBudget>, n: usize) -> Option<Self> {
        let (share, pool, total) = connection.limits();
        if !take_from(&connection.used, n, share) {
            return None;
        }
        if !take_from(pool, n, total) {
            connection.used.fetch_sub(n, Ordering::AcqRel);
            return None;
        }
        Some(Self {
            n,
            pool,
            connection: connection.clone(),
        })
    }

    /// Bytes taken from the strangers' pool by every reader now.
    pub fn in_use() -> usize {
        STRANGER_BYTES.load(Ordering::Relaxed)
    }

    /// Bytes taken from the contacts' pool by every reader now.
    pub fn contacts_in_use() -> usize {
        CONTACT_BYTES.load(Ordering::Relaxed)
    }
}

impl Drop for ReadBudget {
    fn drop(&mut self) {
        self.pool.fetch_sub(self.n, Ordering::AcqRel);
        self.connection.used.fetch_sub(self.n, Ordering::AcqRel);
    }
}

/// libp2p's request-response behaviour, naming each new connection's peer to its codec.
pub struct Behaviour {
    inner: request_response::Behaviour<Codec>,
    peers: Arc<Peers>,
}

impl Behaviour {
    /// Wraps `inner`, whose codec was made with [`Codec::with_peers`] of `peers`.
    pub fn new(inner: request_response::Behaviour<Codec>, peers: Arc<Peers>) -> Self {
        Self { inner, peers }
    }

    /// Replaces the contacts' peers (effective at each connection's next large request).
    pub fn set_contacts(&self, peers: HashSet<PeerId>) {
        self.peers.set_contacts(peers);
    }
}

impl std::ops::Deref for Behaviour {
    type Target = request_response::Behaviour<Codec>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Behaviour {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = THandler<request_response::Behaviour<Codec>>;
    type ToSwarm = request_response::Event<super::protocol::Request, super::protocol::Response>;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // The inner behaviour clones its codec for the handler first thing; the name is
        // cleared after, whatever happened, so that it never reaches another connection.
        self.peers.set_next(Some(peer));
        let handler = self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        );
        self.peers.set_next(None);
        handler
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.peers.set_next(Some(peer));
        let handler = self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        );
        self.peers.set_next(None);
        handler
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer, connection_id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::{Request, PROTOCOL};
    use super::*;
    use libp2p::request_response::Codec as _;

    fn connection(c: &Codec) -> Arc<ConnectionBudget> {
        c.budget().expect("a connection's codec").clone()
    }

    fn frame(r: &Request) -> Vec<u8> {
        let body = r.encode();
        let mut f = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        f.extend_from_slice(&body);
        f
    }

    /// Catches a request budget that one connection can take whole, that can be exceeded
    /// in total, that is not given back when a reader finishes or fails, codec clones that
    /// do not give each connection (and only each connection) a budget of its own; a
    /// contact's connection without its larger share, or one drawn from the strangers'
    /// pool (strangers who spent theirs would then starve a contact's file); a peer named
    /// to a connection other than its own. One test: the pools are the process's.
    #[test]
    fn read_budgets_per_connection_per_pool_and_in_total() {
        let peers = Arc::new(Peers::default());
        let template = Codec::with_peers(peers.clone());
        let conn = template.clone();
        let stream = conn.clone();
        let (c, s) = (connection(&conn), connection(&stream));
        assert!(Arc::ptr_eq(&c, &s), "a connection's streams share");
        let other = connection(&template.clone());
        assert!(!Arc::ptr_eq(&c, &other), "connections do not");

        let before = ReadBudget::in_use();
        let a = ReadBudget::take(&c, MAX_BUFFERED_PER_CONNECTION).expect("room");
        assert!(
            ReadBudget::take(&c, 1).is_none(),
            "the connection's share is spent"
        );
        assert!(
            ReadBudget::take(&other, MAX_REQUEST_LEN).is_some(),
            "others have theirs"
        );
        drop(a);
        assert!(
            ReadBudget::take(&c, MAX_REQUEST_LEN).is_some(),
            "given back"
        );

        // Strangers take their whole pool.
        let mut held = Vec::new();
        loop {
            let conn = connection(&template.clone());
            match ReadBudget::take(&conn, MAX_BUFFERED_PER_CONNECTION) {
                Some(b) => held.push(b),
                None => break,
            }
            assert!(held.len() <= 64, "no total");
        }
        assert!(ReadBudget::in_use() <= MAX_BUFFERED_REQUEST_BYTES);
        let refused = connection(&template.clone());
        assert!(ReadBudget::take(&refused, 1).is_none());
        assert_eq!(refused.used(), 0, "nothing kept");

        // A contact's connection still reads, its larger share, from its own pool.
        let contact = PeerId::random();
        peers.set_contacts([contact].into_iter().collect());
        peers.set_next(Some(contact));
        let theirs = connection(&template.clone());
        assert!(peers.take_next().is_none(), "the name is taken once");
        let contacts_before = ReadBudget::contacts_in_use();
        let big = ReadBudget::take(&theirs, MAX_BUFFERED_PER_CONTACT_CONNECTION)
            .expect("a contact reads while strangers hold their pool");
        const { assert!(MAX_BUFFERED_PER_CONTACT_CONNECTION > MAX_BUFFERED_PER_CONNECTION) };
        assert!(
            ReadBudget::take(&theirs, 1).is_none(),
            "its share is bounded"
        );
        assert_eq!(
            ReadBudget::contacts_in_use(),
            contacts_before + MAX_BUFFERED_PER_CONTACT_CONNECTION
        );
        drop(big);
        // Contacts too have a total.
        let mut contacts_held = Vec::new();
        loop {
            peers.set_next(Some(contact));
            let conn = connection(&template.clone());
            match ReadBudget::take(&conn, MAX_BUFFERED_PER_CONTACT_CONNECTION) {
                Some(b) => contacts_held.push(b),
                None => break,
            }
            assert!(contacts_held.len() <= 64, "no total for contacts");
        }
        assert!(ReadBudget::contacts_in_use() <= MAX_BUFFERED_CONTACT_BYTES);
        drop(contacts_held);
        assert_eq!(ReadBudget::contacts_in_use(), contacts_before);
        // No longer a contact: the strangers' share and pool (spent).
        peers.set_contacts(HashSet::new());
        assert!(ReadBudget::take(&theirs, MAX_REQUEST_LEN).is_none());
        drop(held);
        assert_eq!(ReadBudget::in_use(), before);

        // A large request over a spent budget is read and discarded, then handed over as
        // `Unread` (answered "try later"), not a failed stream; within the budget it is
        // read.
        let protocol = libp2p::StreamProtocol::new(PROTOCOL);
        let big = Request::Deliver(vec![7; 64 << 10]);
        let mut conn = template.clone();
        let spent = ReadBudget::take(&connection(&conn), MAX_BUFFERED_PER_CONNECTION).unwrap();
        let mut io = futures::io::Cursor::new(frame(&big));
        let read = futures::executor::block_on(conn.read_request(&protocol, &mut io)).unwrap();
        assert_eq!(read, Request::Unread);
        assert_eq!(
            usize::try_from(io.position()).unwrap(),
            frame(&big).len(),
            "the body was consumed"
        );
        drop(spent);
        let mut io = futures::io::Cursor::new(frame(&big));
        let read = futures::executor::block_on(conn.read_request(&protocol, &mut io)).unwrap();
        assert_eq!(read, big);
        assert!(
            Request::decode(&Request::Unread.encode()).is_err(),
            "never valid"
        );
        assert_eq!(ReadBudget::in_use(), before);
    }

    /// Catches a wrapper that does not name a new connection's peer to its codec, or
    /// leaves the name for the next connection.
    #[test]
    fn the_wrapper_names_each_connection_its_peer() {
        let peers = Arc::new(Peers::default());
        let contact = PeerId::random();
        let mut b = Behaviour::new(
            request_response::Behaviour::with_codec(
                Codec::with_peers(peers.clone()),
                [(
                    libp2p::StreamProtocol::new(PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default(),
            ),
            peers.clone(),
        );
        b.set_contacts([contact].into_iter().collect());
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let stranger = PeerId::random();
        b.handle_established_inbound_connection(
            ConnectionId::new_unchecked(1),
            contact,
            &addr,
            &addr,
        )
        .unwrap();
        b.handle_established_outbound_connection(
            ConnectionId::new_unchecked(2),
            stranger,
            &addr,
            Endpoint::Dialer,
            PortUse::New,
        )
        .unwrap();
        assert!(peers.take_next().is_none(), "no name left for another");
        let named = peers.named.lock().unwrap().clone();
        assert_eq!(named, vec![Some(contact), Some(stranger), None]);
    }
}
