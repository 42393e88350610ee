//! The seam between the node's decisions and the world.
//!
//! The runtime (the parent module) decides what to store, what to send to whom, when to
//! retry and which event to emit; everything it needs from outside comes through a
//! [`Shell`]: the clock, the network (requests, responses, connections, dials) and the
//! background flush of the store. It reads no clock and opens no socket itself, and its
//! randomness comes from a [`NodeRng`] it is given. `cairn run` plugs in
//! [`Libp2pShell`] (libp2p, tokio, the system clock, the OS's randomness); the simulator
//! (`crate::sim`, feature `sim`) plugs in a simulated network and clock and a seeded RNG,
//! so that a whole network of nodes replays exactly from one seed.
//!
//! What the network reports reaches the runtime as a [`NetEvent`] (the shell translates
//! libp2p's events), and requests and answers are named by [`RequestId`] and
//! [`Responder`], not by libp2p's types.

pub use super::files::jobs::{FileJob, JobOutcome};
use crate::files::vault::{Slot, Vault};
use crate::net::ip_limits::Source;
use crate::net::protocol::{Request, Response};
use crate::net::swarm::{Behaviour, BehaviourEvent};
use crate::store::Store;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, relay, Multiaddr, PeerId, Swarm};
use rand::{CryptoRng, RngCore};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A request the node sent, until its answer or failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A request the node received, until it answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Responder(pub u64);

/// What the network tells the node.
#[derive(Debug)]
pub enum NetEvent {
    /// The node listens on a new address.
    ListenAddr(Multiaddr),
    /// The node no longer listens on an address.
    ListenAddrExpired(Multiaddr),
    /// A listener cannot be reached (hidden mode: tor refused its onion service).
    ListenFailed(String),
    /// A connection with `peer` opened (`inbound`: the peer dialled; `remote`: its address).
    Connected {
        /// The peer.
        peer: PeerId,
        /// Its address on this connection.
        remote: Multiaddr,
        /// Whether the peer dialled us.
        inbound: bool,
    },
    /// The last connection with `peer` closed.
    Disconnected(PeerId),
    /// The relay accepted our reservation.
    RelayReserved,
    /// A peer told us its listen addresses (identify).
    Identified {
        /// The peer.
        peer: PeerId,
        /// Where it listens.
        addrs: Vec<Multiaddr>,
    },
    /// LAN discovery found a contact at a new address.
    LanDiscovered(PeerId),
    /// A request from `peer`, to be answered through `responder` (or not at all).
    Request {
        /// Who sent it.
        peer: PeerId,
        /// What it asks.
        request: Request,
        /// How to answer.
        responder: Responder,
    },
    /// The answer to one of our requests.
    Response {
        /// Which.
        id: RequestId,
        /// The answer.
        response: Response,
    },
    /// One of our requests failed (timeout, closed connection, no answer).
    RequestFailed {
        /// Which.
        id: RequestId,
        /// To whom.
        peer: PeerId,
        /// The peer's stream failed or it does not speak the protocol (a relay of an older
        /// version resets what it cannot read), as opposed to a timeout or no connection.
        refused: bool,
    },
    /// A request to us failed before we answered it.
    InboundFailed,
}

/// A dial the node asks for.
#[derive(Clone, Debug, Default)]
pub struct Dial {
    /// The peer to reach (None: whoever is at the address).
    pub peer: Option<PeerId>,
    /// Addresses to try.
    pub addrs: Vec<Multiaddr>,
    /// Also try what the network's own discovery knows of the peer (LAN discovery).
    pub with_discovered: bool,
    /// Only if not connected nor dialling already.
    pub if_disconnected: bool,
}

/// What one flush makes durable, in this order: the files' chunks written to `slots` since
/// the last flush began (`fsync` each), then every write applied to the store. A chunk's
/// receipt waits for the flush after the chunk was written, so nothing is receipted before
/// its content is on disk. (The store's own writes may still reach the disk before a chunk
/// they mention — the kernel writes back when it likes — which is why a node that starts
/// checks the chunks its last span of each incoming file claims: `Runtime::load_files`.)
pub struct Flush {
    pub store: Arc<Store>,
    pub vault: Arc<dyn Vault>,
    pub slots: Vec<Slot>,
}

