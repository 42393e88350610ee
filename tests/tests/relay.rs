//! Relay and mailbox: delivery while the recipient is offline.
use cairn_tests::*;
use std::time::Duration;

/// Catches mail lost or duplicated through the mailbox, a sender that does not fall
/// back to the mailbox, or a recipient that does not drain it on start.
#[test]
fn offline_recipient_gets_mail_from_mailbox_exactly_once() {
    let net = Net::new();
    let relay = net.relay();
    let alice_p = net.node("alice").with_relay(&relay);
    let bob_p = net.node("bob").with_relay(&relay);
    let mut alice = alice_p.start();
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    let warm = alice.send("bob", "before");
    bob.sees_message("alice", "before");
    alice.sees_delivered(&warm);

    bob.quit();
    let ids: Vec<String> = (0..100)
        .map(|i| alice.send("bob", &format!("offline {i}")))
        .collect();
    // Every message reaches a hop (the mailbox) before the sender stops.
    for id in &ids {
        alice.sees(&format!("sent {id}"), |e| {
            e["event"] == "sent" && e["id"] == id.as_str()
        });
    }
    alice.quit();

    let mut bob = bob_p.start();
    for i in 0..100 {
        bob.sees_message_anywhere("alice", &format!("offline {i}"));
    }
    bob.drain(Duration::from_secs(2));
    let shown = bob.seen.iter().filter(|e| e["event"] == "message").count();
    assert_eq!(shown, 100, "each mailbox message shown exactly once");

    let mut alice = alice_p.start();
    for id in &ids {
        alice.sees_delivered_anywhere(id);
    }
    alice.quit();
    bob.quit();

    // The relay's data holds no name, text or key of any user, and its mailbox key is
    // wrapped under the operator's passphrase like a profile key.
    drop(relay);
    let key = std::fs::read(net.path().join("relay-data").join("mailbox.key")).unwrap();
    assert!(key.starts_with(b"CAIRNKEY"), "mailbox key protected");
    let bytes = all_bytes(&net.path().join("relay-data"));
    assert!(!bytes.is_empty());
    for needle in ["alice", "bob", "offline 7", "before"] {
        assert!(
            !contains_any_encoding(&bytes, needle.as_bytes()),
            "relay data contains {needle:?}"
        );
    }
}
