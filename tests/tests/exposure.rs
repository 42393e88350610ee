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
