//! Integration tests of the encrypted profile store. Each test says what it would catch.

mod common;

use std::sync::{Arc, Barrier};

use cairn_node::store::{
    codec, Backend, ContactId, DamageKind, DeliveryState, Incoming, Invite, InviteError, KdfParams,
    KeyFileError, MessageId, NewOutbox, OpenError, OpenOptions, Passphrase, ProfilePaths,
    SecretBytes, SledBackend, Staged, Store, StoreError, TreeName, WriteBatch, KEY_FILE_NAME,
};
use common::*;

const DAY: u64 = 24 * 60 * 60 * 1000;

/// Catches any plaintext reaching the disk: aliases, message texts, PeerIds, identity keys,
/// session state, the identity secret or the passphrase, in raw, UTF-16 or hex form, anywhere in
/// the profile directory (key file, sled log, snapshots, conf, lock).
#[test]
fn grep_finds_no_plaintext_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("profile");
    let aliases = ["Zanzibar-Quokka-Alias", "Marisol-Verdigris-Alias"];
    let texts = [
        "meet at the blue door XYZZY-PLUGH-4711",
        "the ledger is under the floorboard QWERTY-ASDF-0815",
    ];
    let identity_secret = b"IDENTITY-SECRET-9f8e7d6c5b4a".to_vec();
    let session_state = b"RATCHET-STATE-sess-0a1b2c3d".to_vec();
    let mut needles: Vec<Vec<u8>> = vec![
        PASS.as_bytes().to_vec(),
        identity_secret.clone(),
        session_state.clone(),
        b"Zanzibar".to_vec(),
        b"XYZZY-PLUGH".to_vec(),
        b"setting-secret-name".to_vec(),
        b"invite-secret-7788".to_vec(),
    ];
    {
        let store = create(&dir);
        store
            .set_identity(&SecretBytes::new(identity_secret.clone()))
            .unwrap();
        for (i, alias) in aliases.iter().enumerate() {
            let c = contact(alias, 0xA0 + i as u8);
            let id = store.put_contact(&c).unwrap();
            needles.push(alias.as_bytes().to_vec());
            needles.push(c.identity_key.clone());
            needles.push(c.peer_id.clone());
            needles.push(id.0.to_vec().iter().map(|b| b ^ 0xff).collect()); // sanity: random-looking
            for (j, text) in texts.iter().enumerate() {
                let m = outgoing(0x10 * (i as u8 + 1) + j as u8, text);
                store
                    .record_outgoing(
                        &id,
                        &SecretBytes::new(session_state.clone()),
                        &m,
                        &NewOutbox {
                            envelope: vec![0xEE; 32],
                            next_attempt_at_ms: 0,
                        },
                        1_700_000_000_000,
                    )
                    .and_then(|w| w.durable(&store))
                    .unwrap();
                needles.push(m.id.0.to_vec());
            }
            store
                .record_incoming(
                    &id,
                    &SecretBytes::new(session_state.clone()),
                    &incoming([0x77 + i as u8; 16], texts[1], 1_700_000_000_000),
                    1_700_000_000_000,
                )
                .unwrap();
        }
        for t in texts {
            needles.push(t.as_bytes().to_vec());
        }
        store.set_setting("setting-secret-name", b"on").unwrap();
        let first = store.contact_id(&contact(aliases[0], 0xA0).identity_key);
        store
            .put_routing_tag(b"ROUTING-TAG-a1b2c3", &first)
            .unwrap();
        needles.push(b"ROUTING-TAG-a1b2c3".to_vec());
        store
            .add_invite(
                b"invite-secret-7788",
                &Invite {
                    created_at_ms: 0,
                    expires_at_ms: u64::MAX,
                    payload: SecretBytes::new(b"PSK-MATERIAL-5566".to_vec()),
                },
            )
            .unwrap();
        needles.push(b"PSK-MATERIAL-5566".to_vec());
        store.close().unwrap();
    }
    let files = files(&dir);
    assert!(
        files.len() >= 3,
        "expected key file, lock and sled files: {files:?}"
    );
    let mut scanned = 0usize;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        scanned += bytes.len();
        for needle in &needles {
            for (enc, pattern) in encodings(needle) {
                assert!(
                    !contains(&bytes, &pattern),
                    "{} ({enc}) found in {}",
                    String::from_utf8_lossy(needle),
                    f.display()
                );
            }
        }
    }
    // The scan really looked where the data lives: the raw sealed value of a message (as the
    // backend returns it) is found in the files, so a needle in the clear would have been too.
    assert!(scanned > 1000, "scanned only {scanned} bytes");
    let sealed = {
        let b = SledBackend::open(&dir.join("db")).unwrap();
        let (_, v) = b
            .scan_prefix(TreeName::Messages, &[])
            .next()
            .unwrap()
            .unwrap();
        v
    };
    assert!(
        files
            .iter()
            .any(|f| contains(&std::fs::read(f).unwrap(), &sealed)),
        "sealed value not found on disk: the scan would miss plaintext too"
    );
    println!(
        "grep test: scanned {} files, {scanned} bytes, {} needles",
        files.len(),
        needles.len()
    );
}

/// Catches a wrong passphrase that modifies the profile (sled opened before the check, key file
/// rewritten, lock file recreated) or is not reported as such.
#[test]
fn wrong_passphrase_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    {
        let s = create(&dir);
        let id = s.put_contact(&contact("Ana", 1)).unwrap();
        s.append_messages(&id, &[outgoing(1, "hello")], 5).unwrap();
        s.close().unwrap();
    }
    let before = hash_dir(&dir);
    let err = Store::open(
        &ProfilePaths::new(&dir),
        &Passphrase::new("not the passphrase"),
        &opts(),
    )
    .unwrap_err();
    assert!(matches!(err, OpenError::WrongPassphrase), "{err:?}");
    assert_eq!(err.to_string(), "wrong passphrase");
    assert_eq!(
        hash_dir(&dir),
        before,
        "a wrong passphrase changed bytes on disk"
    );
    // And the right one still works.
    let s = open(&dir);
    let id = s.contact_id(&[1; 32]);
    assert_eq!(s.messages(&id).unwrap().items.len(), 1);
}

