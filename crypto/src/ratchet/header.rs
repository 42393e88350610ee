//! The ratchet message header and its encryption.
//!
//! ```text
//! header = ratchet_public [32] | pn u32 | n u32                   (40 bytes)
//! encrypted header = nonce [24] | XChaCha20-Poly1305(hk, nonce, header, ad) (80 bytes)
//! ```
//!
//! A header key encrypts every header of a chain, so the nonce is random (192 bits:
//! no collision risk), drawn from the caller's RNG.

use super::keys::HeaderKey;
use crate::wire::{Reader, Writer};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use x25519_dalek::PublicKey;

/// Plaintext header length.
pub const HEADER_LEN: usize = 40;
/// Header nonce length.
pub const HEADER_NONCE_LEN: usize = 24;

/// A decrypted header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The sender's current ratchet public key.
    pub dh: PublicKey,
    /// Number of messages in the sender's previous sending chain.
    pub pn: u32,
    /// This message's number in the current sending chain.
    pub n: u32,
}

impl Header {
    fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let (dh, rest) = out.split_at_mut(32);
        let (pn, n) = rest.split_at_mut(4);
        dh.copy_from_slice(self.dh.as_bytes());
        pn.copy_from_slice(&self.pn.to_be_bytes());
        n.copy_from_slice(&self.n.to_be_bytes());
        out
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        let mut r = Reader::new(b);
        let dh: [u8; 32] = r.array().ok()?;
        let pn = r.u32().ok()?;
        let n = r.u32().ok()?;
        r.finish().ok()?;
        Some(Self {
            dh: PublicKey::from(dh),
            pn,
            n,
        })
    }

    /// Encrypts into `out`: nonce | ciphertext | tag.
    pub(crate) fn seal_into(
        self,
        hk: &HeaderKey,
        nonce: [u8; HEADER_NONCE_LEN],
        ad: &[u8],
        out: &mut Vec<u8>,
    ) {
        let cipher = XChaCha20Poly1305::new(hk.expose().into());
        let mut buf = self.to_bytes();
        // Encryption of a 40-byte buffer cannot fail (the only error is length overflow).
        let tag = cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), ad, &mut buf)
            .unwrap_or_default();
        out.put(&nonce);
        out.put(&buf);
        out.put(&tag);
    }

    /// Decrypts an encrypted header; `None` if this key did not encrypt it.
    pub(crate) fn open(hk: &HeaderKey, enc: &[u8], ad: &[u8]) -> Option<Self> {
        let mut r = Reader::new(enc);
        let nonce: [u8; HEADER_NONCE_LEN] = r.array().ok()?;
        let mut buf: [u8; HEADER_LEN] = r.array().ok()?;
        let tag: [u8; 16] = r.array().ok()?;
        r.finish().ok()?;
        let cipher = XChaCha20Poly1305::new(hk.expose().into());
        cipher
            .decrypt_in_place_detached(XNonce::from_slice(&nonce), ad, &mut buf, (&tag).into())
            .ok()?;
        Self::from_bytes(&buf)
    }
}
