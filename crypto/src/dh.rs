//! X25519 helpers: ratchet key pairs, DH that refuses non-contributory results, and a
//! low-order check for long-term keys received from others.

use crate::identity::KEY_LEN;
use curve25519_dalek::montgomery::MontgomeryPoint;
use rand_core::{CryptoRng, RngCore};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// True if `key` is not a usable public key: a point of small order (whose DH output
/// is predictable), or not on the curve at all. Honest keys are multiples of the base
/// point and always pass.
pub fn is_low_order(key: &[u8; KEY_LEN]) -> bool {
    match MontgomeryPoint(*key).to_edwards(0) {
        Some(p) => p.is_small_order(),
        None => true,
    }
}

/// A ratchet key pair (DHs in the Signal specification). Zeroized on drop.
#[derive(Clone)]
pub(crate) struct RatchetKeyPair {
    pub(crate) secret: StaticSecret,
    pub(crate) public: PublicKey,
}

impl RatchetKeyPair {
    pub(crate) fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut b = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(b.as_mut());
        Self::from_secret_bytes(*b)
    }

    pub(crate) fn from_secret_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let secret = StaticSecret::from(bytes);
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }

    /// X25519 with `remote`; `None` if the result is all-zero (a low-order point).
    pub(crate) fn dh(&self, remote: &PublicKey) -> Option<Zeroizing<[u8; 32]>> {
        let shared = self.secret.diffie_hellman(remote);
        if shared.was_contributory() {
            Some(Zeroizing::new(shared.to_bytes()))
        } else {
            None
        }
    }
}

impl std::fmt::Debug for RatchetKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RatchetKeyPair(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a low-order check that lets through the identity or a torsion point,
    /// or that rejects honest keys.
    #[test]
    fn low_order_points() {
        assert!(is_low_order(&[0u8; 32]));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(is_low_order(&one));
        // An order-8 point (from the curve25519 torsion subgroup, u-coordinate).
        let t8 = hex_literal("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
        assert!(is_low_order(&t8));
        let honest = RatchetKeyPair::from_secret_bytes([7u8; 32]);
        assert!(!is_low_order(honest.public.as_bytes()));
    }

    /// Catches a DH that returns the all-zero secret instead of refusing it.
    #[test]
    fn non_contributory_dh_refused() {
        let kp = RatchetKeyPair::from_secret_bytes([9u8; 32]);
        assert!(kp.dh(&PublicKey::from([0u8; 32])).is_none());
        let other = RatchetKeyPair::from_secret_bytes([3u8; 32]);
        assert!(kp.dh(&other.public).is_some());
    }

    fn hex_literal(s: &str) -> [u8; 32] {
        let v = hex::decode(s).unwrap();
        v.try_into().unwrap()
    }
}
