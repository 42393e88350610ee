//! ML-KEM-768 (FIPS 203): the post-quantum half of the hybrid handshake and of the sparse
//! post-quantum ratchet to come (issue 18; docs/ARCHITECTURE.md says why Cryspen's
//! formally verified `libcrux-ml-kem` and not another implementation).
//!
//! Sans-IO like the rest of this crate: the implementation takes its randomness as bytes,
//! which the caller's RNG fills, so a seeded RNG gives the same keys, ciphertexts and
//! secrets every time. The decapsulation key and shared secrets are zeroized on drop and
//! never printed. Checked against NIST's ACVP vectors for ML-KEM-768
//! (`crypto/tests/known_answers.rs`).

use core::fmt;
use libcrux_ml_kem::mlkem768;
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

/// Bytes of an encapsulation (public) key.
pub const ENCAPSULATION_KEY_LEN: usize = 1184;
/// Bytes of a decapsulation (private) key, in FIPS 203's encoding (which holds the
/// encapsulation key too).
pub const DECAPSULATION_KEY_LEN: usize = 2400;
/// Bytes of a ciphertext.
pub const CIPHERTEXT_LEN: usize = 1088;
/// Bytes of a shared secret.
pub const SHARED_SECRET_LEN: usize = 32;

/// Where the encapsulation key sits in a decapsulation key (FIPS 203 §7.1:
/// `dk = dk_pke ‖ ek ‖ H(ek) ‖ z`, `dk_pke` 384·k = 1,152 bytes for k = 3).
const EK_IN_DK: usize = 1152;

/// Why a KEM value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KemError {
    /// Not the length of the value it claims to be.
    #[error("wrong length for an ML-KEM-768 value")]
    Length,
    /// An encapsulation key whose coefficients are not all reduced modulo q (FIPS 203
    /// §7.2's modulus check), or a decapsulation key whose hash of its encapsulation key
    /// does not match (§7.3's hash check).
    #[error("ML-KEM-768 key fails its input check")]
    Invalid,
}

/// An encapsulation key: sent in the clear (inside the handshake's encrypted payload).
#[derive(Clone, PartialEq, Eq)]
pub struct EncapsulationKey(Box<[u8; ENCAPSULATION_KEY_LEN]>);

impl EncapsulationKey {
    /// Reads an encapsulation key, with FIPS 203's modulus check.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KemError> {
        let array: [u8; ENCAPSULATION_KEY_LEN] = bytes.try_into().map_err(|_| KemError::Length)?;
        if !mlkem768::validate_public_key(&mlkem768::MlKem768PublicKey::from(&array)) {
            return Err(KemError::Invalid);
        }
        Ok(Self(Box::new(array)))
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; ENCAPSULATION_KEY_LEN] {
        &self.0
    }

    /// Encapsulates a fresh secret to this key: the ciphertext to send, and the secret.
    pub fn encapsulate(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> (KemCiphertext, SharedSecret) {
        let mut m = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(m.as_mut());
        self.encapsulate_with(&m)
    }

    /// Encapsulation with its randomness `m` given (FIPS 203 `ML-KEM.Encaps_internal`):
    /// for known-answer tests; [`Self::encapsulate`] draws it.
    pub fn encapsulate_with(&self, m: &[u8; 32]) -> (KemCiphertext, SharedSecret) {
        let key = mlkem768::MlKem768PublicKey::from(&*self.0);
        let (ct, mut ss) = mlkem768::encapsulate(&key, *m);
        let secret = SharedSecret(Zeroizing::new(ss));
        ss.zeroize();
        (KemCiphertext(Box::new(*ct.as_slice())), secret)
    }
}

impl fmt::Debug for EncapsulationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = self.0.get(..4).unwrap_or_default();
        write!(f, "EncapsulationKey({}…)", hex4(head))
    }
}

/// A ciphertext. Every 1,088-byte string is one: a modified ciphertext decapsulates to an
/// unrelated secret (FIPS 203's implicit rejection), never to an error.
#[derive(Clone, PartialEq, Eq)]
pub struct KemCiphertext(Box<[u8; CIPHERTEXT_LEN]>);

impl KemCiphertext {
    /// Reads a ciphertext (its length is the only check there is).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KemError> {
        let array: [u8; CIPHERTEXT_LEN] = bytes.try_into().map_err(|_| KemError::Length)?;
        Ok(Self(Box::new(array)))
    }

    /// The ciphertext's bytes.
    pub fn as_bytes(&self) -> &[u8; CIPHERTEXT_LEN] {
        &self.0
    }
}

impl fmt::Debug for KemCiphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = self.0.get(..4).unwrap_or_default();
        write!(f, "KemCiphertext({}…)", hex4(head))
    }
}

/// A shared secret (zeroized on drop, never printed).
pub struct SharedSecret(Zeroizing<[u8; SHARED_SECRET_LEN]>);

