//! Mailbox benchmarks, each against its baseline in the same run.
//!
//! `cargo bench -p cairn-node --bench mailbox`
//!
//! 1. Deposits: the relay's mailbox taking chat envelopes (1,138 bytes: a 1 KiB padded
//!    message) for 64 tags in `MailboxPutBatch`-sized groups of 64, each group made durable
//!    with one flush (sealing, blinded keys, per-tag order and counters included), against
//!    plain sled inserting the same bytes under random keys with one flush per 64. Also the
//!    single-deposit path (one flush each), for scale. Target: batch ratio ≥ 0.5.
//! 2. Collecting a backlog: a relay and two nodes in this process on loopback; bob is
//!    offline while alice writes 2,000 messages (1 KiB padded) into his mailbox (one tag
//!    holds at most 2,000, so one or two may wait in her outbox); the time from bob's start
//!    until every message the mailbox held is shown (decrypted, stored durably, receipted,
//!    acknowledged), against a bare request-response transfer of the same bytes (64
//!    envelopes per response, fetched one response after the other).
//!
//! Each part alternates with its baseline three times; figures are medians.
//! `CAIRN_BENCH_PART=deposits` (or `=backlog`) runs one part.
use cairn_crypto::envelope::{Envelope, EnvelopeKind, RoutingTag};
use cairn_node::api::{Command, Event};
use cairn_node::net::protocol::{Request, Response};
use cairn_node::net::swarm::{self, BehaviourEvent, SwarmOptions};
use cairn_node::node::{self, NodeConfig};
use cairn_node::profile::Profile;
use cairn_node::relay::{Mailbox, RelayConfig, DEFAULT_RETENTION};
use cairn_node::store::{KdfParams, OpenOptions, Passphrase, ProfilePaths};
use futures::StreamExt;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::Multiaddr;
use rand::RngCore;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

const DEPOSITS: usize = 4096;
const GROUP: usize = 64;
const BACKLOG: usize = 2000;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Chat-sized envelopes (1 KiB padded messages) under 64 tags.
fn envelopes(n: usize) -> Vec<(Envelope, Vec<u8>)> {
    let mut rng = rand::thread_rng();
    let tags: Vec<RoutingTag> = (0..64)
        .map(|_| {
            let mut t = [0u8; 16];
            rng.fill_bytes(&mut t);
            RoutingTag(t)
        })
        .collect();
    (0..n)
        .map(|i| {
            let mut body = vec![0u8; 80 + 1024 + 16];
            rng.fill_bytes(&mut body);
            let e = Envelope {
                kind: EnvelopeKind::Message,
                tag: tags[i % tags.len()],
                body,
            };
            let b = e.encode();
            (e, b)
        })
        .collect()
}

/// Mailbox deposits per second: in groups of `GROUP` (one flush each), or one by one.
fn mailbox_rate(items: &[(Envelope, Vec<u8>)], grouped: bool) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut mb = Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap();
    let start = Instant::now();
    if grouped {
        for chunk in items.chunks(GROUP) {
            let taken = mb.put_many(chunk).unwrap();
            assert!(taken.iter().all(|t| *t));
        }
    } else {
        for (e, b) in items {
            assert!(mb.put(e, b).unwrap());
        }
    }
    items.len() as f64 / start.elapsed().as_secs_f64()
}

/// Plain sled: the same bytes under random 32-byte keys, one flush per `GROUP`.
fn sled_rate(items: &[(Envelope, Vec<u8>)]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .open()
        .unwrap();
    let tree = db.open_tree("mail").unwrap();
    let mut rng = rand::thread_rng();
    let start = Instant::now();
    for chunk in items.chunks(GROUP) {
        for (_, b) in chunk {
            let mut k = [0u8; 32];
            rng.fill_bytes(&mut k);
            tree.insert(k, b.as_slice()).unwrap();
        }
        db.flush().unwrap();
    }
    items.len() as f64 / start.elapsed().as_secs_f64()
}

