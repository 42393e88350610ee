//! Groups over real processes (issue 15): pairwise fan-out, membership changes, one order.
use cairn_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The texts of a group's history on `node`, in the order it shows them.
fn history(node: &mut Node, group: &str) -> Vec<String> {
    history_within(node, group, TIMEOUT)
}

/// The same, waiting up to `t` for the answer (a node catching up on a loaded machine can
/// take a while to reach the command).
fn history_within(node: &mut Node, group: &str, t: Duration) -> Vec<String> {
    node.cmd(json!({"cmd": "group_history", "group": group, "limit": 1000}));
    let h = node.expect_within("group_history", t, |e| e["event"] == "group_history");
    h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

fn group_send(node: &mut Node, group: &str, text: &str) -> String {
    node.cmd(json!({"cmd": "group_send", "group": group, "text": text}));
    let e = node.expect("queued", |e| {
        e["event"] == "queued" || e["event"] == "error"
    });
    assert_eq!(
        e["event"], "queued",
        "{}: group send failed: {e}",
        node.name
    );
    e["id"].as_str().unwrap().to_owned()
}

fn sees_group_message(node: &mut Node, from: &str, text: &str) {
    node.sees(&format!("group message {text:?} from {from}"), |e| {
        e["event"] == "group_message" && e["from"] == from && e["text"] == text
    });
}

/// Waits for a `group` event whose change is `kind` (by `by`, about `member`).
fn sees_change(node: &mut Node, kind: &str, member: Option<&str>) -> Value {
    let hit = |e: &Value| {
        e["event"] == "group"
            && e["change"]["kind"] == kind
            && member.is_none_or(|m| e["change"]["member"] == m)
    };
    if let Some(e) = node.seen.iter().find(|e| hit(e)) {
        return e.clone();
    }
    node.expect(&format!("group change {kind}"), hit)
}

/// The next introduction not answered yet (one seen earlier included).
fn introduction(node: &mut Node) -> Value {
    let answered: Vec<Value> = node
        .seen
        .iter()
        .filter(|e| e["event"] == "introduction_answered")
        .map(|e| e["id"].clone())
        .collect();
    let open = |e: &Value| e["event"] == "introduction" && !answered.contains(&e["id"]);
    if let Some(e) = node.seen.iter().find(|e| open(e)) {
        return e.clone();
    }
    node.expect("an introduction", open)
}

fn members(group_event: &Value) -> Vec<String> {
    let mut m: Vec<String> = group_event["group"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    m.sort();
    m
}

/// Catches a group message that does not reach every member once, members that show the
/// group's messages in different orders, a welcome that does not bring the group to a new
/// member, a removed member that still receives what is sent after its removal, a member
/// offline during sends that does not catch up after a restart, and "delivered to k of n"
/// that does not count up to n.
#[test]
fn four_members_one_order_adds_removes_and_catch_up() {
    let net = Net::new();
    let mut alice = net.node("alice").start();
    let bob_p = net.node("bob");
    let mut bob = bob_p.start();
    let mut carol = net.node("carol").start();
    let mut dave = net.node("dave").start();
    connect(&mut alice, &mut bob);
    connect(&mut alice, &mut carol);
    connect(&mut alice, &mut dave);
    connect(&mut bob, &mut carol);
    connect(&mut bob, &mut dave);
    connect(&mut carol, &mut dave);

    alice.cmd(json!({"cmd": "group_create", "name": "desk", "members": ["bob", "carol"]}));
    let created = sees_change(&mut alice, "created", None);
    let group = created["group"]["id"].as_str().unwrap().to_owned();
    assert_eq!(members(&created), ["bob", "carol", "you"]);
    for node in [&mut bob, &mut carol] {
        node.sees("the group", |e| {
            e["event"] == "group" && e["group"]["id"] == group.as_str()
        });
    }

    // Everyone writes at once.
    let a1 = group_send(&mut alice, &group, "a1");
    group_send(&mut bob, &group, "b1");
    group_send(&mut carol, &group, "c1");
    for (node, others) in [
        (&mut alice, [("bob", "b1"), ("carol", "c1")]),
        (&mut bob, [("alice", "a1"), ("carol", "c1")]),
        (&mut carol, [("alice", "a1"), ("bob", "b1")]),
    ] {
        for (from, text) in others {
            sees_group_message(node, from, text);
        }
    }
    alice.sees("a1 delivered to 2 of 2", |e| {
        e["event"] == "group_delivered" && e["id"] == a1.as_str() && e["delivered"] == 2
    });

    // Dave joins: he sees only what comes after.
    alice.cmd(json!({"cmd": "group_add", "group": group, "alias": "dave"}));
    sees_change(&mut alice, "added", Some("dave"));
    for node in [&mut bob, &mut carol] {
        sees_change(node, "added", Some("dave"));
    }
    dave.sees("the group", |e| {
        e["event"] == "group" && e["group"]["id"] == group.as_str()
    });
    group_send(&mut dave, &group, "d1");
    for node in [&mut alice, &mut bob, &mut carol] {
        sees_group_message(node, "dave", "d1");
    }
    assert_eq!(
        history(&mut dave, &group),
        ["d1"],
        "dave sees only what came after"
    );

    // Bob goes offline; what is sent meanwhile reaches him when he is back.
    bob.quit();
    group_send(&mut alice, &group, "a2");
    group_send(&mut carol, &group, "c2");
    let mut bob = bob_p.start();
    sees_group_message(&mut bob, "alice", "a2");
    sees_group_message(&mut bob, "carol", "c2");

    // Carol is removed; what bob sends after he knows it never reaches her.
    alice.cmd(json!({"cmd": "group_remove", "group": group, "member": "carol"}));
    sees_change(&mut alice, "removed", Some("carol"));
    let seen = sees_change(&mut bob, "removed", Some("carol"));
    assert_eq!(members(&seen), ["alice", "dave", "you"]);
    let gone = sees_change(&mut carol, "removed", Some("you"));
    assert_eq!(gone["group"]["member"], false);
    sees_change(&mut dave, "removed", Some("carol"));
    group_send(&mut bob, &group, "b2");
    for node in [&mut alice, &mut dave] {
        sees_group_message(node, "bob", "b2");
    }
    carol.cmd(json!({"cmd": "group_send", "group": group, "text": "c3"}));
    carol.expect("refused: not a member", |e| {
        e["event"] == "error" && e["code"] == "not_member"
    });
    carol.drain(Duration::from_millis(500));
    assert!(
        !carol
            .seen
            .iter()
            .any(|e| e["event"] == "group_message" && e["text"] == "b2"),
        "a removed member received a later message"
    );
    assert!(!history(&mut carol, &group).contains(&"b2".to_owned()));

    // One order everywhere (dave's starts where he joined).
    let a = history(&mut alice, &group);
    let b = history(&mut bob, &group);
    let d = history(&mut dave, &group);
    assert_eq!(a.len(), 7, "alice: {a:?}");
    assert_eq!(a, b, "alice and bob disagree on the order");
    let from_d = a.iter().position(|t| t == "d1").unwrap();
    assert_eq!(&a[from_d..], &d[..], "dave's order differs");
    for node in [alice, bob, carol, dave] {
        node.quit();
    }
}

/// Catches members who are not contacts of each other left without a way to reach each
/// other: the admin's introductions, once accepted, give them a group-only session (not a
/// contact), and what each wrote before it existed reaches the other. Also catches a
/// contact introduction that does not give the two a working conversation, and one whose
/// handshake takes an unrelated name.
#[test]
fn introductions_connect_members_and_contacts() {
    let net = Net::new();
    let mut alice = net.node("alice").start();
    let mut bob = net.node("bob").start();
    let mut carol = net.node("carol").start();
    connect(&mut alice, &mut bob);
    connect(&mut alice, &mut carol);

    alice.cmd(json!({"cmd": "group_create", "name": "cell", "members": ["bob", "carol"]}));
    let created = sees_change(&mut alice, "created", None);
    let group = created["group"]["id"].as_str().unwrap().to_owned();
    // Bob writes before he can reach Carol.
    bob.sees("the group", |e| {
        e["event"] == "group" && e["group"]["id"] == group.as_str()
    });
    group_send(&mut bob, &group, "before the introduction");
    for node in [&mut bob, &mut carol] {
        let intro = introduction(node);
        assert_eq!(intro["by"], "alice");
        assert_eq!(intro["group"], group.as_str());
        let id = intro["id"].as_str().unwrap().to_owned();
        node.cmd(json!({"cmd": "accept_introduction", "id": id}));
        node.expect("accepted", |e| {
            e["event"] == "introduction_answered" && e["accepted"] == true
        });
    }
    sees_group_message(&mut carol, "bob", "before the introduction");
    group_send(&mut carol, &group, "after");
    sees_group_message(&mut bob, "carol", "after");
    // Group-only: not listed as a contact, but shown by the name each chose.
    carol.cmd(json!({"cmd": "contacts"}));
    let c = carol.expect("contacts", |e| e["event"] == "contacts");
    let names: Vec<&str> = c["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["alias"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice"], "a group-only peer is not a contact");
    carol.cmd(json!({"cmd": "groups"}));
    let g = carol.expect("groups", |e| e["event"] == "groups");
    let bob_entry = g["groups"][0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "bob")
        .cloned()
        .expect("bob listed by his name");
    assert_eq!(bob_entry["contact"], false);
    assert_eq!(bob_entry["reachable"], true);
    // Made a contact without an invite, the 1:1 conversation works.
    carol.cmd(json!({"cmd": "make_contact", "alias": "bob"}));
    carol.expect("contact added", |e| {
        e["event"] == "contact_added" && e["alias"] == "bob"
    });
    let id = carol.send("bob", "hello directly");
    carol.sees_delivered(&id);

    // A contact introduction: Dave and Bob, through Alice, each asked.
    let mut dave = net.node("dave").start();
    connect(&mut alice, &mut dave);
    alice.cmd(json!({"cmd": "introduce", "alias": "bob", "to": "dave"}));
    // Each names the other as it likes (not the name the other chose): the handshake's
    // answer keeps the alias given on accepting.
    for (node, name) in [(&mut bob, "d"), (&mut dave, "b")] {
        let intro = introduction(node);
        assert!(intro["group"].is_null());
        let id = intro["id"].as_str().unwrap().to_owned();
        node.cmd(json!({"cmd": "accept_introduction", "id": id, "alias": name}));
    }
    bob.sees_session("d");
    dave.sees_session("b");
    let id = dave.send("b", "hi bob");
    bob.sees_message("d", "hi bob");
    dave.sees_delivered(&id);
    for node in [alice, bob, carol, dave] {
        node.quit();
    }
}

/// Accepts every introduction `node` has been sent and not answered (waiting `t` for more).
fn accept_intros(node: &mut Node, t: Duration) {
    node.drain(t);
    let answered: Vec<Value> = node
        .seen
        .iter()
        .filter(|e| e["event"] == "introduction_answered")
        .map(|e| e["id"].clone())
        .collect();
    let open: Vec<String> = node
        .seen
        .iter()
        .filter(|e| e["event"] == "introduction" && !answered.contains(&e["id"]))
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    for id in open {
        node.cmd(json!({"cmd": "accept_introduction", "id": id}));
        node.expect("answered", |e| {
            e["event"] == "introduction_answered" && e["id"] == id.as_str()
        });
    }
}

/// Until every node's group history has `want(name)` texts (accepting introductions as they
/// come), at most `limit`. Returns each node's history.
fn converge(
    nodes: &mut [Node],
    group: &str,
    want: impl Fn(&str) -> usize,
    limit: Duration,
) -> Vec<Vec<String>> {
    let end = std::time::Instant::now() + limit;
    loop {
        let mut done = true;
        let mut all = Vec::new();
        for n in nodes.iter_mut() {
            accept_intros(n, Duration::from_millis(20));
            // The answer may wait behind a catch-up: up to the time left, at least TIMEOUT.
            let left = end.saturating_duration_since(std::time::Instant::now());
            let h = history_within(n, group, left.max(TIMEOUT));
            done &= h.len() >= want(&n.name);
            all.push(h);
        }
        if done {
            return all;
        }
        if std::time::Instant::now() > end {
            let counts: Vec<(String, usize, usize)> = nodes
                .iter()
                .zip(&all)
                .map(|(n, h)| (n.name.clone(), h.len(), want(&n.name)))
                .collect();
            panic!("no convergence: (node, has, wants) {counts:?}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Catches a group that does not hold together at size: twenty members over real
/// processes, five reaching the others only through the relay, two offline while others write
/// and while members are added and removed, most not contacts of each other (the admin's
/// introductions, accepted as they come, connect them); two admins changing the group at
/// once; a removed member. Every member must end with the same messages in the same order
/// (a later member: the same from where it joined), the same name and members, and the
/// removed member's profile must hold nothing sent after its removal.
#[test]
fn twenty_members_through_relay_offline_and_concurrent_admins() {
    let net = Net::new();
    let relay = net.relay();
    let names: Vec<String> = (0..20).map(|i| format!("n{i:02}")).collect();
    let profiles: Vec<Profile> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = net.node(n).with_relay(&relay).resend_after(5);
            if i >= 15 {
                p.public_only()
            } else {
                p
            }
        })
        .collect();
    let mut nodes: Vec<Node> = profiles.iter().map(Profile::start).collect();
    // n00 knows everyone; nobody else knows anyone but n00. The relay-only ones invite
    // n00 (which can dial them; they could reach n00 only through the mailbox).
    let (admin, rest) = nodes.split_at_mut(1);
    for (i, m) in rest.iter_mut().enumerate() {
        if i + 1 >= 15 {
            connect(m, &mut admin[0]);
        } else {
            connect(&mut admin[0], m);
        }
    }
    let first: Vec<&str> = names[1..13].iter().map(String::as_str).collect();
    nodes[0].cmd(json!({"cmd": "group_create", "name": "network", "members": first}));
    let created = sees_change(&mut nodes[0], "created", None);
    let group = created["group"]["id"].as_str().unwrap().to_owned();
    nodes[0].cmd(json!({"cmd": "group_promote", "group": group, "member": "n01"}));
    sees_change(&mut nodes[0], "promoted", Some("n01"));
    let founders = |n: &str| n != "n00" && n <= "n12";
    // Everyone writes once; the founders connect among themselves.
    for i in 0..13 {
        group_send(&mut nodes[i], &group, &format!("hello from {}", names[i]));
    }
    converge(&mut nodes[..13], &group, |_| 13, Duration::from_secs(120));

    // n05 and n06 go offline; meanwhile members are added and write.
    let n06 = nodes.remove(6);
    let n05 = nodes.remove(5);
    n05.quit();
    n06.quit();
    for new in &names[13..20] {
        nodes[0].cmd(json!({"cmd": "group_add", "group": group, "alias": new}));
        sees_change(&mut nodes[0], "added", Some(new.as_str()));
    }
    // The writers know of the additions first (so what they write comes after them in the
    // group's order, and is for the new members).
    for i in [1, 2, 3] {
        nodes[i].sees("all twenty members", |e| {
            e["event"] == "group"
                && e["group"]["members"]
                    .as_array()
                    .is_some_and(|m| m.len() == 20)
        });
    }
    for i in [0, 1, 2, 3] {
        group_send(&mut nodes[i], &group, &format!("while two sleep {i}"));
    }
    // The two admins have read them before they change the group (so they come before the
    // removals, and the removed members get them).
    for admin in [0, 1] {
        for i in [0, 1, 2, 3] {
            if i != admin {
                sees_group_message(
                    &mut nodes[admin],
                    &names[i],
                    &format!("while two sleep {i}"),
                );
            }
        }
    }
    // Two admins change the group at once: each removes a member, each renames it.
    nodes[0].cmd(json!({"cmd": "group_remove", "group": group, "member": "n07"}));
    nodes[1].cmd(json!({"cmd": "group_remove", "group": group, "member": "n08"}));
    nodes[0].cmd(json!({"cmd": "group_rename", "group": group, "name": "net-a"}));
    nodes[1].cmd(json!({"cmd": "group_rename", "group": group, "name": "net-b"}));
    sees_change(&mut nodes[0], "removed", Some("n07"));
    sees_change(&mut nodes[1], "removed", Some("n08"));
    // Both removals reach n02 before it writes: n07 and n08 must not get this.
    sees_change(&mut nodes[2], "removed", Some("n07"));
    sees_change(&mut nodes[2], "removed", Some("n08"));
    group_send(&mut nodes[2], &group, "after the removals XQZ-SECRET-7781");

    // The sleepers return and catch up from their mailboxes.
    nodes.insert(5, profiles[5].start());
    nodes.insert(6, profiles[6].start());
    let joined_late = |n: &str| n >= "n13";
    let removed = |n: &str| n == "n07" || n == "n08";
    // Founders: 13 + 4 + 1; late members: the 4 sent after their addition + 1.
    let want = |n: &str| {
        if removed(n) {
            13 + 4
        } else if joined_late(n) {
            5
        } else {
            18
        }
    };
    let histories = converge(&mut nodes, &group, want, Duration::from_secs(240));
    let reference = histories[0].clone();
    assert_eq!(reference.len(), 18, "{reference:?}");
    for (n, h) in nodes.iter().zip(&histories) {
        if removed(&n.name) {
            assert!(
                !h.iter().any(|t| t.contains("XQZ-SECRET")),
                "{}: {h:?}",
                n.name
            );
        } else if joined_late(&n.name) {
            assert_eq!(&reference[13..], &h[..], "{} (joined late)", n.name);
        } else {
            assert!(founders(&n.name) || n.name == "n00");
            assert_eq!(&reference, h, "{}: another order", n.name);
        }
    }
    // One state everywhere: name, members and admins.
    let mut states = Vec::new();
    for n in nodes.iter_mut().filter(|n| !removed(&n.name)) {
        n.cmd(json!({"cmd": "groups"}));
        let g = n.expect("groups", |e| e["event"] == "groups");
        let info = &g["groups"][0];
        let admins = info["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["admin"] == true)
            .count();
        states.push((
            info["name"].as_str().unwrap().to_owned(),
            info["members"].as_array().unwrap().len(),
            admins,
        ));
    }
    let first_state = states[0].clone();
    assert_eq!(first_state.1, 18, "twenty less the two removed");
    assert!(states.iter().all(|s| *s == first_state), "{states:?}");

    // The removed member keeps nothing sent after its removal, on disk either.
    let gid: [u8; 16] = {
        let mut b = [0u8; 16];
        for (i, c) in group.as_bytes().chunks(2).enumerate() {
            b[i] = u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap();
        }
        b
    };
    let n07 = nodes.remove(7);
    n07.quit();
    let store = profiles[7].open_store();
    let texts: Vec<String> = store
        .messages(&store.group_conversation(&gid))
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert!(!texts.iter().any(|t| t.contains("XQZ-SECRET")));
    drop(store);
    assert!(!contains_any_encoding(
        &all_bytes(&net.path().join("n07")),
        b"XQZ-SECRET-7781"
    ));
    for n in nodes {
        n.quit();
    }
}
