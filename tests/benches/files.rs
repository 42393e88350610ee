//! File transfer benchmark (issue 16): a file sent between two `cairn run` processes on
//! loopback against a bare libp2p transfer of the same bytes, in the same run; the memory of
//! both processes during the transfer; the bytes sent again after a kill -9 of the sender.
//!
//! `cargo bench -p cairn-tests --bench files` (`CAIRN_BENCH_FILE_MIB`, default 256)
//!
//! 1. Baseline: two bare swarms in this process (TCP + Noise + yamux, Cairn's own
//!    request-response codec), the file's bytes as 64,528-byte requests — the size of a
//!    sealed chunk — with 32 in flight (all a connection takes), each answered at once.
//! 2. Cairn: Alice sends the file (as it is: `original`, random bytes no cleaner knows) and
//!    Bob accepts it; timed from the accept to Bob's `complete` (every chunk stored, synced,
//!    receipted and the whole checked against its hash). Both processes' RSS is sampled every
//!    50 ms; the peak above each one's idle RSS (read just before) is reported.
//! 3. Resume: a second transfer of the same size; at Bob's first progress event past a
//!    quarter of it (they come every half second: about half the file at this rate; at half
//!    the next one could be the last) Alice is killed (-9) and restarted; Bob's
//!    `chunks_again` then says how much the link carried twice.
//!
//! Baseline and Cairn alternate five times (`CAIRN_BENCH_ROUNDS`); the ratio is of the
//! medians. Before each measurement the machine settles (`settle`: dirty pages written out,
//! the cores nearly idle), so that neither side pays for what ran before it: the writeback
//! of a build or of Alice's import of the file, which otherwise slowed a round now and then.
//! Each round also prints what tells a slow round apart: chunks carried twice, chunks that
//! came as bulk chunks, context switches, and the CPU per MiB of each process and of the
//! whole machine.
use cairn_node::net::protocol::{Request, Response};
use cairn_node::net::swarm::{self, BehaviourEvent, SwarmOptions};
use cairn_tests::{connect, rss_of, Net, Node};
use futures::StreamExt;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::Multiaddr;
use rand::RngCore;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEALED: usize = 64_528;
/// Requests the baseline keeps in flight: as many as one connection takes
/// (`swarm::MAX_CONCURRENT_STREAMS`; Cairn's direct window of 64 chunks goes as batches in
/// at most 8 requests).
const WINDOW: usize = swarm::MAX_CONCURRENT_STREAMS;
const MIB: f64 = 1024.0 * 1024.0;

async fn listening(s: &mut libp2p::Swarm<swarm::Behaviour>) -> Multiaddr {
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = s.select_next_some().await {
            return address;
        }
    }
}

