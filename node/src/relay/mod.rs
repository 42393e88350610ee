//! Relay and mailbox mode (`cairn relay`): a headless node an organisation runs. It
//! serves circuit relay v2 with limits suited to chat, and a mailbox that keeps
//! padded, opaque envelopes for offline recipients under their routing tags.
//!
//! The mailbox hands out and deletes mail only to whoever presents the mailbox key
//! whose hash is the tag (see `cairn_crypto::routing`). Its storage is sealed at rest:
//! values with XChaCha20-Poly1305 under a random key (bound to tree and record key),
//! tags blinded with a keyed hash. The key is in `mailbox.key` beside the database:
//! wrapped under Argon2id(passphrase) like a profile key when the operator gives a
//! passphrase, stored as is otherwise (then sealing protects a copied database, not a
//! seized disk holding both files; see docs/THREAT_MODEL.md). The relay never holds an
//! identity key, alias or plaintext of any user: it never has them.

mod in_flight;
mod mailbox;
mod quota;
pub mod reservations;
mod worker;

pub use in_flight::{MailInFlight, MAIL_IN_FLIGHT_PER_PEER, MAIL_IN_FLIGHT_TOTAL};
pub use mailbox::{
    Mailbox, MailboxError, Refusal, DEFAULT_RETENTION, MAX_BYTES_PER_TAG, MAX_CLAIMED_TAGS,
    MAX_PER_TAG, MAX_TOTAL_BYTES, OPEN_SHARE_PERCENT,
};
pub use quota::{
    DepositQuota, DepositSource, RateLimit, DEPOSIT_BYTES_PER_WINDOW, DEPOSIT_NETWORK_FACTOR,
    DEPOSIT_WINDOW, MAX_HELD_PER_SOURCE,
};
pub use reservations::ReservationLimits;

use crate::api::Event;
use crate::net::protocol::{RejectCode, Request, Response, MAX_MAIL_RESPONSE_BYTES};
use crate::net::swarm::{self, BehaviourEvent, SwarmOptions};
use crate::store::{KdfParams, Passphrase};
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{relay, request_response, Multiaddr, PeerId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Fetch work one source may ask for, in units a second: a unit is one key looked up or
/// one KiB of mail returned. A node with 100 contacts asks for about 11,400 keys every 20
/// seconds (570 units a second); one source flooding fetches gets at most this share of
/// the mailbox thread.
pub const FETCH_UNITS_PER_SEC: f64 = 2048.0;
/// Fetch work one source may save up (a whole collection of a node with many contacts,
/// or a 32 MiB backlog, at once).
pub const FETCH_UNITS_BURST: f64 = 49_152.0;
/// Mailbox requests one source may have waiting for the mailbox thread.
pub const MAX_QUEUED_PER_SOURCE: usize = 64;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn ip_of(addr: &Multiaddr) -> Option<std::net::IpAddr> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => Some(std::net::IpAddr::V4(ip)),
        libp2p::multiaddr::Protocol::Ip6(ip) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    })
}

/// Relay configuration.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Data directory (mailbox and the relay's libp2p key).
    pub data: PathBuf,
    /// Mail retention.
    pub retention: Duration,
    /// Protect the mailbox key with this passphrase (Argon2id with these parameters).
    pub passphrase: Option<(Passphrase, KdfParams)>,
    /// Test hook: accept every deposit and throw it away, as a hostile or broken mailbox
    /// would (the `cairn` binary offers it only in its `test-hooks` build).
    pub discard_mail: bool,
}

