//! kill -9 of sender and recipient at random moments during a burst.
use cairn_tests::*;
use rand::Rng;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Catches messages lost or shown twice when either side dies without warning:
/// every message the sender reported as queued reaches the recipient exactly once
/// and ends up delivered; nothing is shown twice.
#[test]
fn kill9_sender_and_recipient_during_bursts() {
    const ITERATIONS: usize = 24;
    const BURST: usize = 8;
    let net = Net::new();
    let alice_p = net.node("alice");
    let bob_p = net.node("bob");
    let mut alice = alice_p.start();
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    let mut rng = rand::thread_rng();
    let mut queued: HashMap<String, String> = HashMap::new(); // id -> text
    let mut n = 0;
    for it in 0..ITERATIONS {
        for _ in 0..BURST {
            alice.cmd(json!({"cmd": "send", "to": "bob", "text": format!("burst {it} msg {n}")}));
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..60)));
        // Whatever the sender reported as queued so far must survive.
        for e in alice.drain(Duration::from_millis(1)) {
            if e["event"] == "queued" {
                queued.insert(e["id"].as_str().unwrap().to_owned(), String::new());
            }
        }
        if it % 2 == 0 {
            alice.kill9();
            alice = alice_p.start();
        } else {
            bob.kill9();
            bob = bob_p.start();
        }
    }
    assert!(
        queued.len() >= ITERATIONS,
        "too few messages were queued before kills: {}",
        queued.len()
    );
    // Let everything settle (a `delivered` event may have come from a process that was
    // killed later), then check both sides' records.
    let ids: Vec<String> = queued.keys().cloned().collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let ha = loop {
        alice.cmd(json!({"cmd": "history", "with": "bob", "limit": 100000}));
        let h = alice.expect("history", |e| e["event"] == "history");
        let all_delivered = ids.iter().all(|id| {
            h["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["id"] == id.as_str() && m["state"] == "delivered")
        });
        if all_delivered || std::time::Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let out: HashMap<String, (String, String)> = ha["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "out")
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                (
                    m["text"].as_str().unwrap().to_owned(),
                    m["state"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    for id in &ids {
        let (text, state) = out
            .get(id)
            .unwrap_or_else(|| panic!("queued message {id} lost by the sender"));
        assert_eq!(state, "delivered", "{text}");
        queued.insert(id.clone(), text.clone());
    }
    bob.drain(Duration::from_millis(500));
    bob.cmd(json!({"cmd": "history", "with": "alice", "limit": 100000}));
    let hb = bob.expect("history", |e| e["event"] == "history");
    let mut seen_ids = HashMap::new();
    for m in hb["messages"].as_array().unwrap() {
        if m["direction"] == "in" {
            *seen_ids
                .entry(m["id"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    for (id, text) in &queued {
        assert_eq!(
            seen_ids.get(id),
            Some(&1),
            "{text} not received exactly once"
        );
    }
    assert!(
        seen_ids.values().all(|c| *c == 1),
        "a message is stored twice"
    );
    eprintln!(
        "kill -9: {ITERATIONS} iterations, {} messages queued, all delivered exactly once",
        queued.len()
    );
    alice.quit();
    bob.quit();
}
