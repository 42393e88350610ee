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

mod fair;
mod in_flight;
mod mailbox;
pub(crate) use mailbox::write_private;
mod quota;
pub mod reservations;
pub(crate) mod worker;

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

/// Fetch work one source may ask for, in units a second: a unit is one key looked up, one
/// KiB of mail returned, or one id acknowledged. A node with 100 contacts asks for about 11,400 keys every 20
/// seconds (570 units a second); one source flooding fetches gets at most this share of
/// the mailbox thread.
pub const FETCH_UNITS_PER_SEC: f64 = 2048.0;
/// Fetch work one source may save up (a whole collection of a node with many contacts,
/// or a 32 MiB backlog, at once).
pub const FETCH_UNITS_BURST: f64 = 49_152.0;
/// Mailbox requests one source may have waiting for the mailbox thread.
pub const MAX_QUEUED_PER_SOURCE: usize = 64;
/// Mailbox requests waiting in total; beyond, "try later".
pub const MAX_QUEUED: usize = 4096;
/// "Try later" answers one source may be given a second, sustained, before it counts as
/// abuse: a node that is told to try later waits (its next collection, its outbox's
/// backoff), so it never comes near this.
pub const ABUSE_PER_SEC: f64 = 2.0;
/// ... and at once.
pub const ABUSE_BURST: f64 = 64.0;
/// How long an abusing source is refused.
pub const ABUSE_PENALTY: Duration = Duration::from_secs(60);
/// Requests handed to the mailbox thread at once (the rest wait their source's turn)...
pub const WORKER_DEPTH: usize = 16;
/// ... and bytes of them (deposits count their size, a fetch the most it can return): many
/// small deposits share one flush, while large ones go a few at a time, so a request waits
/// behind at most this much of another source's work.
pub const WORKER_BYTES: usize = 256 << 10;
/// Bytes one source may deposit a second, sustained: an hour's quota
/// ([`DEPOSIT_BYTES_PER_WINDOW`]) then takes a minute at least, and one source
/// cannot keep the mailbox's disk busy for the others.
pub const DEPOSIT_BYTES_PER_SEC: f64 = 1024.0 * 1024.0;
/// Bytes one source may deposit at once (a backlog of a few thousand chat messages).
pub const DEPOSIT_BYTES_BURST: f64 = 8.0 * 1024.0 * 1024.0;

/// The address a source is counted by: an IPv4 address as it is, an IPv6 address as the
/// first address of its /64 (IPv4-mapped ones as their IPv4 address).
fn source_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match crate::net::ip_limits::Source::from_ip(ip) {
        crate::net::ip_limits::Source::V4(o) => std::net::IpAddr::from(o),
        crate::net::ip_limits::Source::V6(p) => {
            let mut o = [0u8; 16];
            o[..8].copy_from_slice(&p);
            std::net::IpAddr::from(o)
        }
    }
}

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
    /// Hidden mode: the control port of the tor to run behind. The relay is then an onion
    /// service (its key from a seed kept in the data directory, `relay-onion.seed`: the
    /// same address on every start), listens only on loopback, and announces only its
    /// onion address.
    pub hidden: Option<std::net::SocketAddr>,
}