impl Flush {
    /// Does it (blocking).
    pub fn run(&self) -> Result<(), String> {
        crate::files::vault::sync_slots(self.vault.as_ref(), &self.slots)
            .map_err(|e| format!("files could not be made durable: {e}"))?;
        self.store.make_durable().map_err(|e| e.to_string())
    }
}

/// Everything the node needs from outside.
pub trait Shell {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Our PeerId.
    fn local_peer_id(&self) -> PeerId;
    /// Sends `request` to `peer` (dialling `addrs` if not connected).
    fn send_request(&mut self, peer: &PeerId, request: Request, addrs: Vec<Multiaddr>)
        -> RequestId;
    /// Answers a request.
    fn respond(&mut self, to: Responder, response: Response);
    /// Leaves a request unanswered: its stream is closed at once.
    fn ignore(&mut self, to: Responder);
    /// Dials; failures are reported as events, never here, except a malformed dial.
    fn dial(&mut self, dial: Dial) -> Result<(), String>;
    /// Listens on an address.
    fn listen_on(&mut self, addr: Multiaddr) -> Result<(), String>;
    /// Remembers an address of a peer for later dials.
    fn add_peer_address(&mut self, peer: PeerId, addr: Multiaddr);
    /// Whether a connection with `peer` is open.
    fn is_connected(&self, peer: &PeerId) -> bool;
    /// How many peers are connected.
    fn connected_peers(&self) -> usize;
    /// Closes every connection with `peer`.
    fn disconnect(&mut self, peer: &PeerId);
    /// The node's contacts (the only peers it hole-punches with and looks for on the LAN,
    /// and whose connections read requests with the contacts' budget).
    fn set_contacts(&mut self, contacts: BTreeSet<PeerId>);
    /// Puts `peer` on (or takes it off) the list that bypasses the connection limits.
    fn bypass(&mut self, peer: PeerId, on: bool);
    /// Refuses connections from `source` for `penalty`.
    fn penalize(&mut self, source: Source, penalty: Duration);
    /// Makes `flush` durable in the background ([`Flush::run`]); the outcome comes back to
    /// [`super::Runtime::flush_completed`] with `id`.
    fn start_flush(&mut self, id: u64, flush: Flush);
    /// Runs a file job (reading, cleaning, sealing, checking, writing out) away from the
    /// event loop; the outcome comes back to [`super::Runtime::job_completed`] with `id`.
    fn start_job(&mut self, id: u64, job: FileJob);
    /// Where the profile keeps its files' sealed chunks.
    fn vault(&self, paths: &crate::store::ProfilePaths) -> Arc<dyn Vault>;
}

/// A file job's outcome, with its id.
pub type JobDone = (u64, JobOutcome);

/// The node's randomness: the operating system's in every real run (nothing of it is kept
/// in memory, so a memory dump reveals no past key); seeded only in simulations.
pub enum NodeRng {
    /// `OsRng`.
    Os,
    /// A seeded generator (the simulator's).
    #[cfg(feature = "sim")]
    Seeded(Box<rand::rngs::StdRng>),
}

