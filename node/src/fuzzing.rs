//! Fuzz target bodies for the node's decoders of untrusted input, shared by the libFuzzer
//! targets in `fuzz/` and the stable replay test (`tests/tests/fuzz_replay.rs`). See
//! `docs/FUZZING.md` and `cairn_crypto::fuzzing` for the crypto targets.
//!
//! Each `fuzz_*` function never panics on its own and **panics on purpose** when an invariant
//! is violated. Not for production use.

use crate::api::{parse_command, Command, Event};
use crate::content::Content;
use crate::net::protocol::{RejectCode, Request, Response};
use crate::store::codec::{
    decode_record, encode_record, message_key, parse_message_key, MessageBody, Record,
};
use crate::store::seal::Sealer;
use crate::store::{
    Contact, ContactId, Conversation, DedupEntry, DeliveryState, Direction, GroupCopy, GroupPart,
    GroupRecord, Invite, MessageId, Meta, OutboxEntry, SecretBytes, TreeName, UsedInvite,
};
use cairn_crypto::wire::{round_trips, Codec};

mod clean;
mod files;
mod group;
mod reports;
use clean::clean_seeds;
pub use clean::fuzz_clean;
pub use group::fuzz_group;
use group::group_seeds;

/// The node targets, in the order `fuzz/run-all.sh` runs them.
#[cfg(not(feature = "sim"))]
pub const TARGETS: &[&str] = &[
    "store_record",
    "protocol",
    "content",
    "command",
    "mdns",
    "group",
    "clean",
];
/// The node targets, in the order `fuzz/run-all.sh` runs them (with the simulation).
#[cfg(feature = "sim")]
pub const TARGETS: &[&str] = &[
    "store_record",
    "protocol",
    "content",
    "command",
    "mdns",
    "group",
    "clean",
    "sim",
];

/// Input: a seed (the first 8 bytes, little-endian; zero-padded) and a configuration byte.
/// Runs a short simulation (`crate::sim`) of that seed: its configuration drawn from the
/// seed, the chaos phase cut to 5–20 s. Invariant: every invariant of the simulation's
/// oracle (exactly once, unaltered, to the right recipient, delivered only after shown,
/// everything queued shown and delivered once healed, sessions usable).
#[cfg(feature = "sim")]
pub fn fuzz_sim(data: &[u8]) {
    let mut seed = [0u8; 8];
    for (d, s) in seed.iter_mut().zip(data) {
        *d = *s;
    }
    let seed = u64::from_le_bytes(seed);
    let mut config = crate::sim::Config::from_seed(seed);
    let knob = data.get(8).copied().unwrap_or(0);
    config.chaos_ms = 5_000 + u64::from(knob % 16) * 1_000;
    config.messages = config.messages.min(20);
    if let Err(f) = crate::sim::run(seed, &config) {
        panic!("{f}");
    }
}

/// Input: `tree u8 | record`. The tree is `TreeName::ALL[tree % 13]`; the whole input also
/// goes to `parse_message_key`, and the record to the at-rest sealer (as a sealed value read
/// from disk, and as a plaintext to seal).
///
/// Invariants: a record the decoder accepts re-encodes to exactly its bytes (decode ∘ encode =
/// identity; so the decoder accepts nothing the encoder would not write); an accepted message
/// key is rebuilt byte for byte by `message_key`; a sealed value that does not open is left
/// byte for byte as it was (the tag is checked before anything is decrypted), and none opens
/// (a forgery); a sealed record opens to itself for its own tree and key only.
pub fn fuzz_store_record(data: &[u8]) {
    if let Ok((contact, seq)) = parse_message_key(data) {
        assert_eq!(
            &message_key(&contact, seq)[..],
            data,
            "message key does not round-trip"
        );
    }
    let Some((&t, bytes)) = data.split_first() else {
        return;
    };
    let trees = TreeName::ALL;
    let Some(&tree) = trees.get(usize::from(t) % trees.len()) else {
        return;
    };
    if let Ok(record) = decode_record(tree, bytes) {
        files::file_record_round_trips(&record);
        match encode_record(&record) {
            Ok(again) => assert_eq!(again, bytes, "{tree} record does not round-trip"),
            Err(e) => panic!("a decoded {tree} record does not encode: {e}"),
        }
    }
    let sealer = Sealer::new(&[7; 32]);
    let mut raw = bytes.to_vec();
    assert!(
        sealer.open_in_place(tree, b"key", &mut raw).is_err(),
        "a value not sealed by us opened"
    );
    assert_eq!(raw, bytes, "a value that did not open was changed");
    let mut sealed = sealer.seal(tree, b"key", bytes);
    let mut other = sealed.clone();
    let other_tree = trees
        .get((usize::from(t) + 1) % trees.len())
        .copied()
        .unwrap_or(tree);
    assert!(sealer
        .open_in_place(other_tree, b"key", &mut other)
        .is_err());
    assert!(sealer.open_in_place(tree, b"kex", &mut other).is_err());
    match sealer.open_in_place(tree, b"key", &mut sealed) {
        Ok(plain) => assert_eq!(&*plain, bytes, "a sealed value does not open to itself"),
        Err(e) => panic!("a sealed value does not open: {e:?}"),
    }
}

