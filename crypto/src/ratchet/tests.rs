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
    assert_eq!(bob.decrypt(&far, NOW).unwrap(), b"far");
    let (mut alice, mut bob2, mut r) = pair(65);
    skip_sending(&mut alice, MAX_CHAIN_JUMP + 1);
    let too_far = alice.encrypt(b"far", NOW, &mut r).unwrap();
    let before = bob2.to_bytes();
    assert_eq!(
        bob2.decrypt(&too_far, NOW).unwrap_err(),
        DecryptError::TooFarAhead
    );
    assert_eq!(bob2.to_bytes(), before);
}

/// Catches `MAX_SESSION_STATE_LEN` below what a session may hold (found by mutation
/// testing): the largest state the format allows — every kept key in a chain of its own —
/// encodes within it and is read back.
#[test]
fn the_largest_session_state_fits_its_limit() {
    use super::codec::MAX_SESSION_STATE_LEN;
    use super::keys::{HeaderKey, MessageKey};
    use super::skipped::SkippedChain;
    let (_, mut bob, _) = pair(70);
    for i in 0..MAX_SKIPPED_KEYS {
        let n = u32::try_from(i).unwrap();
        let mut hk = [0u8; 32];
        hk[..4].copy_from_slice(&n.to_be_bytes());
        let mut keys = std::collections::VecDeque::new();
        keys.push_back((n, MessageKey::from_bytes([9; 32])));
        bob.skipped.chains.push_back(SkippedChain {
            hk: HeaderKey::from_bytes(hk),
            step: bob.recv_steps,
            at: NOW,
            since: NOW,
            until: NOW,
            keys,
        });
    }
    bob.skipped.total = MAX_SKIPPED_KEYS;
    if bob.pq.is_some() {
        bob.pq = Some(super::pq::PqState::largest(bob.role));
    }
    let bytes = bob.to_bytes();
    assert!(
        bytes.len() <= MAX_SESSION_STATE_LEN,
        "{} > {MAX_SESSION_STATE_LEN}",
        bytes.len()
    );
    assert!(bytes.len() > MAX_SESSION_STATE_LEN - 512, "{}", bytes.len());
    let back = Session::from_bytes(&bytes).unwrap();
    assert_eq!(back.skipped_keys(), MAX_SKIPPED_KEYS);
}

/// A kept-keys chain under header key `id` at `step`, holding keys at `positions`.
fn chain(id: u32, step: u32, positions: &[u32]) -> super::skipped::SkippedChain {
    use super::keys::{HeaderKey, MessageKey};
    let mut hk = [0u8; 32];
    hk[..4].copy_from_slice(&id.to_be_bytes());
    super::skipped::SkippedChain {
        hk: HeaderKey::from_bytes(hk),
        step,
        at: NOW,
        since: NOW,
        until: NOW,
        keys: positions
            .iter()
            .map(|n| (*n, MessageKey::from_bytes([9; 32])))
            .collect(),
    }
}

/// Whether `s`, written out, is read back.
fn reads_back(s: &Session) -> bool {
    match Session::from_bytes(&s.to_bytes()) {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e, super::codec::SessionStateError::Inconsistent);
            false
        }
    }
}

/// Catches a session file that breaks the ratchet's invariants being read (found by
/// mutation testing: each check of `Session::from_bytes` could be loosened or inverted
/// unnoticed). A file on disk is untrusted input: an inconsistent one is refused, and
/// every consistent one is read.
#[test]
fn inconsistent_session_states_are_refused() {
    let (a, b, mut r) = pair(71);
    let (mut init, mut resp) = if a.role() == Role::Initiator {
        (a, b)
    } else {
        (b, a)
    };
    assert!(reads_back(&resp), "a fresh responder");
    let e = init.encrypt(b"1", NOW, &mut r).unwrap();
    // The initiator with a sending chain (before the answer calls for a DH step).
    let sending = init.clone();
    assert!(sending.cks.is_some());
    resp.decrypt(&e, NOW).unwrap();
    let e = resp.encrypt(b"2", NOW, &mut r).unwrap();
    init.decrypt(&e, NOW).unwrap();
    assert!(reads_back(&init) && reads_back(&resp));
    let remote = init.dhr.unwrap();

    // The roles' invariants.
    let mut s = init.clone();
    s.pending_remote = Some(remote);
    assert!(!reads_back(&s), "an initiator with a step pending");
    let mut s = init.clone();
    s.dhr = None;
    assert!(!reads_back(&s), "an initiator without the remote key");
    let mut s = resp.clone();
    s.pending_remote = Some(remote);
    s.dhr = Some(remote);
    assert!(!reads_back(&s), "a responder with both");
    // A sending chain needs its header key; a session needs a way to send.
    let mut s = sending.clone();
    s.hks = None;
    assert!(!reads_back(&s), "a sending chain without header key");
    let mut s = sending.clone();
    s.cks = None;
    s.send_step_due = false;
    assert!(!reads_back(&s), "no way to send");
    s.send_step_due = true;
    assert!(reads_back(&s), "a step due is a way to send");
    // A receiving header key goes with its chain.
    let mut s = init.clone();
    s.ckr = None;
    assert!(!reads_back(&s), "a receiving header key without its chain");

    // Kept-keys chains.
    let steps = init.recv_steps;
    assert!(steps >= 1);
    let with = |chains: Vec<super::skipped::SkippedChain>| {
        let mut s = init.clone();
        s.skipped.total = chains.iter().map(|c| c.keys.len()).sum();
        s.skipped.chains = chains.into();
        s
    };
    assert!(reads_back(&with(vec![
        chain(1, 0, &[1, 5]),
        chain(2, steps, &[0])
    ])));
    assert!(
        !reads_back(&with(vec![chain(1, steps + 1, &[1])])),
        "a step from the future"
    );
    assert!(!reads_back(&with(vec![chain(1, 0, &[])])), "an empty chain");
    assert!(
        !reads_back(&with(vec![chain(1, 0, &[5, 3])])),
        "keys out of order"
    );
    assert!(
        !reads_back(&with(vec![chain(1, 0, &[5, 5])])),
        "a key twice"
    );
    assert!(
        !reads_back(&with(vec![chain(1, 0, &[1]), chain(1, 0, &[2])])),
        "a chain twice"
    );
    let full: Vec<u32> = (0..MAX_SKIP).collect();
    assert!(
        reads_back(&with(vec![chain(1, 0, &full)])),
        "exactly MAX_SKIP"
    );
    let over: Vec<u32> = (0..=MAX_SKIP).collect();
    assert!(
        !reads_back(&with(vec![chain(1, 0, &over)])),
        "MAX_SKIP + 1 in a chain"
    );
    let total = vec![chain(1, 0, &full), chain(2, 0, &full), chain(3, 0, &[1])];
    assert!(!reads_back(&with(total)), "MAX_SKIPPED_KEYS + 1 in all");
}

