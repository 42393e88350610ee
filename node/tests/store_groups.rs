//! Integration tests of the store's groups (docs/PROTOCOL.md §24.5). Each test says what it
//! would catch.

mod common;

use cairn_node::store::{
    CopyOut, DeliveryState, Direction, GroupIncoming, GroupPart, GroupRecord, GroupSend, MessageId,
    NewMessage, Report, SecretBytes, CONTROL_SEQ,
};
use common::*;

const G: [u8; 16] = [7; 16];

fn copy(contact: cairn_node::store::ContactId, id: u8, origin: Option<u64>) -> CopyOut {
    CopyOut {
        contact,
        session_after: SecretBytes::new(vec![id; 8]),
        id: MessageId([id; 16]),
        content: vec![1, 6, id],
        envelope: vec![0xEE; 40],
        origin,
    }
}

fn group_message(id: u8, clock: u64) -> NewMessage {
    NewMessage {
        id: MessageId([id; 16]),
        direction: Direction::Outgoing,
        text: format!("group text {id}"),
        created_at_ms: 1_000,
        received_at_ms: None,
        state: DeliveryState::Queued,
        group: Some(GroupPart::Message {
            clock,
            author: [9; 32],
            copies: Vec::new(),
        }),
    }
}

/// Catches a group send written in part (a copy without its message, a session without its
/// envelope), copies that do not say where they are, copies shown in the member's 1:1
/// conversation as plain messages, a late copy that does not join its message's list, and
/// "delivered k of n" that does not follow receipts.
#[test]
fn a_group_send_is_one_transaction_and_late_copies_join_their_message() {
    let tmp = tempfile::tempdir().unwrap();
    let s = create(tmp.path());
    let bob = s.put_contact(&contact("bob", 2)).unwrap();
    let carol = s.put_contact(&contact("carol", 3)).unwrap();
    let record = GroupRecord {
        id: G,
        clock: 4,
        log: vec![1, 2, 3],
    };
    let sent = s
        .record_group_send(
            Some(&G),
            &GroupSend {
                group: Some(record.clone()),
                message: Some(group_message(1, 4)),
                copies: vec![copy(bob, 11, None)],
            },
            5_000,
        )
        .unwrap()
        .durable(&s)
        .unwrap();
    assert_eq!(sent.seq, Some(0));
    assert_eq!(sent.copies.len(), 1);
    assert_eq!(s.group(&G).unwrap(), Some(record));
    let conv = s.group_conversation(&G);
    let m = s.message(&conv, 0).unwrap().unwrap();
    let Some(GroupPart::Message { copies, .. }) = &m.group else {
        panic!("no group part: {m:?}");
    };
    assert_eq!(copies, &sent.copies);
    // The copy is a message of Bob's conversation that knows what it carries.
    let c = s.message(&bob, sent.copies[0].seq).unwrap().unwrap();
    assert_eq!(
        c.group,
        Some(GroupPart::Copy {
            content: vec![1, 6, 11],
            origin: Some((conv, 0)),
        })
    );
    assert_eq!(s.session(&bob).unwrap().unwrap().expose_secret(), &[11; 8]);
    assert_eq!(s.outbox().unwrap().items.len(), 1);
    assert_eq!(s.copies_delivered(copies).unwrap(), 0);

    // Carol gets it late: her copy joins the list.
    s.record_group_send(
        Some(&G),
        &GroupSend {
            group: None,
            message: None,
            copies: vec![copy(carol, 12, Some(0))],
        },
        6_000,
    )
    .unwrap()
    .durable(&s)
    .unwrap();
    let m = s.message(&conv, 0).unwrap().unwrap();
    let Some(GroupPart::Message { copies, .. }) = &m.group else {
        panic!()
    };
    assert_eq!(copies.len(), 2);
    // Receipts: Bob's, then Carol's.
    s.apply_receipt(
        &bob,
        &SecretBytes::new(vec![1]),
        &[(MessageId([11; 16]), None)],
        &[],
        7_000,
    )
    .unwrap()
    .durable(&s)
    .unwrap();
    assert_eq!(s.copies_delivered(copies).unwrap(), 1);
    s.apply_receipt(
        &carol,
        &SecretBytes::new(vec![1]),
        &[(MessageId([12; 16]), None)],
        &[],
        7_000,
    )
    .unwrap()
    .durable(&s)
    .unwrap();
    assert_eq!(s.copies_delivered(copies).unwrap(), 2);
    assert!(s.outbox().unwrap().items.is_empty());
    // Delivered copies go; their conversations' delivered ranges still count them.
    let at: Vec<_> = copies.iter().map(|c| (c.contact, c.seq)).collect();
    s.remove_messages(&at).unwrap().durable(&s).unwrap();
    assert!(s.message(&bob, copies[0].seq).unwrap().is_none());
    assert_eq!(s.copies_delivered(copies).unwrap(), 2);

    // A send that cannot be written leaves nothing: a copy whose contact has no
    // conversation is fine, but an oversized envelope fails the whole batch.
    let mut bad = copy(bob, 13, None);
    bad.envelope = vec![0; 2 * 1024 * 1024];
    let before = s.conversation(&conv).unwrap();
    assert!(s
        .record_group_send(
            Some(&G),
            &GroupSend {
                group: None,
                message: Some(group_message(2, 5)),
                copies: vec![copy(carol, 14, None), bad],
            },
            8_000,
        )
        .is_err());
    assert_eq!(s.conversation(&conv).unwrap(), before, "nothing written");
    assert!(s.outbox().unwrap().items.is_empty(), "no envelope queued");
    assert!(s.message(&carol, 1).unwrap().is_none(), "no copy stored");
    // A group message needs its group.
    assert!(s
        .record_group_send(
            None,
            &GroupSend {
                group: None,
                message: Some(group_message(3, 6)),
                copies: vec![],
            },
            9_000,
        )
        .is_err());
}

