//! Hidden mode benchmark (issue 17), on a private Tor network booted here (no Internet; see
//! `cairn_tests::tornet`): how long hidden mode takes to start, and what Cairn's messages
//! cost on top of Tor, against bare TCP streams through the same network in the same run.
//!
//! `cargo bench -p cairn-tests --bench hidden` (`CAIRN_BENCH_HIDDEN_ROUNDS`, default 30)
//!
//! 1. Bootstrap: the network until ready (authorities, relays, a consensus listing all);
//!    two tor clients until each knows every relay; a node with a tor of its own (`cairn
//!    run --hidden`) from its start to `ready` (tor bootstrapped, onion service made), and
//!    from there to a session with a contact it never reached before (the invite accepted,
//!    the onion looked up, the handshake through it) and a first message delivered (its
//!    receipt back).
//! 2. Latency: Alice's node (through client `a`) sends Bob's (through client `b`) a
//!    message of 200 characters and waits for his receipt (`delivered`): a round trip
//!    through Tor and both nodes. Baseline: 200 bytes sent to an echo server and back over
//!    a bare stream through **the same onion circuit**: Bob's onion service also forwards a
//!    second port to the bench's server (`cairn run --bench-onion-target-for-tests`, a
//!    test-hooks build), and the stream is opened from client `a` with the SOCKS
//!    credentials Alice's node uses for Bob (tor's isolation), so tor puts it on the
//!    rendezvous circuit her connection already takes; the bench checks that with tor's
//!    `stream-status`. Medians of the rounds, alternating; the first of each left out.
//! 3. Throughput: Alice sends 256 messages of 7 KiB (each fills an 8 KiB padding bucket);
//!    timed until Bob has shown them all. Baseline: the same 1.75 MiB written over a bare
//!    stream through the same circuit to a sink, until it has read them all and answered
//!    one byte. Rates count the messages' text.
use cairn_node::api::BENCH_ONION_PORT;
use cairn_tests::tornet::{socks5_connect_as, TorClient, TorNet};
use cairn_tests::{Net, Node};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const MESSAGE: usize = 200;
const BULK_MESSAGES: usize = 256;
/// A message that fills an 8 KiB padding bucket (its envelope's header and tags included).
const BULK_SIZE: usize = 7 * 1024;
const DEADLINE: Duration = Duration::from_secs(180);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A TCP server on loopback behind Bob's onion service's second port. The first byte of a
/// connection says what it is: `E`, an echo; `S`, a sink that reads
/// `BULK_MESSAGES × BULK_SIZE` bytes at a time and answers each with one byte.
fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut mode = [0u8; 1];
                if s.read_exact(&mut mode).is_err() {
                    return;
                }
                let echo = mode[0] == b'E';
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0;
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if echo {
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    } else {
                        total += n;
                        if total >= BULK_MESSAGES * BULK_SIZE {
                            let _ = s.write_all(&[1]);
                            total = 0;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Connects through `socks` to `host` (`<id>.onion`) at its benchmark port, as Alice's
/// node connects to it (same isolation), and says which stream it is (`E` or `S`).
fn bare_stream(socks: SocketAddr, host: &str, mode: u8) -> TcpStream {
    let end = Instant::now() + DEADLINE;
    loop {
        let auth = Some((host, "cairn"));
        match socks5_connect_as(socks, host, BENCH_ONION_PORT, auth) {
            Ok(mut s) => {
                s.set_nodelay(true).expect("nodelay");
                s.write_all(&[mode]).expect("mode");
                return s;
            }
            Err(e) if Instant::now() < end => {
                eprintln!("  (not reachable yet: {e})");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("{host}: {e}"),
        }
    }
}

/// The circuits of client `a`'s open streams to `host`, by port (tor's `stream-status`:
/// `ID STATUS CIRCUIT TARGET`).
fn circuits(a: &TorClient, host: &str) -> Vec<(u16, String)> {
    let lines = a.command("GETINFO stream-status").expect("stream-status");
    lines
        .iter()
        .flat_map(|l| l.split('\n'))
        .filter_map(|l| {
            let f: Vec<&str> = l.trim_start_matches("stream-status=").split(' ').collect();
            let (circuit, target) = (f.get(2)?, f.get(3)?);
            let (h, port) = target.rsplit_once(':')?;
            (h == host).then(|| (port.parse().ok(), circuit.to_string()))
        })
        .filter_map(|(p, c)| Some((p?, c)))
        .collect()
}

fn text(n: usize, i: usize) -> String {
    let head = format!("{i:06} ");
    let body: String = (0..n.saturating_sub(head.len()))
        .map(|k| char::from(b'a' + ((k + i) % 26) as u8))
        .collect();
    head + &body
}

fn main() {
    let rounds: usize = std::env::var("CAIRN_BENCH_HIDDEN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .max(3);
    let dir = std::env::temp_dir().join(format!("cairn-bench-hidden-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // 1. Bootstrap.
    let t = Instant::now();
    let tor = TorNet::start(&dir).unwrap_or_else(|e| panic!("{e}"));
    let network = t.elapsed();
    let t = Instant::now();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| tor.client("a"));
        let b = s.spawn(|| tor.client("b"));
        (a.join().expect("a"), b.join().expect("b"))
    });
    let (a, b) = (a.expect("client a"), b.expect("client b"));
    let clients = t.elapsed();

    let net = Net::new();
    let mut alice = net.node("alice").hidden(a.control_addr()).start();
    let target = server();
    let mut bob = net
        .node("bob")
        .hidden(b.control_addr())
        .bench_onion_target(target)
        .start();
    let bob_host = bob.addrs[0]
        .strip_prefix("/onion3/")
        .and_then(|a| a.split(':').next())
        .map(|id| format!("{id}.onion"))
        .expect("bob's onion address");
    let code = bob.invite();
    alice.accept(&code, "bob");
    alice.expect_within("session", DEADLINE, |e| e["event"] == "session_established");

    let torrc = dir.join("own-torrc");
    std::fs::write(
        &torrc,
        format!(
            "TestingTorNetwork 1\nPathsNeededToBuildCircuits 0.95\n{}",
            tor.dir_authority_lines()
        ),
    )
    .expect("torrc");
    let t = Instant::now();
    let mut carol = net.node("carol").hidden_own_tor(&torrc).start();
    let own_ready = t.elapsed();
    let t = Instant::now();
    let code = bob.invite();
    carol.accept(&code, "bob");
    carol.expect_within("session", DEADLINE, |e| e["event"] == "session_established");
    let session = t.elapsed();
    let id = carol.send("bob", "first");
    carol.expect_within("first delivered", DEADLINE, |e| {
        e["event"] == "delivered" && e["id"] == id.as_str()
    });
    let first_message = t.elapsed();
    carol.quit();

    // 2. Latency.
    let mut stream = bare_stream(a.socks_addr(), &bob_host, b'E');
    let on = circuits(&a, &bob_host);
    let node_circuit = on.iter().find(|(p, _)| *p == 4001).map(|(_, c)| c.clone());
    let bare_circuit = on
        .iter()
        .find(|(p, _)| *p == BENCH_ONION_PORT)
        .map(|(_, c)| c.clone());
    assert!(
        node_circuit.is_some() && node_circuit == bare_circuit,
        "the bare stream is not on the circuit of Alice's connection to Bob: {on:?}"
    );
    let payload = vec![7u8; MESSAGE];
    let mut back = vec![0u8; MESSAGE];
    let mut bare_rtt = Vec::new();
    let mut cairn_rtt = Vec::new();
    for i in 0..=rounds {
        let t = Instant::now();
        stream.write_all(&payload).expect("write");
        stream.read_exact(&mut back).expect("read");
        let bare = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let id = alice.send("bob", &text(MESSAGE, i));
        alice.expect_within("delivered", DEADLINE, |e| {
            e["event"] == "delivered" && e["id"] == id.as_str()
        });
        let cairn = t.elapsed().as_secs_f64();
        if i > 0 {
            bare_rtt.push(bare);
            cairn_rtt.push(cairn);
        }
    }
    drop(stream);
    let (bare_ms, cairn_ms) = (median(bare_rtt) * 1e3, median(cairn_rtt) * 1e3);

    // 3. Throughput.
    let mut stream = bare_stream(a.socks_addr(), &bob_host, b'S');
    let bytes = BULK_MESSAGES * BULK_SIZE;
    let block = vec![9u8; BULK_SIZE];
    let mut ack = [0u8; 1];
    let mut bare_rates = Vec::new();
    let mut cairn_rates = Vec::new();
    let mib = |secs: f64| bytes as f64 / (1024.0 * 1024.0) / secs;
    for round in 0..3 {
        let t = Instant::now();
        for _ in 0..BULK_MESSAGES {
            stream.write_all(&block).expect("write");
        }
        stream.read_exact(&mut ack).expect("ack");
        bare_rates.push(mib(t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let texts: Vec<String> = (0..BULK_MESSAGES)
            .map(|i| text(BULK_SIZE, round * BULK_MESSAGES + i))
            .collect();
        for x in &texts {
            alice.send("bob", x);
        }
        receive_all(&mut bob, &texts);
        cairn_rates.push(mib(t.elapsed().as_secs_f64()));
    }
    let (bare_rate, cairn_rate) = (median(bare_rates), median(cairn_rates));
    alice.quit();
    bob.quit();
    drop((a, b, tor));
    let _ = std::fs::remove_dir_all(&dir);

    println!("hidden mode on a private Tor network (3 authorities + 3 relays, loopback)");
    println!("bare streams on the circuit of Alice's connection to Bob: {node_circuit:?}");
    println!("bootstrap:");
    println!(
        "  network ready                      {:>8.1} s",
        network.as_secs_f64()
    );
    println!(
        "  two tor clients ready              {:>8.1} s",
        clients.as_secs_f64()
    );
    println!(
        "  node with its own tor: ready       {:>8.1} s",
        own_ready.as_secs_f64()
    );
    println!(
        "  ... then a session with a contact  {:>8.1} s\n  ... and a first message delivered  {:>8.1} s",
        session.as_secs_f64(),
        first_message.as_secs_f64()
    );
    println!("latency ({MESSAGE} B, median of {rounds} round trips):");
    println!("  bare stream through Tor            {bare_ms:>8.1} ms");
    println!("  Cairn message to receipt           {cairn_ms:>8.1} ms");
    println!(
        "  ratio (Cairn / bare)               {:>8.2}x",
        cairn_ms / bare_ms
    );
    println!(
        "throughput ({BULK_MESSAGES} x {} KiB, median of 3):",
        BULK_SIZE / 1024
    );
    println!("  bare stream through Tor            {bare_rate:>8.2} MiB/s");
    println!("  Cairn messages                     {cairn_rate:>8.2} MiB/s");
    println!(
        "  ratio (Cairn / bare)               {:>8.2}x",
        cairn_rate / bare_rate
    );
}

/// Waits until `bob` has shown every one of `texts`.
fn receive_all(bob: &mut Node, texts: &[String]) {
    let mut left: std::collections::HashSet<&str> = texts.iter().map(String::as_str).collect();
    while !left.is_empty() {
        let e = bob.expect_within("the messages", DEADLINE, |e| e["event"] == "message");
        if let Some(t) = e["text"].as_str() {
            left.remove(t);
        }
    }
}
