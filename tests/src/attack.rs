//! Helpers for the denial-of-service tests: attackers built on Cairn's own swarm, memory
//! sampling, and the measures docs/BENCHMARKS.md reports for each attack (messages
//! delivered without and during the attack, peak memory, time to recover).

use crate::{Node, Profile};
use cairn_node::api::peer::{build_swarm, Behaviour, BehaviourEvent, SwarmOptions};
use cairn_node::api::peer::{Request, Response};
use futures::StreamExt;
use libp2p::request_response::{Event as RrEvent, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long each phase (without, during) of an attack test lets the contact talk.
pub const WINDOW: Duration = Duration::from_secs(8);

/// Attack tests run one at a time: their figures (memory, messages delivered) would
/// otherwise measure each other.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Samples a process's resident memory every 100 ms until stopped; keeps the peak.
pub struct RssPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssPeak {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                if let Some(rss) = crate::rss_of(pid) {
                    p.fetch_max(rss, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    /// The peak so far, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }

    /// Stops sampling; returns the peak in bytes.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak()
    }
}

/// An attack running in its own thread until stopped.
pub struct Attack<T> {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<T>,
}

impl<T: Send + 'static> Attack<T> {
    /// Runs `f(stop)` in a thread; `f` must return once `stop` is set.
    pub fn start(f: impl FnOnce(Arc<AtomicBool>) -> T + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        Self {
            stop,
            thread: std::thread::spawn(move || f(s)),
        }
    }

    /// Stops the attack and returns what it measured.
    pub fn stop(self) -> T {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("attack thread")
    }
}

/// A libp2p node of the attacker's, speaking Cairn's protocols, whose QUIC connections
/// come from `source` (any 127.x.y.z address: Linux routes all of 127/8 to loopback), so
/// the victim sees another machine than the test's contacts on 127.0.0.1. Must be called
/// inside a tokio runtime.
/// An IPv6 `source` (in a network namespace of the test's, see [`crate::netns::Lan`]) works
/// the same way.
pub fn attacker_from(source: &str) -> Swarm<Behaviour> {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let mut sw = build_swarm(key, &SwarmOptions::default()).expect("attacker swarm");
    let ip: std::net::IpAddr = source.parse().expect("source address");
    let family = if ip.is_ipv4() { "ip4" } else { "ip6" };
    sw.listen_on(
        format!("/{family}/{source}/udp/0/quic-v1")
            .parse()
            .expect("source address"),
    )
    .expect("attacker listens on its source address");
    sw
}

/// The largest envelope a mailbox takes, under `tag`.
pub fn largest_envelope(tag: cairn_crypto::RoutingTag) -> Vec<u8> {
    cairn_crypto::Envelope {
        kind: cairn_crypto::EnvelopeKind::Message,
        tag,
        body: vec![0xab; LARGEST_BODY],
    }
    .encode()
}

/// The body of [`largest_envelope`]: a 64 KiB message with its headers and tag.
pub const LARGEST_BODY: usize = 80 + 65_536 + 16;

/// A deposit of three [`largest_envelope`]s under a fresh random tag: what a flood of junk
/// mail sends.
pub fn junk_deposit() -> Request {
    use rand::RngCore;
    let mut tag = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut tag);
    let e = largest_envelope(cairn_crypto::RoutingTag(tag));
    Request::MailboxPutBatch(vec![e.clone(), e.clone(), e])
}

/// The PeerId at the end of `addr`.
pub fn peer_of(addr: &str) -> PeerId {
    addr.rsplit('/')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("address ends in /p2p/<peer id>")
}

/// What became of one request.
#[derive(Debug)]
pub enum Reply {
    /// The victim answered.
    Answer(Response),
    /// The stream ended without an answer (a node drops what is not for it that way).
    Dropped,
    /// No connection: the victim refused it (or is gone).
    Refused,
}