impl RngCore for NodeRng {
    fn next_u32(&mut self) -> u32 {
        match self {
            NodeRng::Os => rand::rngs::OsRng.next_u32(),
            #[cfg(feature = "sim")]
            NodeRng::Seeded(r) => r.next_u32(),
        }
    }
    fn next_u64(&mut self) -> u64 {
        match self {
            NodeRng::Os => rand::rngs::OsRng.next_u64(),
            #[cfg(feature = "sim")]
            NodeRng::Seeded(r) => r.next_u64(),
        }
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        match self {
            NodeRng::Os => rand::rngs::OsRng.fill_bytes(dest),
            #[cfg(feature = "sim")]
            NodeRng::Seeded(r) => r.fill_bytes(dest),
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        match self {
            NodeRng::Os => rand::rngs::OsRng.try_fill_bytes(dest),
            #[cfg(feature = "sim")]
            NodeRng::Seeded(r) => r.try_fill_bytes(dest),
        }
    }
}

impl CryptoRng for NodeRng {}

/// A finished background flush: its id and outcome.
pub type FlushDone = (u64, Result<(), String>);

/// The shell of `cairn run`: libp2p's swarm, tokio's blocking threads for flushes, the
/// system clock.
pub struct Libp2pShell {
    /// The swarm (polled by the event loop).
    pub swarm: Swarm<Behaviour>,
    requests: HashMap<OutboundRequestId, RequestId>,
    next_request: u64,
    channels: HashMap<Responder, ResponseChannel<Response>>,
    next_responder: u64,
    bypassed: BTreeSet<PeerId>,
    flush_done: mpsc::UnboundedSender<FlushDone>,
    jobs_done: mpsc::UnboundedSender<JobDone>,
    /// Finished file jobs (taken by the event loop).
    pub jobs: Option<mpsc::UnboundedReceiver<JobDone>>,
    /// Hidden mode: the onion service in front of each loopback listener; the node sees
    /// only the onion addresses.
    hidden: Option<crate::net::onion::Onions>,
}

impl Libp2pShell {
    /// The shell around `swarm`; finished flushes are sent to `flush_done`.
    pub fn new(swarm: Swarm<Behaviour>, flush_done: mpsc::UnboundedSender<FlushDone>) -> Self {
        let (jobs_done, jobs) = mpsc::unbounded_channel();
        Self {
            jobs_done,
            jobs: Some(jobs),
            swarm,
            requests: HashMap::new(),
            next_request: 0,
            channels: HashMap::new(),
            next_responder: 0,
            bypassed: BTreeSet::new(),
            flush_done,
            hidden: None,
        }
    }

    /// In hidden mode (`hidden`): the node listens only behind onion services.
    pub fn with_hidden(mut self, hidden: Option<crate::net::onion::Onions>) -> Self {
        self.hidden = hidden;
        self
    }

    fn request_id(&mut self, rid: OutboundRequestId) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.requests.insert(rid, id);
        id
    }

    /// What a swarm event means to the node (None: nothing).
    pub fn translate(&mut self, ev: SwarmEvent<BehaviourEvent>) -> Option<NetEvent> {
        Some(match ev {
            SwarmEvent::NewListenAddr { address, .. } => match self.hidden.as_mut() {
                Some(h) => match h.onion(&address) {
                    Ok(onion) => NetEvent::ListenAddr(onion?),
                    Err(e) => NetEvent::ListenFailed(e),
                },
                None => NetEvent::ListenAddr(address),
            },
            SwarmEvent::ExpiredListenAddr { address, .. } => match self.hidden.as_mut() {
                Some(h) => NetEvent::ListenAddrExpired(h.forget(&address)?),
                None => NetEvent::ListenAddrExpired(address),
            },
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => NetEvent::Connected {
                peer: peer_id,
                remote: endpoint.get_remote_address().clone(),
                inbound: endpoint.is_listener(),
            },
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => NetEvent::Disconnected(peer_id),
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(
                relay::client::Event::ReservationReqAccepted { .. },
            )) => NetEvent::RelayReserved,
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => NetEvent::Identified {
                peer: peer_id,
                addrs: info.listen_addrs,
            },
            SwarmEvent::Behaviour(BehaviourEvent::Lan(crate::net::lan::Event::Discovered(
                peer,
            ))) => NetEvent::LanDiscovered(peer),
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => match ev {
                request_response::Event::Message { message, peer, .. } => match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => {
                        let responder = Responder(self.next_responder);
                        self.next_responder += 1;
                        self.channels.insert(responder, channel);
                        NetEvent::Request {
                            peer,
                            request,
                            responder,
                        }
                    }
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => NetEvent::Response {
                        id: self.requests.remove(&request_id)?,
                        response,
                    },
                },
                request_response::Event::OutboundFailure {
                    request_id,
                    error,
                    peer,
                    ..
                } => {
                    tracing::debug!(%error, "request failed");
                    NetEvent::RequestFailed {
                        id: self.requests.remove(&request_id)?,
                        peer,
                        refused: matches!(
                            error,
                            request_response::OutboundFailure::Io(_)
                                | request_response::OutboundFailure::UnsupportedProtocols
                        ),
                    }
                }
                request_response::Event::InboundFailure { .. } => NetEvent::InboundFailed,
                request_response::Event::ResponseSent { .. } => return None,
            },
            _ => return None,
        })
    }
}