/// The file in a relay's data directory that keeps its onion key's seed (hidden mode).
pub const ONION_SEED_FILE: &str = "relay-onion.seed";

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
    let (onions, socks) = match config.hidden {
        Some(control) => {
            let seed = crate::net::onion::seed_file(&config.data.join(ONION_SEED_FILE))?;
            let (onions, socks) = crate::net::onion::Onions::connect(control, &seed)?;
            (Some(onions), Some(socks))
        }
        None => (None, None),
    };
    let reservations = ReservationLimits::default();
    let swarm = swarm::build(
        key,
        &SwarmOptions {
            lan: false,
            relay_server: true,
            reservations: reservations.clone(),
            hidden: socks,
        },
    )?;
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let quota = DepositQuota::new(DEPOSIT_BYTES_PER_WINDOW, DEPOSIT_WINDOW);
    let (jobs, worker) =
        worker::Worker::spawn(mailbox, quota, config.discard_mail, WORKER_DEPTH, done_tx)
            .map_err(|e| format!("mailbox thread: {e}"))?;
    let mut relay = RelayLoop {
        swarm,
        peer_ips: HashMap::new(),
        addrs: Vec::new(),
        starting: std::collections::HashSet::new(),
        jobs: Some(jobs),
        fair: fair::FairQueue::default(),
        in_worker: 0,
        in_worker_bytes: 0,
        worker_cost: HashMap::new(),
        waiting: HashMap::new(),
        queued: HashMap::new(),
        deposit_rate: RateLimit::new(DEPOSIT_BYTES_PER_SEC, DEPOSIT_BYTES_BURST),
        abuse: RateLimit::new(ABUSE_PER_SEC, ABUSE_BURST),
        in_flight: MailInFlight::default(),
        fetch_rate: RateLimit::new(FETCH_UNITS_PER_SEC, FETCH_UNITS_BURST),
        reservations,
        onions,
        fatal: None,
    };
    for a in &config.listen {
        let id = relay
            .swarm
            .listen_on(a.clone())
            .map_err(|e| format!("cannot listen on {a}: {e}"))?;
        relay.starting.insert(id);
    }
    let mut ready = false;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                // Ready once every listener has an address.
                if !ready && !relay.addrs.is_empty() && relay.starting.is_empty() {
                    ready = true;
                    let peer = *relay.swarm.local_peer_id();
                    let _ = events.send(Event::Ready {
                        peer_id: peer.to_string().into(),
                        addrs: relay.addrs.iter().map(|a| a.clone().with(libp2p::multiaddr::Protocol::P2p(peer)).to_string()).collect(),
                    });
                }
            }
            Some((id, response)) = done.recv() => relay.answer(id, response),
            ev = relay.swarm.select_next_some() => relay.event(ev),
        }
        if let Some(e) = relay.fatal.take() {
            return Err(e);
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
    /// Listeners that have no address yet.
    starting: std::collections::HashSet<libp2p::core::transport::ListenerId>,
    /// The mailbox thread's queue (None once stopping).
    jobs: Option<SyncSender<worker::Job<request_response::InboundRequestId>>>,
    /// Requests waiting for their turn at the mailbox thread.
    fair: fair::FairQueue<DepositSource, worker::Job<request_response::InboundRequestId>>,
    /// Requests the mailbox thread has (at most [`WORKER_DEPTH`]), their bytes (about
    /// [`WORKER_BYTES`]), and each one's.
    in_worker: usize,
    in_worker_bytes: usize,
    worker_cost: HashMap<request_response::InboundRequestId, usize>,
    waiting: HashMap<request_response::InboundRequestId, Waiting>,
    /// Requests each source has waiting for the mailbox thread.
    queued: HashMap<DepositSource, usize>,
    /// Mail responses built and not yet taken by their peer (see [`MailInFlight`]).
    in_flight: MailInFlight,
    /// Fetch work per source (see [`FETCH_UNITS_PER_SEC`]).
    fetch_rate: RateLimit<DepositSource>,
    /// Deposit bytes per source (see [`DEPOSIT_BYTES_PER_SEC`]).
    deposit_rate: RateLimit<DepositSource>,
    /// "Try later" answers per source (see [`ABUSE_PER_SEC`]).
    abuse: RateLimit<DepositSource>,
    reservations: ReservationLimits,
    /// Hidden mode: the onion service in front of each loopback listener.
    onions: Option<crate::net::onion::Onions>,
    /// Why the relay cannot go on (a listener tor would not put an onion in front of).
    fatal: Option<String>,
}

