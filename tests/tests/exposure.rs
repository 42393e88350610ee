//! What a node reveals about where it is (docs/THREAT_MODEL.md §6.6), checked on real
//! processes: the addresses its invites carry.
use cairn_crypto::invite::Invite;
use cairn_tests::*;
use serde_json::{json, Value};

fn invite_event(node: &mut Node) -> Value {
    node.cmd(json!({"cmd": "invite"}));
    node.expect("invite", |e| e["event"] == "invite")
}

/// The addresses a code carries, decoded from the code itself (not from what the event
/// says of it).
fn carried(code: &str) -> Vec<String> {
    let invite = Invite::decode_ignoring_expiry(code).expect("the code decodes");
    invite
        .addrs
        .iter()
        .filter_map(|a| libp2p::Multiaddr::try_from(a.clone()).ok())
        .map(|a| a.to_string())
        .collect()
}

/// Catches an invite that carries the node's loopback address outside LAN mode and
/// `--private-addresses` (whoever holds the code learns the user's local networks, and a
/// contact outside LAN mode would never dial them anyway), an `invite` event that says
/// otherwise than the code, and the same node's local addresses dropped where they are asked
/// for (several nodes on one machine, `--private-addresses`).
#[test]
fn invites_carry_local_addresses_only_where_asked() {
    let net = Net::new();
    let relay = net.relay();
    let mut public = net.node("public").public_only().with_relay(&relay).start();
    let e = invite_event(&mut public);
    let code = e["code"].as_str().expect("code");
    let own: Vec<String> = carried(code)
        .into_iter()
        .filter(|a| !a.contains("/p2p-circuit"))
        .collect();
    assert!(
        own.is_empty(),
        "outside LAN mode the invite carries local addresses: {own:?}"
    );
    assert_eq!(
        e["addresses"],
        json!(carried(code)),
        "the event says what the code carries"
    );
    assert!(
        e["relay"].as_str().is_some_and(|r| r.contains("/p2p/")),
        "the event names the relay the code carries: {e}"
    );

    let mut private = net.node("private").start();
    let e = invite_event(&mut private);
    let addrs = carried(e["code"].as_str().expect("code"));
    assert!(
        addrs.iter().any(|a| a.starts_with("/ip4/127.0.0.1/")),
        "with --private-addresses the loopback address is carried: {addrs:?}"
    );
    assert_eq!(e["addresses"], json!(addrs));
    assert_eq!(e["relay"], Value::Null);
    public.quit();
    private.quit();
}

/// The IPs of a report line's addresses list ("…: 127.0.0.1, …").
fn exposure_of(node: &mut Node) -> Vec<Value> {
    node.cmd(json!({"cmd": "exposure"}));
    let e = node.expect("exposure", |e| e["event"] == "exposure");
    e["parties"].as_array().cloned().expect("parties")
}

fn party<'a>(parties: &'a [Value], starts: &str) -> &'a Value {
    parties
        .iter()
        .find(|p| p["who"].as_str().is_some_and(|w| w.starts_with(starts)))
        .unwrap_or_else(|| panic!("no party {starts:?} in {parties:?}"))
}

/// Catches an exposure report that is not computed from the node's reality: a contact or
/// its relay left out, the addresses it says a contact (and an invite) gets differing from
/// those a real invite carries, a relay in use not named, a LAN mode it does not have, a
/// message count off, the report not following a change (a new contact, a timer set), and
/// `cairn exposure` not printing the same report.
#[test]
fn the_exposure_report_says_what_the_node_really_reveals() {
    let net = Net::new();
    let relay = net.relay();
    let alice_p = net.node("alice").with_relay(&relay);
    let mut alice = alice_p.start();
    let mut bob = net.node("bob").start();
    let before = exposure_of(&mut alice);
    assert!(
        !before.iter().any(|p| p["who"]
            .as_str()
            .unwrap_or_default()
            .starts_with("your contact ")),
        "a contact before there is one: {before:?}"
    );
    connect(&mut alice, &mut bob);
    let id = alice.send("bob", "hello");
    bob.sees_message("alice", "hello");
    alice.sees_delivered(&id);

    let parties = exposure_of(&mut alice);
    // What a contact and an invite holder get, against what a real invite carries.
    let code = alice.invite();
    let ips: Vec<String> = carried(&code)
        .iter()
        .filter(|a| !a.contains("/p2p-circuit"))
        .filter_map(|a| a.split('/').nth(2).map(str::to_owned))
        .collect();
    assert!(
        !ips.is_empty(),
        "with --private-addresses the invite carries the loopback"
    );
    let bob_party = party(&parties, "your contact bob");
    let card = bob_party["learns"][0].as_str().unwrap();
    for ip in &ips {
        assert!(card.contains(ip.as_str()), "{card:?} does not name {ip}");
    }
    assert!(card.contains("your relay 127.0.0.1"), "{card:?}");
    assert_eq!(
        bob_party["reduce"], "set disappearing messages with bob (/expire)",
        "no timer is set with bob"
    );
    assert!(party(&parties, "your relay (127.0.0.1)")["learns"][0]
        .as_str()
        .unwrap()
        .contains("IP address"));
    assert!(party(&parties, "a LAN neighbour")["learns"][0]
        .as_str()
        .unwrap()
        .contains("LAN mode is off"));
    let thief = party(&parties, "someone who takes your device");
    assert!(
        thief["learns"][1]
            .as_str()
            .unwrap()
            .contains("1 contact(s), 1 message(s) kept"),
        "{thief}"
    );

    // A change shows at once: a timer with bob.
    alice.cmd(json!({"cmd": "expire", "alias": "bob", "seconds": 3600}));
    alice.expect("expire_set", |e| e["event"] == "expire_set");
    let parties = exposure_of(&mut alice);
    let bob_party = party(&parties, "your contact bob");
    assert!(bob_party["learns"][2]
        .as_str()
        .unwrap()
        .contains("for 1 hour"));
    assert!(
        party(&parties, "someone holding one of your old invites")["learns"][0]
            .as_str()
            .unwrap()
            .starts_with("1 invite(s) still open")
    );

    // `cairn exposure` prints the same report.
    alice.quit();
    let text = alice_p.exposure();
    assert!(text.contains("Your contact bob"), "{text}");
    assert!(text.contains("Your relay (127.0.0.1)"), "{text}");
    assert!(text.contains("→ to reduce it:"), "{text}");
    bob.quit();
}