impl Shell for Libp2pShell {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn local_peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    fn send_request(
        &mut self,
        peer: &PeerId,
        request: Request,
        addrs: Vec<Multiaddr>,
    ) -> RequestId {
        let rid = self
            .swarm
            .behaviour_mut()
            .rr
            .send_request_with_addresses(peer, request, addrs);
        self.request_id(rid)
    }

    fn respond(&mut self, to: Responder, response: Response) {
        if let Some(ch) = self.channels.remove(&to) {
            let _ = self.swarm.behaviour_mut().rr.send_response(ch, response);
        }
    }

    fn ignore(&mut self, to: Responder) {
        // Dropping the channel closes the stream: the peer learns nothing but failure.
        self.channels.remove(&to);
    }

    fn dial(&mut self, dial: Dial) -> Result<(), String> {
        let opts = match dial.peer {
            Some(peer) => {
                let mut b = DialOpts::peer_id(peer).addresses(dial.addrs);
                if dial.if_disconnected {
                    b = b.condition(PeerCondition::DisconnectedAndNotDialing);
                }
                if dial.with_discovered {
                    b = b.extend_addresses_through_behaviour();
                }
                b.build()
            }
            None => match dial.addrs.into_iter().next() {
                Some(a) => DialOpts::unknown_peer_id().address(a).build(),
                None => return Err("nothing to dial".into()),
            },
        };
        self.swarm.dial(opts).map_err(|e| e.to_string())
    }

    fn listen_on(&mut self, addr: Multiaddr) -> Result<(), String> {
        self.swarm
            .listen_on(addr)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn add_peer_address(&mut self, peer: PeerId, addr: Multiaddr) {
        self.swarm.add_peer_address(peer, addr);
    }

    fn is_connected(&self, peer: &PeerId) -> bool {
        self.swarm.is_connected(peer)
    }

    fn connected_peers(&self) -> usize {
        self.swarm.connected_peers().count()
    }

    fn disconnect(&mut self, peer: &PeerId) {
        let _ = self.swarm.disconnect_peer_id(*peer);
    }

    fn set_contacts(&mut self, contacts: BTreeSet<PeerId>) {
        let b = self.swarm.behaviour_mut();
        if let Some(lan) = b.lan.as_mut() {
            lan.set_wanted(contacts.iter().copied().collect());
        }
        b.rr.set_contacts(contacts.iter().copied().collect());
        if let Some(dcutr) = b.dcutr.as_mut() {
            dcutr.set_allowed(contacts.into_iter().collect());
        }
    }

    fn bypass(&mut self, peer: PeerId, on: bool) {
        let b = self.swarm.behaviour_mut();
        if on {
            if self.bypassed.insert(peer) {
                b.limits.bypass_peer_id(&peer);
                b.ip_limits.bypass(peer);
            }
        } else if self.bypassed.remove(&peer) {
            b.limits.remove_peer_id(&peer);
            b.ip_limits.remove_bypass(&peer);
        }
    }

    fn penalize(&mut self, source: Source, penalty: Duration) {
        self.swarm
            .behaviour_mut()
            .ip_limits
            .penalize(source, penalty);
    }

    fn start_flush(&mut self, id: u64, flush: Flush) {
        let tx = self.flush_done.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send((id, flush.run()));
        });
    }

    fn start_job(&mut self, id: u64, job: FileJob) {
        let tx = self.jobs_done.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send((id, job.run()));
        });
    }

    fn vault(&self, paths: &crate::store::ProfilePaths) -> Arc<dyn Vault> {
        Arc::new(crate::files::vault::DirVault::new(paths))
    }
}