/// Input: `which u8 (even: request, odd: response) | body`.
///
/// Invariant: an accepted request or response body re-encodes to exactly the input.
pub fn fuzz_protocol(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    if which & 1 == 0 {
        round_trips::<Request>(body);
    } else {
        round_trips::<Response>(body);
    }
}

/// Input: decrypted message content. Invariant: accepted content re-encodes to the input.
pub fn fuzz_content(data: &[u8]) {
    round_trips::<Content>(data);
}

/// Input: one JSON-lines command (lossy UTF-8). Invariants: the parser never panics; an
/// accepted command serialises with serde_json and parses back to the same command; an
/// error is an `Event::Error` that serialises.
pub fn fuzz_command(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    match parse_command(&line) {
        Ok(cmd) => {
            let json = match serde_json::to_string(&cmd) {
                Ok(j) => j,
                Err(e) => panic!("a parsed command does not serialise: {e}"),
            };
            assert_eq!(
                parse_command(&json),
                Ok(cmd),
                "command does not round-trip through JSON"
            );
        }
        Err(ev) => {
            assert!(
                matches!(*ev, Event::Error { .. }),
                "parse error is not an error event"
            );
            assert!(
                serde_json::to_string(&ev).is_ok(),
                "error does not serialise"
            );
        }
    }
}

/// The contact the `mdns` target's discovery looks for (a fixed key, so seeds can name it).
pub fn mdns_contact() -> libp2p::PeerId {
    libp2p::identity::Keypair::ed25519_from_bytes([7; 32])
        .map(|k| k.public().to_peer_id())
        .unwrap_or_else(|_| libp2p::PeerId::random())
}

/// Input: `sender u8 | packet`. The packet goes to LAN discovery (`net::lan`) looking for
/// [`mdns_contact`], as if sent from `10.0.0.<sender>`, twice (a second sender too).
/// Invariants: the decoder never panics; an accepted answer has at most
/// `MAX_ANNOUNCEMENTS` peers of at most `MAX_ADDRS_PER_PEER` addresses; a rejected packet
/// leaves what discovery keeps unchanged; discovery never keeps more than `MAX_ADDRS`
/// addresses, all at the sender's IP address.
pub fn fuzz_mdns(data: &[u8]) {
    use crate::net::lan::{discovery, packet, Discovery};
    let Some((&sender, body)) = data.split_first() else {
        return;
    };
    if let Ok(packet::Packet::Response(list)) = packet::parse(body) {
        assert!(list.len() <= packet::MAX_ANNOUNCEMENTS, "too many peers");
        assert!(
            list.iter()
                .all(|a| a.addrs.len() <= packet::MAX_ADDRS_PER_PEER),
            "too many addresses"
        );
    }
    let contact = mdns_contact();
    let now = std::time::Instant::now();
    let mut d = Discovery::new(libp2p::PeerId::random());
    d.set_wanted([contact].into_iter().collect());
    for from in [sender, sender.wrapping_add(1)] {
        let ip = std::net::Ipv4Addr::new(10, 0, 0, from);
        let before = d.addresses(&contact, now);
        let result = d.on_packet(now, std::net::SocketAddr::from((ip, 5353)), body);
        let after = d.addresses(&contact, now);
        if result.is_err() {
            assert_eq!(before, after, "a rejected packet changed what is kept");
        }
        assert!(after.len() <= discovery::MAX_ADDRS, "over the bound");
        for a in &after {
            assert!(
                a.iter().any(|p| p == libp2p::multiaddr::Protocol::Ip4(ip)) || before.contains(a),
                "an address not at its sender's IP: {a}"
            );
        }
    }
}