/// One message from `from` to `to` (in order, none lost); the envelope's length.
fn deliver(
    from: &mut Session,
    to: &mut Session,
    text: &[u8],
    r: &mut rand_chacha::ChaCha20Rng,
) -> usize {
    let env = from.encrypt(text, NOW, r).unwrap();
    assert_eq!(to.decrypt(&env, NOW).unwrap(), text);
    env.encode().len()
}

/// Catches the sparse post-quantum ratchet never completing an epoch in a plain
/// conversation, the two sides disagreeing on it, or the conversation failing after a
/// post-quantum step.
#[test]
fn post_quantum_epochs_complete_in_a_conversation() {
    let (mut a, mut b, mut r) = pair(90);
    assert_eq!((a.pq_epoch(), b.pq_epoch()), (Some(0), Some(0)));
    let mut epochs = Vec::new();
    for i in 0..120 {
        // Uneven turns: some one-way bursts, so epochs also start mid-burst.
        let burst = 1 + i % 3;
        for _ in 0..burst {
            deliver(&mut a, &mut b, b"hello there", &mut r);
        }
        deliver(&mut b, &mut a, b"hi", &mut r);
        epochs.push((a.pq_epoch().unwrap(), b.pq_epoch().unwrap()));
    }
    let (ea, eb) = *epochs.last().unwrap();
    assert!(ea >= 4 && eb >= 4, "epochs after 120 turns: {ea} / {eb}");
    // The two sides are never more than one epoch apart (the keyholder mixes first).
    assert!(
        epochs.iter().all(|(x, y)| x.abs_diff(*y) <= 1),
        "{epochs:?}"
    );
}

/// Catches a message that carries key material standing out by size: while fragments
/// flow, every message of a given plaintext length is exactly as long as it would be
/// without one (the fragment only fills padding).
#[test]
fn fragments_never_change_a_message_s_size() {
    let (mut a, mut b, mut r) = pair(91);
    let mut sizes = std::collections::BTreeMap::new();
    let mut stages = std::collections::BTreeSet::new();
    for i in 0..200usize {
        let len = [0, 10, 100, 253, 254, 600][i % 6];
        let text = vec![b'x'; len];
        stages.insert(a.pq_stage().unwrap());
        let n = deliver(&mut a, &mut b, &text, &mut r);
        assert!(sizes.insert(len, n).is_none_or(|m| m == n), "length {len}");
        stages.insert(b.pq_stage().unwrap());
        let n = deliver(&mut b, &mut a, &text, &mut r);
        assert!(sizes.insert(len, n).is_none_or(|m| m == n), "length {len}");
    }
    // Both kinds of fragment were sent while sizes were checked.
    assert!(
        stages.contains("key") && stages.contains("ciphertext"),
        "{stages:?}"
    );
    // Each length lands in its bucket: 2 bytes of framing + 253 bytes (+ the padding
    // marker) is the 256 bucket's limit, so 254 moves to 512 bytes while 253 stays.
    assert!(sizes[&253] < sizes[&254]);
}

/// Catches a marked chain accepted without the secret it claims (or one that changes the
/// session when refused): the encapsulator that has lost its secret rejects it.
#[test]
fn a_marked_chain_without_our_secret_is_rejected_and_changes_nothing() {
    let (mut a, mut b, mut r) = pair(92);
    // Talk until the responder (keyholder of epoch 1) has decapsulated.
    let mut turns = 0;
    loop {
        deliver(&mut a, &mut b, b"a", &mut r);
        if b.pq_stage() == Some("ready") {
            break;
        }
        deliver(&mut b, &mut a, b"b", &mut r);
        turns += 1;
        assert!(turns < 200);
    }
    // Bob's next message starts a chain derived with the secret, and says so.
    let env = b.encrypt(b"marked", NOW, &mut r).unwrap();
    assert_eq!(b.pq_epoch(), Some(1));
    let mut forgetful = a.clone();
    forgetful.pq = Some(pq::PqState::new(Role::Initiator));
    let before = forgetful.to_bytes();
    assert_eq!(forgetful.decrypt(&env, NOW), Err(DecryptError::Rejected));
    assert_eq!(forgetful.to_bytes(), before);
    // The genuine state reads it and moves to epoch 1.
    assert_eq!(a.decrypt(&env, NOW).unwrap(), b"marked");
    assert_eq!(a.pq_epoch(), Some(1));
}