impl RelayLoop {
    fn event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr {
                address,
                listener_id,
            } => {
                self.starting.remove(&listener_id);
                let address = match self.onions.as_mut() {
                    None => address,
                    Some(onions) => match onions.onion(&address) {
                        Ok(Some(onion)) => onion,
                        Ok(None) => {
                            let e = format!("{address}: an onion relay listens on one address");
                            self.fatal = Some(e);
                            return;
                        }
                        Err(e) => {
                            self.fatal = Some(e);
                            return;
                        }
                    },
                };
                self.swarm.add_external_address(address.clone());
                self.addrs.push(address);
            }
            // In hidden mode every connection comes from tor on loopback: no address to
            // count deposits by, so each peer is its own source.
            SwarmEvent::ConnectionEstablished { .. } if self.onions.is_some() => {}
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
                // Not `ReservationClosed`: libp2p reports it for every connection of the
                // peer that closes (see `ReservationLimits::ended`).
                relay::Event::ReservationTimedOut { src_peer_id } => {
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

    /// Answers "try later" (for a batch of `batch` deposits: each of them) because a limit
    /// was reached. A source that keeps asking regardless ([`ABUSE_PER_SEC`],
    /// [`ABUSE_BURST`]) is disconnected and refused for [`ABUSE_PENALTY`]: its requests
    /// then cost the relay nothing at all.
    fn try_later(
        &mut self,
        source: DepositSource,
        peer: PeerId,
        channel: request_response::ResponseChannel<Response>,
        batch: Option<usize>,
    ) {
        let r = match batch {
            Some(n) => Response::Results(vec![Some(RejectCode::TryLater); n]),
            None => Response::Rejected(RejectCode::TryLater),
        };
        self.respond(channel, r);
        if self.abuse.try_take(source, 1.0, now_ms()) {
            return;
        }
        tracing::info!("a source kept asking after \"try later\": disconnected for a while");
        let mut peers = vec![peer];
        if let DepositSource::Ip(ip) = source {
            let s = crate::net::ip_limits::Source::from_ip(ip);
            self.swarm
                .behaviour_mut()
                .ip_limits
                .penalize(s, ABUSE_PENALTY);
            peers.extend(
                self.peer_ips
                    .iter()
                    .filter(|(_, i)| crate::net::ip_limits::Source::from_ip(**i) == s)
                    .map(|(p, _)| *p),
            );
        }
        for p in peers {
            let _ = self.swarm.disconnect_peer_id(p);
        }
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
        // Keyed by source: every address of an IPv6 /64 is one.
        let source = self
            .peer_ips
            .get(&peer)
            .map_or(DepositSource::Peer(peer), |ip| {
                DepositSource::Ip(source_ip(*ip))
            });
        let now = now_ms();
        // A source with nothing waiting is let in even when many others wait (up to a hard
        // cap): one source's backlog then never locks the others out.
        let mine = self.queued.get(&source).copied().unwrap_or(0);
        let busy = mine >= MAX_QUEUED_PER_SOURCE
            || (mine > 0 && self.waiting.len() >= MAX_QUEUED)
            || self.waiting.len() >= 2 * MAX_QUEUED
            || self.jobs.is_none();
        let job = match request {
            Request::Deliver(_) | Request::DeliverBatch(_) => {
                return self.respond(channel, Response::Rejected(RejectCode::Unsupported));
            }
            Request::Unread => {
                tracing::debug!("a large request over the read budget: try later");
                return self.try_later(source, peer, channel, None);
            }
            _ if busy => {
                tracing::debug!("too many mailbox requests waiting from one source: try later");
                return self.try_later(source, peer, channel, None);
            }
            Request::MailboxPut(bytes)
                if !self.deposit_rate.try_take(source, bytes.len() as f64, now) =>
            {
                tracing::debug!("deposits over the source's rate: try later");
                return self.try_later(source, peer, channel, None);
            }
            Request::MailboxPutBatch(items)
                if !self.deposit_rate.try_take(
                    source,
                    items.iter().map(Vec::len).sum::<usize>() as f64,
                    now,
                ) =>
            {
                tracing::debug!("deposits over the source's rate: try later");
                return self.try_later(source, peer, channel, Some(items.len()));
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
                    return self.try_later(source, peer, channel, None);
                }
                if !self.fetch_rate.try_take(source, keys.len() as f64, now) {
                    tracing::debug!("fetches over the source's rate: try later");
                    return self.try_later(source, peer, channel, None);
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
            Request::MailboxAck { ids, .. }
                if !self.fetch_rate.try_take(source, ids.len() as f64, now) =>
            {
                return self.try_later(source, peer, channel, None);
            }
            Request::MailboxAck { key, ids } => worker::Job::Ack {
                token: request_id,
                key,
                ids,
            },
        };
        let fetch = matches!(job, worker::Job::Fetch { .. });
        self.fair.push(source, job);
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
        self.pump();
    }

    /// Hands the mailbox thread the next requests, one source after another, while it
    /// has fewer than [`WORKER_DEPTH`].
    fn pump(&mut self) {
        while self.in_worker < WORKER_DEPTH
            && (self.in_worker == 0 || self.in_worker_bytes < WORKER_BYTES)
        {
            let Some(job) = self.fair.pop() else {
                return;
            };
            let Some(jobs) = &self.jobs else {
                return;
            };
            let (token, bytes) = (worker::token(&job), worker::cost(&job));
            match jobs.try_send(job) {
                Ok(()) => {
                    self.in_worker += 1;
                    self.in_worker_bytes += bytes;
                    self.worker_cost.insert(token, bytes);
                }
                Err(TrySendError::Full(job)) => {
                    // Cannot happen with the counts right; answer it rather than lose it.
                    self.reply(
                        worker::token(&job),
                        Response::Rejected(RejectCode::TryLater),
                    );
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }

    /// The mailbox thread answered a request.
    fn answer(&mut self, id: request_response::InboundRequestId, response: Response) {
        self.in_worker = self.in_worker.saturating_sub(1);
        let bytes = self.worker_cost.remove(&id).unwrap_or(0);
        self.in_worker_bytes = self.in_worker_bytes.saturating_sub(bytes);
        self.reply(id, response);
        self.pump();
    }

    /// Sends the answer to a request that waited for the mailbox thread.
    fn reply(&mut self, id: request_response::InboundRequestId, response: Response) {
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
