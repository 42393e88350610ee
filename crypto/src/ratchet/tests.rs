//! Tests that need the session's insides: a sending chain moved far ahead without sending
//! every message in between.

use super::*;
use crate::card::ProfileCard;
use crate::handshake::{initiate, respond};
use crate::identity::IdentityKeyPair;
use crate::invite::Invite;
use rand_core::SeedableRng;

const NOW: u64 = 1_700_000_000;

/// Bob invites, Alice accepts: Alice's and Bob's sessions.
fn pair(seed: u64) -> (Session, Session, rand_chacha::ChaCha20Rng) {
    let mut r = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let alice = IdentityKeyPair::generate(&mut r);
    let bob = IdentityKeyPair::generate(&mut r);
    let invite = Invite::new(bob.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
    let card = ProfileCard {
        display_name: "x".into(),
        ..ProfileCard::default()
    };
    let (pending, m1) = initiate(&alice, &invite, &card, &mut r).unwrap();
    let (b, m2) = respond(&bob, &invite.keys(), &card, &m1, &mut r).unwrap();
    let a = pending.finish(&alice, &m2).unwrap();
    (a.session, b.session, r)
}

/// Moves the sending chain `by` positions ahead, as if that many messages had been sent
/// and lost.
fn skip_sending(s: &mut Session, by: u32) {
    let mut ck = s.cks.clone().unwrap();
    for _ in 0..by {
        ck = ck.next();
    }
    s.cks = Some(ck);
    s.ns += by;
}

/// Catches the chain-jump limit off by one (found by mutation testing): a message exactly
/// `MAX_CHAIN_JUMP` positions ahead is read; one more is refused as too far ahead, and
/// the refusal changes nothing.
#[test]
fn a_jump_of_exactly_max_chain_jump_is_read() {
    let (mut alice, mut bob, mut r) = pair(64);
    skip_sending(&mut alice, MAX_CHAIN_JUMP);
    let far = alice.encrypt(b"far", NOW, &mut r).unwrap();
    assert_eq!(bob.clone().decrypt(&far, NOW).unwrap(), b"far");
    let (mut alice, mut bob2, mut r) = pair(65);
    skip_sending(&mut alice, MAX_CHAIN_JUMP + 1);
    let too_far = alice.encrypt(b"far", NOW, &mut r).unwrap();
    let before = bob2.to_bytes();
    assert_eq!(
        bob2.decrypt(&too_far, NOW).unwrap_err(),
        DecryptError::TooFarAhead
    );
    assert_eq!(bob2.to_bytes(), before);
    // Bob's own session is untouched by the clone's read.
    assert_eq!(bob.skipped_keys(), 0);
    let e = bob.encrypt(b"ok", NOW, &mut r).unwrap();
    assert!(e.body.len() > 16);
}