/// Catches a production open that accepts a key file with weak (test) Argon2id parameters, or a
/// create that writes one.
#[test]
fn below_minimum_kdf_refused_without_test_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = ProfilePaths::new(tmp.path().join("p"));
    let err =
        Store::create(&paths, &Passphrase::new(PASS), fast(), &OpenOptions::new()).unwrap_err();
    assert!(matches!(err, OpenError::KdfBelowMinimum(_)), "{err:?}");
    drop(create(&paths.dir));
    let err = Store::open(&paths, &Passphrase::new(PASS), &OpenOptions::new()).unwrap_err();
    assert!(matches!(err, OpenError::KdfBelowMinimum(_)), "{err:?}");
}

/// Catches a passphrase change that loses data, keeps the old passphrase working, accepts a
/// wrong old passphrase, or fails to store raised parameters.
#[test]
fn change_passphrase_rewraps_only_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let paths = ProfilePaths::new(&dir);
    let raised = KdfParams {
        m_cost_kib: 128,
        t_cost: 2,
        p_cost: 1,
    };
    {
        let s = create(&dir);
        let id = s.put_contact(&contact("Ana", 1)).unwrap();
        s.append_messages(&id, &[outgoing(1, "kept")], 5).unwrap();
        let err = s
            .change_passphrase(
                &Passphrase::new("wrong"),
                &Passphrase::new("new pass"),
                raised,
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::WrongPassphrase), "{err:?}");
        s.change_passphrase(&Passphrase::new(PASS), &Passphrase::new("new pass"), raised)
            .unwrap();
    }
    assert!(matches!(
        Store::open(&paths, &Passphrase::new(PASS), &opts()).unwrap_err(),
        OpenError::WrongPassphrase
    ));
    let s = Store::open(&paths, &Passphrase::new("new pass"), &opts()).unwrap();
    let id = s.contact_id(&[1; 32]);
    assert_eq!(s.messages(&id).unwrap().items[0].text, "kept");
    let kf = cairn_node::store::KeyFile::parse(&std::fs::read(paths.key_file()).unwrap()).unwrap();
    assert_eq!(kf.params, raised);
    assert!(!dir.join("cairn.key.tmp").exists());
}

fn swap_raw(db: &std::path::Path, tree: TreeName, a: &[u8], b: &[u8]) {
    let backend = SledBackend::open(db).unwrap();
    let va = backend.get(tree, a).unwrap().unwrap();
    let vb = backend.get(tree, b).unwrap().unwrap();
    let mut batch = WriteBatch::new();
    batch.put(tree, a.to_vec(), vb);
    batch.put(tree, b.to_vec(), va);
    backend.apply(&batch).unwrap();
    backend.flush().unwrap();
}

/// Catches associated data that does not bind the record key: two sealed message values swapped
/// on disk must both fail authentication, be reported with their location, and not hide the
/// messages that are still intact.
#[test]
fn swapped_sealed_values_are_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let id;
    {
        let s = create(&dir);
        id = s.put_contact(&contact("Ana", 1)).unwrap();
        s.append_messages(
            &id,
            &[outgoing(1, "one"), outgoing(2, "two"), outgoing(3, "three")],
            5,
        )
        .unwrap();
        s.close().unwrap();
    }
    swap_raw(
        &dir.join("db"),
        TreeName::Messages,
        &codec::message_key(&id, 0),
        &codec::message_key(&id, 1),
    );
    let s = open(&dir);
    let listing = s.messages(&id).unwrap();
    assert_eq!(
        listing.items.len(),
        1,
        "the untouched message is still readable"
    );
    assert_eq!(listing.items[0].text, "three");
    assert_eq!(listing.damaged.len(), 2);
    assert!(listing
        .damaged
        .iter()
        .all(|d| d.kind == DamageKind::Unsealable));
    assert!(matches!(s.message(&id, 0), Err(StoreError::Damaged(_))));
    let report = s.check();
    assert!(!report.is_clean());
    assert_eq!(report.damaged().count(), 2);
    assert!(report.readable() >= 4); // meta, contact, peer index, conversation, message 3
}

/// Catches a value moved between trees (same key) being accepted: the tree name is in the AD.
#[test]
fn value_moved_across_trees_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let id;
    {
        let s = create(&dir);
        id = s.put_contact(&contact("Ana", 1)).unwrap();
        s.put_session(&id, &SecretBytes::new(vec![1, 2, 3]))
            .unwrap();
        s.close().unwrap();
    }
    {
        let b = SledBackend::open(&dir.join("db")).unwrap();
        let v = b.get(TreeName::Contacts, &id.0).unwrap().unwrap();
        let mut batch = WriteBatch::new();
        batch.put(TreeName::Sessions, id.0.to_vec(), v);
        b.apply(&batch).unwrap();
        b.flush().unwrap();
    }
    let s = open(&dir);
    assert!(matches!(s.session(&id), Err(StoreError::Damaged(_))));
    assert!(s.contact(&id).unwrap().is_some());
}

