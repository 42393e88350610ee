//! The `pq_fragment` target: the sparse post-quantum ratchet's fragments (docs/PROTOCOL.md
//! §12.10). They travel inside a message's body, behind its AEAD, where mutated messages
//! never reach: this target feeds them to the ratchet's state directly.

use crate::ratchet::pq::{PqState, PQ_EPOCH_GAP};
use crate::ratchet::Role;
use crate::wire::Reader;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The states a fragment can meet: an encapsulator collecting the key (stage 0), a
/// keyholder whose key is out, collecting the ciphertext (1), a keyholder still waiting (2).
fn state(stage: u8) -> (PqState, Role) {
    match stage % 3 {
        0 => (PqState::new(Role::Initiator), Role::Initiator),
        1 => {
            let mut s = PqState::new(Role::Responder);
            s.prepare(
                PQ_EPOCH_GAP,
                &mut ChaCha20Rng::seed_from_u64(super::FIXTURE_SEED),
            );
            (s, Role::Responder)
        }
        _ => (PqState::new(Role::Responder), Role::Responder),
    }
}

fn round_trip(s: &PqState, role: Role) {
    let mut bytes = Vec::new();
    s.write(&mut bytes);
    let back = super::ok(
        PqState::read(&mut Reader::new(&bytes), role),
        "state read back",
    );
    let mut again = Vec::new();
    back.write(&mut again);
    assert!(again == bytes, "the post-quantum state does not round-trip");
}

/// Input: `stage u8 | (room u8 | len u8 | fragment [len])*`.
///
/// Each fragment is received by the stage's state, which then prepares and writes a
/// fragment of its own into `room` bytes, as a send would. Invariants: no panic; the epoch
/// never moves (only a DH step moves it); the state round-trips through its serialisation
/// after every fragment; a fragment written never exceeds its room.
pub fn fuzz_pq_fragment(data: &[u8]) {
    let Some((&stage, mut rest)) = data.split_first() else {
        return;
    };
    let (mut s, role) = state(stage);
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(stage));
    while let [room, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (fragment, next) = tail.split_at(n);
        s.receive(fragment);
        s.prepare(0, &mut rng);
        let out = s.fragment(usize::from(*room));
        assert!(
            out.len() <= usize::from(*room),
            "a fragment larger than its room"
        );
        assert!(s.epoch == 0, "a fragment moved the epoch");
        round_trip(&s, role);
        rest = next;
    }
}

/// Seeds: a real exchange's fragments of each kind, framed for the stage that takes them.
pub(super) fn seeds() -> Vec<Vec<u8>> {
    let frame = |stage: u8, frags: &[Vec<u8>]| {
        let mut v = vec![stage];
        for f in frags {
            v.push(120);
            v.push(u8::try_from(f.len()).unwrap_or(u8::MAX));
            v.extend_from_slice(f);
        }
        v
    };
    let (mut keyholder, _) = state(1);
    let (mut encapsulator, _) = state(0);
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let mut keys = Vec::new();
    for _ in 0..40 {
        let f = keyholder.fragment(200);
        if f.is_empty() {
            break;
        }
        encapsulator.receive(&f);
        keys.push(f);
        encapsulator.prepare(0, &mut rng);
        if encapsulator.stage() == "ciphertext" {
            break;
        }
    }
    let mut cts = Vec::new();
    for _ in 0..40 {
        let f = encapsulator.fragment(200);
        keyholder.receive(&f);
        cts.push(f);
        if keyholder.stage() == "ready" {
            break;
        }
    }
    vec![
        frame(0, &keys),
        frame(1, &cts),
        frame(2, keys.get(..1).unwrap_or_default()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches seeds that do not reach the paths the target is for: the key seed completes
    /// the encapsulator's key, the ciphertext seed the keyholder's decapsulation.
    #[test]
    fn seeds_complete_both_values() {
        let seeds = seeds();
        for (seed, want) in seeds.iter().zip(["ciphertext", "ready"]) {
            let (mut s, _) = state(seed[0]);
            let mut rest = &seed[1..];
            let mut rng = ChaCha20Rng::seed_from_u64(0);
            while let [_, len, tail @ ..] = rest {
                let (f, next) = tail.split_at(usize::from(*len));
                s.receive(f);
                s.prepare(0, &mut rng);
                rest = next;
            }
            assert_eq!(s.stage(), want);
        }
    }
}