/// Seconds to carry `size` bytes in sealed-chunk-sized requests, `WINDOW` in flight.
async fn bare(size: usize) -> f64 {
    let build = || {
        swarm::build(
            libp2p::identity::Keypair::generate_ed25519(),
            &SwarmOptions::default(),
        )
        .unwrap()
    };
    let (mut server, mut client) = (build(), build());
    server
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = listening(&mut server).await;
    let peer = *server.local_peer_id();
    let server = tokio::spawn(async move {
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
    let mut chunk = vec![0u8; SEALED];
    rand::thread_rng().fill_bytes(&mut chunk);
    let send = |c: &mut libp2p::Swarm<swarm::Behaviour>| {
        c.behaviour_mut().rr.send_request_with_addresses(
            &peer,
            Request::Deliver(chunk.clone()),
            vec![addr.clone()],
        );
    };
    send(&mut client);
    responses(&mut client, 1).await;
    let total = size.div_ceil(SEALED);
    let start = Instant::now();
    let (mut sent, mut done) = (0, 0);
    while sent < WINDOW.min(total) {
        send(&mut client);
        sent += 1;
    }
    while done < total {
        done += responses(&mut client, 1).await;
        if sent < total {
            send(&mut client);
            sent += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    server.abort();
    secs
}

async fn responses(c: &mut libp2p::Swarm<swarm::Behaviour>, n: usize) -> usize {
    let mut got = 0;
    while got < n {
        match c.select_next_some().await {
            SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::Message {
                message: Message::Response { .. },
                ..
            })) => got += 1,
            SwarmEvent::Behaviour(BehaviourEvent::Rr(
                request_response::Event::OutboundFailure { error, .. },
            )) => panic!("baseline request failed: {error}"),
            _ => {}
        }
    }
    got
}

fn offer(alice: &mut Node, bob: &mut Node, path: &Path) -> String {
    alice.cmd(json!({"cmd": "send_file", "to": "bob", "path": path, "original": true}));
    let e = alice.expect("file_queued", |e| {
        e["event"] == "file_queued" || e["event"] == "error"
    });
    assert_eq!(e["event"], "file_queued", "{e}");
    let file = e["file"].as_str().unwrap().to_owned();
    bob.expect_within("file_offered", Duration::from_secs(60), |e| {
        e["event"] == "file_offered" && e["file"] == file.as_str()
    });
    file
}

fn complete(node: &mut Node, file: &str) -> Value {
    node.expect_within("complete", Duration::from_secs(1800), |e| {
        e["event"] == "file_state" && e["file"] == file && e["state"] == "complete"
    })
}

/// Peak RSS of `pids` (each above its own value when started) while it runs.
struct Sampler {
    stop: Arc<AtomicBool>,
    peaks: Vec<Arc<AtomicU64>>,
    idle: Vec<u64>,
}

impl Sampler {
    fn start(pids: &[u32]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let idle: Vec<u64> = pids.iter().map(|p| rss_of(*p).unwrap_or(0)).collect();
        let peaks: Vec<Arc<AtomicU64>> =
            idle.iter().map(|i| Arc::new(AtomicU64::new(*i))).collect();
        for (pid, peak) in pids.iter().copied().zip(peaks.iter().cloned()) {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(r) = rss_of(pid) {
                        peak.fetch_max(r, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        Self { stop, peaks, idle }
    }

    /// (idle, peak above idle) per process, in MiB.
    fn finish(self) -> Vec<(f64, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.idle
            .iter()
            .zip(&self.peaks)
            .map(|(i, p)| {
                let p = p.load(Ordering::Relaxed);
                (*i as f64 / MIB, p.saturating_sub(*i) as f64 / MIB)
            })
            .collect()
    }
}

/// Numbers `skip`.. (`take` of them) of a line of `/proc` (in USER_HZ ticks, 100 a second on
/// Linux), in seconds.
fn secs(line: &str, skip: usize, take: usize) -> Vec<f64> {
    line.split_whitespace()
        .skip(skip)
        .take(take)
        .filter_map(|v| v.parse::<f64>().ok())
        .map(|t| t / 100.0)
        .collect()
}

/// CPU time (user + system, every thread) of process `pid` ("self" for this one), in seconds
/// (`/proc/PID/stat`).
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    secs(rest, 11, 2).iter().sum()
}

/// CPU time of the whole machine so far (every core, user + system + interrupts), in
/// seconds (`/proc/stat`).
fn machine_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or("");
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    secs(line, 1, 8)
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum()
}

/// Chunks of `file` that `node` received more than once, and chunks it received as bulk
/// chunks (its list of files with alice).
fn chunk_counts(node: &mut Node, file: &str) -> (u64, u64) {
    node.cmd(json!({"cmd": "files", "with": "alice"}));
    let list = node.expect("files", |e| e["event"] == "files");
    let f = list["files"]
        .as_array()
        .and_then(|l| l.iter().find(|f| f["file"] == file))
        .cloned()
        .unwrap_or_default();
    let n = |k: &str| f[k].as_u64().unwrap_or(0);
    (n("chunks_again"), n("bulk_chunks"))
}

/// Context switches (voluntary, involuntary) of every thread of process `pid` so far.
fn switches(pid: u32) -> (u64, u64) {
    let mut total = (0, 0);
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return total;
    };
    for t in tasks.flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            let n = |l: &str| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            };
            if line.starts_with("voluntary_ctxt_switches") {
                total.0 += n(line).unwrap_or(0);
            } else if line.starts_with("nonvoluntary_ctxt_switches") {
                total.1 += n(line).unwrap_or(0);
            }
        }
    }
    total
}