/// Catches bit flips and truncation of a sealed value going unnoticed or panicking, and a
/// check() that stops at the first damaged record.
#[test]
fn flipped_and_truncated_values_are_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let (a, b);
    {
        let s = create(&dir);
        a = s.put_contact(&contact("Ana", 1)).unwrap();
        b = s.put_contact(&contact("Bo", 2)).unwrap();
        s.put_contact(&contact("Cy", 3)).unwrap();
        s.close().unwrap();
    }
    {
        let be = SledBackend::open(&dir.join("db")).unwrap();
        let mut va = be.get(TreeName::Contacts, &a.0).unwrap().unwrap();
        let mid = va.len() / 2;
        va[mid] ^= 0x04;
        let vb = be.get(TreeName::Contacts, &b.0).unwrap().unwrap();
        let mut batch = WriteBatch::new();
        batch.put(TreeName::Contacts, a.0.to_vec(), va);
        batch.put(
            TreeName::Contacts,
            b.0.to_vec(),
            vb[..vb.len() / 3].to_vec(),
        );
        batch.put(TreeName::Contacts, vec![1, 2, 3], vec![9; 4]); // key of the wrong shape
        be.apply(&batch).unwrap();
        be.flush().unwrap();
    }
    let s = open(&dir);
    assert!(matches!(s.contact(&a), Err(StoreError::Damaged(_))));
    assert!(matches!(s.contact(&b), Err(StoreError::Damaged(_))));
    let listing = s.contacts().unwrap();
    assert_eq!(listing.items.len(), 1);
    assert_eq!(listing.items[0].1.alias, "Cy");
    assert_eq!(listing.damaged.len(), 3);
    let report = s.check();
    let contacts = report
        .trees
        .iter()
        .find(|t| t.tree == TreeName::Contacts)
        .unwrap();
    assert_eq!(contacts.readable, 1);
    assert_eq!(contacts.damaged.len(), 3);
    assert!(contacts
        .damaged
        .iter()
        .any(|d| matches!(d.kind, DamageKind::BadKey(_))));
}

/// Catches a damaged or truncated key file being reported as a wrong passphrase (or panicking).
#[test]
fn damaged_key_file_is_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    drop(create(&dir));
    let path = dir.join(KEY_FILE_NAME);
    let good = std::fs::read(&path).unwrap();
    type Expect = fn(&KeyFileError) -> bool;
    let cases: Vec<(Vec<u8>, Expect)> = vec![
        (good[..good.len() - 10].to_vec(), |e| {
            matches!(e, KeyFileError::Truncated { .. })
        }),
        (
            {
                let mut b = good.clone();
                b[60] ^= 1;
                b
            },
            |e| matches!(e, KeyFileError::ChecksumMismatch),
        ),
        (vec![0xA5; good.len()], |e| {
            matches!(e, KeyFileError::BadMagic)
        }),
        (Vec::new(), |e| matches!(e, KeyFileError::Truncated { .. })),
    ];
    for (bytes, ok) in cases {
        std::fs::write(&path, &bytes).unwrap();
        match Store::open(&ProfilePaths::new(&dir), &Passphrase::new(PASS), &opts()) {
            Err(OpenError::KeyFileDamaged(e)) => assert!(ok(&e), "{e:?}"),
            other => panic!("expected KeyFileDamaged, got {other:?}"),
        }
    }
    std::fs::write(&path, &good).unwrap();
    drop(open(&dir));
}

/// Catches a second opener getting in (corruption risk) instead of a clear "profile in use",
/// and a lock that outlives the store.
#[test]
fn second_open_in_process_is_profile_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let s = create(&dir);
    let err = Store::open(&ProfilePaths::new(&dir), &Passphrase::new(PASS), &opts()).unwrap_err();
    assert!(matches!(err, OpenError::InUse(_)), "{err:?}");
    assert!(err.to_string().contains("profile in use"));
    drop(s);
    drop(open(&dir));
}

/// Catches a lock that only works within one process (the real risk: two `cairn` processes).
#[test]
fn second_open_from_another_process_is_profile_in_use() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
        .args(["hold", dir.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    let err = Store::open(
        &ProfilePaths::new(&dir),
        &Passphrase::new("crash-test passphrase"),
        &opts(),
    )
    .unwrap_err();
    assert!(matches!(err, OpenError::InUse(_)), "{err:?}");
    // The other process releases it on exit.
    child.stdin.take().unwrap().write_all(b"").unwrap();
    assert!(child.wait().unwrap().success());
    Store::open(
        &ProfilePaths::new(&dir),
        &Passphrase::new("crash-test passphrase"),
        &opts(),
    )
    .unwrap();
}

/// Catches a sweeper that leaves expired messages (or their outbox entries), removes unexpired
/// ones, or ignores the per-conversation timer.
#[test]
fn disappearing_messages_are_removed_after_expiry() {
    let tmp = tempfile::tempdir().unwrap();
    let s = create(&tmp.path().join("p"));
    let a = s.put_contact(&contact("Ana", 1)).unwrap();
    let b = s.put_contact(&contact("Bo", 2)).unwrap();
    let t0 = 1_000_000;
    s.append_messages(&a, &[outgoing(1, "before timer")], t0)
        .unwrap();
    s.set_disappearing_timer(&a, Some(DAY)).unwrap();
    let sess = SecretBytes::new(vec![1]);
    s.record_outgoing(
        &a,
        &sess,
        &outgoing(2, "vanishing"),
        &NewOutbox {
            envelope: vec![1],
            next_attempt_at_ms: 0,
        },
        t0,
    )
    .and_then(|w| w.durable(&s))
    .unwrap();
    s.record_incoming(
        &a,
        &sess,
        &incoming([3; 16], "vanishing too", t0 + 10),
        t0 + 10,
    )
    .unwrap();
    s.append_messages(&b, &[outgoing(4, "no timer here")], t0)
        .unwrap();
    assert_eq!(s.messages(&a).unwrap().items.len(), 3);
    assert_eq!(
        s.messages(&a).unwrap().items[1].expires_at_ms,
        Some(t0 + DAY)
    );

    let r = s.sweep(t0 + DAY - 1).unwrap();
    assert_eq!(r.messages_removed, 0);
    assert_eq!(s.messages(&a).unwrap().items.len(), 3);

    let r = s.sweep(t0 + DAY + 10).unwrap();
    assert_eq!(r.messages_removed, 2);
    let left: Vec<String> = s
        .messages(&a)
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(left, ["before timer"]);
    assert_eq!(s.messages(&b).unwrap().items.len(), 1);
    assert!(
        s.outbox().unwrap().items.is_empty(),
        "outbox entry of an expired message kept"
    );
    assert!(s.check().is_clean());
    // Nothing is resurrected by a reopen.
    let dir = s.paths().dir.clone();
    drop(s);
    let s = open(&dir);
    assert_eq!(s.messages(&a).unwrap().items.len(), 1);
}

/// Catches a wipe that leaves the key file, database or hidden mode's tor state behind, a
/// wiped profile that opens, and a wipe that is not idempotent or fails on a half-wiped
/// profile.
#[test]
fn wipe_destroys_key_then_data_and_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let paths = ProfilePaths::new(&dir);
    let s = create(&dir);
    let id = s.put_contact(&contact("Ana", 1)).unwrap();
    s.append_messages(&id, &[outgoing(1, "x")], 1).unwrap();
    // Hidden mode's tor state says the profile used Tor: it goes too.
    std::fs::create_dir_all(paths.tor_dir().join("keys")).unwrap();
    std::fs::write(paths.tor_dir().join("state"), b"Guard in=default").unwrap();
    let report = s.wipe().unwrap();
    assert!(report.key_file_destroyed && report.database_removed && report.tor_removed);
    assert!(!paths.key_file().exists());
    assert!(!paths.db_dir().exists());
    assert!(
        !dir.exists(),
        "profile directory left behind: {:?}",
        files(&dir)
    );
    assert!(matches!(
        Store::open(&paths, &Passphrase::new(PASS), &opts()).unwrap_err(),
        OpenError::NotFound(_)
    ));
    // Idempotent.
    let again = cairn_node::store::wipe_profile(&paths).unwrap();
    assert!(!again.key_file_destroyed && !again.database_removed);

    // Half-wiped: key file gone, database still there (a wipe interrupted after step 1).
    drop(create(&dir));
    std::fs::remove_file(paths.key_file()).unwrap();
    assert!(matches!(
        Store::open(&paths, &Passphrase::new(PASS), &opts()).unwrap_err(),
        OpenError::NotFound(_)
    ));
    let r = cairn_node::store::wipe_profile(&paths).unwrap();
    assert!(r.database_removed && !r.key_file_destroyed);
    assert!(!dir.exists());

    // Half-wiped the other way: key file overwritten but not yet deleted.
    drop(create(&dir));
    std::fs::write(paths.key_file(), vec![0x3c; 158]).unwrap();
    assert!(matches!(
        Store::open(&paths, &Passphrase::new(PASS), &opts()).unwrap_err(),
        OpenError::KeyFileDamaged(KeyFileError::BadMagic)
    ));
    cairn_node::store::wipe_profile(&paths).unwrap();
    assert!(!dir.exists());
}