/// Runs the node target called `name` on `data`; `false` if there is no such target.
pub fn run_target(name: &str, data: &[u8]) -> bool {
    match name {
        "store_record" => fuzz_store_record(data),
        "protocol" => fuzz_protocol(data),
        "content" => fuzz_content(data),
        "command" => fuzz_command(data),
        "mdns" => fuzz_mdns(data),
        "group" => fuzz_group(data),
        "clean" => fuzz_clean(data),
        #[cfg(feature = "sim")]
        "sim" => fuzz_sim(data),
        _ => return false,
    }
    true
}

fn with(prefix: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![prefix];
    v.extend_from_slice(bytes);
    v
}

fn tree_index(tree: TreeName) -> u8 {
    TreeName::ALL
        .iter()
        .position(|t| *t == tree)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0)
}

fn sample_records(envelope: &[u8], session: &[u8], card: &[u8]) -> Vec<(TreeName, Record)> {
    vec![
        (TreeName::Meta, Record::Meta(Meta { format: 1 })),
        (
            TreeName::Identity,
            Record::Identity(SecretBytes::new(vec![7; 32])),
        ),
        (TreeName::Identity, Record::ProfileCard(card.to_vec())),
        (
            TreeName::Contacts,
            Record::Contact(Contact {
                alias: "Ana".into(),
                identity_key: vec![7; 32],
                peer_id: vec![8; 38],
                addresses: vec![
                    "/ip4/127.0.0.1/tcp/4001".into(),
                    "/ip6/::1/udp/1/quic".into(),
                ],
                mailbox: Some("/ip4/10.0.0.1/tcp/4000".into()),
                verified: true,
                safety_number: "12345 67890 12345 67890".into(),
                added_at_ms: 1_800_000_000_000,
            }),
        ),
        (
            TreeName::Contacts,
            Record::Contact(Contact {
                alias: "Bo".into(),
                identity_key: vec![],
                peer_id: vec![],
                addresses: vec![],
                mailbox: None,
                verified: false,
                safety_number: String::new(),
                added_at_ms: 0,
            }),
        ),
        (TreeName::PeerIndex, Record::PeerIndex(ContactId([3; 32]))),
        (TreeName::TagIndex, Record::RoutingTag(ContactId([4; 32]))),
        (
            TreeName::Sessions,
            Record::Session(SecretBytes::new(session.to_vec())),
        ),
        (
            TreeName::Conversations,
            Record::Conversation(Conversation {
                next_seq: 9,
                disappear_after_ms: Some(86_400_000),
                has_expiring: true,
                delivered: vec![(0, 3), (5, 9)],
            }),
        ),
        (
            TreeName::Conversations,
            Record::Conversation(Conversation {
                next_seq: 0,
                disappear_after_ms: None,
                has_expiring: false,
                delivered: Vec::new(),
            }),
        ),
        (
            TreeName::Messages,
            Record::Message(MessageBody {
                id: MessageId([5; 16]),
                direction: Direction::Outgoing,
                text: "héllo 👋".into(),
                created_at_ms: 1,
                received_at_ms: None,
                sent_at_ms: Some(2),
                delivered_at_ms: Some(3),
                state: DeliveryState::Delivered,
                expires_at_ms: Some(4),
                group: None,
            }),
        ),
        (
            TreeName::Messages,
            Record::Message(MessageBody {
                id: MessageId([6; 16]),
                direction: Direction::Incoming,
                text: String::new(),
                created_at_ms: 10,
                received_at_ms: Some(11),
                sent_at_ms: None,
                delivered_at_ms: None,
                state: DeliveryState::Received,
                expires_at_ms: None,
                group: None,
            }),
        ),
        (
            TreeName::Outbox,
            Record::Outbox(OutboxEntry {
                message_id: MessageId([6; 16]),
                contact: ContactId([1; 32]),
                seq: 3,
                envelope: envelope.to_vec(),
                attempts: 2,
                next_attempt_at_ms: 77,
                created_at_ms: 70,
            }),
        ),
        (
            TreeName::Outbox,
            Record::OutboxBatch(
                (0..3u8)
                    .map(|i| OutboxEntry {
                        message_id: MessageId([i; 16]),
                        contact: ContactId([1; 32]),
                        seq: 10 + u64::from(i),
                        envelope: envelope.to_vec(),
                        attempts: 0,
                        next_attempt_at_ms: 80,
                        created_at_ms: 79,
                    })
                    .collect(),
            ),
        ),
        (
            TreeName::Dedup,
            Record::Dedup(DedupEntry {
                received_at_ms: 8,
                contact: ContactId([2; 32]),
                seq: 1,
            }),
        ),
        (
            TreeName::Invites,
            Record::Invite(Invite {
                created_at_ms: 1,
                expires_at_ms: 2,
                payload: SecretBytes::new(vec![1; 112]),
            }),
        ),
        (
            TreeName::Invites,
            Record::UsedInvite(UsedInvite {
                expires_at_ms: 2,
                first_message: [3; 32],
                contact: ContactId([1; 32]),
            }),
        ),
        (TreeName::Settings, Record::Setting(b"on".to_vec())),
        (
            TreeName::Groups,
            Record::Group(GroupRecord {
                id: [7; 16],
                clock: 12,
                log: vec![1, 2, 3],
            }),
        ),
        (
            TreeName::Messages,
            Record::Message(MessageBody {
                id: MessageId([8; 16]),
                direction: Direction::Outgoing,
                text: "to the desk".into(),
                created_at_ms: 1,
                received_at_ms: None,
                sent_at_ms: None,
                delivered_at_ms: None,
                state: DeliveryState::Queued,
                expires_at_ms: None,
                group: Some(GroupPart::Message {
                    clock: 3,
                    author: [9; 32],
                    copies: vec![GroupCopy {
                        contact: ContactId([1; 32]),
                        seq: 4,
                        id: MessageId([10; 16]),
                    }],
                }),
            }),
        ),
        (
            TreeName::Messages,
            Record::Message(MessageBody {
                id: MessageId([10; 16]),
                direction: Direction::Outgoing,
                text: String::new(),
                created_at_ms: 1,
                received_at_ms: None,
                sent_at_ms: None,
                delivered_at_ms: None,
                state: DeliveryState::Queued,
                expires_at_ms: None,
                group: Some(GroupPart::Copy {
                    content: vec![1, 6, 0],
                    origin: Some((ContactId([2; 32]), 5)),
                }),
            }),
        ),
    ]
}