/// Catches a received group content stored twice (a retransmission shown again), one stored
/// without its receipt or session, and removed messages coming back.
#[test]
fn a_received_copy_is_taken_once_with_its_receipt() {
    let tmp = tempfile::tempdir().unwrap();
    let s = create(tmp.path());
    let alice = s.put_contact(&contact("alice", 1)).unwrap();
    let incoming = |id: u8| GroupIncoming {
        contact: alice,
        session_after: SecretBytes::new(vec![id; 4]),
        copy: MessageId([id; 16]),
        group: Some(GroupRecord {
            id: G,
            clock: 9,
            log: vec![],
        }),
        message: Some((
            NewMessage {
                id: MessageId([id + 100; 16]),
                direction: Direction::Incoming,
                text: "hello desk".into(),
                created_at_ms: 1,
                received_at_ms: Some(2),
                state: DeliveryState::Received,
                group: Some(GroupPart::Message {
                    clock: 9,
                    author: [1; 32],
                    copies: vec![],
                }),
            },
            true,
        )),
        setting: Some(("a setting".into(), vec![5])),
        receipt: (MessageId([id + 50; 16]), vec![0xAB; 30]),
    };
    let (fresh, keys) = s
        .record_group_incoming(Some(&G), &incoming(1), 10)
        .unwrap()
        .durable(&s)
        .unwrap();
    assert!(fresh);
    // Its `group_message` is owed (kept in the same write) until marked made.
    assert_eq!(
        s.unreported()
            .unwrap()
            .into_iter()
            .flat_map(|(_, r)| r)
            .collect::<Vec<_>>(),
        vec![Report::GroupMessage { group: G, seq: 0 }]
    );
    s.reported(&[keys]).unwrap().durable(&s).unwrap();
    assert!(s.unreported().unwrap().is_empty());
    let conv = s.group_conversation(&G);
    assert_eq!(s.messages(&conv).unwrap().items.len(), 1);
    assert_eq!(s.setting("a setting").unwrap(), Some(vec![5]));
    // The same copy again: only the session and a receipt.
    let again = incoming(1);
    let (fresh, keys) = s
        .record_group_incoming(Some(&G), &again, 11)
        .unwrap()
        .durable(&s)
        .unwrap();
    assert!(
        !fresh && keys.is_empty(),
        "nothing owed for a copy taken before"
    );
    assert_eq!(s.messages(&conv).unwrap().items.len(), 1, "shown once");
    let receipts: Vec<_> = s
        .outbox()
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.contact == alice && e.seq == CONTROL_SEQ)
        .collect();
    assert_eq!(receipts.len(), 1, "the receipt is queued (once: same id)");
    // Removed (not for this member after all): gone, and a retransmission stays gone.
    s.remove_group_messages(&G, &[0]).unwrap();
    assert!(s.messages(&conv).unwrap().items.is_empty());
    assert!(
        !s.record_group_incoming(Some(&G), &incoming(1), 12)
            .unwrap()
            .durable(&s)
            .unwrap()
            .0
    );
    assert!(s.messages(&conv).unwrap().items.is_empty());
    // A group message without its group is refused.
    assert!(s.record_group_incoming(None, &incoming(2), 13).is_err());
    let listed = s.groups().unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.damaged.is_empty());
}