/// Catches a key file left with a database but no key (interrupted create) being silently
/// replaced, and a database without a key file being opened.
#[test]
fn database_without_key_file_is_not_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let paths = ProfilePaths::new(&dir);
    drop(create(&dir));
    std::fs::remove_file(paths.key_file()).unwrap();
    let err = Store::create(&paths, &Passphrase::new(PASS), fast(), &opts()).unwrap_err();
    assert!(matches!(err, OpenError::AlreadyExists(_)), "{err:?}");
    // A key file without its database.
    cairn_node::store::wipe_profile(&paths).unwrap();
    drop(create(&dir));
    std::fs::remove_dir_all(paths.db_dir()).unwrap();
    assert!(matches!(
        Store::open(&paths, &Passphrase::new(PASS), &opts()).unwrap_err(),
        OpenError::DatabaseMissing
    ));
}

/// Catches a group commit that flushes once per writer (no batching) or returns before the
/// flush: 32 concurrent durable writers must share flushes.
#[test]
fn group_commit_shares_flushes() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Arc::new(create(&tmp.path().join("p")));
    let id = s.put_contact(&contact("Ana", 1)).unwrap();
    const N: usize = 32;
    const PER: usize = 4;
    let before = s.flush_count();
    let barrier = Arc::new(Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|t| {
            let s = Arc::clone(&s);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..PER {
                    s.append_messages(&id, &[outgoing((t * PER + i) as u8, "gc")], 1)
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let flushes = s.flush_count() - before;
    println!(
        "group commit: {} durable writes, {flushes} flushes",
        N * PER
    );
    assert!(flushes >= 1);
    assert!(
        flushes < (N * PER) as u64,
        "{flushes} flushes for {} writes",
        N * PER
    );
    assert_eq!(s.messages(&id).unwrap().items.len(), N * PER);
}

/// Catches receipts recorded in a conversation's delivered ranges not reading as `Delivered`
/// (in listings, single reads, after a restart), marking messages they did not confirm, or
/// leaving confirmed messages in the outbox.
#[test]
fn receipts_in_delivered_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let id;
    {
        let s = create(&dir);
        id = s.put_contact(&contact("Ana", 1)).unwrap();
        let (first, batches) = queue_burst(&s, &id, 0..6, 10);
        assert_eq!(batches.len(), 1, "six envelopes, one record");
        assert_eq!(batches[0].1, 6);
        // Receipts out of order, one with its seq known, others looked up; one twice.
        let done = s
            .apply_receipt(
                &id,
                &SecretBytes::new(vec![2]),
                &[
                    (MessageId([3; 16]), Some(first + 3)),
                    (MessageId([0; 16]), None),
                    (MessageId([1; 16]), None),
                ],
                &[],
                20,
            )
            .map(Staged::after_next_flush)
            .unwrap();
        assert_eq!(done.len(), 3);
        let again = s
            .apply_receipt(
                &id,
                &SecretBytes::new(vec![3]),
                &[(MessageId([1; 16]), None)],
                &[],
                30,
            )
            .map(Staged::after_next_flush)
            .unwrap();
        assert!(again.is_empty(), "a message leaves the outbox once");
        s.make_durable().unwrap();
        assert_eq!(s.conversation(&id).unwrap().delivered, vec![(0, 2), (3, 4)]);
        s.close().unwrap();
    }
    let s = open(&dir);
    let states: Vec<DeliveryState> = s
        .messages(&id)
        .unwrap()
        .items
        .iter()
        .map(|m| m.state)
        .collect();
    use DeliveryState::{Delivered as D, Queued as Q};
    assert_eq!(states, vec![D, D, Q, D, Q, Q]);
    assert_eq!(s.message(&id, 3).unwrap().unwrap().state, D);
    assert_eq!(s.message(&id, 2).unwrap().unwrap().state, Q);
    let mut left: Vec<u8> = s
        .outbox()
        .unwrap()
        .items
        .iter()
        .map(|o| o.message_id.0[0])
        .collect();
    left.sort();
    assert_eq!(left, vec![2, 4, 5]);
    assert_eq!(s.session(&id).unwrap().unwrap().expose_secret(), &[3]);
}

/// Catches session state, message and outbox entry not being written together, delivery state
/// transitions that lose the outbox entry, and duplicates being stored twice.
#[test]
fn outgoing_incoming_and_delivery_states() {
    let tmp = tempfile::tempdir().unwrap();
    let s = create(&tmp.path().join("p"));
    let c = contact("Ana", 1);
    let id = s.put_contact(&c).unwrap();
    assert_eq!(s.contact_by_peer_id(&c.peer_id).unwrap().unwrap().0, id);
    let seq = s
        .record_outgoing(
            &id,
            &SecretBytes::new(b"state-1".to_vec()),
            &outgoing(9, "hi"),
            &NewOutbox {
                envelope: vec![7; 10],
                next_attempt_at_ms: 100,
            },
            50,
        )
        .and_then(|w| w.durable(&s))
        .unwrap();
    assert_eq!(s.session(&id).unwrap().unwrap().expose_secret(), b"state-1");
    assert!(s.outbox_due(99).unwrap().items.is_empty());
    let due = s.outbox_due(100).unwrap().items;
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].seq, due[0].attempts), (seq, 0));
    assert!(s
        .mark_attempted(&MessageId([9; 16]), 100, 1_000)
        .and_then(|w| w.durable(&s))
        .unwrap());
    let m = s.message(&id, seq).unwrap().unwrap();
    assert_eq!((m.state, m.sent_at_ms), (DeliveryState::Sent, Some(100)));
    assert_eq!(s.outbox().unwrap().items[0].attempts, 1);
    assert!(s.mark_delivered(&MessageId([9; 16]), 200).unwrap());
    let m = s.message(&id, seq).unwrap().unwrap();
    assert_eq!(
        (m.state, m.delivered_at_ms),
        (DeliveryState::Delivered, Some(200))
    );
    assert!(s.outbox().unwrap().items.is_empty());
    assert!(!s.mark_delivered(&MessageId([9; 16]), 300).unwrap());

    let inc = incoming([5; 16], "yo", 60);
    let r1 = s
        .record_incoming(&id, &SecretBytes::new(b"state-2".to_vec()), &inc, 60)
        .unwrap();
    assert!(matches!(r1, Incoming::Stored { .. }));
    let r2 = s
        .record_incoming(&id, &SecretBytes::new(b"state-3".to_vec()), &inc, 61)
        .unwrap();
    assert_eq!(r2, Incoming::Duplicate);
    assert_eq!(s.session(&id).unwrap().unwrap().expose_secret(), b"state-3");
    assert_eq!(s.messages(&id).unwrap().items.len(), 2);
    assert!(s.is_duplicate(&MessageId([5; 16])).unwrap());

    // Dedup ids expire after the retention window.
    let r = s.sweep(60 + cairn_node::store::DEDUP_RETENTION_MS).unwrap();
    assert_eq!(r.dedup_removed, 1);
    assert!(!s.is_duplicate(&MessageId([5; 16])).unwrap());

    s.put_routing_tag(b"tag-1", &id).unwrap();
    assert_eq!(s.contact_by_routing_tag(b"tag-1").unwrap(), Some(id));
    assert_eq!(s.contact_by_routing_tag(b"tag-2").unwrap(), None);
    s.put_routing_tag(b"tag-2", &id).unwrap();
    s.remove_routing_tag(b"tag-2").unwrap();
    assert_eq!(s.contact_by_routing_tag(b"tag-2").unwrap(), None);

    s.remove_contact(&id).unwrap();
    assert_eq!(s.contact_by_routing_tag(b"tag-1").unwrap(), None);
    assert!(s.contact(&id).unwrap().is_none());
    assert!(s.contact_by_peer_id(&c.peer_id).unwrap().is_none());
    assert!(s.messages(&id).unwrap().items.is_empty());
    assert!(s.session(&id).unwrap().is_none());
}