/// Valid inputs for each node target, made from real encodings (records, requests and
/// responses carrying real envelopes from `cairn_crypto::fuzzing::seed_corpus`, content,
/// every command): `(target, input)`.
pub fn seed_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let crypto = cairn_crypto::fuzzing::seed_corpus();
    let pick = |t: &str| -> Vec<Vec<u8>> {
        crypto
            .iter()
            .filter(|(n, _)| *n == t)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let envelopes = pick("envelope");
    let sessions = pick("session_state");
    let cards = pick("card");
    let first = |v: &[Vec<u8>]| v.first().cloned().unwrap_or_default();
    let (env, session, card) = (first(&envelopes), first(&sessions), first(&cards));
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();

    for (tree, rec) in sample_records(&env, &session, &card)
        .into_iter()
        .chain(files::file_records())
        .chain(reports::report_records())
    {
        if let Ok(bytes) = encode_record(&rec) {
            out.push(("store_record", with(tree_index(tree), &bytes)));
        }
    }
    out.push((
        "store_record",
        message_key(&ContactId([9; 32]), 42).to_vec(),
    ));

    let mut requests = vec![
        Request::MailboxFetch(vec![[1; 32], [2; 32]]),
        Request::MailboxFetch(vec![[3; 32]; 57]),
        Request::MailboxAck {
            key: [3; 32],
            ids: vec![[4; 16], [5; 16]],
        },
        Request::MailboxAck {
            key: [3; 32],
            ids: vec![],
        },
    ];
    for e in envelopes.iter().take(3) {
        requests.push(Request::Deliver(e.clone()));
        requests.push(Request::MailboxPut(e.clone()));
    }
    requests.push(Request::DeliverBatch(
        envelopes.iter().take(3).cloned().collect(),
    ));
    requests.push(Request::MailboxPutBatch(
        envelopes.iter().take(3).cloned().collect(),
    ));
    for r in &requests {
        out.push(("protocol", with(0, &r.encode())));
    }
    let mut responses = vec![
        Response::Accepted,
        Response::Results(vec![None, Some(RejectCode::TryLater), None]),
        Response::Acked(3),
        Response::Mail(vec![]),
        Response::Mail(
            envelopes
                .iter()
                .take(3)
                .enumerate()
                .map(|(i, e)| ([i as u8; 16], e.clone()))
                .collect(),
        ),
    ];
    for code in [
        RejectCode::Malformed,
        RejectCode::NotAccepted,
        RejectCode::QuotaExceeded,
        RejectCode::Unsupported,
        RejectCode::TryLater,
    ] {
        responses.push(Response::Rejected(code));
    }
    for r in &responses {
        out.push(("protocol", with(1, &r.encode())));
    }

    let mut contents = vec![
        Content::Text {
            id: [1; 16],
            sent_at_ms: 1_800_000_000_000,
            text: "hello, are you safe?".into(),
        },
        Content::Text {
            id: [2; 16],
            sent_at_ms: 0,
            text: String::new(),
        },
        Content::Text {
            id: [3; 16],
            sent_at_ms: 5,
            text: "Привет — مرحبا — 你好 🌍".into(),
        },
        Content::Receipt(vec![[4; 16]]),
        Content::Receipt(vec![[5; 16], [6; 16], [7; 16]]),
        Content::Timer {
            set_at_ms: 1_800_000_000_000,
            seconds: Some(3600),
        },
        Content::Timer {
            set_at_ms: 1,
            seconds: None,
        },
        Content::Protocol(2),
        Content::Group {
            copy: [8; 16],
            group: crate::group::GroupId([9; 16]),
            body: crate::group::wire::GroupBody::Text {
                clock: 3,
                id: [10; 16],
                sent_at_ms: 1_800_000_000_000,
                text: "to the desk".into(),
            },
        },
    ];
    contents.push(Content::Introduction {
        copy: [13; 16],
        intros: vec![crate::intro::Introduction {
            id: [14; 16],
            role: crate::intro::Role::Start,
            expires_at: 1_800_000_000,
            group: Some(crate::group::GroupId([15; 16])),
            peer: cairn_crypto::IdentityPublicKey::from_bytes([16; 32]),
            secret: cairn_crypto::InviteSecret::from_bytes([17; 32]),
            card: cairn_crypto::ProfileCard {
                display_name: crate::intro::CARD_NAME.into(),
                peer_id: vec![18; 38],
                addrs: vec![vec![4, 127, 0, 0, 1, 6, 0x0f, 0xa1]],
                mailbox: None,
            },
        }],
    });
    for ops in group_seeds() {
        // The group target's seeds are framed ops: each makes a membership part.
        let mut r = cairn_crypto::wire::Reader::new(&ops);
        let mut part = Vec::new();
        while let Ok(bytes) = r.bytes_u8(usize::from(u8::MAX)) {
            if let Ok(op) = crate::group::Op::from_wire(bytes) {
                part.push(op);
            }
        }
        part.sort_by_key(|op| op.stamp);
        part.dedup_by_key(|op| op.stamp);
        if !part.is_empty() {
            contents.push(Content::Group {
                copy: [11; 16],
                group: crate::group::GroupId([12; 16]),
                body: crate::group::wire::GroupBody::Ops(part),
            });
        }
    }
    for c in &cards {
        if let Ok(card) = cairn_crypto::ProfileCard::from_bytes(c) {
            contents.push(Content::Card(card));
        }
    }
    contents.extend(files::file_contents());
    for c in &contents {
        if let Ok(bytes) = c.encode() {
            out.push(("content", bytes));
        }
    }

    out.extend(group_seeds().into_iter().map(|v| ("group", v)));
    out.extend(clean_seeds().into_iter().map(|v| ("clean", v)));

    let invite_code = crypto
        .iter()
        .find(|(n, v)| *n == "invite" && v.first() == Some(&0))
        .and_then(|(_, v)| v.get(1..))
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let commands = [
        Command::Invite {
            ttl_secs: None,
            for_contact: None,
        },
        Command::Invite {
            ttl_secs: Some(3600),
            for_contact: None,
        },
        Command::Invite {
            ttl_secs: None,
            for_contact: Some("bob".into()),
        },
        Command::Accept {
            code: invite_code,
            alias: "bob".into(),
        },
        Command::Send {
            to: "bob".into(),
            text: "hi \"there\"\n\u{1f44b}".into(),
            client_ref: None,
        },
        Command::Send {
            to: "bob".into(),
            text: "x".into(),
            client_ref: Some("tui-7".into()),
        },
        Command::Rename {
            alias: "bob".into(),
            to: "robert".into(),
        },
        Command::Reset {
            alias: "bob".into(),
            code: None,
        },
        Command::Reset {
            alias: "bob".into(),
            code: Some("CAIRN:AAAA".into()),
        },
        Command::Block {
            alias: "bob".into(),
        },
        Command::Unblock {
            alias: "bob".into(),
        },
        Command::Delete {
            alias: "bob".into(),
            keep_history: true,
        },
        Command::Contacts,
        Command::History {
            with: "bob".into(),
            limit: Some(10),
        },
        Command::History {
            with: "bob".into(),
            limit: None,
        },
        Command::Verify {
            alias: "bob".into(),
            confirm: true,
        },
        Command::Expire {
            alias: "bob".into(),
            seconds: Some(60),
        },
        Command::Expire {
            alias: "bob".into(),
            seconds: None,
        },
        Command::Status,
        Command::Wipe {
            confirm: "WIPE".into(),
        },
        Command::Quit,
    ];
    for c in &commands {
        if let Ok(j) = serde_json::to_string(c) {
            out.push(("command", j.into_bytes()));
        }
    }
    for bad in [
        r#"{"cmd":"send"}"#,
        r#"{"cmd":"dance"}"#,
        r#"{"to":"x"}"#,
        r#"[1,2]"#,
        r#"{"cmd":"history","with":"a","limit":-1}"#,
        r#"{"cmd":"quit","extra":1}"#,
        "{",
    ] {
        out.push(("command", bad.as_bytes().to_vec()));
    }

    // LAN discovery: an answer for the contact (ours, then at several ports), a query, an
    // answer for a stranger.
    let contact = mdns_contact();
    let addrs: Vec<libp2p::Multiaddr> =
        ["/ip4/10.0.0.5/tcp/4001", "/ip4/10.0.0.5/udp/4001/quic-v1"]
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
    let many: Vec<libp2p::Multiaddr> = (1..12u16)
        .filter_map(|p| format!("/ip4/10.0.0.5/tcp/{p}").parse().ok())
        .collect();
    for (peer, a) in [
        (contact, &addrs),
        (contact, &many),
        (
            libp2p::identity::Keypair::ed25519_from_bytes([8; 32])
                .map(|k| k.public().to_peer_id())
                .unwrap_or(contact),
            &addrs,
        ),
    ] {
        if let Ok(p) = crate::net::lan::packet::response(&peer, a, 120, "seed") {
            out.push(("mdns", with(5, &p)));
        }
    }
    if let Ok(q) = crate::net::lan::packet::query() {
        out.push(("mdns", with(5, &q)));
    }
    #[cfg(feature = "sim")]
    for (seed, knob) in [(1u64, 0u8), (4, 3), (7, 9)] {
        let mut v = seed.to_le_bytes().to_vec();
        v.push(knob);
        out.push(("sim", v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a seed that fails its own target and a target not wired to its name.
    #[test]
    fn seeds_pass_their_targets() {
        let seeds = seed_corpus();
        for t in TARGETS {
            assert!(seeds.iter().any(|(n, _)| n == t), "no seed for {t}");
        }
        for (t, input) in seeds {
            assert!(run_target(t, &input), "{t}");
        }
    }

    /// Catches seeds that the decoders reject (they would not reach the round-trip checks).
    #[test]
    fn seeds_are_accepted() {
        for (t, input) in seed_corpus() {
            let accepted = match t {
                "store_record" => {
                    let tree = TreeName::ALL[usize::from(input[0]) % TreeName::ALL.len()];
                    decode_record(tree, &input[1..]).is_ok() || parse_message_key(&input).is_ok()
                }
                "protocol" if input[0] == 0 => Request::decode(&input[1..]).is_ok(),
                "protocol" => Response::decode(&input[1..]).is_ok(),
                "content" => Content::decode(&input).is_ok(),
                "mdns" => crate::net::lan::packet::parse(&input[1..]).is_ok(),
                _ => continue,
            };
            assert!(accepted, "{t} seed rejected");
        }
    }
}
