//! Delivery benchmarks: Cairn nodes against bare libp2p request-response, in one run.
//!
//! `cargo bench -p cairn-node --bench delivery`
//!
//! 1. Baseline: two bare swarms (TCP + Noise + yamux, the same request-response codec),
//!    1 KiB requests answered at once: throughput with as many in flight as a connection
//!    takes (`swarm::MAX_CONCURRENT_STREAMS`, 32; 64 before the limit of issue 13), and sequential
//!    round trips (p50/p99).
//! 2. Cairn: two nodes in this process on loopback, with end-to-end encryption, the
//!    durable store and receipts: sustained throughput of 1 KiB messages (until every
//!    receipt is back), and latency send → recipient's `message` event and send →
//!    sender's `delivered` event (p50/p99).
//! 3. Memory: RSS of an idle node process, and with 100 connected peers.
//!
//! 1 and 2 alternate three times per transport; throughputs are medians, latencies are
//! over all runs. `CAIRN_BENCH_ONLY_CAIRN=1` (or `=quic`) runs only the Cairn throughput
//! on TCP (or QUIC), once (for profiling); `CAIRN_BENCH_TRANSPORT=quic` (or `=tcp`) runs
//! the comparison on one transport only, and no memory figures; `CAIRN_BENCH_MESSAGES=N`
//! sends N messages per throughput run instead of 3,000.
use cairn_node::api::{Command, Event};
use cairn_node::net::protocol::{Request, Response};
use cairn_node::net::swarm::{self, BehaviourEvent, SwarmOptions};
use cairn_node::node::{self, NodeConfig};
use cairn_node::profile::Profile;
use cairn_node::store::{KdfParams, OpenOptions, Passphrase, ProfilePaths};
use futures::StreamExt;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::Multiaddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

const KIB: usize = 1024;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

async fn listening(s: &mut libp2p::Swarm<swarm::Behaviour>) -> Multiaddr {
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = s.select_next_some().await {
            return address;
        }
    }
}

/// Bare request-response: returns (requests/s with a connection's streams in flight,
/// sequential RTTs).
async fn baseline(transport: &str) -> (f64, Vec<Duration>) {
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
    server.listen_on(transport.parse().unwrap()).unwrap();
    let addr = listening(&mut server).await;
    let peer = *server.local_peer_id();
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
                    .send_response(channel, Response::Accepted);
            }
        }
    });
    let payload = vec![0x5au8; KIB];
    let send = |c: &mut libp2p::Swarm<swarm::Behaviour>| {
        c.behaviour_mut().rr.send_request_with_addresses(
            &peer,
            Request::Deliver(payload.clone()),
            vec![addr.clone()],
        )
    };
    // Warm up the connection.
    send(&mut client);
    wait_responses(&mut client, 1).await;
    let total = 20_000usize;
    let start = Instant::now();
    let mut sent = 0;
    let mut done = 0;
    while sent < swarm::MAX_CONCURRENT_STREAMS {
        send(&mut client);
        sent += 1;
    }
    while done < total {
        done += wait_responses(&mut client, 1).await;
        if sent < total {
            send(&mut client);
            sent += 1;
        }
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    let mut rtts = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        send(&mut client);
        wait_responses(&mut client, 1).await;
        rtts.push(t.elapsed());
    }
    (rate, rtts)
}

async fn wait_responses(c: &mut libp2p::Swarm<swarm::Behaviour>, n: usize) -> usize {
    let mut got = 0;
    while got < n {
        match c.select_next_some().await {
            SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::Message {
                message: Message::Response { .. },
                ..
            })) => got += 1,
            SwarmEvent::Behaviour(BehaviourEvent::Rr(
                request_response::Event::OutboundFailure { error, .. },
            )) => {
                panic!("baseline request failed: {error}")
            }
            _ => {}
        }
    }
    got
}

fn profile(dir: &std::path::Path, name: &str) -> Profile {
    let paths = ProfilePaths::new(dir.join(name));
    Profile::create(
        &paths,
        &Passphrase::new("bench"),
        name,
        // Throwaway benchmark profiles: the KDF cost is not what is measured here.
        KdfParams::insecure_fast_for_tests(),
        &OpenOptions::new().allow_insecure_kdf_for_tests(),
    )
    .unwrap()
}

async fn next(rx: &mut UnboundedReceiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("event in time")
            .expect("node running");
        if pred(&e) {
            return e;
        }
    }
}