/// Runs a relay until `stop` fires. Events (ready, errors) go to `events`.
pub async fn run(
    config: RelayConfig,
    events: mpsc::UnboundedSender<Event>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), String> {
    std::fs::create_dir_all(&config.data).map_err(|e| e.to_string())?;
    let key_path = config.data.join("relay-libp2p.key");
    let key = match std::fs::read(&key_path) {
        Ok(b) => {
            libp2p::identity::Keypair::from_protobuf_encoding(&b).map_err(|e| e.to_string())?
        }
        Err(_) => {
            let k = libp2p::identity::Keypair::generate_ed25519();
            let enc = k.to_protobuf_encoding().map_err(|e| e.to_string())?;
            mailbox::write_private(&key_path, &enc).map_err(|e| e.to_string())?;
            k
        }
    };
    let protect = config.passphrase.as_ref().map(|(p, k)| (p, *k));
    let mailbox =
        Mailbox::open_with(&config.data, config.retention, protect).map_err(|e| e.to_string())?;
    let reservations = ReservationLimits::default();
    let swarm = swarm::build(
        key,
        &SwarmOptions {
            lan: false,
            relay_server: true,
            reservations: reservations.clone(),
        },
    )?;
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let quota = DepositQuota::new(DEPOSIT_BYTES_PER_WINDOW, DEPOSIT_WINDOW);
    let (jobs, worker) = worker::Worker::spawn(mailbox, quota, config.discard_mail, done_tx)
        .map_err(|e| format!("mailbox thread: {e}"))?;
    let mut relay = RelayLoop {
        swarm,
        peer_ips: HashMap::new(),
        addrs: Vec::new(),
        jobs: Some(jobs),
        waiting: HashMap::new(),
        queued: HashMap::new(),
        in_flight: MailInFlight::default(),
        fetch_rate: RateLimit::new(FETCH_UNITS_PER_SEC, FETCH_UNITS_BURST),
        reservations,
    };
    for a in &config.listen {
        relay
            .swarm
            .listen_on(a.clone())
            .map_err(|e| format!("cannot listen on {a}: {e}"))?;
    }
    let mut ready = false;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                if !ready && !relay.addrs.is_empty() {
                    ready = true;
                    let peer = *relay.swarm.local_peer_id();
                    let _ = events.send(Event::Ready {
                        peer_id: peer.to_string(),
                        addrs: relay.addrs.iter().map(|a| a.clone().with(libp2p::multiaddr::Protocol::P2p(peer)).to_string()).collect(),
                    });
                }
            }
            Some((id, response)) = done.recv() => relay.answer(id, response),
            ev = relay.swarm.select_next_some() => relay.event(ev),
        }
    }
    // The mailbox thread serves what is queued, flushes and ends.
    relay.jobs = None;
    let _ = tokio::task::spawn_blocking(move || worker.join()).await;
    Ok(())
}

/// A request handed to the mailbox thread, until it is answered.
struct Waiting {
    channel: request_response::ResponseChannel<Response>,
    peer: PeerId,
    source: DepositSource,
    fetch: bool,
}

/// The relay's event loop state.
struct RelayLoop {
    swarm: libp2p::Swarm<swarm::Behaviour>,
    /// The remote IP of each connected peer (relayed connections carry the other relay's).
    peer_ips: HashMap<PeerId, std::net::IpAddr>,
    addrs: Vec<Multiaddr>,
    /// The mailbox thread's queue (None once stopping).
    jobs: Option<SyncSender<worker::Job<request_response::InboundRequestId>>>,
    waiting: HashMap<request_response::InboundRequestId, Waiting>,
    /// Requests each source has waiting for the mailbox thread.
    queued: HashMap<DepositSource, usize>,
    /// Mail responses built and not yet taken by their peer (see [`MailInFlight`]).
    in_flight: MailInFlight,
    /// Fetch work per source (see [`FETCH_UNITS_PER_SEC`]).
    fetch_rate: RateLimit<DepositSource>,
    reservations: ReservationLimits,
}