/// Keeps up to `depth` requests made by `next` in flight to `peer` at `addr` until `stop`,
/// reading every answer; `seen` gets what became of each.
pub async fn keep_asking(
    sw: &mut Swarm<Behaviour>,
    peer: PeerId,
    addr: Multiaddr,
    depth: usize,
    stop: &AtomicBool,
    mut next: impl FnMut() -> Request,
    mut seen: impl FnMut(Reply),
) {
    let mut in_flight = 0;
    while !stop.load(Ordering::SeqCst) {
        while in_flight < depth {
            sw.behaviour_mut()
                .rr
                .send_request_with_addresses(&peer, next(), vec![addr.clone()]);
            in_flight += 1;
        }
        let Ok(ev) = tokio::time::timeout(Duration::from_millis(200), sw.select_next_some()).await
        else {
            continue;
        };
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Rr(RrEvent::Message {
                message: Message::Response { response, .. },
                ..
            })) => {
                in_flight -= 1;
                seen(Reply::Answer(response));
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(RrEvent::OutboundFailure {
                error, ..
            })) => {
                in_flight -= 1;
                seen(match error {
                    libp2p::request_response::OutboundFailure::DialFailure => Reply::Refused,
                    _ => Reply::Dropped,
                });
                // Refused (the victim cut it off): try again a little later, as a
                // flooding client would, without spinning on this machine's cores.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => {}
        }
    }
}

/// Most messages one phase sends to an offline contact: a mailbox keeps at most 2,000
/// envelopes per tag, and all phases of a test write under the same tag.
pub const MAX_PER_PHASE: usize = 400;

/// Messages per second, for a report.
pub fn rate(n: usize, d: Duration) -> String {
    format!("{:.1}", n as f64 / d.as_secs_f64().max(1e-3))
}

/// Sends messages from `from` to the offline `to` one after another for `window` (at most
/// [`MAX_PER_PHASE`]), each once a hop (the mailbox) has taken the one before; returns
/// their texts and the time taken.
pub fn mailbox_sends_for(
    from: &mut Node,
    to: &str,
    label: &str,
    window: Duration,
) -> (Vec<String>, Duration) {
    let start = Instant::now();
    let end = start + window;
    let mut texts = Vec::new();
    while Instant::now() < end && texts.len() < MAX_PER_PHASE {
        let text = format!("{label} {}", texts.len());
        let id = from.send(to, &text);
        from.sees("sent", |e| e["event"] == "sent" && e["id"] == id.as_str());
        texts.push(text);
    }
    (texts, start.elapsed())
}

/// Sends messages from `a` (named `a_name`) to `b` one after another for `window`, each
/// once the one before was seen by `b` and receipted; returns how many.
pub fn exchange_for(
    a: &mut Node,
    a_name: &str,
    b: &mut Node,
    b_name: &str,
    label: &str,
    window: Duration,
) -> usize {
    let end = Instant::now() + window;
    let mut n = 0;
    while Instant::now() < end {
        let text = format!("{label} {n}");
        let id = a.send(b_name, &text);
        b.sees_message_anywhere(a_name, &text);
        a.sees_delivered_anywhere(&id);
        n += 1;
    }
    n
}

/// Starts `profile`, waits until it has collected every text of `texts` from `from`,
/// and returns the node with how long collecting took.
pub fn collect(profile: &Profile, from: &str, texts: &[String]) -> (Node, Duration) {
    let t = Instant::now();
    let mut node = profile.start();
    for text in texts {
        node.sees_message_anywhere(from, text);
    }
    (node, t.elapsed())
}

/// One line of figures, printed for docs/BENCHMARKS.md.
pub fn report(attack: &str, figures: &[(&str, String)]) {
    let line: Vec<String> = figures.iter().map(|(k, v)| format!("{k}={v}")).collect();
    eprintln!("FIGURES {attack}: {}", line.join(" "));
}