impl SharedSecret {
    /// The secret's bytes, to mix into a key derivation.
    pub fn expose_secret(&self) -> &[u8; SHARED_SECRET_LEN] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

/// A key pair: the decapsulation key (zeroized on drop, never printed) and its
/// encapsulation key.
pub struct KemKeyPair {
    dk: Box<Zeroizing<[u8; DECAPSULATION_KEY_LEN]>>,
    ek: EncapsulationKey,
}

impl KemKeyPair {
    /// A new key pair from the caller's RNG.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut seed = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The key pair of a 64-byte seed `d ‖ z` (FIPS 203 `ML-KEM.KeyGen_internal`): for
    /// known-answer tests; [`Self::generate`] draws it.
    pub fn from_seed(seed: &[u8; 64]) -> Self {
        let pair = mlkem768::generate_key_pair(*seed);
        let mut dk = Box::new(Zeroizing::new([0u8; DECAPSULATION_KEY_LEN]));
        dk.copy_from_slice(pair.private_key().as_slice());
        let ek = EncapsulationKey(Box::new(*pair.public_key().as_slice()));
        // The library's copy of the private key is not zeroized by it.
        let (mut sk, _) = pair.into_parts();
        sk[..DECAPSULATION_KEY_LEN].zeroize();
        Self { dk, ek }
    }

    /// The encapsulation key to send.
    pub fn encapsulation_key(&self) -> &EncapsulationKey {
        &self.ek
    }

    /// The secret a ciphertext carries (an unrelated one if it was modified: implicit
    /// rejection; never an error).
    pub fn decapsulate(&self, ct: &KemCiphertext) -> SharedSecret {
        let mut sk = mlkem768::MlKem768PrivateKey::from(&**self.dk);
        let mut ss = mlkem768::decapsulate(&sk, &mlkem768::MlKem768Ciphertext::from(&*ct.0));
        sk[..DECAPSULATION_KEY_LEN].zeroize();
        let secret = SharedSecret(Zeroizing::new(ss));
        ss.zeroize();
        secret
    }

    /// The decapsulation key's bytes (FIPS 203 encoding), to keep a pending handshake.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.dk.to_vec())
    }

    /// Reads a decapsulation key kept by [`Self::to_bytes`], with FIPS 203's hash check.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KemError> {
        if bytes.len() != DECAPSULATION_KEY_LEN {
            return Err(KemError::Length);
        }
        let mut dk = Box::new(Zeroizing::new([0u8; DECAPSULATION_KEY_LEN]));
        dk.copy_from_slice(bytes);
        let mut sk = mlkem768::MlKem768PrivateKey::from(&**dk);
        let ct = mlkem768::MlKem768Ciphertext::default();
        let valid = mlkem768::validate_private_key(&sk, &ct);
        sk[..DECAPSULATION_KEY_LEN].zeroize();
        if !valid {
            return Err(KemError::Invalid);
        }
        let ek = bytes
            .get(EK_IN_DK..EK_IN_DK + ENCAPSULATION_KEY_LEN)
            .ok_or(KemError::Length)
            .and_then(EncapsulationKey::from_bytes)?;
        Ok(Self { dk, ek })
    }
}

impl fmt::Debug for KemKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemKeyPair")
            .field("ek", &self.ek)
            .field("dk", &"<redacted>")
            .finish()
    }
}

fn hex4(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// Would catch randomness not taken from the caller's RNG (a seeded RNG must give the
    /// same keys and ciphertexts: transcripts are test vectors) and a round trip that
    /// does not agree.
    #[test]
    fn a_seeded_rng_gives_the_same_keys_and_both_sides_agree() {
        let run = |seed| {
            let mut r = ChaCha20Rng::seed_from_u64(seed);
            let pair = KemKeyPair::generate(&mut r);
            let (ct, ss) = pair.encapsulation_key().encapsulate(&mut r);
            assert_eq!(
                pair.decapsulate(&ct).expose_secret(),
                ss.expose_secret(),
                "both sides agree"
            );
            (pair.encapsulation_key().clone(), ct, *ss.expose_secret())
        };
        let (a, b, c) = (run(1), run(1), run(2));
        assert_eq!((&a.0, &a.1, a.2), (&b.0, &b.1, b.2));
        assert_ne!(a.0, c.0);
        assert_ne!(a.2, c.2);
    }

    /// Would catch a kept decapsulation key that does not come back, a damaged one
    /// accepted (the hash check), or a key of the wrong length or with an unreduced
    /// coefficient accepted (the modulus check).
    #[test]
    fn keys_are_checked_when_read() {
        let mut r = ChaCha20Rng::seed_from_u64(3);
        let pair = KemKeyPair::generate(&mut r);
        let again = KemKeyPair::from_bytes(&pair.to_bytes()).unwrap();
        assert_eq!(again.encapsulation_key(), pair.encapsulation_key());
        let (ct, ss) = pair.encapsulation_key().encapsulate(&mut r);
        assert_eq!(again.decapsulate(&ct).expose_secret(), ss.expose_secret());
        let mut bad = pair.to_bytes();
        bad[EK_IN_DK + 5] ^= 1;
        assert_eq!(KemKeyPair::from_bytes(&bad).unwrap_err(), KemError::Invalid);
        assert_eq!(
            KemKeyPair::from_bytes(&bad[..100]).unwrap_err(),
            KemError::Length
        );
        let ek = pair.encapsulation_key().as_bytes();
        assert_eq!(
            EncapsulationKey::from_bytes(&ek[1..]).unwrap_err(),
            KemError::Length
        );
        // Coefficient 0 of the first polynomial set to 0xfff (> q = 3329).
        let mut unreduced = *ek;
        unreduced[0] = 0xff;
        unreduced[1] |= 0x0f;
        assert_eq!(
            EncapsulationKey::from_bytes(&unreduced).unwrap_err(),
            KemError::Invalid
        );
        assert!(KemCiphertext::from_bytes(&[0; CIPHERTEXT_LEN - 1]).is_err());
        assert!(KemCiphertext::from_bytes(&[0; CIPHERTEXT_LEN]).is_ok());
    }
}