fn deposits() {
    let items = envelopes(DEPOSITS);
    let (mut mine, mut base, mut single) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..3 {
        let b = sled_rate(&items);
        let m = mailbox_rate(&items, true);
        let s = mailbox_rate(&items[..512], false);
        eprintln!(
            "  round {round}: mailbox {m:.0}/s, plain sled {b:.0}/s ({:.2}x), single puts {s:.0}/s",
            m / b
        );
        mine.push(m);
        base.push(b);
        single.push(s);
    }
    let (m, b, s) = (median(&mut mine), median(&mut base), median(&mut single));
    println!(
        "deposits (1,138-byte envelopes, 64 tags, groups of {GROUP}): mailbox {m:.0}/s, \
         plain sled batch insert + flush {b:.0}/s, ratio {:.2}x (target >= 0.5x); \
         single deposits (one flush each) {s:.0}/s",
        m / b
    );
}

fn profile(dir: &std::path::Path, name: &str) -> Profile {
    Profile::create(
        &ProfilePaths::new(dir.join(name)),
        &Passphrase::new("bench"),
        name,
        // Throwaway benchmark profiles: the KDF cost is not what is measured here.
        KdfParams::insecure_fast_for_tests(),
        &OpenOptions::new().allow_insecure_kdf_for_tests(),
    )
    .unwrap()
}

fn reopen(dir: &std::path::Path, name: &str) -> Profile {
    Profile::open(
        &ProfilePaths::new(dir.join(name)),
        &Passphrase::new("bench"),
        &OpenOptions::new().allow_insecure_kdf_for_tests(),
    )
    .unwrap()
}

async fn next(rx: &mut UnboundedReceiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(120), rx.recv())
            .await
            .expect("event in time")
            .expect("node running");
        if pred(&e) {
            return e;
        }
    }
}

/// Seconds from bob's start until the whole backlog is shown.
async fn backlog_cairn() -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (relay_tx, mut relay_rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel();
    let relay = tokio::spawn(cairn_node::relay::run(
        RelayConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            data: dir.path().join("relay"),
            retention: DEFAULT_RETENTION,
            passphrase: None,
            discard_mail: false,
            hidden: None,
        },
        relay_tx,
        stop_rx,
    ));
    let Some(Event::Ready { addrs, .. }) = relay_rx.recv().await else {
        panic!("relay did not start")
    };
    let relay_addr: Multiaddr = addrs[0].parse().unwrap();
    let cfg = || NodeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        relay: Some(relay_addr.clone()),
        lan: false,
        private_addresses: true,
        resend_after: node::RESEND_AFTER_HOP,
        stranger_idle: cairn_node::node::STRANGER_IDLE,
        hidden: None,
        bench_onion_target: None,
    };
    let (a, mut ae, _) = node::start(profile(dir.path(), "alice"), cfg()).unwrap();
    let (b, mut be, bt) = node::start(profile(dir.path(), "bob"), cfg()).unwrap();
    next(&mut ae, |e| matches!(e, Event::Relay { .. })).await;
    next(&mut be, |e| matches!(e, Event::Relay { .. })).await;
    eprintln!("  both nodes reserved a circuit at the relay");
    a.send(Command::Invite {
        ttl_secs: None,
        for_contact: None,
    });
    let Event::Invite { code, .. } = next(&mut ae, |e| matches!(e, Event::Invite { .. })).await
    else {
        unreachable!()
    };
    b.send(Command::Accept {
        code,
        alias: "alice".into(),
    });
    next(&mut be, |e| matches!(e, Event::SessionEstablished { .. })).await;
    next(&mut ae, |e| matches!(e, Event::SessionEstablished { .. })).await;
    eprintln!("  contacts");
    b.send(Command::Quit);
    let _ = bt.await;
    let text = "x".repeat(900);
    for _ in 0..BACKLOG {
        a.send(Command::Send {
            to: "bob".into(),
            text: text.clone(),
            client_ref: None,
        });
    }
    // Until the mailbox holds the backlog: a tag takes at most 2,000 envelopes, and a
    // control message of the session may have taken a place, so the last one or two can
    // wait in alice's outbox (they arrive once bob is online, and are not timed).
    let mut sent = 0;
    while sent < BACKLOG {
        match tokio::time::timeout(Duration::from_secs(5), ae.recv()).await {
            Ok(Some(Event::Sent { .. })) => sent += 1,
            Ok(Some(_)) => {}
            _ if sent + 10 >= BACKLOG => break,
            _ => panic!("only {sent} of {BACKLOG} messages reached the mailbox"),
        }
    }
    eprintln!("  {sent} messages in bob's mailbox");
    let start = Instant::now();
    let (b, mut be, _) = node::start(reopen(dir.path(), "bob"), cfg()).unwrap();
    let mut shown = 0;
    while shown < sent {
        next(&mut be, |e| matches!(e, Event::Message { .. })).await;
        shown += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    while shown < BACKLOG {
        next(&mut be, |e| matches!(e, Event::Message { .. })).await;
        shown += 1;
    }
    a.send(Command::Quit);
    b.send(Command::Quit);
    let _ = stop.send(());
    let _ = relay.await;
    secs
}

