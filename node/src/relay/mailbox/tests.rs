//! Tests of the mailbox store.

use super::*;
use cairn_crypto::envelope::EnvelopeKind;

fn mail_for(key: [u8; 32]) -> (Envelope, Vec<u8>) {
    let env = Envelope {
        kind: EnvelopeKind::Message,
        tag: MailboxKey::from_array(key).tag(),
        body: vec![0x5a; 300],
    };
    let bytes = env.encode();
    (env, bytes)
}

/// Catches a passphrase-protected mailbox key that is not really needed, a wrong
/// passphrase that opens it, or mail lost across a protected reopen.
#[test]
fn passphrase_protects_the_mailbox_key() {
    let dir = tempfile::tempdir().unwrap();
    let pass = Passphrase::new("relay operator passphrase");
    let kdf = KdfParams::insecure_fast_for_tests();
    let key = [7u8; 32];
    {
        let mut mb = Mailbox::open_with(dir.path(), DEFAULT_RETENTION, Some((&pass, kdf))).unwrap();
        let (env, bytes) = mail_for(key);
        assert!(mb.put(&env, &bytes).unwrap());
    }
    let file = std::fs::read(dir.path().join("mailbox.key")).unwrap();
    assert!(KeyFile::parse(&file).is_ok(), "wrapped like a profile key");
    // sled may hold its lock a moment after the drop.
    std::thread::sleep(Duration::from_millis(200));
    assert!(matches!(
        Mailbox::open_with(dir.path(), DEFAULT_RETENTION, None),
        Err(MailboxError::PassphraseRequired)
    ));
    let wrong = Passphrase::new("not it");
    assert!(matches!(
        Mailbox::open_with(dir.path(), DEFAULT_RETENTION, Some((&wrong, kdf))),
        Err(MailboxError::WrongPassphrase)
    ));
    assert_eq!(std::fs::read(dir.path().join("mailbox.key")).unwrap(), file);
    let mut mb = Mailbox::open_with(dir.path(), DEFAULT_RETENTION, Some((&pass, kdf))).unwrap();
    let got = mb.fetch(&[key]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, mail_for(key).1);
}

/// Catches mail read back out of deposit order (a backlog then arrives shuffled and
/// overruns the recipient's skipped-key window), per-tag counters that drift from
/// what is stored, and a sequence that restarts below existing records on reopen.
#[test]
fn mail_comes_back_in_deposit_order_and_counters_hold() {
    let dir = tempfile::tempdir().unwrap();
    let key = [9u8; 32];
    let tag = MailboxKey::from_array(key).tag();
    let env = |i: u32| {
        let mut body = vec![0u8; 200];
        body[..4].copy_from_slice(&i.to_be_bytes());
        let e = Envelope {
            kind: EnvelopeKind::Message,
            tag,
            body,
        };
        let b = e.encode();
        (e, b)
    };
    let index_of = |bytes: &[u8]| (0..1000u32).find(|i| env(*i).1 == bytes).unwrap();
    // Reads everything back, one response at a time, acknowledging `ack` of each.
    let drain = |mb: &mut Mailbox, ack: usize| -> Vec<u32> {
        let mut got = Vec::new();
        loop {
            let batch = mb.fetch(&[key]);
            if batch.is_empty() || got.len() >= ack {
                return got;
            }
            let n = batch.len().min(ack - got.len());
            got.extend(batch[..n].iter().map(|(_, b)| index_of(b)));
            let ids: Vec<[u8; 16]> = batch[..n].iter().map(|(id, _)| *id).collect();
            assert_eq!(mb.ack(&key, &ids).unwrap(), n as u32);
        }
    };
    {
        let mut mb = Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap();
        for i in 0..300 {
            let (e, b) = env(i);
            assert!(mb.put(&e, &b).unwrap());
        }
        assert_eq!(drain(&mut mb, 200), (0..200).collect::<Vec<_>>());
        let prefix = mb.blinded(&tag.0);
        assert_eq!(mb.tags[&prefix].count, 100);
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut mb = Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap();
    let prefix = mb.blinded(&tag.0);
    assert_eq!(mb.tags[&prefix].count, 100, "counted again at open");
    assert_eq!(mb.tags[&prefix].next_seq, 300);
    for i in 300..310 {
        let (e, b) = env(i);
        assert!(mb.put(&e, &b).unwrap());
    }
    let mut stored = 0u64;
    mb.backend
        .visit_prefix(TreeName::Mail, &[], &mut |_, v| {
            stored += v.len() as u64;
            true
        })
        .unwrap();
    assert_eq!(mb.total, stored);
    assert_eq!(mb.tags[&prefix].bytes, stored);
    assert_eq!(drain(&mut mb, usize::MAX), (200..310).collect::<Vec<_>>());
    assert!(mb.tags.is_empty() && mb.total == 0, "all released");
}

/// Catches a per-tag quota that the in-memory counters no longer enforce.
#[test]
fn per_tag_quota_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut mb = Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap();
    let key = [3u8; 32];
    let (env, bytes) = mail_for(key);
    for _ in 0..MAX_PER_TAG {
        assert!(mb.put(&env, &bytes).unwrap());
    }
    assert!(!mb.put(&env, &bytes).unwrap(), "tag full");
    let (other, other_bytes) = mail_for([4u8; 32]);
    assert!(mb.put(&other, &other_bytes).unwrap(), "another tag is not");
}

