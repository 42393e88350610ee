//! Sealing values: XChaCha20-Poly1305 with a random 192-bit nonce, the tree name and the record
//! key in the associated data, so a value moved to another key or tree fails to open.
//!
//! Sealed layout: `version (1) || nonce (24) || ciphertext || tag (16)`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

use super::backend::TreeName;
use super::error::DecodeError;

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
const AD_DOMAIN: &[u8] = b"cairn/store/v1/value";

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpenSealError {
    Malformed(DecodeError),
    Unauthentic,
}

/// The AEAD, keyed with the value subkey. The key inside is zeroized on drop
/// (chacha20poly1305's `zeroize` feature).
pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

fn associated_data(tree: TreeName, key: &[u8]) -> Vec<u8> {
    let name = tree.as_str().as_bytes();
    let mut ad = Vec::with_capacity(AD_DOMAIN.len() + 1 + name.len() + 4 + key.len());
    ad.extend_from_slice(AD_DOMAIN);
    ad.push(SEAL_VERSION);
    ad.extend_from_slice(&(name.len() as u32).to_be_bytes());
    ad.extend_from_slice(name);
    ad.extend_from_slice(&(key.len() as u32).to_be_bytes());
    ad.extend_from_slice(key);
    ad
}

impl Sealer {
    pub(crate) fn new(value_key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(value_key.into()),
        }
    }

    /// Seals `plaintext` for `(tree, key)`.
    pub(crate) fn seal(&self, tree: TreeName, key: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let ad = associated_data(tree, key);
        let body = out.get_mut(1 + NONCE_LEN..).unwrap_or_default();
        match self
            .cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), &ad, body)
        {
            Ok(tag) => out.extend_from_slice(&tag),
            // Only fails for plaintexts beyond 2^38 bytes; the codec's limits are far lower.
            Err(_) => out.clear(),
        }
        out
    }

    /// Opens a sealed value read from `(tree, key)`. Untrusted input: never panics.
    pub(crate) fn open(
        &self,
        tree: TreeName,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpenSealError> {
        let (version, rest) = sealed
            .split_first()
            .ok_or(OpenSealError::Malformed(DecodeError::BadSeal))?;
        if *version != SEAL_VERSION {
            return Err(OpenSealError::Malformed(DecodeError::BadSeal));
        }
        let (nonce, rest) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(OpenSealError::Malformed(DecodeError::BadSeal))?;
        let body_len = rest
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(OpenSealError::Malformed(DecodeError::BadSeal))?;
        let (body, tag) = rest
            .split_at_checked(body_len)
            .ok_or(OpenSealError::Malformed(DecodeError::BadSeal))?;
        let mut plain = Zeroizing::new(body.to_vec());
        let ad = associated_data(tree, key);
        self.cipher
            .decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                &ad,
                plain.as_mut_slice(),
                Tag::from_slice(tag),
            )
            .map_err(|_| OpenSealError::Unauthentic)?;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches AD that does not bind tree and key (a swapped value would open), nonce reuse,
    /// and panics on short input.
    #[test]
    fn bound_to_tree_and_key() {
        let s = Sealer::new(&[1; 32]);
        let v = s.seal(TreeName::Contacts, b"k1", b"hello");
        assert_eq!(&*s.open(TreeName::Contacts, b"k1", &v).unwrap(), b"hello");
        assert_eq!(
            s.open(TreeName::Contacts, b"k2", &v),
            Err(OpenSealError::Unauthentic)
        );
        assert_eq!(
            s.open(TreeName::Sessions, b"k1", &v),
            Err(OpenSealError::Unauthentic)
        );
        let v2 = s.seal(TreeName::Contacts, b"k1", b"hello");
        assert_ne!(v, v2, "nonce must be random");
        for n in 0..v.len() {
            assert!(s.open(TreeName::Contacts, b"k1", &v[..n]).is_err());
        }
        let mut flipped = v.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(s.open(TreeName::Contacts, b"k1", &flipped).is_err());
        assert!(Sealer::new(&[2; 32])
            .open(TreeName::Contacts, b"k1", &v)
            .is_err());
    }
}
