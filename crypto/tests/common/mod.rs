#![allow(dead_code)]
pub mod noise_ref;
use cairn_crypto::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const NOW: u64 = 1_800_000_000;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn card(name: &str) -> ProfileCard {
    ProfileCard {
        display_name: name.into(),
        peer_id: vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 1, 2, 3],
        addrs: vec![vec![0x04, 127, 0, 0, 1, 0x06, 0x1f, 0x90]],
        mailbox: Some(vec![0x04, 10, 0, 0, 1]),
    }
}

pub struct Pair {
    pub alice_id: IdentityKeyPair,
    pub bob_id: IdentityKeyPair,
    pub alice: Session,
    pub bob: Session,
}

/// Bob invites, Alice accepts; both sessions established (latest protocol).
pub fn pair(seed: u64) -> Pair {
    pair_with(seed, Protocol::LATEST)
}

/// Bob invites with a code of protocol `protocol`, Alice accepts.
pub fn pair_with(seed: u64, protocol: Protocol) -> Pair {
    let mut r = rng(seed);
    let alice_id = IdentityKeyPair::generate(&mut r);
    let bob_id = IdentityKeyPair::generate(&mut r);
    let mut invite =
        Invite::new(bob_id.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
    invite.protocol = protocol;
    let (pending, m1) = initiate(&alice_id, &invite, &card("alice"), &mut r).unwrap();
    let (bob, m2) = respond(&bob_id, &invite.keys(), &card("bob"), &m1, &mut r).unwrap();
    let alice = pending.finish(&alice_id, &m2).unwrap();
    Pair {
        alice_id,
        bob_id,
        alice: alice.session,
        bob: bob.session,
    }
}
