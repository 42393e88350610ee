//! Conversations that survive a large backlog, a mailbox that loses what it holds, and a
//! mailbox that throws every deposit away: every message arrives exactly once and the
//! conversation goes on both ways.
use cairn_tests::*;
use serde_json::json;
use std::time::Duration;

/// Sends `n` messages named `{prefix} {i}` at once and returns their ids.
fn burst(node: &mut Node, to: &str, prefix: &str, n: usize) -> Vec<String> {
    for i in 0..n {
        node.cmd(json!({"cmd": "send", "to": to, "text": format!("{prefix} {i}")}));
    }
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        let e = node.expect("queued", |e| {
            e["event"] == "queued" || e["event"] == "error"
        });
        assert_eq!(e["event"], "queued", "send failed: {e}");
        ids.push(e["id"].as_str().unwrap_or_default().to_owned());
    }
    ids
}

/// Waits until every message `{prefix} {i}` is shown, then checks each was shown once.
fn sees_each_once(node: &mut Node, from: &str, prefix: &str, n: usize) {
    for i in 0..n {
        node.sees_message_anywhere(from, &format!("{prefix} {i}"));
    }
    node.drain(Duration::from_secs(2));
    let wanted = format!("{prefix} ");
    let shown = node
        .seen
        .iter()
        .filter(|e| e["event"] == "message" && e["from"] == from)
        .filter(|e| e["text"].as_str().is_some_and(|t| t.starts_with(&wanted)))
        .count();
    assert_eq!(shown, n, "{}: each message shown exactly once", node.name);
}

/// Both ways still work, and no error was reported on either side.
fn still_talking(alice: &mut Node, bob: &mut Node) {
    let id = bob.send("alice", "bob is back");
    alice.sees_message_anywhere("bob", "bob is back");
    bob.sees_delivered(&id);
    let id = alice.send("bob", "welcome back");
    bob.sees_message_anywhere("alice", "welcome back");
    alice.sees_delivered(&id);
    for n in [&*alice, &*bob] {
        let errors: Vec<_> = n.seen.iter().filter(|e| e["event"] == "error").collect();
        assert!(errors.is_empty(), "{}: {errors:?}", n.name);
    }
}

/// Waits until a hop (the mailbox) took each of `ids`.
fn all_sent(node: &mut Node, ids: &[String]) {
    for id in ids {
        node.sees(&format!("sent {id}"), |e| {
            e["event"] == "sent" && e["id"] == id.as_str()
        });
    }
}

/// Bob, back, sees each of the `n` messages once; alice gets every receipt; both still talk.
fn everything_arrives_once(alice: &mut Node, bob: &mut Node, prefix: &str, ids: &[String]) {
    sees_each_once(bob, "alice", prefix, ids.len());
    for id in ids {
        alice.sees_delivered_anywhere(id);
    }
    still_talking(alice, bob);
}

fn start_pair(alice_p: &Profile, bob_p: &Profile) -> (Node, Node) {
    let mut alice = alice_p.start();
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    let id = alice.send("bob", "hello");
    bob.sees_message("alice", "hello");
    alice.sees_delivered(&id);
    (alice, bob)
}

/// Catches the stuck conversation of the hardening review: a backlog larger than the
/// ratchet's skip window, returned by the mailbox in random order, was refused and deleted
/// as junk. Now the mailbox returns it in deposit order (and an authenticated header may
/// skip ahead), so an offline recipient gets all 2,500 messages exactly once.
#[test]
fn offline_recipient_gets_a_backlog_of_thousands_once() {
    const N: usize = 2500;
    let net = Net::new();
    let relay = net.relay();
    let alice_p = net.node("alice").with_relay(&relay);
    let bob_p = net.node("bob").with_relay(&relay);
    let (mut alice, bob) = start_pair(&alice_p, &bob_p);
    bob.quit();
    let ids = burst(&mut alice, "bob", "backlog", N);
    // Most of it reaches the mailbox before bob is back (a tag holds 2,000 envelopes; the
    // rest waits in alice's outbox and goes directly once bob is online).
    all_sent(&mut alice, &ids[..1500]);
    let mut bob = bob_p.start();
    everything_arrives_once(&mut alice, &mut bob, "backlog", &ids);
    alice.quit();
    bob.quit();
}

/// Catches messages lost for good when the mailbox loses everything it held while the
/// recipient was offline: the sender must renew what gets no receipt, and the recipient
/// must skip ahead over the lost chain positions (more than `MAX_SKIP`).
#[test]
fn mailbox_that_loses_its_data_loses_no_message() {
    const N: usize = 1200;
    let net = Net::new();
    let mut relay = net.relay();
    let alice_p = net.node("alice").with_relay(&relay).resend_after(2);
    let bob_p = net.node("bob").with_relay(&relay);
    let (mut alice, bob) = start_pair(&alice_p, &bob_p);
    bob.quit();
    let ids = burst(&mut alice, "bob", "lost", N);
    all_sent(&mut alice, &ids);
    relay.restart(&net, |data| {
        std::fs::remove_dir_all(data.join("mailbox.db")).expect("mailbox db");
    });
    let mut bob = bob_p.start();
    everything_arrives_once(&mut alice, &mut bob, "lost", &ids);
    alice.quit();
    bob.quit();
}

/// Catches a conversation silenced by a mailbox that accepts deposits and silently throws
/// them away (a hostile operator): the renewals while the recipient is away move the
/// sender's chain far ahead (300 messages × several rounds > `MAX_SKIP`), and once both
/// ends are reachable every message must be delivered exactly once, both ways.
#[test]
fn mailbox_that_discards_deposits_silences_nobody() {
    const N: usize = 300;
    let net = Net::new();
    let relay = net.discarding_relay();
    let alice_p = net.node("alice").with_relay(&relay).resend_after(1);
    let bob_p = net.node("bob").with_relay(&relay);
    let (mut alice, bob) = start_pair(&alice_p, &bob_p);
    bob.quit();
    let ids = burst(&mut alice, "bob", "discarded", N);
    all_sent(&mut alice, &ids);
    // Several renewal rounds (after 1, 2, 4, 8 s) go into the void.
    alice.drain(Duration::from_secs(12));
    let mut bob = bob_p.start();
    everything_arrives_once(&mut alice, &mut bob, "discarded", &ids);
    alice.quit();
    bob.quit();
}
