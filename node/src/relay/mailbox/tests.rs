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
    let mb = Mailbox::open_with(dir.path(), DEFAULT_RETENTION, Some((&pass, kdf))).unwrap();
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
    let stored: u64 = mb
        .mail
        .iter()
        .values()
        .flatten()
        .map(|v| v.len() as u64)
        .sum();
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
