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

/// The one-contact listing of `n`, and `n`'s history with `with` (texts in order).
/// The entry of `alias` in a `contacts` list.
fn contact_entry<'a>(contacts: &'a serde_json::Value, alias: &str) -> &'a serde_json::Value {
    contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["alias"] == alias)
        .unwrap()
}

fn contact_and_history(n: &mut Node, with: &str) -> (serde_json::Value, Vec<String>) {
    n.cmd(json!({"cmd": "contacts"}));
    let c = n.expect("contacts", |e| e["event"] == "contacts");
    n.cmd(json!({"cmd": "history", "with": with}));
    let h = n.expect("history", |e| e["event"] == "history");
    let texts = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    (c["contacts"].clone(), texts)
}

/// Catches a contact who lost their identity key (a new device) that can only come back
/// as a stranger (a second contact, history split, "verified" carried over to a key
/// nobody compared), or a re-key that loses history or does not warn — through an invite
/// made for the contact (`invite for`) and through one accepted for it (`reset ALIAS CODE`);
/// an invite's binding to the contact lost in a restart, or a message that waited for the
/// old device not carried over to the new one.
#[test]
fn rekey_with_a_new_device_keeps_history_and_drops_verified() {
    let net = Net::new();
    let alice_profile = net.node("alice");
    let mut alice = alice_profile.start();
    let mut bob = net.node("bob").start();
    connect(&mut alice, &mut bob);
    let id = bob.send("alice", "from the old phone");
    alice.sees_message("bob", "from the old phone");
    bob.sees_delivered(&id);
    alice.cmd(json!({"cmd": "verify", "alias": "bob", "confirm": true}));
    alice.expect("verified", |e| {
        e["event"] == "safety_number" && e["verified"] == true
    });
    alice.cmd(json!({"cmd": "verify", "alias": "bob"}));
    let before = alice.expect("safety number", |e| e["event"] == "safety_number");

    // Bob's phone is lost; his new one has a new identity key. Alice invites it for bob —
    // and restarts before it is used (the invite stays bound to bob), then writes to bob,
    // which waits under the old session until the re-key carries it to the new device.
    bob.quit();
    let mut bob_new = net.node("bob-new").start();
    alice.cmd(json!({"cmd": "invite", "for": "bob"}));
    let code = alice.expect("invite", |e| e["event"] == "invite")["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let plain = alice.invite();
    alice.quit();
    let mut alice = alice_profile.start();
    // An ordinary invite made before the restart stays ordinary: whoever uses it is a new
    // contact, not bob's new device.
    let mut carol = net.node("carol").start();
    carol.accept(&plain, "alice");
    carol.sees_session("alice");
    alice.sees("carol added", |e| {
        e["event"] == "contact_added" && e["alias"] == "carol"
    });
    carol.quit();
    alice.send("bob", "while you were away");
    bob_new.accept(&code, "alice");
    bob_new.sees_session("alice");
    alice.sees("re-key", |e| {
        e["event"] == "session_reset" && e["alias"] == "bob" && e["identity_changed"] == true
    });
    bob_new.sees_message_anywhere("alice", "while you were away");
    let id = bob_new.send("alice", "from the new phone");
    alice.sees_message_anywhere("bob", "from the new phone");
    bob_new.sees_delivered(&id);
    let id = alice.send("bob", "welcome back");
    bob_new.sees_message_anywhere("alice", "welcome back");
    alice.sees_delivered(&id);
    let (contacts, texts) = contact_and_history(&mut alice, "bob");
    let aliases: Vec<&str> = contacts
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["alias"].as_str().unwrap())
        .collect();
    assert_eq!(aliases.len(), 2, "no second bob: {contacts}");
    assert!(
        aliases.contains(&"bob") && aliases.contains(&"carol"),
        "{contacts}"
    );
    let bob_entry = contact_entry(&contacts, "bob");
    assert_eq!(
        bob_entry["verified"], false,
        "a new key nobody compared: {contacts}"
    );
    assert_eq!(
        texts,
        [
            "from the old phone",
            "while you were away",
            "from the new phone",
            "welcome back"
        ]
    );
    alice.cmd(json!({"cmd": "verify", "alias": "bob"}));
    let after = alice.expect("safety number", |e| e["event"] == "safety_number");
    assert_ne!(before["digits"], after["digits"], "{before} {after}");

    // It happens again; this time bob's newest device invites alice, who accepts it for bob.
    bob_new.quit();
    let mut bob_3 = net.node("bob-3").start();
    let code = bob_3.invite();
    alice.cmd(json!({"cmd": "reset", "alias": "bob", "code": code}));
    alice.expect("re-key", |e| {
        e["event"] == "session_reset" && e["alias"] == "bob" && e["identity_changed"] == true
    });
    bob_3.sees_session("alice");
    let id = alice.send("bob", "third phone?");
    bob_3.sees_message_anywhere("alice", "third phone?");
    alice.sees_delivered(&id);
    let id = bob_3.send("alice", "third phone.");
    alice.sees_message_anywhere("bob", "third phone.");
    bob_3.sees_delivered(&id);
    let (contacts, texts) = contact_and_history(&mut alice, "bob");
    assert_eq!(contacts.as_array().unwrap().len(), 2, "{contacts}");
    assert_eq!(texts.len(), 6, "{texts:?}");
    let errors: Vec<_> = alice
        .seen
        .iter()
        .filter(|e| e["event"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    alice.quit();
    bob_3.quit();
}

/// Catches a re-key that would merge two contacts or a contact with oneself: `reset ALIAS
/// CODE` with one's own invite (`own_invite`) or another contact's (`already_contact`), and an
/// invite made for one contact's new device that another contact uses (`already_contact` on
/// the inviter's side; the contact it was made for keeps its key, "verified" and
/// conversation).
#[test]
fn rekey_never_merges_two_contacts() {
    let net = Net::new();
    let mut alice = net.node("alice").start();
    let mut bob = net.node("bob").start();
    let mut carol = net.node("carol").start();
    connect(&mut alice, &mut bob);
    connect(&mut alice, &mut carol);
    alice.cmd(json!({"cmd": "verify", "alias": "bob", "confirm": true}));
    alice.expect("verified", |e| {
        e["event"] == "safety_number" && e["verified"] == true
    });
    alice.cmd(json!({"cmd": "verify", "alias": "bob"}));
    let before = alice.expect("safety number", |e| e["event"] == "safety_number");

    let own = alice.invite();
    alice.cmd(json!({"cmd": "reset", "alias": "bob", "code": own}));
    alice.expect("own invite refused", |e| {
        e["event"] == "error" && e["code"] == "own_invite"
    });
    let carols = carol.invite();
    alice.cmd(json!({"cmd": "reset", "alias": "bob", "code": carols}));
    alice.expect("another contact's invite refused", |e| {
        e["event"] == "error" && e["code"] == "already_contact"
    });

    // An invite for bob's new device, used by carol (an existing contact) as a re-key.
    alice.cmd(json!({"cmd": "invite", "for": "bob"}));
    let code = alice.expect("invite", |e| e["event"] == "invite")["code"]
        .as_str()
        .unwrap()
        .to_owned();
    carol.cmd(json!({"cmd": "reset", "alias": "alice", "code": code}));
    alice.expect("used by another contact", |e| {
        e["event"] == "error" && e["code"] == "already_contact"
    });
    let (contacts, texts) = contact_and_history(&mut alice, "bob");
    assert_eq!(contacts.as_array().unwrap().len(), 2, "{contacts}");
    let bob_entry = contact_entry(&contacts, "bob");
    assert_eq!(bob_entry["verified"], true, "{contacts}");
    assert!(texts.is_empty(), "{texts:?}");
    alice.cmd(json!({"cmd": "verify", "alias": "bob"}));
    let after = alice.expect("safety number", |e| e["event"] == "safety_number");
    assert_eq!(before["digits"], after["digits"], "bob's key did not move");
    assert!(
        !alice.seen.iter().any(|e| e["event"] == "session_reset"),
        "nothing was re-keyed"
    );
    let id = alice.send("bob", "still you?");
    bob.sees_message("alice", "still you?");
    alice.sees_delivered(&id);
    alice.quit();
    bob.quit();
    carol.quit();
}
