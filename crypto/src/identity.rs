//! A profile's long-term X25519 identity key.

use rand_core::{CryptoRng, RngCore};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Length of an X25519 public or secret key.
pub const KEY_LEN: usize = 32;

/// The public half of an identity: what contacts know and pin.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityPublicKey([u8; KEY_LEN]);

impl IdentityPublicKey {
    /// Wraps 32 bytes received from a peer or read from the store.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }
    /// The 32 public bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for IdentityPublicKey {
    /// Public keys are not secret, but logs must not link people: print nothing
    /// that identifies the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityPublicKey(..)")
    }
}

/// A long-term identity key pair. The secret is zeroized on drop and never printed.
#[derive(Clone)]
pub struct IdentityKeyPair {
    secret: StaticSecret,
    public: IdentityPublicKey,
}

impl IdentityKeyPair {
    /// Generates a new identity from the caller's RNG.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_secret_bytes(*bytes)
    }

    /// Restores an identity from its 32 secret bytes (as stored by the profile store).
    pub fn from_secret_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let secret = StaticSecret::from(bytes);
        let public = IdentityPublicKey(PublicKey::from(&secret).to_bytes());
        Self { secret, public }
    }

    /// X25519 with another identity's public key (None if the result is all zero).
    pub(crate) fn dh(&self, peer: &IdentityPublicKey) -> Option<Zeroizing<[u8; KEY_LEN]>> {
        let shared = self
            .secret
            .diffie_hellman(&PublicKey::from(*peer.as_bytes()));
        shared
            .was_contributory()
            .then(|| Zeroizing::new(shared.to_bytes()))
    }

    /// The secret bytes, for the encrypted store only. Zeroized when dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> IdentityPublicKey {
        self.public
    }
}

impl std::fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityKeyPair { secret: <redacted>, public: .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// Catches X25519 of two identities computing anything but the standard function (the
    /// reset secret rests on it; found missing by mutation testing): RFC 7748 §6.1.
    #[test]
    fn identity_dh_is_x25519_of_rfc_7748() {
        let alice = IdentityKeyPair::from_secret_bytes(unhex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let bob = IdentityKeyPair::from_secret_bytes(unhex(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ));
        assert_eq!(
            alice.public().as_bytes(),
            &unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            bob.public().as_bytes(),
            &unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        );
        let shared = unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(*alice.dh(&bob.public()).unwrap(), shared);
        assert_eq!(*bob.dh(&alice.public()).unwrap(), shared);
        // A low-order point gives nothing, not an all-zero secret.
        assert!(alice.dh(&IdentityPublicKey::from_bytes([0; 32])).is_none());
    }
}