/// Catches a mailbox that strangers fill for everyone: one source holds at most its
/// share however many tags it uses, mail for unclaimed tags stops at the open share,
/// a claimed tag still takes mail past it, and collected mail frees the share.
#[test]
fn strangers_cannot_fill_the_mailbox() {
    use super::super::quota::DepositSource;
    const MAX_HELD_PER_SOURCE: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let mut mb = Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap();
    let capacity = 8 * MAX_HELD_PER_SOURCE;
    mb.set_capacity(capacity, MAX_HELD_PER_SOURCE);
    let big = |key: [u8; 32]| {
        let env = Envelope {
            kind: EnvelopeKind::Message,
            tag: MailboxKey::from_array(key).tag(),
            body: vec![0x5a; 65_536],
        };
        let bytes = env.encode();
        (env, bytes)
    };
    let now = now_ms();
    let attacker = mb.depositor(DepositSource::Ip("203.0.113.7".parse().unwrap()));
    let mut stored = 0u64;
    let mut refusal = None;
    for i in 0..4096u32 {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        let (env, bytes) = big(k);
        match mb.stage_from(&env, &bytes, Some(attacker), now).unwrap() {
            None => stored += bytes.len() as u64,
            Some(r) => {
                refusal = Some(r);
                break;
            }
        }
    }
    assert_eq!(refusal, Some(Refusal::SourceFull));
    assert!(stored <= MAX_HELD_PER_SOURCE && stored > MAX_HELD_PER_SOURCE / 2);
    // Many sources (one per /24) fill the open share, and no further.
    let mut net = 0u32;
    let last;
    'fill: loop {
        net += 1;
        let who = mb.depositor(DepositSource::Ip(
            format!("198.{}.{}.1", net / 256, net % 256)
                .parse()
                .unwrap(),
        ));
        for i in 0..4096u32 {
            let mut k = [0xee; 32];
            k[..4].copy_from_slice(&net.to_be_bytes());
            k[4..8].copy_from_slice(&i.to_be_bytes());
            let (env, bytes) = big(k);
            match mb.stage_from(&env, &bytes, Some(who), now).unwrap() {
                None => {}
                Some(Refusal::SourceFull) => break,
                Some(r) => {
                    last = Some(r);
                    break 'fill;
                }
            }
        }
    }
    assert_eq!(last, Some(Refusal::Full));
    assert!(mb.total_bytes() <= capacity / 100 * OPEN_SHARE_PERCENT);
    // A user's tag, claimed by its owner's fetch, still takes mail from a new sender.
    let user_key = [0x77; 32];
    let sender = mb.depositor(DepositSource::Ip("192.0.2.50".parse().unwrap()));
    let (env, bytes) = big(user_key);
    assert_eq!(
        mb.stage_from(&env, &bytes, Some(sender), now).unwrap(),
        Some(Refusal::Full),
        "unclaimed"
    );
    mb.claim(&[user_key], now);
    assert_eq!(
        mb.stage_from(&env, &bytes, Some(sender), now).unwrap(),
        None
    );
    assert_eq!(mb.fetch(&[user_key]).len(), 1);
    // Collected mail frees the first source's share.
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&0u32.to_be_bytes());
    let ids: Vec<[u8; 16]> = mb.fetch(&[k]).into_iter().map(|(id, _)| id).collect();
    assert_eq!(mb.ack(&k, &ids).unwrap(), 1);
    let (env, bytes) = big(k);
    mb.claim(&[k], now);
    assert_eq!(
        mb.stage_from(&env, &bytes, Some(attacker), now).unwrap(),
        None
    );
    assert_eq!(
        mb.stage_from(&env, &bytes, Some(attacker), now).unwrap(),
        Some(Refusal::SourceFull)
    );
}