/// Seconds for a bare request-response transfer of the same bytes: 2,000 envelopes in
/// responses of 64, one after the other.
async fn backlog_bare() -> f64 {
    let mut server = swarm::build(
        libp2p::identity::Keypair::generate_ed25519(),
        &SwarmOptions::default(),
    )
    .unwrap();
    let mut client = swarm::build(
        libp2p::identity::Keypair::generate_ed25519(),
        &SwarmOptions::default(),
    )
    .unwrap();
    server
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_id = *server.local_peer_id();
    let page: Vec<([u8; 16], Vec<u8>)> = envelopes(64)
        .into_iter()
        .map(|(_, b)| ([7u8; 16], b))
        .collect();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::Message {
                message: Message::Request { channel, .. },
                ..
            })) = server.select_next_some().await
            {
                let _ = server
                    .behaviour_mut()
                    .rr
                    .send_response(channel, Response::Mail(page.clone()));
            }
        }
    });
    let fetch = |c: &mut libp2p::Swarm<swarm::Behaviour>| {
        c.behaviour_mut().rr.send_request_with_addresses(
            &server_id,
            Request::MailboxFetch(vec![[1; 32]]),
            vec![addr.clone()],
        );
    };
    // Connect (not timed), then fetch the backlog's worth of pages.
    fetch(&mut client);
    wait_response(&mut client).await;
    let start = Instant::now();
    let mut got = 0;
    while got < BACKLOG {
        fetch(&mut client);
        got += wait_response(&mut client).await;
    }
    start.elapsed().as_secs_f64()
}

async fn wait_response(c: &mut libp2p::Swarm<swarm::Behaviour>) -> usize {
    loop {
        match c.select_next_some().await {
            SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::Message {
                message: Message::Response { response, .. },
                ..
            })) => {
                return match response {
                    Response::Mail(items) => items.len(),
                    _ => 0,
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(
                request_response::Event::OutboundFailure { error, .. },
            )) => panic!("baseline request failed: {error}"),
            _ => {}
        }
    }
}

fn backlog() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut mine, mut base) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let b = rt.block_on(backlog_bare());
        let m = rt.block_on(backlog_cairn());
        eprintln!(
            "  round {round}: cairn {m:.2} s, bare transfer {b:.3} s ({:.1}x)",
            m / b
        );
        mine.push(m);
        base.push(b);
    }
    let (m, b) = (median(&mut mine), median(&mut base));
    println!(
        "backlog of {BACKLOG} messages (1 KiB padded; those the mailbox held) collected: cairn {m:.2} s \
         ({:.0} messages/s, decrypted, stored durably, acknowledged), bare request-response \
         transfer of the same bytes {b:.3} s, ratio {:.1}x the bare time",
        BACKLOG as f64 / m,
        m / b
    );
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (a test harness run) does nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let part = std::env::var("CAIRN_BENCH_PART").unwrap_or_default();
    if part.is_empty() || part == "deposits" {
        deposits();
    }
    if part.is_empty() || part == "backlog" {
        backlog();
    }
}