/// Two Cairn nodes: returns (messages/s, send→message RTTs, send→delivered RTTs).
async fn cairn(transport: &str) -> (f64, Vec<Duration>, Vec<Duration>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || NodeConfig {
        listen: vec![transport.parse().unwrap()],
        relay: None,
        lan: false,
        private_addresses: true,
        resend_after: node::RESEND_AFTER_HOP,
        stranger_idle: cairn_node::node::STRANGER_IDLE,
        hidden: None,
        bench_onion_target: None,
    };
    eprintln!("cairn nodes on {transport}");
    let (a, mut ae, _) = node::start(profile(dir.path(), "alice"), cfg()).unwrap();
    let (b, mut be, _) = node::start(profile(dir.path(), "bob"), cfg()).unwrap();
    next(&mut ae, |e| matches!(e, Event::Ready { .. })).await;
    next(&mut be, |e| matches!(e, Event::Ready { .. })).await;
    a.send(Command::Invite {
        ttl_secs: None,
        for_contact: None,
    });
    let Event::Invite { code, .. } = next(&mut ae, |e| matches!(e, Event::Invite { .. })).await
    else {
        unreachable!()
    };
    eprintln!("  ready, invite made");
    b.send(Command::Accept {
        code,
        alias: "alice".into(),
    });
    next(&mut be, |e| matches!(e, Event::SessionEstablished { .. })).await;
    next(&mut ae, |e| matches!(e, Event::SessionEstablished { .. })).await;
    let text = "x".repeat(KIB);
    eprintln!("  session established");
    // Warm up.
    a.send(Command::Send {
        to: "bob".into(),
        text: text.clone(),
        client_ref: None,
    });
    next(&mut ae, |e| matches!(e, Event::Delivered { .. })).await;

    eprintln!("  warm-up delivered");
    // More for profiling, so that set-up does not dominate the samples.
    let total: usize = std::env::var("CAIRN_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let start = Instant::now();
    for _ in 0..total {
        a.send(Command::Send {
            to: "bob".into(),
            text: text.clone(),
            client_ref: None,
        });
    }
    let mut delivered = 0;
    let mut queued = 0;
    while delivered < total {
        match next(&mut ae, |e| {
            matches!(
                e,
                Event::Delivered { .. } | Event::Error { .. } | Event::Queued { .. }
            )
        })
        .await
        {
            Event::Queued { .. } => {
                queued += 1;
                if queued == total {
                    eprintln!("  all {total} queued after {:?}", start.elapsed());
                }
                continue;
            }
            Event::Delivered { .. } => delivered += 1,
            e => panic!("{e:?}"),
        }
        if delivered % 500 == 0 {
            eprintln!(
                "  {delivered}/{total} delivered after {:?}",
                start.elapsed()
            );
        }
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    // Drain bob's message events from the burst.
    let mut got = 0;
    while got < total + 1 {
        next(&mut be, |e| matches!(e, Event::Message { .. })).await;
        got += 1;
    }
    let (mut to_msg, mut to_rcpt) = (Vec::new(), Vec::new());
    // Profiling the throughput alone: no latency phase.
    let rounds = if std::env::var_os("CAIRN_BENCH_ONLY_CAIRN").is_some() {
        0
    } else {
        500
    };
    for _ in 0..rounds {
        let t = Instant::now();
        a.send(Command::Send {
            to: "bob".into(),
            text: text.clone(),
            client_ref: None,
        });
        next(&mut be, |e| matches!(e, Event::Message { .. })).await;
        to_msg.push(t.elapsed());
        next(&mut ae, |e| matches!(e, Event::Delivered { .. })).await;
        to_rcpt.push(t.elapsed());
    }
    a.send(Command::Quit);
    b.send(Command::Quit);
    (rate, to_msg, to_rcpt)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Child mode: run one node and print its address; stay until killed.
fn child() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_h, mut ev, _) = node::start(
            profile(dir.path(), "idle"),
            NodeConfig {
                listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
                relay: None,
                lan: false,
                private_addresses: true,
                resend_after: node::RESEND_AFTER_HOP,
                stranger_idle: cairn_node::node::STRANGER_IDLE,
                hidden: None,
                bench_onion_target: None,
            },
        )
        .unwrap();
        if let Event::Ready { peer_id, addrs } =
            next(&mut ev, |e| matches!(e, Event::Ready { .. })).await
        {
            println!("{}/p2p/{}", addrs[0], peer_id);
        }
        loop {
            if ev.recv().await.is_none() {
                break;
            }
        }
    });
}

