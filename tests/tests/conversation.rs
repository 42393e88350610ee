//! Two and ten real nodes over loopback.
use cairn_tests::*;
use serde_json::json;

/// Catches lost, duplicated or reordered messages on the direct path, and a broken
/// invite → accept → session flow.
#[test]
fn two_nodes_hundred_messages_each_way() {
    let net = Net::new();
    let mut alice = net.node("alice").start();
    let mut bob = net.node("bob").start();
    connect(&mut alice, &mut bob);

    let mut a_ids = Vec::new();
    let mut b_ids = Vec::new();
    for i in 0..100 {
        a_ids.push(alice.send("bob", &format!("a→b {i}")));
        b_ids.push(bob.send("alice", &format!("b→a {i}")));
    }
    for id in &a_ids {
        alice.sees_delivered(id);
    }
    for id in &b_ids {
        bob.sees_delivered(id);
    }
    // Each message shown exactly once, and the conversation in order.
    for (node, from, prefix) in [(&mut alice, "bob", "b→a"), (&mut bob, "alice", "a→b")] {
        node.drain(std::time::Duration::from_millis(300));
        let texts: Vec<String> = node
            .seen
            .iter()
            .filter(|e| e["event"] == "message" && e["from"] == from)
            .map(|e| e["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            texts.len(),
            100,
            "{}: {} messages shown",
            node.name,
            texts.len()
        );
        let mut sorted = texts.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 100, "duplicates shown");
        node.cmd(json!({"cmd": "history", "with": from, "limit": 1000}));
        let h = node.expect("history", |e| e["event"] == "history");
        let incoming: Vec<&str> = h["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "in")
            .map(|m| m["text"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (0..100).map(|i| format!("{prefix} {i}")).collect();
        assert_eq!(incoming, expected, "conversation order");
    }
    alice.quit();
    bob.quit();
}

/// Catches a burst (sends written at once, stored together in outbox batch records) that
/// loses or repeats messages or shows the conversation out of order, or leaves outbox records behind once every receipt
/// is in: the sender's outbox must be empty on disk, not merely skipped when listed.
#[test]
fn burst_is_delivered_once_and_leaves_an_empty_outbox() {
    let net = Net::new();
    let alice_p = net.node("alice");
    let mut alice = alice_p.start();
    let mut bob = net.node("bob").start();
    connect(&mut alice, &mut bob);
    const N: usize = 600;
    for i in 0..N {
        alice.cmd(json!({"cmd": "send", "to": "bob", "text": format!("burst {i}")}));
    }
    let mut ids = Vec::new();
    while ids.len() < N {
        let e = alice.expect("queued", |e| e["event"] == "queued");
        ids.push(e["id"].as_str().unwrap_or_default().to_owned());
    }
    for id in &ids {
        alice.sees_delivered_anywhere(id);
    }
    for i in 0..N {
        bob.sees_message_anywhere("alice", &format!("burst {i}"));
    }
    bob.drain(std::time::Duration::from_millis(500));
    let shown: Vec<&str> = bob
        .seen
        .iter()
        .filter(|e| e["event"] == "message")
        .filter_map(|e| e["text"].as_str())
        .collect();
    // Each shown once (requests in flight together may arrive out of order) ...
    let mut once: Vec<&str> = shown.clone();
    once.sort();
    once.dedup();
    assert_eq!((shown.len(), once.len()), (N, N), "each once");
    // ... and the conversation in the order sent.
    bob.cmd(json!({"cmd": "history", "with": "alice", "limit": 1000}));
    let h = bob.expect("history", |e| e["event"] == "history");
    let history: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .filter_map(|m| m["text"].as_str())
        .collect();
    let expected: Vec<String> = (0..N).map(|i| format!("burst {i}")).collect();
    assert_eq!(history, expected, "conversation order");
    alice.quit();
    bob.quit();

    let store = alice_p.open_store();
    let outbox_records = |s: &cairn_node::api::inspect::Store| {
        s.check()
            .trees
            .iter()
            .find(|t| t.tree == cairn_node::api::inspect::TreeName::Outbox)
            .map_or(usize::MAX, |t| t.readable + t.damaged.len())
    };
    // Receipts of bob's own messages may still wait for their hop; alice sent only texts
    // and the handshake answer, which bob's receipt retired.
    assert_eq!(outbox_records(&store), 0, "outbox records left behind");
    let history = store
        .messages(&store.contacts().unwrap().items[0].0)
        .unwrap();
    assert_eq!(history.items.len(), N);
    assert!(history
        .items
        .iter()
        .all(|m| m.state == cairn_node::api::inspect::DeliveryState::Delivered));
}

/// Catches an invite that works twice, or whose second use is dropped without a word: the
/// inviter must refuse it with an `invite_used` event and add no contact; the second acceptor
/// is not set up.
#[test]
fn reused_invite_is_refused_with_an_event() {
    let net = Net::new();
    let mut alice = net.node("alice").start();
    let mut bob = net.node("bob").start();
    let mut carol = net.node("carol").start();
    let code = alice.invite();
    bob.accept(&code, "alice");
    bob.sees_session("alice");
    alice.sees_session("bob");
    carol.accept(&code, "alice");
    alice.expect("invite_used", |e| {
        e["event"] == "error" && e["code"] == "invite_used"
    });
    let later = carol.drain(std::time::Duration::from_secs(2));
    assert!(
        !later.iter().any(|e| e["event"] == "session_established"),
        "{later:?}"
    );
    alice.drain(std::time::Duration::from_millis(500));
    let added = alice
        .seen
        .iter()
        .filter(|e| e["event"] == "contact_added")
        .count();
    assert_eq!(added, 1, "{:?}", alice.seen);
    // Bob, who used it first, still talks to alice.
    let id = bob.send("alice", "still here");
    alice.sees_message("bob", "still here");
    bob.sees_delivered(&id);
    alice.quit();
    bob.quit();
    carol.quit();
}

/// Catches state that does not scale past a pair: ten nodes, every pair talks.
#[test]
fn ten_nodes_every_pair() {
    let net = Net::new();
    let names: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    let mut nodes: Vec<Node> = names.iter().map(|n| net.node(n).start()).collect();
    for i in 0..nodes.len() {
        for j in i + 1..nodes.len() {
            let (a, b) = nodes.split_at_mut(j);
            connect(&mut a[i], &mut b[0]);
        }
    }
    let mut sent = Vec::new();
    for i in 0..nodes.len() {
        for j in 0..nodes.len() {
            if i != j {
                let to = names[j].clone();
                let text = format!("{} to {}", names[i], names[j]);
                let id = nodes[i].send(&to, &text);
                sent.push((i, j, id, text));
            }
        }
    }
    for (i, j, id, text) in &sent {
        let from = names[*i].clone();
        nodes[*j].sees_message_anywhere(&from, text);
        nodes[*i].sees_delivered_anywhere(id);
    }
    for n in nodes {
        n.quit();
    }
}