/// Catches an invite that can be used twice (also under a race) or after expiry.
#[test]
fn invites_are_single_use_and_expire() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Arc::new(create(&tmp.path().join("p")));
    let inv = Invite {
        created_at_ms: 0,
        expires_at_ms: 1_000,
        payload: SecretBytes::new(vec![42; 32]),
    };
    s.add_invite(b"secret-a", &inv).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                s.consume_invite(b"secret-a", 10, b"first", &ContactId([5; 32]))
                    .is_ok()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .filter(|_| true)
        .map(|h| h.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(wins, 1, "invite consumed {wins} times");
    // A used invite is recognised: the same first message (its acceptor retransmitting)
    // names the contact it made; another message is a second use.
    let ana = ContactId([5; 32]);
    assert!(matches!(
        s.consume_invite(b"secret-a", 10, b"first", &ContactId([6; 32])),
        Err(InviteError::Used { same_acceptor: Some(c) }) if c == ana
    ));
    assert!(matches!(
        s.consume_invite(b"secret-a", 10, b"another", &ContactId([6; 32])),
        Err(InviteError::Used {
            same_acceptor: None
        })
    ));
    assert!(matches!(
        s.check_used_invite(b"secret-a", b"first"),
        InviteError::Used { same_acceptor: Some(c) } if c == ana
    ));
    assert!(matches!(
        s.check_used_invite(b"secret-x", b"first"),
        InviteError::Unknown
    ));
    assert!(
        s.pending_invites().unwrap().items.is_empty(),
        "used is not pending"
    );
    s.add_invite(b"secret-b", &inv).unwrap();
    assert!(matches!(
        s.check_used_invite(b"secret-b", b"first"),
        InviteError::Unknown
    ));
    assert!(matches!(
        s.consume_invite(b"secret-b", 1_000, b"first", &ana),
        Err(InviteError::Expired)
    ));
    assert!(matches!(
        s.consume_invite(b"secret-b", 10, b"first", &ana),
        Err(InviteError::Unknown)
    ));
    s.add_invite(b"secret-c", &inv).unwrap();
    assert_eq!(s.pending_invites().unwrap().items.len(), 1);
    // The sweep removes the expired pending invite and the used one once it would have expired.
    assert_eq!(s.sweep(1_000).unwrap().invites_removed, 2);
    assert!(s.pending_invites().unwrap().items.is_empty());
    assert!(matches!(
        s.check_used_invite(b"secret-a", b"first"),
        InviteError::Unknown
    ));
}