async fn memory() -> (u64, u64) {
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    let mut c = std::process::Command::new(exe)
        .env("CAIRN_BENCH_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(c.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: Multiaddr = line.trim().parse().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(c.id());
    let mut peers = Vec::new();
    for _ in 0..100 {
        let mut s = swarm::build(
            libp2p::identity::Keypair::generate_ed25519(),
            &SwarmOptions::default(),
        )
        .unwrap();
        s.dial(addr.clone()).unwrap();
        loop {
            if let SwarmEvent::ConnectionEstablished { .. } = s.select_next_some().await {
                break;
            }
        }
        peers.push(tokio::spawn(async move {
            loop {
                s.select_next_some().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with_peers = rss_kib(c.id());
    let _ = c.kill();
    let _ = c.wait();
    for p in peers {
        p.abort();
    }
    (idle, with_peers)
}

/// UDP datagrams the kernel dropped for want of receive-buffer room, system-wide
/// (`RcvbufErrors` in /proc/net/snmp; 0 where that file does not exist). Printed per
/// round: a dropped QUIC packet costs a retransmission and a smaller congestion window.
fn udp_rcvbuf_errors() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let mut udp = s.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    if std::env::var_os("CAIRN_BENCH_CHILD").is_some() {
        return child();
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // For profiling (`perf record`): only the Cairn throughput run on TCP, no baseline.
        if let Some(which) = std::env::var_os("CAIRN_BENCH_ONLY_CAIRN") {
            let quic = which == "quic";
            let addr = if quic {
                "/ip4/127.0.0.1/udp/0/quic-v1"
            } else {
                "/ip4/127.0.0.1/tcp/0"
            };
            let drops = udp_rcvbuf_errors();
            let (rate, _, _) = cairn(addr).await;
            println!(
                "Cairn {}: {rate:.0} msg/s, UDP drops {}",
                if quic { "QUIC" } else { "TCP" },
                udp_rcvbuf_errors().saturating_sub(drops)
            );
            return;
        }
        // Baseline and Cairn alternate, ROUNDS times each per transport: this VM's speed
        // drifts over seconds, so each figure is the median of its runs and the ratio is
        // of the medians (every run is printed too).
        const ROUNDS: usize = 3;
        let only = std::env::var("CAIRN_BENCH_TRANSPORT").ok();
        for (name, t) in [("TCP", "/ip4/127.0.0.1/tcp/0"), ("QUIC", "/ip4/127.0.0.1/udp/0/quic-v1")] {
            if only.as_deref().is_some_and(|o| !o.eq_ignore_ascii_case(name)) {
                continue;
            }
            let (mut base_rates, mut rates) = (Vec::new(), Vec::new());
            let (mut base_rtt, mut to_msg, mut to_rcpt) = (Vec::new(), Vec::new(), Vec::new());
            for round in 1..=ROUNDS {
                let drops = udp_rcvbuf_errors();
                let (base_rate, rtt) = baseline(t).await;
                let (base_drops, drops) = (udp_rcvbuf_errors().saturating_sub(drops), udp_rcvbuf_errors());
                eprintln!(
                    "baseline {name}, round {round}: {base_rate:.0} req/s, UDP drops {base_drops}"
                );
                let (rate, m, r) = cairn(t).await;
                let drops = udp_rcvbuf_errors().saturating_sub(drops);
                eprintln!("cairn {name}, round {round}: {rate:.0} msg/s, UDP drops {drops}");
                base_rates.push(base_rate);
                rates.push(rate);
                base_rtt.extend(rtt);
                to_msg.extend(m);
                to_rcpt.extend(r);
            }
            let (base_rate, rate) = (median(&mut base_rates), median(&mut rates));
            println!("\n== {name} ==");
            println!(
                "runs: bare {:?} req/s; Cairn {:?} msg/s",
                base_rates.iter().map(|r| r.round() as u64).collect::<Vec<_>>(),
                rates.iter().map(|r| r.round() as u64).collect::<Vec<_>>()
            );
            println!("| measurement | Cairn | bare request-response | ratio | target |");
            println!("|---|---|---|---|---|");
            println!(
                "| throughput, 1 KiB (median of {ROUNDS}) | {rate:.0} msg/s (E2E + durable store + receipts) | {base_rate:.0} req/s ({} in flight) | {:.2}× | ≥ 0.5× |",
                swarm::MAX_CONCURRENT_STREAMS,
                rate / base_rate
            );
            println!(
                "| latency p50 | send→message {:.0} µs, send→delivered {:.0} µs | round trip {:.0} µs | | |",
                us(pct(&mut to_msg, 0.5)),
                us(pct(&mut to_rcpt, 0.5)),
                us(pct(&mut base_rtt, 0.5))
            );
            println!(
                "| latency p99 | send→message {:.0} µs, send→delivered {:.0} µs | round trip {:.0} µs | | send→message ≤ 5000 µs |",
                us(pct(&mut to_msg, 0.99)),
                us(pct(&mut to_rcpt, 0.99)),
                us(pct(&mut base_rtt, 0.99))
            );
        }
        if only.is_some() {
            return;
        }
        let (idle, with_peers) = memory().await;
        println!("\nRSS: idle node {} MiB; with 100 connected peers {} MiB", idle / 1024, with_peers / 1024);
    });
}
