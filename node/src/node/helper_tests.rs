//! The runtime's small helpers that no simulated run can tell apart from a wrong one
//! (mutation testing's survivors, docs/FUZZING.md): which outbox entry is a handshake
//! answer to keep across a restart, and how a card's addresses and mailbox are stored.

use super::*;

/// An envelope of `kind` that decodes (its body the length of the smallest bucket).
fn envelope(kind: EnvelopeKind) -> Vec<u8> {
    (0..512)
        .map(|extra| {
            Envelope {
                kind,
                tag: RoutingTag([7; 16]),
                body: vec![0; 256 + extra],
            }
            .encode()
        })
        .find(|bytes| Envelope::decode(bytes).is_ok())
        .unwrap_or_default()
}

fn entry(seq: u64, envelope: Vec<u8>) -> OutboxEntry {
    OutboxEntry {
        message_id: MessageId([1; 16]),
        contact: ContactId([2; 32]),
        seq,
        envelope,
        attempts: 1,
        next_attempt_at_ms: 0,
        created_at_ms: 0,
    }
}

/// Would catch answers not recognised when the outbox is loaded (an inviter restarting
/// between its answer and the acceptor's first message would stop resending it), or a
/// message or receipt taken for one.
#[test]
fn only_a_control_entry_carrying_a_handshake_response_is_an_answer() {
    let answer = envelope(EnvelopeKind::HandshakeResponse);
    assert!(Envelope::decode(&answer).is_ok());
    assert!(is_answer(&entry(CONTROL_SEQ, answer.clone())));
    assert!(!is_answer(&entry(5, answer)));
    assert!(!is_answer(&entry(
        CONTROL_SEQ,
        envelope(EnvelopeKind::Message)
    )));
    assert!(!is_answer(&entry(CONTROL_SEQ, vec![1, 2, 3])));
}

/// Would catch a card's addresses or mailbox stored as anything but their text form, or
/// an undecodable one kept.
#[test]
fn card_addresses_and_mailbox_are_stored_as_text_and_junk_is_skipped() {
    let a: Multiaddr = "/ip4/192.0.2.7/tcp/4001".parse().unwrap();
    let b: Multiaddr = "/ip6/2001:db8::1/udp/4001/quic-v1".parse().unwrap();
    assert_eq!(
        addr_strings(&[a.to_vec(), vec![0xff, 0xff], b.to_vec()]),
        vec![a.to_string(), b.to_string()]
    );
    assert!(addr_strings(&[]).is_empty());
    assert_eq!(mailbox_string(Some(&a.to_vec())), Some(a.to_string()));
    assert_eq!(mailbox_string(Some(&vec![0xff])), None);
    assert_eq!(mailbox_string(None), None);
}
