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

/// Longest associated data built on the stack; longer record keys (none today) use the heap.
const AD_STACK: usize = 160;

/// Calls `f` with the associated data for `(tree, key)`, built without allocating when it fits.
fn with_associated_data<R>(tree: TreeName, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let name = tree.as_str().as_bytes();
    let parts: [&[u8]; 6] = [
        AD_DOMAIN,
        &[SEAL_VERSION],
        &(name.len() as u32).to_be_bytes(),
        name,
        &(key.len() as u32).to_be_bytes(),
        key,
    ];
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut stack = [0u8; AD_STACK];
    if let Some(buf) = stack.get_mut(..len) {
        let mut at = 0;
        for p in parts {
            if let Some(dst) = buf.get_mut(at..at + p.len()) {
                dst.copy_from_slice(p);
            }
            at += p.len();
        }
        f(buf)
    } else {
        f(&parts.concat())
    }
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
        let body = out.get_mut(1 + NONCE_LEN..).unwrap_or_default();
        let sealed = with_associated_data(tree, key, |ad| {
            self.cipher
                .encrypt_in_place_detached(XNonce::from_slice(&nonce), ad, body)
        });
        match sealed {
            Ok(tag) => out.extend_from_slice(&tag),
            // Only fails for plaintexts beyond 2^38 bytes; the codec's limits are far lower.
            Err(_) => out.clear(),
        }
        out
    }

    /// Opens a sealed value read from `(tree, key)`, in its own buffer, and returns the part of
    /// the buffer that now holds the plaintext; the caller zeroizes it when done. Untrusted
    /// input: never panics. On failure nothing was decrypted (the tag is checked first).
    pub(crate) fn open_in_place<'a>(
        &self,
        tree: TreeName,
        key: &[u8],
        sealed: &'a mut [u8],
    ) -> Result<&'a mut [u8], OpenSealError> {
        let malformed = OpenSealError::Malformed(DecodeError::BadSeal);
        let (version, rest) = sealed.split_first_mut().ok_or(malformed.clone())?;
        if *version != SEAL_VERSION {
            return Err(malformed);
        }
        let (nonce, rest) = rest
            .split_at_mut_checked(NONCE_LEN)
            .ok_or(malformed.clone())?;
        let body_len = rest.len().checked_sub(TAG_LEN).ok_or(malformed.clone())?;
        let (body, tag) = rest.split_at_mut_checked(body_len).ok_or(malformed)?;
        with_associated_data(tree, key, |ad| {
            self.cipher.decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                ad,
                body,
                Tag::from_slice(tag),
            )
        })
        .map_err(|_| OpenSealError::Unauthentic)?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(
        s: &Sealer,
        tree: TreeName,
        key: &[u8],
        mut v: Vec<u8>,
    ) -> Result<Vec<u8>, OpenSealError> {
        s.open_in_place(tree, key, &mut v).map(|p| p.to_vec())
    }

    /// Catches AD that does not bind tree and key (a swapped value would open), nonce reuse,
    /// and panics on short input.
    #[test]
    fn bound_to_tree_and_key() {
        let s = Sealer::new(&[1; 32]);
        let v = s.seal(TreeName::Contacts, b"k1", b"hello");
        assert_eq!(
            &*open(&s, TreeName::Contacts, b"k1", v.clone()).unwrap(),
            b"hello"
        );
        assert_eq!(
            open(&s, TreeName::Contacts, b"k2", v.clone()),
            Err(OpenSealError::Unauthentic)
        );
        assert_eq!(
            open(&s, TreeName::Sessions, b"k1", v.clone()),
            Err(OpenSealError::Unauthentic)
        );
        let v2 = s.seal(TreeName::Contacts, b"k1", b"hello");
        assert_ne!(v, v2, "nonce must be random");
        for n in 0..v.len() {
            assert!(open(&s, TreeName::Contacts, b"k1", v[..n].to_vec()).is_err());
        }
        let mut flipped = v.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open(&s, TreeName::Contacts, b"k1", flipped.clone()).is_err());
        // A value that fails is left as it was (authenticated before decrypting).
        let mut buf = flipped.clone();
        assert!(s
            .open_in_place(TreeName::Contacts, b"k1", &mut buf)
            .is_err());
        assert_eq!(buf, flipped);
        assert!(open(&Sealer::new(&[2; 32]), TreeName::Contacts, b"k1", v.clone()).is_err());
    }
}
