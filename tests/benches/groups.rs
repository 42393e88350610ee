//! Group benchmark (issue 15): one message to a group of 100 members against the same message
//! sent 1:1 to each of the 99 others, in the same run; and the memory of a node in ten
//! 100-member groups.
//!
//! `cargo bench -p cairn-tests --bench groups`
//!
//! A sender and `CAIRN_BENCH_MEMBERS` (default 99: with the sender, a group of 100, the most a
//! group may have) recipients run as real `cairn` processes
//! on loopback (the sender connected to each by an invite; the recipients are not contacts of
//! each other). Each round first sends `CAIRN_BENCH_MESSAGES` (default 5) texts 1:1 to every
//! recipient (the baseline), then the same number to the group, and measures for each: the
//! time from the first send until every recipient has shown every text and every receipt is
//! back at the sender, and the sender process's CPU time (user + system, from /proc) over
//! that span. Three rounds; the ratios are of the medians. Then the sender creates nine more
//! groups with the same members and its resident memory is read.
use cairn_tests::{Net, Node};
use serde_json::json;
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU time of process `pid`, from /proc (clock ticks of 10 ms).
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Waits until every recipient has shown `count` new events matching `event`, and the
/// sender `receipts` receipts.
fn wait_all(
    sender: &mut Node,
    members: &mut [Node],
    event: &str,
    count: usize,
    receipt: impl Fn(&serde_json::Value) -> bool,
    receipts: usize,
) {
    for m in members.iter_mut() {
        for _ in 0..count {
            m.expect(event, |e| e["event"] == event);
        }
    }
    for _ in 0..receipts {
        sender.expect("receipt", &receipt);
    }
}

fn main() {
    let n = env("CAIRN_BENCH_MEMBERS", 99);
    let per_round = env("CAIRN_BENCH_MESSAGES", 5);
    let net = Net::new();
    let mut sender = net.node("sender").start();
    let mut members: Vec<Node> = (0..n)
        .map(|i| net.node(&format!("m{i:03}")).start())
        .collect();
    let setup = Instant::now();
    // Each member invites and the sender accepts, so the sender dials them: a hundred
    // strangers connecting to it from one address (all of them are on loopback here) would
    // meet its connection limits per source (THREAT_MODEL §6.8), as they should.
    for chunk in members.chunks_mut(8) {
        for m in chunk.iter_mut() {
            let code = m.invite();
            let name = m.name.clone();
            sender.accept(&code, &name);
        }
        for m in chunk.iter_mut() {
            m.sees_session("sender");
            let name = m.name.clone();
            sender.sees("a session", |e| {
                e["event"] == "session_established" && e["alias"] == name.as_str()
            });
        }
    }
    let pid = sender.pid().expect("sender pid");
    let rss_contacts = sender.rss_bytes().unwrap_or(0);
    let aliases: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    sender.cmd(json!({"cmd": "group_create", "name": "bench", "members": aliases}));
    let created = sender.expect("group", |e| e["event"] == "group");
    let group = created["group"]["id"].as_str().unwrap().to_owned();
    for m in members.iter_mut() {
        m.expect("the group", |e| e["event"] == "group");
    }
    println!(
        "setup: {n} members connected and grouped in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let text = "x".repeat(200);
    let (mut t1, mut c1, mut tg, mut cg) = (vec![], vec![], vec![], vec![]);
    for round in 0..3 {
        // 1:1: the same text to each member, `per_round` times.
        let (t0, c0) = (Instant::now(), cpu(pid));
        for _ in 0..per_round {
            for a in &aliases {
                sender.cmd(json!({"cmd": "send", "to": a, "text": text}));
            }
        }
        wait_all(
            &mut sender,
            &mut members,
            "message",
            per_round,
            |e| e["event"] == "delivered",
            per_round * n,
        );
        let (d1, u1) = (t0.elapsed(), cpu(pid) - c0);
        // The group: one send each.
        let (t0, c0) = (Instant::now(), cpu(pid));
        for _ in 0..per_round {
            sender.cmd(json!({"cmd": "group_send", "group": group, "text": text}));
        }
        wait_all(
            &mut sender,
            &mut members,
            "group_message",
            per_round,
            |e| e["event"] == "group_delivered" && e["delivered"] == e["of"],
            per_round,
        );
        let (dg, ug) = (t0.elapsed(), cpu(pid) - c0);
        println!(
            "round {round}: 1:1 {:.0} ms, sender CPU {:.0} ms | group {:.0} ms, sender CPU {:.0} ms | time ×{:.2}, CPU ×{:.2}",
            d1.as_secs_f64() * 1e3,
            u1.as_secs_f64() * 1e3,
            dg.as_secs_f64() * 1e3,
            ug.as_secs_f64() * 1e3,
            dg.as_secs_f64() / d1.as_secs_f64(),
            ug.as_secs_f64() / u1.as_secs_f64().max(1e-3),
        );
        t1.push(d1.as_secs_f64());
        c1.push(u1.as_secs_f64());
        tg.push(dg.as_secs_f64());
        cg.push(ug.as_secs_f64());
    }
    let (mt1, mc1, mtg, mcg) = (median(t1), median(c1), median(tg), median(cg));
    println!(
        "median over 3 rounds, {per_round} texts to {n} members: 1:1 {:.0} ms / CPU {:.0} ms; group {:.0} ms / CPU {:.0} ms",
        mt1 * 1e3,
        mc1 * 1e3,
        mtg * 1e3,
        mcg * 1e3
    );
    println!(
        "ratio group / 1:1: time ×{:.2}, sender CPU ×{:.2} (target <= 1.2)",
        mtg / mt1,
        mcg / mc1.max(1e-3)
    );
    // Memory: nine more groups of the same members.
    for g in 1..10 {
        sender
            .cmd(json!({"cmd": "group_create", "name": format!("bench {g}"), "members": aliases}));
        sender.expect("group", |e| e["event"] == "group");
    }
    for m in members.iter_mut() {
        for _ in 1..10 {
            m.expect("the group", |e| e["event"] == "group");
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let rss_groups = sender.rss_bytes().unwrap_or(0);
    println!(
        "sender RSS: {:.1} MiB with {n} contacts, {:.1} MiB in ten {}-member groups",
        rss_contacts as f64 / 1048576.0,
        rss_groups as f64 / 1048576.0,
        n + 1
    );
    sender.quit();
    for m in members {
        m.quit();
    }
}