/// Catches identity, profile card and settings not round-tripping through a reopen, and a
/// `Debug` of the store or of secrets that prints key material.
#[test]
fn identity_card_settings_round_trip_and_debug_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    {
        let s = create(&dir);
        s.set_identity(&SecretBytes::new(vec![0xAB; 64])).unwrap();
        s.set_profile_card(b"card-bytes").unwrap();
        s.set_setting("mdns", b"off").unwrap();
        s.set_setting("gone", b"x").unwrap();
        s.remove_setting("gone").unwrap();
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("171") && !dbg.to_lowercase().contains("ab, ab"),
            "{dbg}"
        );
        assert!(dbg.starts_with("Store {"), "{dbg}");
    }
    let s = open(&dir);
    let idn = s.identity().unwrap().unwrap();
    assert_eq!(idn.expose_secret(), &[0xAB; 64]);
    assert_eq!(format!("{idn:?}"), "SecretBytes(64 bytes)");
    assert_eq!(s.profile_card().unwrap().unwrap(), b"card-bytes");
    assert_eq!(s.setting("mdns").unwrap().unwrap(), b"off");
    assert!(s.setting("gone").unwrap().is_none());
    assert!(s.check().is_clean());
}

/// Catches oversize values being written (and then unreadable) instead of refused.
#[test]
fn oversize_text_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let s = create(&tmp.path().join("p"));
    let id = s.put_contact(&contact("Ana", 1)).unwrap();
    let big = "x".repeat(codec::MAX_TEXT_LEN + 1);
    let err = s.append_messages(&id, &[outgoing(1, &big)], 1).unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err:?}");
    assert!(s.messages(&id).unwrap().items.is_empty());
    assert_eq!(s.conversation(&id).unwrap().next_seq, 0);
}

/// Catches the default profile location not being under the XDG data directory.
#[test]
fn default_location_is_xdg_data_dir() {
    let p = ProfilePaths::default_location().unwrap();
    let s = p.dir.to_string_lossy().to_string();
    assert!(s.contains("cairn"), "{s}");
    assert!(p.key_file().ends_with("cairn.key"));
}

/// Catches an interrupted create (killed between database and key file) leaving a profile that
/// can neither be opened nor re-created.
#[test]
fn interrupted_create_is_reported_and_recoverable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let paths = ProfilePaths::new(&dir);
    drop(create(&dir));
    // Simulate a kill after the key file was written but before the marker was removed.
    std::fs::write(paths.creating_marker(), b"").unwrap();
    let err = Store::open(&paths, &Passphrase::new(PASS), &opts()).unwrap_err();
    assert!(matches!(err, OpenError::IncompleteCreation(_)), "{err:?}");
    // Simulate a kill before the key file was written.
    std::fs::remove_file(paths.key_file()).unwrap();
    assert!(matches!(
        Store::open(&paths, &Passphrase::new(PASS), &opts()).unwrap_err(),
        OpenError::NotFound(_)
    ));
    let s = Store::create(&paths, &Passphrase::new("fresh"), fast(), &opts()).unwrap();
    assert!(!paths.creating_marker().exists());
    assert!(s.check().is_clean());
    drop(s);
    Store::open(&paths, &Passphrase::new("fresh"), &opts()).unwrap();
}

/// Catches the parallel decryption of long listings reordering, dropping or duplicating
/// messages, or hiding a damaged record among them.
#[test]
fn long_listing_keeps_order_and_reports_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let n = cairn_node::store::PARALLEL_OPEN_MIN * 3 + 7;
    let id;
    {
        let s = create(&dir);
        id = s.put_contact(&contact("Ana", 1)).unwrap();
        let msgs: Vec<_> = (0..n)
            .map(|i| outgoing(i as u8, &format!("m{i}")))
            .collect();
        s.append_messages(&id, &msgs, 1).unwrap();
        s.close().unwrap();
    }
    swap_raw(
        &dir.join("db"),
        TreeName::Messages,
        &codec::message_key(&id, 100),
        &codec::message_key(&id, 500),
    );
    let s = open(&dir);
    let l = s.messages(&id).unwrap();
    assert_eq!(l.items.len() + l.damaged.len(), n);
    assert_eq!(l.damaged.len(), 2);
    let seqs: Vec<u64> = l.items.iter().map(|m| m.seq).collect();
    let expected: Vec<u64> = (0..n as u64).filter(|s| *s != 100 && *s != 500).collect();
    assert_eq!(seqs, expected);
    assert!(l.items.iter().all(|m| m.text == format!("m{}", m.seq)));
}

/// Queues messages `ids` (text "m<i>", envelope ten bytes of `i`) to `id` in one batch, as a
/// burst of sends does.
fn queue_burst(
    s: &Store,
    id: &cairn_node::store::ContactId,
    ids: std::ops::Range<u8>,
    now: u64,
) -> (u64, Vec<(cairn_node::store::BatchId, usize)>) {
    let msgs: Vec<_> = ids.clone().map(|i| outgoing(i, &format!("m{i}"))).collect();
    let outs: Vec<_> = ids
        .map(|i| NewOutbox {
            envelope: vec![i; 10],
            next_attempt_at_ms: 0,
        })
        .collect();
    s.record_outgoing_many(id, &SecretBytes::new(vec![1]), &msgs, &outs, now)
        .map(Staged::after_next_flush)
        .unwrap()
}

