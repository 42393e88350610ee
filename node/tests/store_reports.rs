//! Integration tests of the events the store keeps owed ([`Report`]): a received message's
//! `message` and an own message's `delivered` are kept in the write that stores what they
//! tell of, survive a reopen until marked made, and go when marked. Each test says what it
//! would catch.

mod common;

use cairn_node::store::{MessageId, NewOutbox, Report, SecretBytes, Store};
use common::*;

/// Every report the store keeps owed.
fn owed(s: &Store) -> Vec<Report> {
    s.unreported()
        .unwrap()
        .into_iter()
        .flat_map(|(_, r)| r)
        .collect()
}

/// Catches a received batch stored without its `message` reports (a crash before the
/// flush's completion would then lose the events for good), a report for a duplicate, reports
/// lost by a reopen, and reports that stay once marked made.
#[test]
fn received_messages_are_owed_until_marked_and_survive_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let s = create(&dir);
    let ana = s.put_contact(&contact("Ana", 1)).unwrap();
    s.set_setting("theme", b"dark").unwrap();
    let batch = [
        incoming([1; 16], "first", 10),
        incoming([2; 16], "second", 11),
    ];
    let (outcomes, keys) = s
        .record_incoming_batch(
            &ana,
            &SecretBytes::new(vec![1; 8]),
            &batch,
            MessageId([50; 16]),
            &[0xEE; 40],
            20,
        )
        .unwrap()
        .durable(&s)
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert!(!keys.is_empty());
    // The second copy of "second" is a duplicate: stored and owed once.
    let (_, again) = s
        .record_incoming_batch(
            &ana,
            &SecretBytes::new(vec![2; 8]),
            &[incoming([2; 16], "second", 11)],
            MessageId([51; 16]),
            &[0xEE; 40],
            21,
        )
        .unwrap()
        .durable(&s)
        .unwrap();
    assert!(again.is_empty(), "nothing owed for a duplicate");
    s.close().unwrap();

    let s = open(&dir);
    let owed = owed(&s);
    assert_eq!(
        owed,
        vec![
            Report::Message {
                contact: ana,
                seq: 0
            },
            Report::Message {
                contact: ana,
                seq: 1
            },
        ]
    );
    // What a report points at is the message it tells of.
    assert_eq!(s.message(&ana, 1).unwrap().unwrap().text, "second");
    // Settings live beside the reports, untouched by them.
    assert_eq!(s.setting("theme").unwrap(), Some(b"dark".to_vec()));
    let made: Vec<_> = s
        .unreported()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    s.reported(&made).unwrap().durable(&s).unwrap();
    s.close().unwrap();
    let s = open(&dir);
    assert!(s.unreported().unwrap().is_empty(), "marked made: gone");
    assert_eq!(s.setting("theme").unwrap(), Some(b"dark".to_vec()));
    assert!(s.check().is_clean());
}

/// Catches a receipt applied without `delivered` reports, reports for ids the node does not
/// tell its client of (its copies, file parts: the caller's filter), and a receipt that owes
/// a report twice.
#[test]
fn a_receipt_owes_delivered_for_the_ids_its_caller_names() {
    let tmp = tempfile::tempdir().unwrap();
    let s = create(&tmp.path().join("p"));
    let bo = s.put_contact(&contact("Bo", 2)).unwrap();
    let mut ids = Vec::new();
    for i in 1..=3u8 {
        let m = outgoing(i, "note");
        s.record_outgoing(
            &bo,
            &SecretBytes::new(vec![i; 8]),
            &m,
            &NewOutbox {
                envelope: vec![0xEE; 32],
                next_attempt_at_ms: 0,
            },
            100,
        )
        .unwrap()
        .durable(&s)
        .unwrap();
        ids.push((m.id, None));
    }
    let copy = MessageId([2; 16]);
    let (done, keys) = s
        .apply_receipt_reporting(
            &bo,
            &SecretBytes::new(vec![9; 8]),
            &ids,
            &[],
            &|id| *id != copy,
            200,
        )
        .unwrap()
        .durable(&s)
        .unwrap();
    assert_eq!(done.len(), 3);
    let owed = owed(&s);
    assert_eq!(
        owed,
        vec![
            Report::Delivered(MessageId([1; 16])),
            Report::Delivered(MessageId([3; 16]))
        ]
    );
    // The same receipt again confirms nothing new and owes nothing.
    let (done, again) = s
        .apply_receipt_reporting(
            &bo,
            &SecretBytes::new(vec![9; 8]),
            &ids,
            &[],
            &|_| true,
            201,
        )
        .unwrap()
        .durable(&s)
        .unwrap();
    assert!(done.is_empty() && again.is_empty());
    s.reported(&[keys]).unwrap().durable(&s).unwrap();
    assert!(s.unreported().unwrap().is_empty());
}
