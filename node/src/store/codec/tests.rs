//! Tests of the record codec.

/// Catches a record holding secrets whose buffer grows while it is written (each
/// reallocation leaves a copy of the keys in freed memory): its capacity must still be
/// the one it was allocated with.
#[test]
fn secret_records_are_written_without_reallocation() {
    use super::*;
    let big = SecretBytes::new(vec![7; 150_000]);
    let records = [
        Record::Identity(SecretBytes::new(vec![1; 32])),
        Record::Session(big.clone()),
        Record::Setting(vec![3; 5000]),
        Record::Invite(Invite {
            payload: SecretBytes::new(vec![9; 112]),
            expires_at_ms: 1,
            created_at_ms: 2,
        }),
    ];
    for r in &records {
        let v = encode_record(r).unwrap();
        assert_eq!(v.capacity(), capacity_hint(r) + 2, "{:?}", r.tag());
        assert!(v.len() <= v.capacity());
    }
}

use super::*;
use proptest::prelude::*;

fn sample_records() -> Vec<(TreeName, Record)> {
    vec![
        (TreeName::Meta, Record::Meta(Meta { format: 1 })),
        (
            TreeName::Identity,
            Record::Identity(SecretBytes::new(vec![1, 2, 3])),
        ),
        (TreeName::Identity, Record::ProfileCard(vec![9; 10])),
        (
            TreeName::Contacts,
            Record::Contact(Contact {
                alias: "Ana".into(),
                identity_key: vec![7; 32],
                peer_id: vec![8; 38],
                addresses: vec!["/ip4/127.0.0.1/tcp/1".into(), "/ip6/::1/tcp/2".into()],
                mailbox: Some("relay".into()),
                verified: true,
                safety_number: "12345 67890".into(),
                added_at_ms: 42,
            }),
        ),
        (TreeName::PeerIndex, Record::PeerIndex(ContactId([3; 32]))),
        (TreeName::TagIndex, Record::RoutingTag(ContactId([4; 32]))),
        (
            TreeName::Sessions,
            Record::Session(SecretBytes::new(vec![4; 100])),
        ),
        (
            TreeName::Conversations,
            Record::Conversation(Conversation {
                next_seq: 9,
                disappear_after_ms: Some(1000),
                has_expiring: true,
                delivered: vec![(0, 2), (4, 5), (7, 9)],
            }),
        ),
        (
            TreeName::Messages,
            Record::Message(MessageBody {
                id: MessageId([5; 16]),
                direction: Direction::Outgoing,
                text: "héllo".into(),
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
            TreeName::Outbox,
            Record::Outbox(OutboxEntry {
                message_id: MessageId([6; 16]),
                contact: ContactId([1; 32]),
                seq: 3,
                envelope: vec![0xee; 300],
                attempts: 2,
                next_attempt_at_ms: 77,
                created_at_ms: 70,
            }),
        ),
        (TreeName::Outbox, Record::OutboxBatch(batch(&[3, 4, 9]))),
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
                payload: SecretBytes::new(vec![1; 32]),
            }),
        ),
        (
            TreeName::Invites,
            Record::UsedInvite(UsedInvite {
                expires_at_ms: 3,
                first_message: [7; 32],
                contact: ContactId([8; 32]),
            }),
        ),
        (TreeName::Settings, Record::Setting(b"on".to_vec())),
        (
            TreeName::Settings,
            Record::Unreported(vec![
                Report::Message {
                    contact: ContactId([6; 32]),
                    seq: 41,
                },
                Report::Delivered(MessageId([7; 16])),
                Report::GroupMessage {
                    group: [8; 16],
                    seq: 0,
                },
            ]),
        ),
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

/// Fresh outbox entries of one contact with these sequence numbers.
fn batch(seqs: &[u64]) -> Vec<OutboxEntry> {
    seqs.iter()
        .map(|&seq| OutboxEntry {
            message_id: MessageId([seq as u8; 16]),
            contact: ContactId([1; 32]),
            seq,
            envelope: vec![seq as u8; 40],
            attempts: 0,
            next_attempt_at_ms: 5,
            created_at_ms: 4,
        })
        .collect()
}

/// Catches outbox batch records the store would never write (empty, more than 256
/// entries, out of order, several contacts, attempted entries) being written or read.
#[test]
fn outbox_batches_are_canonical() {
    let enc = |entries: Vec<OutboxEntry>| encode_record(&Record::OutboxBatch(entries));
    assert!(enc(batch(&[1])).is_ok());
    assert!(enc(Vec::new()).is_err());
    assert!(enc(batch(&[2, 1])).is_err());
    assert!(enc(batch(&[1, 1])).is_err());
    let mut two = batch(&[1, 2]);
    two[1].contact = ContactId([9; 32]);
    assert!(enc(two).is_err());
    let mut tried = batch(&[1, 2]);
    tried[0].attempts = 1;
    assert!(enc(tried).is_err());
    let many: Vec<u64> = (0..=MAX_OUTBOX_BATCH as u64).collect();
    assert!(matches!(
        enc(batch(&many)),
        Err(StoreError::TooLarge { .. })
    ));
    // The decoder refuses what the encoder refuses: swap two entries' sequence numbers
    // in a valid encoding (each entry is id 16 || seq 8 || len 4 || 40 || 8 || 8 bytes).
    let mut bytes = enc(batch(&[1, 2])).unwrap();
    let entry = 16 + 8 + 4 + 40 + 8 + 8;
    let first_seq = 2 + 32 + 4 + 16;
    bytes[first_seq..first_seq + 8].copy_from_slice(&3u64.to_be_bytes());
    assert_eq!(
        decode_record(TreeName::Outbox, &bytes),
        Err(DecodeError::UnknownTag {
            field: "outbox batch order",
            value: 0
        })
    );
    bytes[first_seq..first_seq + 8].copy_from_slice(&1u64.to_be_bytes());
    assert!(decode_record(TreeName::Outbox, &bytes).is_ok());
    // A count of zero.
    let mut empty = bytes[..2 + 32].to_vec();
    empty.extend_from_slice(&0u32.to_be_bytes());
    assert!(decode_record(TreeName::Outbox, &empty).is_err());
    assert_eq!(bytes.len(), 2 + 32 + 4 + 2 * entry);
}

/// Catches encoder/decoder drift for every record type.
#[test]
fn every_record_round_trips() {
    for (tree, rec) in sample_records() {
        let bytes = encode_record(&rec).unwrap();
        assert_eq!(decode_record(tree, &bytes).unwrap(), rec, "{tree}");
    }
}

/// Catches a decoder that panics or accepts a truncated or extended record.
#[test]
fn truncation_and_trailing_bytes_are_errors() {
    for (tree, rec) in sample_records() {
        let bytes = encode_record(&rec).unwrap();
        for n in 0..bytes.len() {
            assert!(decode_record(tree, &bytes[..n]).is_err(), "{tree} len {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode_record(tree, &longer),
            Err(DecodeError::TrailingBytes(1))
        );
    }
}

/// Catches delivered ranges the store would never write (empty, out of order, overlapping
/// or touching) being accepted, and too many being written.
#[test]
fn delivered_ranges_are_canonical() {
    let conv = |delivered| {
        let mut b = encode_record(&Record::Conversation(Conversation {
            next_seq: 9,
            disappear_after_ms: None,
            has_expiring: false,
            delivered: vec![],
        }))
        .unwrap();
        let ranges: &[(u64, u64)] = delivered;
        b.truncate(b.len() - 4);
        b.extend_from_slice(&(ranges.len() as u32).to_be_bytes());
        for (s, e) in ranges {
            b.extend_from_slice(&s.to_be_bytes());
            b.extend_from_slice(&e.to_be_bytes());
        }
        decode_record(TreeName::Conversations, &b)
    };
    assert!(conv(&[(0, 1), (2, 3)]).is_ok());
    for bad in [
        &[(1, 1)][..],
        &[(3, 2)],
        &[(2, 3), (0, 1)],
        &[(0, 2), (1, 3)],
        &[(0, 1), (1, 2)],
    ] {
        assert!(conv(bad).is_err(), "{bad:?}");
    }
    let too_many = Conversation {
        delivered: (0..=MAX_DELIVERED_RANGES as u64)
            .map(|i| (2 * i, 2 * i + 1))
            .collect(),
        ..Conversation::default()
    };
    assert!(matches!(
        encode_record(&Record::Conversation(too_many)),
        Err(StoreError::TooLarge { .. })
    ));
}

/// Catches a record of one type being accepted from another tree (type confusion).
#[test]
fn record_types_are_tree_bound() {
    let bytes = encode_record(&Record::Setting(vec![1])).unwrap();
    assert!(matches!(
        decode_record(TreeName::Sessions, &bytes),
        Err(DecodeError::WrongRecordType { .. })
    ));
}

/// Catches writing a record the decoder would refuse (limits enforced on write).
#[test]
fn oversize_fields_refused_on_write() {
    let rec = Record::Setting(vec![0; MAX_BLOB_LEN + 1]);
    assert!(matches!(
        encode_record(&rec),
        Err(StoreError::TooLarge { .. })
    ));
}

/// Catches huge length prefixes causing allocation before the bounds check.
#[test]
fn huge_length_prefix_is_typed_error() {
    let mut bytes = vec![tag::SETTING, VERSION];
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        decode_record(TreeName::Settings, &bytes),
        Err(DecodeError::TooLong { .. })
    ));
}

proptest! {
    /// Catches any panic on arbitrary bytes in any tree.
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), t in 0usize..12) {
        let tree = TreeName::ALL[t];
        let _ = decode_record(tree, &bytes);
        let _ = parse_message_key(&bytes);
    }

    /// Same, starting from valid records with random bit flips.
    #[test]
    fn mutated_records_never_panic(idx in 0usize..13, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let (tree, rec) = sample_records().swap_remove(idx);
        let mut bytes = encode_record(&rec).unwrap();
        for (pos, x) in flips {
            let n = bytes.len();
            bytes[pos % n] ^= x;
        }
        let _ = decode_record(tree, &bytes);
    }
}
