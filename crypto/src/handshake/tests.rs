//! Unit tests of the handshake: the one-shot RNG, old pending states, the hybrid handshake.
use super::*;

/// Catches the one-shot RNG giving snow more than the 32 bytes drawn from the caller's
/// RNG, or giving them twice (the handshake would then not be what the seed says).
#[test]
fn the_one_shot_rng_gives_its_bytes_once_and_no_more() {
    let mut r = OneShotRandom(Some(Zeroizing::new([7; 32])));
    let mut more = [0u8; 33];
    assert!(r.try_fill_bytes(&mut more).is_err());
    let mut r = OneShotRandom(Some(Zeroizing::new([7; 32])));
    let mut dest = [0u8; 32];
    r.try_fill_bytes(&mut dest).unwrap();
    assert_eq!(dest, [7; 32]);
    assert!(r.try_fill_bytes(&mut dest).is_err());
}

use rand_core::SeedableRng;

struct Pair {
    rng: rand_chacha::ChaCha20Rng,
    alice: IdentityKeyPair,
    bob: IdentityKeyPair,
    invite: Invite,
    card: ProfileCard,
}

fn pair(seed: u64, protocol: crate::Protocol) -> Pair {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut invite = Invite::new(bob.public(), vec![1; 38], vec![], None, 1_000, &mut rng).unwrap();
    invite.protocol = protocol;
    let card = ProfileCard {
        display_name: "a".into(),
        ..ProfileCard::default()
    };
    Pair {
        rng,
        alice,
        bob,
        invite,
        card,
    }
}

/// Message 1 of `keys`' protocol carrying `payload` (unpadded), as a hostile
/// acceptor that knows the invite could make it.
fn forged_first(p: &Pair, keys: &InviteKeys, payload: &[u8]) -> Envelope {
    let padded = padding::pad(payload).unwrap();
    let mut hs = build(
        &Zeroizing::new([9; 32]),
        &p.alice,
        Some(&p.invite.identity),
        keys,
    )
    .unwrap();
    let mut msg = vec![0u8; padded.len() + crate::envelope::HANDSHAKE_INIT_OVERHEAD];
    let n = hs.write_message(&padded, &mut msg).unwrap();
    msg.truncate(n);
    Envelope {
        kind: EnvelopeKind::HandshakeInit,
        tag: RoutingTag(keys.init_tag),
        body: msg,
    }
}

fn talk(a: &mut Session, b: &mut Session, rng: &mut rand_chacha::ChaCha20Rng) -> bool {
    let Ok(env) = b.encrypt(b"hello", 1_800_000_000, rng) else {
        return false;
    };
    a.decrypt(&env, 1_800_000_000).is_ok()
}

/// Catches the hybrid handshake not making a v3 session on both sides, or one whose
/// keys the two sides do not share.
#[test]
fn a_hybrid_handshake_makes_a_v3_session_on_both_sides() {
    let mut p = pair(11, crate::Protocol::V3);
    let (pending, m1) = initiate(&p.alice, &p.invite, &p.card, &mut p.rng).unwrap();
    let (mut b, m2) = respond(&p.bob, &p.invite.keys(), &p.card, &m1, &mut p.rng).unwrap();
    let mut a = pending.finish(&p.alice, &m2).unwrap();
    assert_eq!(a.session.protocol(), crate::Protocol::V3);
    assert_eq!(b.session.protocol(), crate::Protocol::V3);
    assert!(talk(&mut a.session, &mut b.session, &mut p.rng));
    assert!(talk(&mut b.session, &mut a.session, &mut p.rng));
}

/// Catches the KEM secret not being mixed into the session keys: an initiator that
/// decapsulates with another key pair (so gets an unrelated secret, FIPS 203's
/// implicit rejection) finishes the Noise handshake but cannot read the responder.
#[test]
fn the_kem_secret_is_part_of_the_session_keys() {
    let mut p = pair(12, crate::Protocol::V3);
    let (mut pending, m1) = initiate(&p.alice, &p.invite, &p.card, &mut p.rng).unwrap();
    let (mut b, m2) = respond(&p.bob, &p.invite.keys(), &p.card, &m1, &mut p.rng).unwrap();
    let other = KemKeyPair::generate(&mut p.rng);
    if let Some((_, pair)) = pending.kem.as_mut() {
        *pair = other;
    }
    let mut a = pending.finish(&p.alice, &m2).unwrap();
    assert!(!talk(&mut a.session, &mut b.session, &mut p.rng));
    // And a classical seed from the same handshake is refused outright.
    let mut hs = build(&Zeroizing::new([1; 32]), &p.bob, None, &p.invite.keys()).unwrap();
    assert_eq!(
        seed(&mut hs, crate::Protocol::V3, None).err(),
        Some(HandshakeError::BadState)
    );
}