/// Catches a sweep in steps that misses expired mail or removes fresh mail.
#[test]
fn sweep_in_steps() {
    let dir = tempfile::tempdir().unwrap();
    let mut mb = Mailbox::open(dir.path(), Duration::from_secs(60)).unwrap();
    let now = now_ms();
    for i in 0..1200u32 {
        let mut k = [1u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        let (env, bytes) = mail_for(k);
        let at = if i % 3 == 0 { now - 120_000 } else { now };
        assert_eq!(mb.stage_from(&env, &bytes, None, at).unwrap(), None);
    }
    let mut cursor = Vec::new();
    let mut removed = 0;
    let mut steps = 0;
    loop {
        let (n, next) = mb.sweep_step(&cursor, 100, now).unwrap();
        removed += n;
        steps += 1;
        match next {
            Some(c) => cursor = c,
            None => break,
        }
    }
    assert_eq!(removed, 400);
    assert_eq!(mb.len(), 800);
    assert!(steps >= 12);
}

/// Catches a passphrase silently ignored for an unprotected key.
#[test]
fn unprotected_key_refuses_a_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    drop(Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap());
    std::thread::sleep(Duration::from_millis(200));
    let pass = Passphrase::new("late passphrase");
    assert!(matches!(
        Mailbox::open_with(
            dir.path(),
            DEFAULT_RETENTION,
            Some((&pass, KdfParams::insecure_fast_for_tests()))
        ),
        Err(MailboxError::NotProtected)
    ));
}

/// A record in the layout before the mailbox went through the store's backend.
fn legacy_record(master: &[u8; 32], key: &[u8], created: u64, env: &[u8]) -> Vec<u8> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let nonce = [3u8; 24];
    let mut plain = created.to_be_bytes().to_vec();
    plain.extend_from_slice(env);
    let c = XChaCha20Poly1305::new(value_key(master).as_ref().into());
    let ct = c
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: key,
            },
        )
        .unwrap();
    [nonce.to_vec(), ct].concat()
}

