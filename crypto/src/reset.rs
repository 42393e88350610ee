//! Session reset: a new handshake between two people who are already contacts.
//!
//! A session can become unusable (a device restored from an old backup, state lost to a
//! disk failure, a contact far ahead of `MAX_CHAIN_JUMP`). Both sides know each other's
//! identity key, so neither needs a new invite: each derives, for each direction, the
//! invite secret of a reset from their static-static X25519 output,
//!
//! ```text
//! ss     = X25519(own identity secret, other identity public)        (the same on both sides)
//! secret = HKDF-SHA256(salt = initiator_pub | responder_pub, ikm = ss,
//!                      info = "cairn/v1 session reset")[..32]
//! ```
//!
//! and the reset is then an ordinary `Noise_IKpsk1` handshake (docs/PROTOCOL.md §11) with
//! that secret as the invite's: the initiator sends message 1 under the secret's `init_tag`,
//! which the responder listens for for every contact. Only the two identity keys' owners can
//! compute the secret, so nobody else can start or answer a reset; the handshake's
//! ephemeral keys make each reset's session new. The secret is the same for every reset in
//! one direction, so the responder refuses a message 1 it has seen before (a replay).

use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::invite::InviteSecret;
use crate::kdf::{hkdf_keys, label};

/// The invite secret of a reset that `initiator` starts with `responder`. `own` is the
/// caller's identity: one of the two. None if the two keys give an all-zero X25519 output
/// (a low-order key), or if `own` is neither of them.
pub fn reset_secret(
    own: &IdentityKeyPair,
    initiator: &IdentityPublicKey,
    responder: &IdentityPublicKey,
) -> Option<InviteSecret> {
    let other = if own.public() == *initiator {
        responder
    } else if own.public() == *responder {
        initiator
    } else {
        return None;
    };
    let ss = own.dh(other)?;
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(initiator.as_bytes());
    salt[32..].copy_from_slice(responder.as_bytes());
    let [secret] = *hkdf_keys::<1>(&salt, ss.as_ref(), label::SESSION_RESET);
    Some(InviteSecret::from_bytes(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// Catches a secret the two sides do not agree on, one that is the same in both
    /// directions, or one a third identity can compute.
    #[test]
    fn both_sides_agree_per_direction_and_nobody_else_can() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let a = IdentityKeyPair::generate(&mut rng);
        let b = IdentityKeyPair::generate(&mut rng);
        let eve = IdentityKeyPair::generate(&mut rng);
        let ab_a = reset_secret(&a, &a.public(), &b.public()).unwrap();
        let ab_b = reset_secret(&b, &a.public(), &b.public()).unwrap();
        assert!(ab_a == ab_b);
        let ba = reset_secret(&b, &b.public(), &a.public()).unwrap();
        assert!(ab_a != ba, "each direction has its own secret");
        assert!(reset_secret(&eve, &a.public(), &b.public()).is_none());
        let eve_guess = reset_secret(&eve, &eve.public(), &b.public()).unwrap();
        assert!(eve_guess != ab_a);
        assert!(ab_a.keys().init_tag != ba.keys().init_tag);
    }
}