/// A stranger's hole-punching prober: a libp2p client with a relay client and plain
/// (unrestricted) DCUtR that claims `claims` as its own addresses, so that a node that
/// hole-punched with it would dial them.
#[derive(libp2p::swarm::NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub struct Prober {
    relay: libp2p::relay::client::Behaviour,
    /// Plain DCUtR: answers a hole-punch offer with the claimed addresses.
    pub dcutr: libp2p::dcutr::Behaviour,
    identify: libp2p::identify::Behaviour,
    claims: Claims,
}

/// Hands addresses to the swarm as our own external address candidates (what DCUtR offers
/// the other side to dial).
pub struct Claims(std::collections::VecDeque<Multiaddr>);

impl libp2p::swarm::NetworkBehaviour for Claims {
    type ConnectionHandler = libp2p::swarm::dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: libp2p::swarm::ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
        Ok(libp2p::swarm::dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: libp2p::swarm::ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: libp2p::core::Endpoint,
        _: libp2p::core::transport::PortUse,
    ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
        Ok(libp2p::swarm::dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: libp2p::swarm::FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: libp2p::swarm::ConnectionId,
        event: libp2p::swarm::THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<libp2p::swarm::ToSwarm<Self::ToSwarm, libp2p::swarm::THandlerInEvent<Self>>>
    {
        match self.0.pop_front() {
            Some(a) => std::task::Poll::Ready(libp2p::swarm::ToSwarm::NewExternalAddrCandidate(a)),
            None => std::task::Poll::Pending,
        }
    }
}

/// A prober claiming `claims` (must be called inside a tokio runtime).
pub fn hole_punch_prober(claims: Vec<Multiaddr>) -> Swarm<Prober> {
    use libp2p::{noise, tcp, yamux};
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .expect("relay client")
        .with_behaviour(|key, relay| Prober {
            relay,
            dcutr: libp2p::dcutr::Behaviour::new(key.public().to_peer_id()),
            identify: libp2p::identify::Behaviour::new(libp2p::identify::Config::new(
                "/cairn/1".into(),
                key.public(),
            )),
            claims: Claims(claims.into()),
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// What a hole-punching probe saw.
#[derive(Debug, Default)]
pub struct Probe {
    /// Whether the relayed connection to the victim was established.
    pub reached: bool,
    /// What DCUtR reported, as text (empty: the victim never offered to hole-punch).
    pub dcutr: Vec<String>,
    /// What the victim's `identify` said of itself: agent and protocol version.
    pub identified: Vec<(String, String)>,
}

/// Connects `sw` to `victim` through the relay at `relay` (its address ending in
/// /p2p/<relay>) and keeps the connection for `hold`, noting what happens.
pub async fn probe_through_relay(
    sw: &mut Swarm<Prober>,
    relay: &Multiaddr,
    victim: PeerId,
    hold: Duration,
) -> Probe {
    let mut probe = Probe::default();
    let circuit: Multiaddr = format!("{relay}/p2p-circuit/p2p/{victim}")
        .parse()
        .expect("circuit address");
    sw.dial(circuit).expect("dial the victim through the relay");
    let end = tokio::time::Instant::now() + hold;
    while let Ok(ev) = tokio::time::timeout_at(end, sw.select_next_some()).await {
        match ev {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } if peer_id == victim => {
                eprintln!("prober: connected to the victim over {endpoint:?}");
                probe.reached = true;
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                eprintln!("prober: dial to {peer_id:?} failed: {error}");
            }
            SwarmEvent::Behaviour(ProberEvent::Dcutr(e)) => {
                eprintln!("prober: dcutr {e:?}");
                probe.dcutr.push(format!("{e:?}"));
            }
            SwarmEvent::Behaviour(ProberEvent::Identify(libp2p::identify::Event::Received {
                peer_id,
                info,
                ..
            })) if peer_id == victim => {
                eprintln!(
                    "prober: identify says agent {:?}, protocol version {:?}",
                    info.agent_version, info.protocol_version
                );
                probe
                    .identified
                    .push((info.agent_version, info.protocol_version));
            }
            _ => {}
        }
    }
    probe
}
