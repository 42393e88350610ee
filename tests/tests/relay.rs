//! Relay and mailbox: delivery while the recipient is offline.
use cairn_tests::*;
use std::time::Duration;

/// Starts both, sets up their contact and has one message delivered: both are known to
/// work before the test takes something away.
fn start_and_talk(alice: &Profile, bob: &Profile) -> (Node, Node) {
    let mut alice = alice.start();
    let mut bob = bob.start();
    connect(&mut alice, &mut bob);
    let warm = alice.send("bob", "before");
    bob.sees_message("alice", "before");
    alice.sees_delivered(&warm);
    (alice, bob)
}

/// Catches mail lost or duplicated through the mailbox, a sender that does not fall
/// back to the mailbox, or a recipient that does not drain it on start.
#[test]
fn offline_recipient_gets_mail_from_mailbox_exactly_once() {
    let net = Net::new();
    let relay = net.relay();
    let alice_p = net.node("alice").with_relay(&relay);
    let bob_p = net.node("bob").with_relay(&relay);
    let (mut alice, bob) = start_and_talk(&alice_p, &bob_p);

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

/// Catches a message that stays "sent" for ever because its receipt was lost after a hop
/// took it: the recipient has the message, so the old envelope is only a replay to it and is
/// never acknowledged. The sender must encrypt the message again when no receipt comes
/// (`--resend-after`), and the recipient must acknowledge without showing it twice.
#[test]
fn lost_receipt_is_recovered_by_encrypting_again() {
    let net = Net::new();
    let mut relay = net.relay();
    let alice_p = net.node("alice").with_relay(&relay).resend_after(2);
    let bob_p = net.node("bob").with_relay(&relay);
    let (mut alice, bob) = start_and_talk(&alice_p, &bob_p);

    // The message reaches the mailbox while bob is away; alice leaves too.
    bob.quit();
    let id = alice.send("bob", "whose receipt is lost");
    alice.sees(&format!("sent {id}"), |e| {
        e["event"] == "sent" && e["id"] == id.as_str()
    });
    alice.quit();
    // Bob gets it from the mailbox; his receipt goes to alice's mailbox (she is away).
    let mut bob = bob_p.start();
    bob.sees_message_anywhere("alice", "whose receipt is lost");
    bob.drain(Duration::from_secs(5));
    bob.quit();
    // The mailbox loses everything it held (an operator's cleanup, or expiry).
    relay.restart(&net, |data| {
        std::fs::remove_dir_all(data.join("mailbox.db")).expect("mailbox db");
    });

    let mut bob = bob_p.start();
    let mut alice = alice_p.start();
    alice.sees_delivered_anywhere(&id);
    bob.drain(Duration::from_secs(2));
    assert!(
        !bob.seen.iter().any(|e| e["event"] == "message"),
        "a message shown twice: {:?}",
        bob.seen
    );
    // Sent again only until the receipt came: nothing more is sent or delivered later.
    let later = alice.drain(Duration::from_secs(5));
    assert!(
        !later
            .iter()
            .any(|e| e["event"] == "sent" || e["event"] == "error"),
        "{later:?}"
    );
    alice.quit();
    bob.quit();
}

/// Catches a contact left "being set up" for ever because the inviter's answer was lost in
/// the acceptor's mailbox: the inviter has used up the invite, so the acceptor's repeated
/// first handshake message cannot bring a new answer. The inviter must keep its answer until
/// it hears from the acceptor and send it again; the two then talk, each set up once.
#[test]
fn lost_handshake_answer_is_sent_again() {
    let net = Net::new();
    let mut relay = net.relay();
    let alice_p = net.node("alice").with_relay(&relay).resend_after(2);
    let bob_p = net.node("bob").with_relay(&relay).resend_after(2);

    // Alice invites and leaves: bob's first handshake message waits in her mailbox.
    let mut alice = alice_p.start();
    let code = alice.invite();
    alice.quit();
    let mut bob = bob_p.start();
    bob.accept(&code, "alice");
    bob.drain(Duration::from_secs(3));
    bob.quit();
    // Alice answers from her mailbox while bob is away: the answer goes to his mailbox...
    let mut alice = alice_p.start();
    alice.sees_session("bob");
    alice.drain(Duration::from_secs(3));
    alice.quit();
    // ...which loses it.
    relay.restart(&net, |data| {
        std::fs::remove_dir_all(data.join("mailbox.db")).expect("mailbox db");
    });

    let mut alice = alice_p.start();
    let mut bob = bob_p.start();
    bob.sees_session("alice");
    let id = bob.send("alice", "set up after all");
    alice.sees_message("bob", "set up after all");
    bob.sees_delivered(&id);
    let hello = alice.send("bob", "and back");
    bob.sees_message("alice", "and back");
    alice.sees_delivered(&hello);
    bob.drain(Duration::from_secs(2));
    let alice_later = alice.drain(Duration::from_secs(2));
    // Set up once on each side, and nothing refused.
    assert!(
        !alice_later
            .iter()
            .chain(alice.seen.iter())
            .any(|e| e["event"] == "session_established" || e["event"] == "error"),
        "alice: {alice_later:?} {:?}",
        alice.seen
    );
    let bob_sessions = bob
        .seen
        .iter()
        .filter(|e| e["event"] == "session_established")
        .count();
    assert_eq!(bob_sessions, 1, "{:?}", bob.seen);
    assert!(
        !bob.seen.iter().any(|e| e["event"] == "error"),
        "{:?}",
        bob.seen
    );
    alice.quit();
    bob.quit();
}