fn outbox_records(s: &Store) -> usize {
    s.check()
        .trees
        .iter()
        .find(|t| t.tree == TreeName::Outbox)
        .map_or(0, |t| t.readable)
}

/// Catches envelopes of a burst (one batch record) that are lost, resent after their receipt,
/// left on disk once all are confirmed, or kept for an expired message; and a renewed envelope
/// that does not replace the one in the record.
#[test]
fn outbox_batch_records_retire_with_their_receipts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let sess = SecretBytes::new(vec![1]);
    let id;
    {
        let s = create(&dir);
        id = s.put_contact(&contact("Ana", 1)).unwrap();
        let (first, batches) = queue_burst(&s, &id, 0..5, 10);
        s.make_durable().unwrap();
        assert_eq!(batches.len(), 1);
        let batch = batches[0].0;
        assert_eq!(outbox_records(&s), 1, "five envelopes, one record");
        let (listing, members) = s.outbox_batched().unwrap();
        assert_eq!(listing.items.len(), 5);
        assert_eq!(members.len(), 5);
        assert!(members.iter().all(|(_, b)| *b == batch));
        // Message 1 is encrypted again: its new envelope replaces the one in the record.
        let mut renewed = listing
            .items
            .iter()
            .find(|e| e.message_id == MessageId([1; 16]))
            .unwrap()
            .clone();
        renewed.envelope = vec![0xee; 12];
        s.renew_envelopes(&id, &sess, std::slice::from_ref(&renewed))
            .map(Staged::after_next_flush)
            .unwrap();
        let listed: Vec<Vec<u8>> = s
            .outbox()
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.message_id == MessageId([1; 16]))
            .map(|e| e.envelope)
            .collect();
        assert_eq!(
            listed,
            vec![vec![0xee; 12]],
            "renewed envelope listed once, new"
        );
        // Receipts for 0 and 1 (seq known), 2 looked up by id only.
        let done = s
            .apply_receipt(
                &id,
                &sess,
                &[
                    (MessageId([0; 16]), Some(first)),
                    (MessageId([1; 16]), Some(first + 1)),
                    (MessageId([2; 16]), None),
                ],
                &[],
                20,
            )
            .map(Staged::after_next_flush)
            .unwrap();
        assert_eq!(done.len(), 3);
        let again = s
            .apply_receipt(&id, &sess, &[(MessageId([2; 16]), None)], &[], 21)
            .map(Staged::after_next_flush)
            .unwrap();
        assert!(again.is_empty(), "confirmed once");
        s.make_durable().unwrap();
        s.close().unwrap();
    }
    // After a restart only 3 and 4 are pending, with their own envelopes.
    let s = open(&dir);
    let mut left: Vec<(u8, Vec<u8>)> = s
        .outbox()
        .unwrap()
        .items
        .into_iter()
        .map(|e| (e.message_id.0[0], e.envelope))
        .collect();
    left.sort();
    assert_eq!(left, vec![(3, vec![3; 10]), (4, vec![4; 10])]);
    let (_, members) = s.outbox_batched().unwrap();
    let batch = members[0].1;
    // Both confirmed, the record retired in the same write.
    let done = s
        .apply_receipt(
            &id,
            &sess,
            &[(MessageId([3; 16]), Some(3)), (MessageId([4; 16]), Some(4))],
            &[batch],
            30,
        )
        .map(Staged::after_next_flush)
        .unwrap();
    assert_eq!(done.len(), 2);
    s.make_durable().unwrap();
    assert!(s.outbox().unwrap().items.is_empty());
    assert_eq!(outbox_records(&s), 0, "retired record left on disk");
    let states: Vec<DeliveryState> = s
        .messages(&id)
        .unwrap()
        .items
        .iter()
        .map(|m| m.state)
        .collect();
    assert_eq!(states, vec![DeliveryState::Delivered; 5]);
}

/// Catches a batch record whose removal was lost (every entry confirmed, the caller's count
/// gone with a crash) staying for ever, and an expired message's envelope kept in a record.
#[test]
fn outbox_batch_records_are_cleaned_up() {
    let tmp = tempfile::tempdir().unwrap();
    let s = create(&tmp.path().join("p"));
    let id = s.put_contact(&contact("Ana", 1)).unwrap();
    let sess = SecretBytes::new(vec![1]);
    let t0 = 1_000_000;
    s.set_disappearing_timer(&id, Some(DAY)).unwrap();
    let (first, _) = queue_burst(&s, &id, 0..3, t0);
    queue_burst(&s, &id, 10..13, t0);
    s.make_durable().unwrap();
    assert_eq!(outbox_records(&s), 2);
    // The first burst is confirmed without retiring its record (as after a crash).
    let ids: Vec<_> = (0..3u8)
        .map(|i| (MessageId([i; 16]), Some(first + u64::from(i))))
        .collect();
    s.apply_receipt(&id, &sess, &ids, &[], t0)
        .map(Staged::after_next_flush)
        .unwrap();
    s.make_durable().unwrap();
    assert_eq!(s.outbox().unwrap().items.len(), 3, "second burst pending");
    assert_eq!(outbox_records(&s), 1, "confirmed record removed on listing");
    // The second burst expires before delivery: its envelopes go with the messages.
    let r = s.sweep(t0 + DAY + 1).unwrap();
    assert_eq!(r.messages_removed, 6);
    assert!(s.outbox().unwrap().items.is_empty());
    assert_eq!(outbox_records(&s), 0);
    assert!(s.check().is_clean());
}

