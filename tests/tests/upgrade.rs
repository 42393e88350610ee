//! Upgrades keep people's data: profiles and a relay data directory made by each earlier
//! build whose formats this one still reads (tests/fixtures/previous/<commit>, made by
//! tests/fixtures/make_previous.py) open with this build, with every contact, message and
//! session intact, and the conversation goes on — and moves to the newest protocol.
use cairn_tests::*;
use serde_json::json;
use std::path::Path;

/// The protocol every conversation ends on (3: a hybrid, post-quantum handshake).
const LATEST: u8 = cairn_crypto::Protocol::LATEST.as_u8();

/// Catches a format change that strands a user: a profile that no longer opens, a session
/// state (versions 1 and 2) that no longer reads, a mailbox whose old records (random ids)
/// are no longer found, an old invite code or stored invite that no longer works, or history
/// lost on the way. One set after the other (they share the relay's port).
#[test]
fn profiles_and_relays_of_previous_builds_keep_working() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/previous");
    let mut sets: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    sets.sort();
    assert!(sets.len() >= 2, "fixture sets: {sets:?}");
    for set in sets {
        eprintln!("fixtures of {}", set.display());
        check_set(&set);
    }
}

fn check_set(fixtures: &Path) {
    let net = Net::new();
    for d in ["alice", "bob", "relay-data"] {
        copy_dir(&fixtures.join(d), &net.path().join(d));
    }
    // The fixtures' cards name the relay at this port.
    let relay = net.relay_on("/ip4/127.0.0.1/tcp/47331");
    let alice_p = net.node("alice").with_relay(&relay);
    let bob_p = net.node("bob").with_relay(&relay);

    // Bob was offline while alice wrote five messages into his mailbox (old record layout).
    let mut bob = bob_p.start();
    for i in 0..5 {
        bob.sees_message_anywhere("alice", &format!("while you were away {i}"));
    }
    bob.cmd(json!({"cmd": "history", "with": "alice"}));
    let h = bob.expect("history", |e| e["event"] == "history");
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 11, "the old history and the mail: {texts:?}");
    assert!(texts.contains(&"hello bob 0") && texts.contains(&"hello alice 2"));

    // Both now speak the newest protocol and say so over the old session (protocol 1 or 2,
    // as the old build made it), which reads and answers: the side with the lower identity
    // key resets it, and the conversation moves to the newest protocol (3: a hybrid,
    // post-quantum handshake) with its history (docs/PROTOCOL.md §3.1). (Messages
    // sent in the instant of the reset are not checked here: they arrive, but one may wait
    // for its renewal; see THREAT_MODEL §6.10.)
    let mut alice = alice_p.start();
    for n in [&mut alice, &mut bob] {
        n.sees("upgrade", |e| e["event"] == "session_reset");
        let r = n
            .seen
            .iter()
            .find(|e| e["event"] == "session_reset")
            .unwrap();
        assert_eq!(r["protocol"], LATEST, "{}: {r}", n.name);
    }
    let id = bob.send("alice", "back, on the new build");
    alice.sees_message_anywhere("bob", "back, on the new build");
    bob.sees_delivered(&id);
    let id = alice.send("bob", "me too");
    bob.sees_message_anywhere("alice", "me too");
    alice.sees_delivered(&id);
    let id = bob.send("alice", "on the newest protocol now");
    alice.sees_message_anywhere("bob", "on the newest protocol now");
    bob.sees_delivered(&id);
    let id = alice.send("bob", "so am I");
    bob.sees_message_anywhere("alice", "so am I");
    alice.sees_delivered(&id);
    for n in [&mut alice, &mut bob] {
        n.cmd(json!({"cmd": "contacts"}));
        let c = n.expect("contacts", |e| e["event"] == "contacts");
        assert_eq!(c["contacts"][0]["established"], true, "{}: {c}", n.name);
        assert_eq!(c["contacts"][0]["protocol"], LATEST, "{}: {c}", n.name);
        n.cmd(json!({"cmd": "history", "with": if n.name == "alice" { "bob" } else { "alice" }}));
        let h = n.expect("history", |e| e["event"] == "history");
        assert_eq!(
            h["messages"].as_array().unwrap().len(),
            15,
            "{}: {h}",
            n.name
        );
        let errors: Vec<_> = n.seen.iter().filter(|e| e["event"] == "error").collect();
        assert!(errors.is_empty(), "{}: {errors:?}", n.name);
    }

    // An invite the old build made and nobody used yet (an old code, and invite keys stored
    // in the old layout): accepted with this build, it makes a session of the old build's
    // protocol, which then moves to the newest like the others.
    if let Ok(code) = std::fs::read_to_string(fixtures.join("alice-invite.txt")) {
        let mut carol = net.node("carol").with_relay(&relay).start();
        carol.accept(code.trim(), "alice");
        carol.sees_session("alice");
        alice.sees("carol's session", |e| e["event"] == "session_established");
        for n in [&mut alice, &mut carol] {
            n.sees("upgrade", |e| {
                e["event"] == "session_reset" && e["protocol"] == LATEST
            });
        }
        let id = carol.send("alice", "hello from a new build");
        alice.sees_message_anywhere("carol", "hello from a new build");
        carol.sees_delivered(&id);
        let id = alice.send("carol", "hello back");
        carol.sees_message_anywhere("alice", "hello back");
        alice.sees_delivered(&id);
        carol.quit();
    }
    alice.quit();
    bob.quit();
}
