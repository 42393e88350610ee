//! Helpers for the denial-of-service tests: attackers built on Cairn's own swarm, memory
//! sampling, and the measures docs/BENCHMARKS.md reports for each attack (messages
//! delivered without and during the attack, peak memory, time to recover).

use crate::{Node, Profile};
use cairn_node::net::protocol::{Request, Response};
use cairn_node::net::swarm::{self, BehaviourEvent, SwarmOptions};
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
pub fn attacker_from(source: &str) -> Swarm<swarm::Behaviour> {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let mut sw = swarm::build(key, &SwarmOptions::default()).expect("attacker swarm");
    sw.listen_on(
        format!("/ip4/{source}/udp/0/quic-v1")
            .parse()
            .expect("source address"),
    )
    .expect("attacker listens on its source address");
    sw
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
    sw: &mut Swarm<swarm::Behaviour>,
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