/// Catches a damaged message record making its envelope in a batch record count as sent (and
/// the record be removed), or making the whole outbox unreadable at start.
#[test]
fn damaged_message_keeps_its_batch_entry_pending() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let id;
    {
        let s = create(&dir);
        id = s.put_contact(&contact("Ana", 1)).unwrap();
        queue_burst(&s, &id, 0..3, 10);
        s.make_durable().unwrap();
        s.close().unwrap();
    }
    {
        let be = SledBackend::open(&dir.join("db")).unwrap();
        let key = codec::message_key(&id, 1);
        let mut v = be.get(TreeName::Messages, &key).unwrap().unwrap();
        let mid = v.len() / 2;
        v[mid] ^= 0x10;
        let mut batch = WriteBatch::new();
        batch.put(TreeName::Messages, key.to_vec(), v);
        be.apply(&batch).unwrap();
        be.flush().unwrap();
    }
    let s = open(&dir);
    let (listing, members) = s.outbox_batched().unwrap();
    assert_eq!(listing.items.len(), 3, "every envelope still pending");
    assert_eq!(members.len(), 3);
    assert_eq!(outbox_records(&s), 1);
}

/// Catches an invite answered in several writes: a crash between them would leave the
/// invite used with no contact or no answer queued (the acceptor stuck "being set up"), or
/// a contact without its session. All of it is one batch; a failure writes none of it.
#[test]
fn answering_an_invite_is_one_atomic_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let s = create(&tmp.path().join("p"));
    let inv = Invite {
        created_at_ms: 0,
        expires_at_ms: 1_000,
        payload: SecretBytes::new(vec![42; 32]),
    };
    s.add_invite(b"secret-x", &inv).unwrap();
    // A contact the codec refuses (an alias over its limit): nothing may be written.
    let mut bad = contact("ana", 9);
    bad.alias = "x".repeat(2_000);
    let session = SecretBytes::new(vec![7; 300]);
    let err = s.answer_invite(
        b"secret-x",
        10,
        b"first",
        &bad,
        &session,
        (MessageId([1; 16]), b"answer"),
    );
    assert!(err.is_err());
    assert_eq!(
        s.pending_invites().unwrap().items.len(),
        1,
        "invite still open"
    );
    assert!(s.contacts().unwrap().items.is_empty());
    assert!(s.outbox().unwrap().items.is_empty());
    // The real answer: invite used, contact, session and answer, together.
    let good = contact("ana", 9);
    s.answer_invite(
        b"secret-x",
        10,
        b"first",
        &good,
        &session,
        (MessageId([1; 16]), b"answer"),
    )
    .unwrap();
    let id = s.contact_id(&good.identity_key);
    assert!(s.pending_invites().unwrap().items.is_empty());
    assert_eq!(s.contact(&id).unwrap().unwrap().alias, "ana");
    assert_eq!(
        s.session(&id).unwrap().unwrap().expose_secret(),
        session.expose_secret()
    );
    let outbox = s.outbox().unwrap().items;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].envelope, b"answer");
    assert!(matches!(
        s.consume_invite(b"secret-x", 10, b"other", &id),
        Err(InviteError::Used { .. })
    ));
}

/// Catches a re-key with a new identity key (PROTOCOL §23.1) that loses history, leaves
/// records under the old id, strands outbox entries (single and burst records) under it,
/// or that overwrites another contact who already has the new key.
#[test]
fn moving_a_contact_to_a_new_identity_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let s = create(&tmp.path().join("p"));
    let old_c = contact("Ana", 1);
    let old = s.put_contact(&old_c).unwrap();
    s.record_outgoing(
        &old,
        &SecretBytes::new(b"old-state".to_vec()),
        &outgoing(9, "before the new phone"),
        &NewOutbox {
            envelope: vec![7; 10],
            next_attempt_at_ms: 0,
        },
        50,
    )
    .and_then(|w| w.durable(&s))
    .unwrap();
    s.record_incoming(
        &old,
        &SecretBytes::new(b"old-state-2".to_vec()),
        &incoming([5; 16], "old reply", 60),
        60,
    )
    .unwrap();
    queue_burst(&s, &old, 20..23, 70);
    s.make_durable().unwrap();
    let other = s.put_contact(&contact("Bo", 3)).unwrap();

    // The new key is another contact's: refused, nothing moves.
    let mut clash = old_c.clone();
    clash.identity_key = contact("Bo", 3).identity_key;
    let err = s
        .move_contact(&old, &clash, &SecretBytes::new(b"x".to_vec()), None)
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(s.messages(&old).unwrap().items.len(), 5);
    assert!(s.contact(&other).unwrap().is_some());

    let mut moved = old_c.clone();
    moved.identity_key = vec![0x42; 32];
    moved.peer_id = vec![0x43; 38];
    moved.verified = false;
    let new = s
        .move_contact(
            &old,
            &moved,
            &SecretBytes::new(b"new-state".to_vec()),
            Some((MessageId([0xcc; 16]), &[1, 2, 3], 80)),
        )
        .unwrap();
    assert_ne!(new, old);
    assert_eq!(new, s.contact_id(&moved.identity_key));
    assert!(s.contact(&old).unwrap().is_none());
    assert!(s.session(&old).unwrap().is_none());
    assert!(s.messages(&old).unwrap().items.is_empty());
    assert!(s.contact_by_peer_id(&old_c.peer_id).unwrap().is_none());
    let c = s.contact(&new).unwrap().unwrap();
    assert_eq!((c.alias.as_str(), c.verified), ("Ana", false));
    assert_eq!(
        s.contact_by_peer_id(&moved.peer_id).unwrap().unwrap().0,
        new
    );
    assert_eq!(
        s.session(&new).unwrap().unwrap().expose_secret(),
        b"new-state"
    );
    let texts: Vec<String> = s
        .messages(&new)
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts[..2], ["before the new phone", "old reply"]);
    assert_eq!(texts.len(), 5);
    assert_eq!(s.conversation(&new).unwrap().next_seq, 5);
    let outbox = s.outbox().unwrap().items;
    assert_eq!(
        outbox.len(),
        5,
        "one message, a burst of three, the control"
    );
    assert!(outbox.iter().all(|e| e.contact == new), "{outbox:?}");
    assert!(
        s.check().is_clean(),
        "every moved record reads back under its new key"
    );
}