/// Lets the machine settle before a measurement: writes out dirty pages (`sync`: a build's
/// or the last import's writeback must not run during it) and waits until the cores are
/// nearly idle (at most 30 s). Returns the seconds it waited.
fn settle() -> f64 {
    let start = Instant::now();
    let _ = std::process::Command::new("sync").status();
    while start.elapsed() < Duration::from_secs(30) {
        let (busy0, t0) = (machine_cpu_secs(), Instant::now());
        std::thread::sleep(Duration::from_millis(500));
        if (machine_cpu_secs() - busy0) / t0.elapsed().as_secs_f64() < 0.1 {
            break;
        }
    }
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mib: usize = std::env::var("CAIRN_BENCH_FILE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let size = mib << 20;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = Net::new();
    let (alice_p, bob_p) = (net.node("alice"), net.node("bob"));
    let mut alice = alice_p.start();
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    let path = net.path().join("payload.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..mib {
            rand::thread_rng().fill_bytes(&mut block);
            std::io::Write::write_all(&mut f, &block).unwrap();
        }
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let rounds: usize = std::env::var("CAIRN_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    for round in 1..=rounds {
        let waited = settle();
        let cpu0 = cpu_secs("self");
        let b = rt.block_on(bare(size));
        let bare_cpu = cpu_secs("self") - cpu0;
        let file = offer(&mut alice, &mut bob, &path);
        let waited = waited + settle();
        let pids = [alice.pid().unwrap(), bob.pid().unwrap()];
        let sampler = Sampler::start(&pids);
        let cpu0: Vec<f64> = pids.iter().map(|p| cpu_secs(&p.to_string())).collect();
        let (own0, machine0) = (cpu_secs("self"), machine_cpu_secs());
        let sw0: Vec<(u64, u64)> = pids.iter().map(|p| switches(*p)).collect();
        let start = Instant::now();
        bob.cmd(json!({"cmd": "accept_file", "file": file}));
        complete(&mut bob, &file);
        let c = start.elapsed().as_secs_f64();
        let mem = sampler.finish();
        let sw: Vec<(u64, u64)> = pids
            .iter()
            .zip(&sw0)
            .map(|(p, s0)| {
                let s = switches(*p);
                (s.0 - s0.0, s.1 - s0.1)
            })
            .collect();
        let own = (cpu_secs("self") - own0) * 1000.0 / mib as f64;
        let machine = (machine_cpu_secs() - machine0) * 1000.0 / mib as f64;
        let cpu: Vec<f64> = pids
            .iter()
            .zip(&cpu0)
            .map(|(p, c0)| (cpu_secs(&p.to_string()) - c0) * 1000.0 / mib as f64)
            .collect();
        complete(&mut alice, &file);
        let (again, bulk) = chunk_counts(&mut bob, &file);
        println!(
            "round {round}: Cairn {c:.2} s ({:.1} MiB/s), bare {b:.2} s ({:.1} MiB/s): {:.2}× the bare rate; \
             settled {waited:.1} s before; chunks received again {again}, as bulk chunks {bulk}; \
             context switches (voluntary / involuntary): alice {} / {}, bob {} / {}; \
             RSS idle / peak above idle: alice {:.1} / {:.1} MiB, bob {:.1} / {:.1} MiB; \
             CPU per MiB: alice {:.1} ms, bob {:.1} ms, this bench {:.1} ms, whole machine {:.1} ms \
             (cores busy {:.2}); bare (both ends) {:.1} ms",
            mib as f64 / c,
            mib as f64 / b,
            b / c,
            sw[0].0,
            sw[0].1,
            sw[1].0,
            sw[1].1,
            mem[0].0,
            mem[0].1,
            mem[1].0,
            mem[1].1,
            cpu[0],
            cpu[1],
            own,
            machine,
            machine * mib as f64 / 1000.0 / c,
            bare_cpu * 1000.0 / mib as f64
        );
        ours.push(c);
        theirs.push(b);
    }
    let (c, b) = (median(ours), median(theirs));
    println!(
        "median: Cairn {c:.2} s ({:.1} MiB/s), bare {b:.2} s ({:.1} MiB/s): Cairn at {:.2}× the bare rate (target ≥ 0.5×)",
        mib as f64 / c,
        mib as f64 / b,
        b / c
    );

    // Resume after kill -9 of the sender mid-transfer.
    let file = offer(&mut alice, &mut bob, &path);
    bob.cmd(json!({"cmd": "accept_file", "file": file}));
    let quarter = (size / 4) as u64;
    let at = bob.expect_within("a quarter", Duration::from_secs(1800), |e| {
        e["event"] == "file_progress"
            && e["file"] == file.as_str()
            && e["bytes"].as_u64() >= Some(quarter)
    });
    alice.kill9();
    let start = Instant::now();
    let alice = alice_p.start();
    complete(&mut bob, &file);
    let after = start.elapsed().as_secs_f64();
    let (again, _) = chunk_counts(&mut bob, &file);
    println!(
        "kill -9 of the sender at {:.1} MiB of {mib} MiB: completed {after:.1} s after the restart; \
         sent again: {again} chunks ({:.2} MiB)",
        at["bytes"].as_u64().unwrap_or(0) as f64 / MIB,
        again as f64 * SEALED as f64 / MIB
    );
    alice.quit();
    bob.quit();
}