/// Catches a downgrade: a v3 inviter answering a v2 message 1 (an invite code whose
/// version byte was changed), a v2 inviter answering a v3 one, or a v3 message 1 whose
/// payload leaves the KEM key out.
#[test]
fn no_side_can_be_made_to_agree_on_another_protocol() {
    let mut p = pair(13, crate::Protocol::V3);
    let v3 = p.invite.keys();
    let v2 = v3.clone().with_protocol(crate::Protocol::V2);
    let mut downgraded = p.invite.clone();
    downgraded.protocol = crate::Protocol::V2;
    let (_, m1_v2) = initiate(&p.alice, &downgraded, &p.card, &mut p.rng).unwrap();
    assert_eq!(
        respond(&p.bob, &v3, &p.card, &m1_v2, &mut p.rng).err(),
        Some(HandshakeError::Rejected)
    );
    let (_, m1_v3) = initiate(&p.alice, &p.invite, &p.card, &mut p.rng).unwrap();
    assert_eq!(
        respond(&p.bob, &v2, &p.card, &m1_v3, &mut p.rng).err(),
        Some(HandshakeError::Rejected)
    );
    // A v3 handshake whose message 1 carries a classical payload.
    let mut classical = vec![HANDSHAKE_PAYLOAD_VERSION];
    classical.extend_from_slice(&[5; 32]);
    p.card.write(&mut classical).unwrap();
    let forged = forged_first(&p, &v3, &classical);
    assert_eq!(
        respond(&p.bob, &v3, &p.card, &forged, &mut p.rng).err(),
        Some(HandshakeError::BadPayload)
    );
    // The same classical payload under the v2 prologue is fine for a v2 inviter.
    let forged = forged_first(&p, &v2, &classical);
    assert!(respond(&p.bob, &v2, &p.card, &forged, &mut p.rng).is_ok());
}

/// Catches an encapsulation key that fails FIPS 203's modulus check being used.
#[test]
fn a_malformed_encapsulation_key_is_refused() {
    let mut p = pair(14, crate::Protocol::V3);
    let keys = p.invite.keys();
    let mut payload = vec![HYBRID_PAYLOAD_VERSION];
    payload.extend_from_slice(&[5; 32]);
    payload.extend_from_slice(&[0xff; kem::ENCAPSULATION_KEY_LEN]);
    p.card.write(&mut payload).unwrap();
    let forged = forged_first(&p, &keys, &payload);
    assert_eq!(
        respond(&p.bob, &keys, &p.card, &forged, &mut p.rng).err(),
        Some(HandshakeError::BadKey)
    );
}

/// Catches the sizes PROTOCOL.md §11.9 states changing: a hybrid message 1 or 2 with a
/// small card is padded to the 2,048-byte bucket (a classical one to 256).
#[test]
fn hybrid_messages_land_in_the_2048_byte_bucket() {
    for (protocol, bucket) in [(crate::Protocol::V2, 256), (crate::Protocol::V3, 2048)] {
        let mut p = pair(15, protocol);
        let (_, m1) = initiate(&p.alice, &p.invite, &p.card, &mut p.rng).unwrap();
        let (_, m2) = respond(&p.bob, &p.invite.keys(), &p.card, &m1, &mut p.rng).unwrap();
        assert_eq!(
            m1.body.len(),
            bucket + crate::envelope::HANDSHAKE_INIT_OVERHEAD
        );
        assert_eq!(
            m2.body.len(),
            bucket + crate::envelope::HANDSHAKE_RESPONSE_OVERHEAD
        );
    }
}

/// Catches a pending hybrid handshake that does not survive a restart (the KEM seed
/// lost or not checked against message 1's key), or a state of version 2 (no seed)
/// read as hybrid.
#[test]
fn a_pending_hybrid_handshake_survives_a_restart_and_is_checked() {
    let mut p = pair(16, crate::Protocol::V3);
    let (pending, first) = initiate(&p.alice, &p.invite, &p.card, &mut p.rng).unwrap();
    let bytes = pending.to_bytes().to_vec();
    let restored = AwaitingResponse::from_bytes(&bytes).unwrap();
    assert_eq!(*restored.to_bytes(), bytes);
    assert_eq!(restored.first_message(&p.alice).unwrap(), first);
    let (_, m2) = respond(&p.bob, &p.invite.keys(), &p.card, &first, &mut p.rng).unwrap();
    assert!(restored.finish(&p.alice, &m2).is_ok());
    // The seed sits after the ratchet secret: changing it no longer matches the key
    // in message 1's payload.
    let at = 1 + 32 + crate::invite::INVITE_KEYS_LEN + 32 + 32;
    let mut other = bytes.clone();
    other[at] ^= 1;
    assert!(AwaitingResponse::from_bytes(&other).is_err());
    let mut old = bytes.clone();
    old[0] = 2;
    assert!(AwaitingResponse::from_bytes(&old).is_err());
}

/// Catches a pending handshake written by a build before protocol v2 (state version 1:
/// invite keys without their protocol byte) no longer being read: a reset or invite
/// under way during an upgrade would be lost (found by mutation testing).
#[test]
fn a_pending_handshake_of_state_version_1_is_read() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut invite = Invite::new(bob.public(), vec![1; 38], vec![], None, 1_000, &mut rng).unwrap();
    invite.protocol = crate::Protocol::V1;
    let card = ProfileCard {
        display_name: "a".into(),
        ..ProfileCard::default()
    };
    let (pending, first) = initiate(&alice, &invite, &card, &mut rng).unwrap();
    let mut old = pending.to_bytes().to_vec();
    assert_eq!(old[0], PENDING_HANDSHAKE_VERSION);
    // Version 1 had no protocol byte before the invite keys (offset 1 + 32).
    old[0] = 1;
    assert_eq!(old.remove(33), crate::Protocol::V1.as_u8());
    let restored = AwaitingResponse::from_bytes(&old).unwrap();
    assert_eq!(restored.invite_id(), pending.invite_id());
    assert_eq!(restored.response_tag(), pending.response_tag());
    assert_eq!(restored.first_message(&alice).unwrap(), first);
    // An unknown state version is refused.
    old[0] = 4;
    assert!(AwaitingResponse::from_bytes(&old).is_err());
}
