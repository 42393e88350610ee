//! Contact lifecycle over real processes: rename, block and unblock, delete and add again.
use cairn_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

fn error_code(node: &mut Node) -> String {
    let e = node.expect("error", |e| e["event"] == "error");
    e["code"].as_str().unwrap_or_default().to_owned()
}

fn contacts(node: &mut Node) -> Vec<Value> {
    node.cmd(json!({"cmd": "contacts"}));
    let e = node.expect("contacts", |e| e["event"] == "contacts");
    e["contacts"].as_array().cloned().unwrap_or_default()
}

/// Catches a rename that loses the conversation or keeps the old name usable, a block that
/// still shows (or answers) the blocked contact's messages or lets us write to them, an
/// unblock that loses what they sent meanwhile, and a delete that leaves the contact
/// half there (a new invite from the same person refused as `already_contact`).
#[test]
fn rename_block_unblock_delete_and_add_again() {
    let net = Net::new();
    let alice_p = net.node("alice");
    let bob_p = net.node("bob").resend_after(2);
    let mut alice = alice_p.start();
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    let id = bob.send("alice", "before");
    alice.sees_message("bob", "before");
    bob.sees_delivered(&id);

    // Rename: a local name only; the conversation follows it.
    alice.cmd(json!({"cmd": "rename", "alias": "bob", "to": "robert"}));
    alice.expect("renamed", |e| {
        e["event"] == "contact_renamed" && e["alias"] == "bob" && e["to"] == "robert"
    });
    alice.cmd(json!({"cmd": "send", "to": "bob", "text": "x"}));
    assert_eq!(error_code(&mut alice), "unknown_contact");
    alice.cmd(json!({"cmd": "rename", "alias": "robert", "to": "bad\u{202e}name"}));
    assert_eq!(error_code(&mut alice), "invalid_alias");
    let id = alice.send("robert", "hi robert");
    bob.sees_message("alice", "hi robert");
    alice.sees_delivered(&id);
    bob.cmd(json!({"cmd": "history", "with": "alice"}));
    let h = bob.expect("history", |e| e["event"] == "history");
    assert_eq!(h["messages"].as_array().map(Vec::len), Some(2));
    alice.cmd(json!({"cmd": "history", "with": "robert"}));
    let h = alice.expect("history", |e| e["event"] == "history");
    assert_eq!(h["messages"].as_array().map(Vec::len), Some(2), "{h}");

    // Block: nothing shown, nothing answered, nothing sent.
    alice.cmd(json!({"cmd": "block", "alias": "robert"}));
    alice.expect("blocked", |e| {
        e["event"] == "contact_blocked" && e["blocked"] == true
    });
    let list = contacts(&mut alice);
    assert_eq!(list[0]["blocked"], true, "{list:?}");
    let during = bob.send("alice", "while blocked");
    let seen = alice.drain(Duration::from_secs(4));
    assert!(
        !seen.iter().any(|e| e["event"] == "message"),
        "a blocked contact's message was shown: {seen:?}"
    );
    assert!(
        !bob.seen
            .iter()
            .any(|e| e["event"] == "delivered" && e["id"] == during.as_str()),
        "a blocked contact's message was acknowledged"
    );
    alice.cmd(json!({"cmd": "send", "to": "robert", "text": "x"}));
    assert_eq!(error_code(&mut alice), "blocked");

    // Unblock: what bob kept sending arrives, once.
    alice.cmd(json!({"cmd": "unblock", "alias": "robert"}));
    alice.expect("unblocked", |e| {
        e["event"] == "contact_blocked" && e["blocked"] == false
    });
    alice.sees_message_anywhere("robert", "while blocked");
    bob.sees_delivered_anywhere(&during);

    // Delete (history too): gone from the list; the same person can be added again.
    alice.cmd(json!({"cmd": "delete", "alias": "robert"}));
    alice.expect("deleted", |e| {
        e["event"] == "contact_deleted" && e["alias"] == "robert"
    });
    assert!(contacts(&mut alice).is_empty());
    alice.cmd(json!({"cmd": "history", "with": "robert"}));
    assert_eq!(error_code(&mut alice), "unknown_contact");
    bob.cmd(json!({"cmd": "delete", "alias": "alice"}));
    bob.expect("deleted", |e| e["event"] == "contact_deleted");
    let code = bob.invite();
    alice.accept(&code, "bob again");
    alice.sees_session("bob again");
    let id = alice.send("bob again", "hello again");
    bob.sees_message_anywhere("alice", "hello again");
    alice.sees_delivered(&id);
    alice.cmd(json!({"cmd": "history", "with": "bob again"}));
    let h = alice.expect("history", |e| e["event"] == "history");
    assert_eq!(
        h["messages"].as_array().map(Vec::len),
        Some(1),
        "the old history was deleted: {h}"
    );
    alice.quit();
    bob.quit();
}

/// Catches a disappearing-messages timer that applies to one side only (the contact's copy
/// of the conversation outliving it), or that the contact is not told about.
#[test]
fn disappearing_timer_applies_to_both_sides() {
    let net = Net::new();
    let mut alice = net.node("alice").start();
    let mut bob = net.node("bob").start();
    connect(&mut alice, &mut bob);
    alice.cmd(json!({"cmd": "expire", "alias": "bob", "seconds": 2}));
    alice.expect("timer set", |e| {
        e["event"] == "expire_set" && e["seconds"] == 2 && e["by_contact"] == false
    });
    bob.expect("timer set by alice", |e| {
        e["event"] == "expire_set"
            && e["alias"] == "alice"
            && e["seconds"] == 2
            && e["by_contact"] == true
    });
    let id = alice.send("bob", "this will vanish");
    bob.sees_message("alice", "this will vanish");
    alice.sees_delivered(&id);
    let reply = bob.send("alice", "so will this");
    alice.sees_message("bob", "so will this");
    bob.sees_delivered(&reply);
    // Expired after 2 s; swept within 5 s more.
    std::thread::sleep(Duration::from_secs(9));
    for (node, with) in [(&mut alice, "bob"), (&mut bob, "alice")] {
        node.cmd(json!({"cmd": "history", "with": with}));
        let h = node.expect("history", |e| e["event"] == "history");
        assert_eq!(
            h["messages"].as_array().map(Vec::len),
            Some(0),
            "{}: {h}",
            node.name
        );
    }
    // Turning it off is shared too.
    bob.cmd(json!({"cmd": "expire", "alias": "alice", "seconds": null}));
    alice.expect("timer off by bob", |e| {
        e["event"] == "expire_set" && e["seconds"].is_null() && e["by_contact"] == true
    });
    alice.quit();
    bob.quit();
}
