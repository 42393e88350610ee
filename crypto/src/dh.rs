//! X25519 helpers: ratchet key pairs, DH that refuses non-contributory results, and a
//! low-order check for long-term keys received from others.

use crate::identity::KEY_LEN;
use rand_core::{CryptoRng, RngCore};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// The u-coordinates of every point of small order on Curve25519 and its twist, as
/// X25519 reads them (bit 255 ignored): 0, 1, the two points of order 8, and the
/// non-canonical encodings p−1, p, p+1. The list is libsodium's; the unit test below
/// checks that each one makes X25519 output all zeros.
const LOW_ORDER: [[u8; KEY_LEN]; 7] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// True if `key` is a point of small order, whose DH output is predictable (all
/// zeros). Honest keys are multiples of the base point and never match. Public data,
/// so the comparison need not be constant-time.
pub fn is_low_order(key: &[u8; KEY_LEN]) -> bool {
    let mut masked = *key;
    if let Some(top) = masked.last_mut() {
        *top &= 0x7f;
    }
    LOW_ORDER.contains(&masked)
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

    /// Catches a `Debug` that prints nothing (or the key): it names the type, and no more
    /// (a survivor of mutation testing, docs/FUZZING.md).
    #[test]
    fn debug_names_the_type_and_redacts() {
        let kp = RatchetKeyPair::from_secret_bytes([0x42; 32]);
        assert_eq!(format!("{kp:?}"), "RatchetKeyPair(<redacted>)");
    }

    /// Catches a wrong entry in the low-order list: each must force X25519 to output
    /// zero for any secret (with and without bit 255 set).
    #[test]
    fn low_order_list_is_correct() {
        for p in LOW_ORDER {
            for s in [[7u8; 32], [0x5a; 32], [0xff; 32]] {
                let mut high = p;
                high[31] |= 0x80;
                assert!(is_low_order(&high));
                let out = x25519_dalek::x25519(s, p);
                assert_eq!(out, [0u8; 32], "{p:02x?} is not low order");
            }
        }
    }

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
        for i in 0..200u8 {
            let honest = RatchetKeyPair::from_secret_bytes([i; 32]);
            assert!(!is_low_order(honest.public.as_bytes()));
        }
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
