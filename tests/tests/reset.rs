//! Session reset over real processes: a conversation broken by restoring an old backup is
//! brought back without a new invite, keeping history, alias and verification.
use cairn_tests::*;
use serde_json::json;
use std::time::Duration;

/// Catches a conversation that stays broken after one side restores an old backup (its
/// ratchet is behind: what it sends is refused, what it is sent cannot be read), a reset
/// that loses the message that waited, drops "verified" although the identity key did not
/// change, or needs a new invite.
#[test]
fn reset_brings_back_a_conversation_broken_by_an_old_backup() {
    let net = Net::new();
    let alice_p = net.node("alice");
    let bob_p = net.node("bob").resend_after(2);
    let mut alice = alice_p.start();
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    let id = bob.send("alice", "first");
    alice.sees_message("bob", "first");
    bob.sees_delivered(&id);
    alice.cmd(json!({"cmd": "verify", "alias": "bob", "confirm": true}));
    alice.expect("verified", |e| {
        e["event"] == "safety_number" && e["verified"] == true
    });

    // Bob takes a backup, then the conversation goes on for a few turns.
    bob.quit();
    let backup = net.path().join("bob-backup");
    copy_dir(&bob_p.dir, &backup);
    let mut bob = bob_p.start();
    for i in 0..3 {
        let a = alice.send("bob", &format!("turn {i} from alice"));
        bob.sees_message_anywhere("alice", &format!("turn {i} from alice"));
        alice.sees_delivered(&a);
        let b = bob.send("alice", &format!("turn {i} from bob"));
        alice.sees_message_anywhere("bob", &format!("turn {i} from bob"));
        bob.sees_delivered(&b);
    }
    // His laptop is restored from the backup: his session is behind.
    bob.quit();
    std::fs::remove_dir_all(&bob_p.dir).unwrap();
    copy_dir(&backup, &bob_p.dir);
    let mut bob = bob_p.start();
    let stuck = bob.send("alice", "after the restore");
    let seen = alice.drain(Duration::from_secs(4));
    assert!(
        !seen.iter().any(|e| e["event"] == "message"),
        "the broken session still worked, so this test shows nothing: {seen:?}"
    );

    // Bob resets the session: no invite, both sides told.
    bob.cmd(json!({"cmd": "reset", "alias": "alice"}));
    bob.expect("reset", |e| {
        e["event"] == "session_reset" && e["alias"] == "alice"
    });
    alice.sees("reset", |e| {
        e["event"] == "session_reset" && e["alias"] == "bob"
    });
    // What waited is encrypted again under the new session and arrives once.
    alice.sees_message_anywhere("bob", "after the restore");
    bob.sees_delivered_anywhere(&stuck);
    let id = alice.send("bob", "welcome back");
    bob.sees_message_anywhere("alice", "welcome back");
    alice.sees_delivered(&id);
    // History, alias and verification are kept on alice's side.
    alice.cmd(json!({"cmd": "contacts"}));
    let c = alice.expect("contacts", |e| e["event"] == "contacts");
    assert_eq!(c["contacts"][0]["alias"], "bob");
    assert_eq!(c["contacts"][0]["verified"], true, "{c}");
    alice.cmd(json!({"cmd": "history", "with": "bob"}));
    let h = alice.expect("history", |e| e["event"] == "history");
    assert_eq!(h["messages"].as_array().map(Vec::len), Some(9), "{h}");
    let shown = alice
        .seen
        .iter()
        .filter(|e| e["event"] == "message" && e["text"] == "after the restore")
        .count();
    assert_eq!(shown, 1);
    alice.quit();
    bob.quit();
}