impl RelayLoop {
    fn event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                self.swarm.add_external_address(address.clone());
                self.addrs.push(address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                let relayed = endpoint
                    .get_remote_address()
                    .iter()
                    .any(|p| matches!(p, libp2p::multiaddr::Protocol::P2pCircuit));
                match ip_of(endpoint.get_remote_address()) {
                    Some(ip) if !relayed => {
                        self.peer_ips.insert(peer_id, ip);
                    }
                    _ => {}
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.peer_ips.remove(&peer_id);
                self.reservations.disconnected(peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayServer(e)) => match e {
                relay::Event::ReservationReqAccepted {
                    src_peer_id,
                    renewed,
                } => self.reservations.accepted(src_peer_id, renewed),
                relay::Event::ReservationReqDenied { src_peer_id, .. } => {
                    self.reservations.denied(src_peer_id)
                }
                relay::Event::ReservationClosed { src_peer_id }
                | relay::Event::ReservationTimedOut { src_peer_id } => {
                    self.reservations.ended(src_peer_id)
                }
                _ => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            })) => self.request(peer, request_id, request, channel),
            SwarmEvent::Behaviour(BehaviourEvent::Rr(
                request_response::Event::ResponseSent { request_id, .. }
                | request_response::Event::InboundFailure { request_id, .. },
            )) => self.in_flight.release(&request_id),
            _ => {}
        }
    }

    fn respond(&mut self, channel: request_response::ResponseChannel<Response>, r: Response) {
        let _ = self.swarm.behaviour_mut().rr.send_response(channel, r);
    }

    /// Checks a mailbox request against the limits that need no disk, then hands it to
    /// the mailbox thread; "try later" at once when a limit is reached.
    fn request(
        &mut self,
        peer: PeerId,
        request_id: request_response::InboundRequestId,
        request: Request,
        channel: request_response::ResponseChannel<Response>,
    ) {
        let source = self
            .peer_ips
            .get(&peer)
            .map_or(DepositSource::Peer(peer), |ip| DepositSource::Ip(*ip));
        let now = now_ms();
        let busy = self.queued.get(&source).copied().unwrap_or(0) >= MAX_QUEUED_PER_SOURCE;
        let job = match request {
            Request::Deliver(_) | Request::DeliverBatch(_) => {
                return self.respond(channel, Response::Rejected(RejectCode::Unsupported));
            }
            _ if busy => {
                tracing::debug!("too many mailbox requests waiting from one source: try later");
                return self.respond(channel, Response::Rejected(RejectCode::TryLater));
            }
            Request::MailboxPut(bytes) => worker::Job::Deposit {
                token: request_id,
                from: source,
                items: vec![bytes],
                batch: false,
            },
            Request::MailboxPutBatch(items) => worker::Job::Deposit {
                token: request_id,
                from: source,
                items,
                batch: true,
            },
            Request::MailboxFetch(keys) => {
                if !self.in_flight.has_room(&peer) {
                    tracing::debug!("mail responses in flight over budget: try later");
                    return self.respond(channel, Response::Rejected(RejectCode::TryLater));
                }
                if !self.fetch_rate.try_take(source, keys.len() as f64, now) {
                    tracing::debug!("fetches over the source's rate: try later");
                    return self.respond(channel, Response::Rejected(RejectCode::TryLater));
                }
                // Counted at the most a response can be until it is built.
                self.in_flight
                    .reserve(request_id, peer, MAX_MAIL_RESPONSE_BYTES);
                worker::Job::Fetch {
                    token: request_id,
                    keys,
                    claim: self.reservations.holds(&peer),
                }
            }
            Request::MailboxAck { key, ids } => worker::Job::Ack {
                token: request_id,
                key,
                ids,
            },
        };
        let fetch = matches!(job, worker::Job::Fetch { .. });
        let sent = match &self.jobs {
            Some(jobs) => jobs.try_send(job),
            None => Err(TrySendError::Disconnected(job)),
        };
        if sent.is_err() {
            tracing::debug!("mailbox thread busy: try later");
            self.in_flight.release(&request_id);
            return self.respond(channel, Response::Rejected(RejectCode::TryLater));
        }
        *self.queued.entry(source).or_default() += 1;
        self.waiting.insert(
            request_id,
            Waiting {
                channel,
                peer,
                source,
                fetch,
            },
        );
    }

    /// The mailbox thread answered a request.
    fn answer(&mut self, id: request_response::InboundRequestId, response: Response) {
        let Some(w) = self.waiting.remove(&id) else {
            return;
        };
        if let Some(n) = self.queued.get_mut(&w.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.queued.remove(&w.source);
            }
        }
        let bytes = match &response {
            Response::Mail(items) => items.iter().map(|(_, e)| e.len() + 20).sum(),
            _ => 0,
        };
        if w.fetch {
            self.in_flight.release(&id);
            self.fetch_rate
                .charge(w.source, (bytes / 1024) as f64, now_ms());
        }
        // Counted until libp2p reports it sent or failed (never, if not queued).
        let queued = self
            .swarm
            .behaviour_mut()
            .rr
            .send_response(w.channel, response)
            .is_ok();
        if queued && bytes > 0 {
            self.in_flight.reserve(id, w.peer, bytes);
        }
    }
}