/// Catches mail lost when a relay written before the backend layout starts with this
/// version: its records must be moved over, resealed, in order and counted, the old tree
/// emptied, a damaged old record dropped rather than kept or fatal.
#[test]
fn mail_of_the_old_layout_is_moved_over() {
    let dir = tempfile::tempdir().unwrap();
    let key = [5u8; 32];
    // A relay of the old layout: its key file, and three records under one tag plus a
    // damaged one, in the sled tree "mail".
    let master = [0x42u8; 32];
    write_private(&dir.path().join("mailbox.key"), &master).unwrap();
    let blind = hmac32(&master, &[b"cairn/v1 mailbox tags"]);
    let tag = MailboxKey::from_array(key).tag();
    let prefix: [u8; 16] = hmac32(&blind, &[&tag.0])[..16].try_into().unwrap();
    let now = now_ms();
    {
        let db = sled::Config::new()
            .path(dir.path().join("mailbox.db"))
            .open()
            .unwrap();
        let old = db.open_tree("mail").unwrap();
        for i in 0u64..3 {
            let mut k = prefix.to_vec();
            k.extend_from_slice(&i.to_be_bytes());
            k.extend_from_slice(&[i as u8; 8]);
            let (_, bytes) = mail_for(key);
            let mut env = bytes.clone();
            env[40] = i as u8;
            old.insert(k.clone(), legacy_record(&master, &k, now, &env))
                .unwrap();
        }
        let mut k = prefix.to_vec();
        k.extend_from_slice(&9u64.to_be_bytes());
        k.extend_from_slice(&[9; 8]);
        old.insert(k, vec![0u8; 80]).unwrap();
        db.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut mb = Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap();
    assert_eq!(mb.len(), 3, "three moved, the damaged one dropped");
    let got = mb.fetch(&[key]);
    assert_eq!(
        got.iter().map(|(_, e)| e[40]).collect::<Vec<_>>(),
        vec![0, 1, 2],
        "in deposit order"
    );
    assert_eq!(mb.tags[&prefix].next_seq, 3);
    // Later deposits go after them, and nothing is moved twice.
    let (e, b) = mail_for(key);
    assert!(mb.put(&e, &b).unwrap());
    drop(mb);
    std::thread::sleep(Duration::from_millis(200));
    let mut mb = Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap();
    assert_eq!(mb.len(), 4);
    assert_eq!(mb.fetch(&[key]).len(), 4);
}

/// Catches a sweep that resumes at the wrong place or reads another tree's records: the
/// backend's `visit_after` on sled and in memory.
#[test]
fn visit_after_resumes_past_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let sled = crate::store::SledBackend::open(&dir.path().join("db")).unwrap();
    let disk = crate::store::MemDisk::new();
    let mem = disk.backend();
    let backends: [&dyn Backend; 2] = [&sled, &mem];
    for b in backends {
        let mut w = WriteBatch::new();
        for k in [b"a1", b"a2", b"b1", b"b3"] {
            w.put(TreeName::Mail, k.to_vec(), b"v".to_vec());
        }
        w.put(TreeName::Settings, b"b2".to_vec(), b"x".to_vec());
        b.apply(&w).unwrap();
        let keys = |after: &[u8], limit: usize| {
            let mut out = Vec::new();
            b.visit_after(TreeName::Mail, after, &mut |k, _| {
                out.push(k.to_vec());
                out.len() < limit
            })
            .unwrap();
            out
        };
        assert_eq!(keys(b"", 9).len(), 4);
        assert_eq!(keys(b"", 2), vec![b"a1".to_vec(), b"a2".to_vec()]);
        assert_eq!(keys(b"a2", 9), vec![b"b1".to_vec(), b"b3".to_vec()]);
        assert_eq!(keys(b"b2", 9), vec![b"b3".to_vec()]);
        assert!(keys(b"b3", 9).is_empty());
    }
}

/// A backend whose writes fail while `fail` is set.
struct Failing {
    inner: crate::store::MemBackend,
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Backend for Failing {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        self.inner.get(tree, key)
    }
    fn scan_prefix<'a>(
        &'a self,
        tree: TreeName,
        prefix: &[u8],
    ) -> Box<dyn Iterator<Item = Result<crate::store::RawEntry, BackendError>> + 'a> {
        self.inner.scan_prefix(tree, prefix)
    }
    fn apply(&self, batch: &WriteBatch) -> Result<(), BackendError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(BackendError::Other("disk full".into()));
        }
        self.inner.apply(batch)
    }
    fn flush(&self) -> Result<(), BackendError> {
        self.inner.flush()
    }
}

/// Catches deposits staged together that stay counted when their write fails (the quotas
/// would then refuse mail for envelopes that were never stored), and staged deposits that
/// a fetch does not see.
#[test]
fn a_failed_write_takes_its_deposits_back_out() {
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let disk = crate::store::MemDisk::new();
    let backend = Failing {
        inner: disk.backend(),
        fail: fail.clone(),
    };
    let key = [4u8; 32];
    let mut mb = Mailbox::over(Box::new(backend), &[1; 32], DEFAULT_RETENTION).unwrap();
    let (env, bytes) = mail_for(key);
    for _ in 0..3 {
        assert!(mb.stage(&env, &bytes).unwrap());
    }
    assert_eq!(mb.fetch(&[key]).len(), 3, "staged deposits are read back");
    for _ in 0..2 {
        assert!(mb.stage(&env, &bytes).unwrap());
    }
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(mb.flush().is_err());
    assert_eq!(mb.len(), 3, "the two whose write failed are not counted");
    fail.store(false, std::sync::atomic::Ordering::SeqCst);
    let prefix = mb.blinded(&MailboxKey::from_array(key).tag().0);
    assert_eq!(mb.tags[&prefix].count, 3);
    let stored = disk.records(TreeName::Mail) as u64;
    assert_eq!(stored, 3);
    assert!(mb.put(&env, &bytes).unwrap());
    assert_eq!(mb.fetch(&[key]).len(), 4);
    assert_eq!(disk.records(TreeName::Mail), 4);
}
