//! Session behaviour: handshake properties and ratchet edge cases.
mod common;
use cairn_crypto::*;
use common::*;

/// Catches a broken handshake or ratchet init: both directions, both orders.
#[test]
fn both_sides_can_send_first() {
    let mut r = rng(1);
    for bob_first in [false, true] {
        let mut p = pair(if bob_first { 2 } else { 3 });
        if bob_first {
            let e = p
                .bob
                .encrypt(b"hello from the inviter", NOW, &mut r)
                .unwrap();
            assert_eq!(p.alice.decrypt(&e, NOW).unwrap(), b"hello from the inviter");
        }
        for i in 0..5u8 {
            let e = p.alice.encrypt(&[i; 10], NOW, &mut r).unwrap();
            assert_eq!(p.bob.decrypt(&e, NOW).unwrap(), vec![i; 10]);
            let e = p.bob.encrypt(&[i; 20], NOW, &mut r).unwrap();
            assert_eq!(p.alice.decrypt(&e, NOW).unwrap(), vec![i; 20]);
        }
    }
}

/// Catches a PSK that is not checked before the responder answers: a stranger who
/// knows only the inviter's public key gets no session and no reply.
#[test]
fn stranger_without_invite_secret_is_refused() {
    let mut r = rng(4);
    let bob = IdentityKeyPair::generate(&mut r);
    let mallory = IdentityKeyPair::generate(&mut r);
    let real = Invite::new(bob.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
    // Mallory knows Bob's key and even the tag, but not the secret.
    let mut forged =
        Invite::new(bob.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
    forged.secret = InviteSecret::random(&mut r);
    let (_, mut m1) = initiate(&mallory, &forged, &card("mallory"), &mut r).unwrap();
    m1.tag = RoutingTag(real.keys().init_tag);
    let err = respond(&bob, &real.keys(), &card("bob"), &m1, &mut r).unwrap_err();
    assert_eq!(err, HandshakeError::Rejected);
}

/// Catches an initiator identity visible to a passive observer of message 1.
#[test]
fn initiator_identity_hidden_on_the_wire() {
    let mut r = rng(5);
    let alice = IdentityKeyPair::generate(&mut r);
    let bob = IdentityKeyPair::generate(&mut r);
    let invite = Invite::new(bob.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
    let (_, m1) = initiate(&alice, &invite, &card("alice-distinctive"), &mut r).unwrap();
    let wire = m1.encode();
    let key = alice.public();
    assert!(!wire.windows(32).any(|w| w == key.as_bytes()));
    assert!(!wire.windows(17).any(|w| w == b"alice-distinctive"));
}

/// Catches handshake envelopes that their own decoder refuses: a wrong fixed overhead for
/// message 1 or 2 (`HANDSHAKE_INIT_OVERHEAD`, `HANDSHAKE_RESPONSE_OVERHEAD`) makes every
/// handshake that crosses a wire fail as a bad length (survivors of mutation testing,
/// docs/FUZZING.md).
#[test]
fn handshake_messages_survive_the_wire() {
    let mut r = rng(6);
    let alice = IdentityKeyPair::generate(&mut r);
    let bob = IdentityKeyPair::generate(&mut r);
    let invite = Invite::new(bob.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
    let (pending, m1) = initiate(&alice, &invite, &card("alice"), &mut r).unwrap();
    let m1 = Envelope::decode(&m1.encode()).expect("message 1 decodes");
    assert_eq!(m1.kind, EnvelopeKind::HandshakeInit);
    let (_, m2) = respond(&bob, &invite.keys(), &card("bob"), &m1, &mut r).unwrap();
    let m2 = Envelope::decode(&m2.encode()).expect("message 2 decodes");
    assert_eq!(m2.kind, EnvelopeKind::HandshakeResponse);
    pending
        .finish(&alice, &m2)
        .expect("the handshake completes");
}

/// Catches a responder that accepts its own invite's answer, or a wrong-kind message.
#[test]
fn handshake_rejects_wrong_messages_and_keeps_state() {
    let mut r = rng(6);
    let alice = IdentityKeyPair::generate(&mut r);
    let bob = IdentityKeyPair::generate(&mut r);
    let invite = Invite::new(bob.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
    let (pending, m1) = initiate(&alice, &invite, &card("alice"), &mut r).unwrap();
    let before = pending.to_bytes();
    let (_, m2) = respond(&bob, &invite.keys(), &card("bob"), &m1, &mut r).unwrap();
    // Tampered answer: rejected, state unchanged, the genuine answer still works.
    let mut bad = m2.clone();
    bad.body[40] ^= 1;
    let rej = pending.finish(&alice, &bad).unwrap_err();
    assert_eq!(rej.error, HandshakeError::Rejected);
    assert_eq!(rej.state.to_bytes(), before);
    let rej = rej.state.finish(&alice, &m1).unwrap_err();
    assert_eq!(rej.error, HandshakeError::WrongKind);
    // Restored from bytes (as after a restart), then the genuine answer.
    let restored = AwaitingResponse::from_bytes(&rej.state.to_bytes()).unwrap();
    assert_eq!(restored.first_message(&alice).unwrap(), m1);
    let est = restored.finish(&alice, &m2).unwrap();
    assert_eq!(est.peer_identity, bob.public());
    assert_eq!(est.peer_card, card("bob"));
}

/// Catches message 1 being accepted under another invite's keys.
#[test]
fn handshake_for_other_invite_is_refused() {
    let mut r = rng(7);
    let alice = IdentityKeyPair::generate(&mut r);
    let bob = IdentityKeyPair::generate(&mut r);
    let i1 = Invite::new(bob.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
    let i2 = Invite::new(bob.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
    let (_, m1) = initiate(&alice, &i1, &card("alice"), &mut r).unwrap();
    assert_eq!(
        respond(&bob, &i2.keys(), &card("bob"), &m1, &mut r).unwrap_err(),
        HandshakeError::NotForThisInvite
    );
}

/// Catches out-of-order delivery failing, or skipped keys reused (replay accepted).
#[test]
fn out_of_order_and_replay() {
    let mut r = rng(8);
    let mut p = pair(9);
    let msgs: Vec<_> = (0..10u8)
        .map(|i| p.alice.encrypt(&[i], NOW, &mut r).unwrap())
        .collect();
    for i in [9usize, 0, 5, 1, 8, 2, 3, 7, 6, 4] {
        assert_eq!(p.bob.decrypt(&msgs[i], NOW).unwrap(), vec![i as u8]);
    }
    assert_eq!(p.bob.skipped_keys(), 0);
    for m in &msgs {
        let before = p.bob.to_bytes();
        assert_eq!(p.bob.decrypt(m, NOW).unwrap_err(), DecryptError::Replayed);
        assert_eq!(p.bob.to_bytes(), before);
    }
}

/// Catches a message from an old chain being unreadable after the ratchet turned.
#[test]
fn late_message_from_previous_chain() {
    let mut r = rng(10);
    let mut p = pair(11);
    let late = p.alice.encrypt(b"late", NOW, &mut r).unwrap();
    let first = p.alice.encrypt(b"first", NOW, &mut r).unwrap();
    assert_eq!(p.bob.decrypt(&first, NOW).unwrap(), b"first");
    let reply = p.bob.encrypt(b"reply", NOW, &mut r).unwrap();
    assert_eq!(p.alice.decrypt(&reply, NOW).unwrap(), b"reply");
    let next = p.alice.encrypt(b"next chain", NOW, &mut r).unwrap();
    assert_eq!(p.bob.decrypt(&next, NOW).unwrap(), b"next chain");
    assert_eq!(p.bob.decrypt(&late, NOW).unwrap(), b"late");
    // The old chain's last key is used up, so its header key is forgotten too: the
    // replay is now indistinguishable from a forgery, and refused either way.
    let before = p.bob.to_bytes();
    assert_eq!(
        p.bob.decrypt(&late, NOW).unwrap_err(),
        DecryptError::Rejected
    );
    assert_eq!(p.bob.to_bytes(), before);
}

/// Catches a conversation that gets stuck behind a gap larger than `MAX_SKIP` (a
/// backlog of lost or reordered mail): an authenticated header skips ahead, keeps the
/// keys of the last `MAX_SKIP` positions, and gives up only the ones before them.
#[test]
fn authenticated_header_skips_ahead_beyond_max_skip() {
    let mut r = rng(12);
    let mut p = pair(13);
    let gap = ratchet::MAX_SKIP as usize + 500;
    let msgs: Vec<Envelope> = (0..=gap)
        .map(|i| {
            p.alice
                .encrypt(&(i as u32).to_be_bytes(), NOW, &mut r)
                .unwrap()
        })
        .collect();
    assert!(!p.bob.would_give_up_keys(&msgs[ratchet::MAX_SKIP as usize]));
    assert!(p
        .bob
        .would_give_up_keys(&msgs[ratchet::MAX_SKIP as usize + 1]));
    assert!(p.bob.would_give_up_keys(&msgs[gap]));
    // Keys the chain already holds count too: after reading message 100 (100 kept), a jump
    // of 901 more would push the chain over MAX_SKIP.
    let mut probe = p.bob.clone();
    probe.decrypt(&msgs[100], NOW).unwrap();
    assert!(!probe.would_give_up_keys(&msgs[100 + 900]));
    assert!(
        !probe.would_give_up_keys(&msgs[100 + 901]),
        "exactly MAX_SKIP held"
    );
    assert!(probe.would_give_up_keys(&msgs[100 + 902]));
    // Read anyway, the chain keeps its newest MAX_SKIP keys and counts the 99 it gave up.
    let mut trimmed = probe.clone();
    trimmed.decrypt(&msgs[100 + 1000], NOW).unwrap();
    assert_eq!(trimmed.skipped_keys(), ratchet::MAX_SKIP as usize);
    assert_eq!(trimmed.dropped_keys(NOW), 99);
    assert_eq!(
        p.bob.decrypt(&msgs[gap], NOW).unwrap(),
        (gap as u32).to_be_bytes()
    );
    assert_eq!(p.bob.skipped_keys(), ratchet::MAX_SKIP as usize);
    assert_eq!(p.bob.dropped_keys(NOW), 500);
    // The 500 oldest are given up (their sender renews them); the rest still open.
    let before = p.bob.to_bytes();
    assert_eq!(
        p.bob.decrypt(&msgs[0], NOW).unwrap_err(),
        DecryptError::Replayed
    );
    assert_eq!(
        p.bob.to_bytes(),
        before,
        "a refused message changes nothing"
    );
    for (i, m) in msgs.iter().enumerate().take(gap).skip(500).rev() {
        assert_eq!(p.bob.decrypt(m, NOW).unwrap(), (i as u32).to_be_bytes());
    }
    assert_eq!(p.bob.skipped_keys(), 0);
    let e = p.bob.encrypt(b"still talking", NOW, &mut r).unwrap();
    assert_eq!(p.alice.decrypt(&e, NOW).unwrap(), b"still talking");
}

/// Catches skipped keys kept for ever: a chain's keys go after `MAX_SKIPPED_STEPS`
/// receiving DH steps, and after `MAX_SKIPPED_AGE_SECS`.
#[test]
fn skipped_keys_expire_by_steps_and_age() {
    let mut r = rng(16);
    // By steps.
    let mut p = pair(17);
    let late = p.alice.encrypt(b"late", NOW, &mut r).unwrap();
    let m = p.alice.encrypt(b"m", NOW, &mut r).unwrap();
    p.bob.decrypt(&m, NOW).unwrap();
    assert_eq!(p.bob.skipped_keys(), 1);
    for turn in 0..=ratchet::MAX_SKIPPED_STEPS {
        let e = p.bob.encrypt(b"b", NOW, &mut r).unwrap();
        p.alice.decrypt(&e, NOW).unwrap();
        let e = p.alice.encrypt(b"a", NOW, &mut r).unwrap();
        p.bob.decrypt(&e, NOW).unwrap();
        let expected = usize::from(turn < ratchet::MAX_SKIPPED_STEPS);
        assert_eq!(p.bob.skipped_keys(), expected, "after {} turns", turn + 1);
    }
    assert_eq!(
        p.bob.decrypt(&late, NOW).unwrap_err(),
        DecryptError::Rejected
    );
    assert_eq!(p.bob.dropped_keys(NOW), 1);
    // By age: a key just inside the limit still opens, one just past it does not; and
    // the limit leaves a message that waited out a mailbox's whole retention (14 days)
    // readable (a shorter limit survived mutation testing, docs/FUZZING.md).
    let mut p = pair(18);
    let late0 = p.alice.encrypt(b"late 0", NOW, &mut r).unwrap();
    let late1 = p.alice.encrypt(b"late 1", NOW, &mut r).unwrap();
    let late2 = p.alice.encrypt(b"late 2", NOW, &mut r).unwrap();
    let m = p.alice.encrypt(b"m", NOW, &mut r).unwrap();
    p.bob.decrypt(&m, NOW).unwrap();
    let limit = ratchet::MAX_SKIPPED_AGE_SECS;
    let retention = 14 * 24 * 3600;
    assert_eq!(p.bob.decrypt(&late0, NOW + retention).unwrap(), b"late 0");
    assert_eq!(p.bob.decrypt(&late1, NOW + limit).unwrap(), b"late 1");
    assert_eq!(
        p.bob.decrypt(&late2, NOW + limit + 1).unwrap_err(),
        DecryptError::Replayed,
        "an expired key never opens, even before it is removed"
    );
    assert_eq!(p.bob.skipped_keys(), 1, "a refusal changes nothing");
    let m = p.alice.encrypt(b"n", NOW + limit + 1, &mut r).unwrap();
    p.bob.decrypt(&m, NOW + limit + 1).unwrap();
    assert_eq!(p.bob.skipped_keys(), 0);
}

/// Catches the total skipped-key bound not evicting the oldest keys.
#[test]
fn total_skipped_keys_bounded_oldest_evicted() {
    let mut r = rng(14);
    let mut p = pair(15);
    let mut oldest = None;
    // Three DH steps, each leaving MAX_SKIP - 1 undelivered messages behind.
    for round in 0..3 {
        let mut chain = Vec::new();
        for _ in 0..ratchet::MAX_SKIP {
            chain.push(p.alice.encrypt(b"m", NOW, &mut r).unwrap());
        }
        if round == 0 {
            oldest = Some(chain[0].clone());
        }
        assert!(p.bob.decrypt(chain.last().unwrap(), NOW).is_ok());
        let e = p.bob.encrypt(b"ack", NOW, &mut r).unwrap();
        p.alice.decrypt(&e, NOW).unwrap();
        assert!(p.bob.skipped_keys() <= ratchet::MAX_SKIPPED_KEYS);
    }
    assert_eq!(p.bob.skipped_keys(), ratchet::MAX_SKIPPED_KEYS);
    assert_eq!(
        p.bob.decrypt(&oldest.unwrap(), NOW).unwrap_err(),
        DecryptError::Replayed,
        "the oldest chain's first keys were evicted"
    );
}

/// Catches a per-chain trim that miscounts the total (a survivor of mutation testing,
/// docs/FUZZING.md): a chain trimmed to `MAX_SKIP` keys counts as `MAX_SKIP`, so a second
/// chain that keeps the total under `MAX_SKIPPED_KEYS` evicts nothing of the first.
#[test]
fn a_trimmed_chain_counts_what_it_keeps() {
    let mut r = rng(19);
    let mut p = pair(20);
    let first = ratchet::MAX_SKIP as usize + 500;
    let mut chain = Vec::new();
    for _ in 0..first {
        chain.push(p.alice.encrypt(b"m", NOW, &mut r).unwrap());
    }
    // Two gaps in one chain: the second extends the first past MAX_SKIP, which trims it.
    p.bob.decrypt(&chain[800], NOW).unwrap();
    p.bob.decrypt(chain.last().unwrap(), NOW).unwrap();
    assert_eq!(p.bob.skipped_keys(), ratchet::MAX_SKIP as usize);
    let e = p.bob.encrypt(b"ack", NOW, &mut r).unwrap();
    p.alice.decrypt(&e, NOW).unwrap();
    let second = ratchet::MAX_SKIPPED_KEYS - ratchet::MAX_SKIP as usize - 100;
    let mut last = None;
    for _ in 0..=second {
        last = Some(p.alice.encrypt(b"n", NOW, &mut r).unwrap());
    }
    p.bob.decrypt(&last.unwrap(), NOW).unwrap();
    assert_eq!(
        p.bob.skipped_keys(),
        ratchet::MAX_SKIP as usize + second,
        "keys of the first chain were evicted although the total was under its bound"
    );
    // The newest kept key of the first chain still opens its message.
    assert_eq!(p.bob.decrypt(&chain[first - 2], NOW).unwrap(), b"m");
}

/// Catches acceptance of a ratchet key that makes the DH non-contributory.
#[test]
fn non_contributory_ratchet_key_rejected() {
    // A crafted state whose peer key is the identity point: encryption must refuse.
    let p = pair(16);
    let mut bytes = p.bob.to_bytes().to_vec();
    // Responder state: pending_remote follows version, protocol, role, ad(32), dhs(32)
    // and the dhr flag (0).
    let off = 3 + 32 + 32 + 1;
    assert_eq!(bytes[off], 1, "pending_remote present");
    for b in &mut bytes[off + 1..off + 33] {
        *b = 0;
    }
    let mut s = Session::from_bytes(&bytes).unwrap();
    let before = s.to_bytes();
    assert_eq!(
        s.encrypt(b"x", NOW, &mut rng(1)).unwrap_err(),
        EncryptError::BadRatchetKey
    );
    assert_eq!(s.to_bytes(), before);
}

/// Catches a too-large message being silently truncated instead of refused.
#[test]
fn oversize_message_refused() {
    let mut p = pair(17);
    let big = vec![0u8; padding::MAX_PLAINTEXT_LEN + 1];
    assert!(matches!(
        p.alice.encrypt(&big, NOW, &mut rng(1)),
        Err(EncryptError::TooLarge(_))
    ));
    // Protocol v4 frames its post-quantum fragment with two bytes.
    assert_eq!(p.alice.max_plaintext_len(), padding::MAX_PLAINTEXT_LEN - 2);
    let over = vec![0u8; p.alice.max_plaintext_len() + 1];
    assert!(matches!(
        p.alice.encrypt(&over, NOW, &mut rng(1)),
        Err(EncryptError::TooLarge(_))
    ));
    let max = vec![7u8; p.alice.max_plaintext_len()];
    let e = p.alice.encrypt(&max, NOW, &mut rng(1)).unwrap();
    assert_eq!(e.encode().len(), envelope::MAX_ENVELOPE_LEN);
    assert_eq!(
        p.bob
            .decrypt(&Envelope::decode(&e.encode()).unwrap(), NOW)
            .unwrap(),
        max
    );
}

/// Catches envelopes that reveal exact lengths, or tags that do not rotate.
#[test]
fn envelope_sizes_are_buckets_and_tags_rotate() {
    let mut r = rng(18);
    let mut p = pair(19);
    let a = p.alice.encrypt(&[1; 10], NOW, &mut r).unwrap();
    let b = p.alice.encrypt(&[1; 200], NOW, &mut r).unwrap();
    assert_eq!(a.encode().len(), b.encode().len());
    assert_eq!(a.tag, b.tag);
    let c = p
        .alice
        .encrypt(&[1; 10], NOW + routing::ROUTING_EPOCH_SECS, &mut r)
        .unwrap();
    assert_ne!(a.tag, c.tag);
    assert!(p
        .bob
        .receive_tags(NOW + routing::ROUTING_EPOCH_SECS, 86400)
        .contains(&a.tag));
    assert!(p
        .bob
        .receive_tags(NOW + routing::ROUTING_EPOCH_SECS, 86400)
        .contains(&c.tag));
    assert_ne!(
        p.bob.send_tag(NOW),
        a.tag,
        "each direction has its own tags"
    );
}

/// Catches session restore that loses state (skipped keys, pending step).
#[test]
fn serialise_restore_mid_conversation() {
    let mut r = rng(20);
    let mut p = pair(21);
    let skipped = p.alice.encrypt(b"skipped", NOW, &mut r).unwrap();
    let m = p.alice.encrypt(b"m", NOW, &mut r).unwrap();
    p.bob.decrypt(&m, NOW).unwrap();
    let bytes = p.bob.to_bytes();
    assert_eq!(
        bytes.len(),
        bytes.capacity(),
        "the buffer holding keys is allocated at its exact size (never reallocated)"
    );
    let mut bob = Session::from_bytes(&bytes).unwrap();
    assert_eq!(bob.to_bytes(), p.bob.to_bytes());
    assert_eq!(bob.decrypt(&skipped, NOW).unwrap(), b"skipped");
    let e = bob.encrypt(b"after restore", NOW, &mut r).unwrap();
    assert_eq!(p.alice.decrypt(&e, NOW).unwrap(), b"after restore");
}

/// Catches a state decoder that accepts junk or panics on truncation.
#[test]
fn session_state_decoder_rejects_damage() {
    let p = pair(22);
    let bytes = p.alice.to_bytes();
    for len in 0..bytes.len() {
        assert!(Session::from_bytes(&bytes[..len]).is_err());
    }
    let mut v = bytes.to_vec();
    v[0] = 9;
    assert_eq!(
        Session::from_bytes(&v).unwrap_err(),
        SessionStateError::UnsupportedVersion(9)
    );
    let mut t = bytes.to_vec();
    t.push(0);
    assert!(Session::from_bytes(&t).is_err());
}

/// Catches safety numbers that differ between the two sides or between contacts.
#[test]
fn safety_numbers_match_on_both_sides() {
    let mut r = rng(23);
    let a = IdentityKeyPair::generate(&mut r).public();
    let b = IdentityKeyPair::generate(&mut r).public();
    let c = IdentityKeyPair::generate(&mut r).public();
    let ab = SafetyNumber::new(&a, &b);
    let ba = SafetyNumber::new(&b, &a);
    assert_eq!(ab, ba);
    assert_eq!(ab.digits().len(), 60);
    assert!(ab.digits().bytes().all(|d| d.is_ascii_digit()));
    assert_eq!(ab.groups().len(), 12);
    // The groups are the digits, five by five, in order (found by mutation testing).
    assert!(ab.groups().iter().all(|g| g.len() == 5));
    assert_eq!(ab.groups().concat(), ab.digits());
    assert_eq!(ab.display().lines().count(), 3);
    assert_eq!(format!("{ab:?}"), "SafetyNumber(..)");
    assert_ne!(ab, SafetyNumber::new(&a, &c));
    assert_eq!(ba.verify_scanned(&ab.qr_payload()), Ok(()));
    assert_eq!(
        ab.verify_scanned(&SafetyNumber::new(&a, &c).qr_payload()),
        Err(safety::SafetyNumberError::Mismatch)
    );
    assert_eq!(
        ab.verify_scanned("hello"),
        Err(safety::SafetyNumberError::NotASafetyNumber)
    );
    assert!(ab.to_qr().is_some());
}

/// The ChaCha20 keystream XOR of two bodies: equal to the XOR of their padded plaintexts
/// exactly when both were encrypted under the same key and nonce.
fn bodies_share_keystream(a: &Envelope, b: &Envelope, pa: &[u8], pb: &[u8]) -> bool {
    let start = envelope::ENCRYPTED_HEADER_LEN;
    let (ca, cb) = (
        &a.body[start..start + pa.len()],
        &b.body[start..start + pb.len()],
    );
    ca.iter()
        .zip(cb)
        .zip(pa.iter().zip(pb))
        .all(|((x, y), (p, q))| x ^ y == p ^ q)
}

/// Catches key and nonce reuse after a rollback (PROTOCOL §12.6): a session restored
/// from an old copy (a restored disk image, a failed store) derives the same message key
/// again. Under protocol v1 the second body reuses the first one's keystream (shown
/// here, which is why v1 is only kept for old contacts); under v2 the body key depends
/// on the header's random nonce, so it never does.
#[test]
fn rolled_back_state_never_reuses_key_and_nonce() {
    for (protocol, reuses) in [(Protocol::V1, true), (Protocol::V2, false)] {
        let mut p = pair_with(40, protocol);
        let mut r = rng(41);
        let e = p.alice.encrypt(b"before the backup", NOW, &mut r).unwrap();
        p.bob.decrypt(&e, NOW).unwrap();
        let backup = p.alice.to_bytes();
        let (m1, m2) = (
            b"sent, then the disk died".to_vec(),
            b"sent again from the backup".to_vec(),
        );
        let first = p.alice.encrypt(&m1, NOW, &mut r).unwrap();
        let mut restored = Session::from_bytes(&backup).unwrap();
        let second = restored.encrypt(&m2, NOW, &mut r).unwrap();
        assert_eq!(first.body.len(), second.body.len());
        assert_eq!(
            bodies_share_keystream(&first, &second, &m1, &m2),
            reuses,
            "{protocol:?}"
        );
        // The receiver reads the first; the second is the same chain position (a replay).
        assert_eq!(p.bob.decrypt(&first, NOW).unwrap(), m1);
        assert_eq!(p.bob.decrypt(&second, NOW), Err(DecryptError::Replayed));
    }
}

/// Catches routing tags that a stolen session state predicts for ever (PROTOCOL §10,
/// THREAT_MODEL §6.4): in protocol v2 each sending chain has its own tag key from the
/// ratchet, so after two DH round trips the thief's copy knows none of the tags in use,
/// while the receiver still collects every one. Under v1 the copy predicts them all.
#[test]
fn tags_follow_the_root_key_after_a_compromise() {
    for protocol in [Protocol::V1, Protocol::V2] {
        let mut p = pair_with(42, protocol);
        let mut r = rng(43);
        let mut t = NOW;
        let exchange = |p: &mut Pair, t: u64, r: &mut rand_chacha::ChaCha20Rng| {
            let a = p.alice.encrypt(b"from alice", t, r).unwrap();
            assert!(p.bob.receive_tags(t, 86_400).contains(&a.tag));
            p.bob.decrypt(&a, t).unwrap();
            let b = p.bob.encrypt(b"from bob", t, r).unwrap();
            assert!(p.alice.receive_tags(t, 86_400).contains(&b.tag));
            p.alice.decrypt(&b, t).unwrap();
            (a.tag, b.tag)
        };
        exchange(&mut p, t, &mut r);
        let stolen = Session::from_bytes(&p.alice.to_bytes()).unwrap();
        // The thief follows what it can: it cannot read the new ratchet keys' DH outputs.
        for _ in 0..2 {
            exchange(&mut p, t, &mut r);
        }
        t += 60;
        let (a_tag, b_tag) = exchange(&mut p, t, &mut r);
        let predicted_send = stolen.send_tag(t);
        let predicted_recv = stolen.receive_tags(t, 14 * 86_400);
        let predicts = predicted_send == a_tag || predicted_recv.contains(&b_tag);
        assert_eq!(predicts, protocol == Protocol::V1, "{protocol:?}");
    }
}

/// Catches a contact's mail on an older chain that the receiver no longer asks its
/// mailbox for: Bob reads Alice's last message first (from the network), the
/// conversation turns, and the older messages, still in the mailbox under the old chain's
/// tags, must still be collected and read.
#[test]
fn older_chain_mail_is_still_collected() {
    let mut p = pair_with(44, Protocol::V2);
    let mut r = rng(45);
    let t = NOW;
    let held: Vec<Envelope> = (0..5)
        .map(|i| p.alice.encrypt(&[i; 8], t + u64::from(i), &mut r).unwrap())
        .collect();
    let last = p.alice.encrypt(b"direct", t + 10, &mut r).unwrap();
    p.bob.decrypt(&last, t + 10).unwrap();
    for i in 0..3u64 {
        let b = p.bob.encrypt(b"reply", t + 20 + i, &mut r).unwrap();
        p.alice.decrypt(&b, t + 20 + i).unwrap();
        let a = p.alice.encrypt(b"again", t + 30 + i, &mut r).unwrap();
        assert_ne!(a.tag, last.tag, "a new chain has new tags");
        p.bob.decrypt(&a, t + 30 + i).unwrap();
    }
    let later = t + 3 * routing::ROUTING_EPOCH_SECS;
    let collected: Vec<RoutingTag> = p
        .bob
        .receive_mailbox_keys(later, 14 * 86_400)
        .iter()
        .map(MailboxKey::tag)
        .collect();
    for (i, e) in held.iter().enumerate() {
        assert!(
            collected.contains(&e.tag),
            "message {i} would stay in the mailbox"
        );
        assert_eq!(p.bob.decrypt(e, later).unwrap(), vec![i as u8; 8]);
    }
    // Read in full, the old chain is no longer asked for.
    let after: Vec<RoutingTag> = p
        .bob
        .receive_mailbox_keys(later, 14 * 86_400)
        .iter()
        .map(MailboxKey::tag)
        .collect();
    assert!(!after.contains(&held[0].tag));
    assert!(after.len() < collected.len());
}

/// Catches mailbox tags asked for outside the epochs a chain can have been used in (found
/// by mutation testing: a closed chain's window running to now, or a chain's window
/// starting at the lookback's start): as time passes, only the open chains' windows grow,
/// by one epoch each; a closed chain's stays as it was.
#[test]
fn only_open_chains_add_mailbox_tags_as_time_passes() {
    let mut r = rng(47);
    let mut p = pair(48);
    let t = NOW;
    // Alice's first chain: five messages held in a mailbox, one read directly.
    let held: Vec<Envelope> = (0..5)
        .map(|i| p.alice.encrypt(&[i; 8], t, &mut r).unwrap())
        .collect();
    let direct = p.alice.encrypt(b"direct", t, &mut r).unwrap();
    p.bob.decrypt(&direct, t).unwrap();
    // A turn: that chain is closed, with skipped keys (one turn only: a second step would
    // hide a retirement that marked the wrong chain, found by mutation testing).
    for i in 0..1u64 {
        let b = p.bob.encrypt(b"reply", t + i, &mut r).unwrap();
        p.alice.decrypt(&b, t + i).unwrap();
        let a = p.alice.encrypt(b"again", t + i, &mut r).unwrap();
        p.bob.decrypt(&a, t + i).unwrap();
    }
    let lookback = 14 * 86_400;
    let count = |at: u64| p.bob.receive_mailbox_keys(at, lookback).len();
    let epoch = routing::ROUTING_EPOCH_SECS;
    let later = t + 20 * epoch;
    let (now_n, next_n) = (count(later), count(later + epoch));
    // One window grows: the chain Bob receives on (the next chain's window is the whole
    // lookback, which moves along). The held chain's window ended CLOCK_SKEW_EPOCHS after
    // it closed and stays.
    assert_eq!(next_n, now_n + 1, "{now_n} -> {next_n}");
    let keys: Vec<RoutingTag> = p
        .bob
        .receive_mailbox_keys(later, lookback)
        .iter()
        .map(MailboxKey::tag)
        .collect();
    assert!(keys.contains(&held[0].tag));
    for e in &held {
        p.bob.decrypt(e, later).unwrap();
    }
}

/// Catches two sides that could end up on different protocols: the version is in the
/// Noise prologue, so a message 1 of one version never completes a handshake of the
/// other, and the session has the invite's version on both sides.
#[test]
fn protocol_is_bound_into_the_handshake() {
    let mut r = rng(46);
    let alice = IdentityKeyPair::generate(&mut r);
    let bob = IdentityKeyPair::generate(&mut r);
    for (sent, expected) in [(Protocol::V2, Protocol::V1), (Protocol::V1, Protocol::V2)] {
        let mut invite =
            Invite::new(bob.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
        invite.protocol = sent;
        let (_, m1) = initiate(&alice, &invite, &card("alice"), &mut r).unwrap();
        let keys = invite.keys().with_protocol(expected);
        assert_eq!(
            respond(&bob, &keys, &card("bob"), &m1, &mut r).unwrap_err(),
            HandshakeError::Rejected
        );
        let (est, _) = respond(&bob, &invite.keys(), &card("bob"), &m1, &mut r).unwrap();
        assert_eq!(est.session.protocol(), sent);
    }
    let p = pair_with(47, Protocol::V1);
    assert_eq!(
        (p.alice.protocol(), p.bob.protocol()),
        (Protocol::V1, Protocol::V1)
    );
}

/// Catches `receive_steps` not counting the receiving DH steps (the node rebuilds its index
/// of a session's routing tags when it moves: a wrong count leaves mail uncollected).
#[test]
fn receive_steps_count_each_turn_of_the_conversation() {
    let mut r = rng(21);
    let mut p = pair(22);
    let (a0, b0) = (p.alice.receive_steps(), p.bob.receive_steps());
    // Several messages one way make one step on the receiving side at most.
    for _ in 0..3 {
        let e = p.alice.encrypt(b"x", NOW, &mut r).unwrap();
        p.bob.decrypt(&e, NOW).unwrap();
    }
    let b1 = p.bob.receive_steps();
    assert!(b1 <= b0 + 1, "{b0} -> {b1}");
    for turn in 1..=4u32 {
        let e = p.bob.encrypt(b"y", NOW, &mut r).unwrap();
        p.alice.decrypt(&e, NOW).unwrap();
        let e = p.alice.encrypt(b"z", NOW, &mut r).unwrap();
        p.bob.decrypt(&e, NOW).unwrap();
        assert_eq!(p.alice.receive_steps(), a0 + turn);
        assert_eq!(p.bob.receive_steps(), b1 + turn);
    }
}

/// `n` messages from Alice on her current chain.
fn alice_chain(p: &mut Pair, r: &mut impl rand_core::CryptoRngCore, n: usize) -> Vec<Envelope> {
    (0..n)
        .map(|_| p.alice.encrypt(b"m", NOW, r).unwrap())
        .collect()
}

/// Bob answers and Alice reads it: her next message starts a new chain.
fn turn(p: &mut Pair, r: &mut impl rand_core::CryptoRngCore) {
    let b = p.bob.encrypt(b"turn", NOW, r).unwrap();
    p.alice.decrypt(&b, NOW).unwrap();
}

/// Catches the limits on kept keys off by one or computed wrong (found by mutation
/// testing): the previous chain's remaining positions on a DH step against `MAX_SKIP`, the
/// total over all chains against `MAX_SKIPPED_KEYS` (for a message on the current chain and
/// for the first of a new one), and the count of positions given up.
#[test]
fn the_limits_on_kept_keys_hold_to_the_key() {
    let mut r = rng(60);
    // The previous chain on a DH step: Bob read its first message; the new chain's first
    // message says it had `n` (pn), so n - 1 positions would be skipped.
    for (n, gives_up) in [(1001, false), (1002, true)] {
        let mut p = pair(61);
        let a1 = alice_chain(&mut p, &mut r, n);
        p.bob.decrypt(&a1[0], NOW).unwrap();
        turn(&mut p, &mut r);
        let a2 = alice_chain(&mut p, &mut r, 1);
        assert_eq!(p.bob.would_give_up_keys(&a2[0]), gives_up, "pn {n}");
    }
    // Positions of the previous chain beyond MAX_SKIP are given up, and counted.
    let mut p = pair(62);
    let a1 = alice_chain(&mut p, &mut r, 1501);
    p.bob.decrypt(&a1[0], NOW).unwrap();
    turn(&mut p, &mut r);
    let a2 = alice_chain(&mut p, &mut r, 1);
    p.bob.decrypt(&a2[0], NOW).unwrap();
    assert_eq!(p.bob.skipped_keys(), ratchet::MAX_SKIP as usize);
    assert_eq!(p.bob.dropped_keys(NOW), 500);
    assert_eq!(p.bob.decrypt(&a1[1500], NOW).unwrap(), b"m");
    assert!(p.bob.decrypt(&a1[500], NOW).is_err());
    // Once the kept keys have aged out, they count as given up too.
    let aged = NOW + ratchet::MAX_SKIPPED_AGE_SECS + 1;
    assert_eq!(p.bob.dropped_keys(aged), 500 + 999);

    // The total: two chains leave 700 kept keys each.
    let mut p = pair(63);
    let mut firsts = Vec::new();
    for _ in 0..2 {
        let c = alice_chain(&mut p, &mut r, 701);
        p.bob.decrypt(&c[700], NOW).unwrap();
        turn(&mut p, &mut r);
        firsts.push(c);
    }
    assert_eq!(p.bob.skipped_keys(), 1400);
    let c = alice_chain(&mut p, &mut r, 700);
    // First message of a new chain at position k: k keys more.
    assert!(
        !p.bob.would_give_up_keys(&c[600]),
        "exactly MAX_SKIPPED_KEYS"
    );
    assert!(p.bob.would_give_up_keys(&c[601]));
    // On the current chain, after its first message: k - 1 keys more.
    p.bob.decrypt(&c[0], NOW).unwrap();
    assert!(
        !p.bob.would_give_up_keys(&c[601]),
        "exactly MAX_SKIPPED_KEYS"
    );
    assert!(p.bob.would_give_up_keys(&c[602]));
    // Each older chain's late messages open with that chain's keys, and so do the current
    // chain's (its kept keys are found among the others').
    for c in &firsts {
        assert_eq!(p.bob.decrypt(&c[5], NOW).unwrap(), b"m");
    }
    p.bob.decrypt(&c[10], NOW).unwrap();
    assert_eq!(p.bob.decrypt(&c[6], NOW).unwrap(), b"m");
    // Past the total, the oldest keys go, and are counted as given up.
    let (kept, dropped) = (p.bob.skipped_keys(), p.bob.dropped_keys(NOW));
    p.bob.decrypt(&c[699], NOW).unwrap();
    let added = 699 - 11;
    assert_eq!(p.bob.skipped_keys(), ratchet::MAX_SKIPPED_KEYS);
    assert_eq!(
        p.bob.dropped_keys(NOW),
        dropped + (kept + added - ratchet::MAX_SKIPPED_KEYS) as u64
    );
}

/// Catches a body cut inside its AEAD tag being taken for a forgery, or a body of exactly
/// a tag being taken as malformed (found by mutation testing): the first is malformed,
/// the second fails authentication; neither changes the session.
#[test]
fn a_body_shorter_than_its_tag_is_malformed() {
    let mut r = rng(67);
    let mut p = pair(68);
    let e = p.alice.encrypt(b"x", NOW, &mut r).unwrap();
    let before = p.bob.to_bytes();
    let head = envelope::ENCRYPTED_HEADER_LEN;
    for (cut, expected) in [
        (envelope::AEAD_TAG_LEN - 1, DecryptError::Malformed),
        (envelope::AEAD_TAG_LEN, DecryptError::Rejected),
    ] {
        let mut short = e.clone();
        short.body.truncate(head + cut);
        assert_eq!(p.bob.decrypt(&short, NOW).unwrap_err(), expected, "{cut}");
        assert_eq!(p.bob.to_bytes(), before);
    }
    assert_eq!(p.bob.decrypt(&e, NOW).unwrap(), b"x");
}
