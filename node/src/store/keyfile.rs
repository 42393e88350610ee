//! The key file: Argon2id parameters, salt, and the master key sealed under the passphrase key.
//!
//! Layout (all integers big-endian), 158 bytes:
//!
//! ```text
//! offset len  field
//! 0      8    magic "CAIRNKEY"
//! 8      1    format version (1)
//! 9      1    KDF id (1 = Argon2id v0x13)
//! 10     4    m_cost in KiB
//! 14     4    t_cost
//! 18     4    p_cost
//! 22     32   salt (random)
//! 54     24   XChaCha20-Poly1305 nonce (random)
//! 78     48   sealed master key (32 + 16-byte tag), AD = bytes 0..54
//! 126    32   SHA-256 of bytes 0..126
//! ```
//!
//! The unkeyed checksum tells a damaged file (checksum fails) from a wrong passphrase
//! (checksum holds, the tag does not). It reveals nothing: everything it covers is already in
//! the file. The file is untrusted input: parsing never panics.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::{KdfError, KeyFileError};
use super::kdf::{derive_wrapping_key, KdfParams};
use super::secret::{MasterKey, Passphrase};

const MAGIC: &[u8; 8] = b"CAIRNKEY";
const VERSION: u8 = 1;
const KDF_ARGON2ID_V13: u8 = 1;
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const SEALED_LEN: usize = MasterKey::LEN + 16;
const HEADER_LEN: usize = 8 + 1 + 1 + 4 + 4 + 4 + SALT_LEN;
const BODY_LEN: usize = HEADER_LEN + NONCE_LEN + SEALED_LEN;
/// Exact length of a version-1 key file.
pub const KEY_FILE_LEN: usize = BODY_LEN + 32;
/// Longest key file we read into memory (a damaged file might be huge).
pub const MAX_KEY_FILE_LEN: usize = 4096;

/// A parsed, checksum-verified key file. The passphrase has not been checked yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFile {
    /// Argon2id parameters.
    pub params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    sealed: [u8; SEALED_LEN],
}

/// Why unwrapping failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UnwrapError {
    WrongPassphrase,
    Kdf(KdfError),
}

fn header(params: KdfParams, salt: &[u8; SALT_LEN]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let mut w = Vec::with_capacity(HEADER_LEN);
    w.extend_from_slice(MAGIC);
    w.push(VERSION);
    w.push(KDF_ARGON2ID_V13);
    w.extend_from_slice(&params.m_cost_kib.to_be_bytes());
    w.extend_from_slice(&params.t_cost.to_be_bytes());
    w.extend_from_slice(&params.p_cost.to_be_bytes());
    w.extend_from_slice(salt);
    h.copy_from_slice(&w);
    h
}

impl KeyFile {
    /// Wraps `master` under `passphrase` with fresh salt and nonce. Runs the full KDF.
    pub(crate) fn wrap(
        master: &MasterKey,
        passphrase: &Passphrase,
        params: KdfParams,
    ) -> Result<Self, KdfError> {
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let kek = derive_wrapping_key(passphrase, &salt, params)?;
        let cipher = XChaCha20Poly1305::new(kek.as_ref().into());
        let aad = header(params, &salt);
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: master.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| KdfError::InvalidParams)?;
        let sealed: [u8; SEALED_LEN] = ct.try_into().map_err(|_| KdfError::InvalidParams)?;
        Ok(Self {
            params,
            salt,
            nonce,
            sealed,
        })
    }

    /// Unwraps the master key. Runs the full KDF whether or not the passphrase is right.
    pub(crate) fn unwrap_master(&self, passphrase: &Passphrase) -> Result<MasterKey, UnwrapError> {
        let kek =
            derive_wrapping_key(passphrase, &self.salt, self.params).map_err(UnwrapError::Kdf)?;
        let cipher = XChaCha20Poly1305::new(kek.as_ref().into());
        let aad = header(self.params, &self.salt);
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&self.nonce),
                    Payload {
                        msg: &self.sealed,
                        aad: &aad,
                    },
                )
                .map_err(|_| UnwrapError::WrongPassphrase)?,
        );
        let mut key = [0u8; MasterKey::LEN];
        if plain.len() != key.len() {
            return Err(UnwrapError::WrongPassphrase);
        }
        key.copy_from_slice(&plain);
        let master = MasterKey::from_bytes(key);
        zeroize::Zeroize::zeroize(&mut key);
        Ok(master)
    }

    /// Serialises to the on-disk layout.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(KEY_FILE_LEN);
        out.extend_from_slice(&header(self.params, &self.salt));
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.sealed);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Parses and checksum-verifies untrusted bytes. Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Self, KeyFileError> {
        if bytes.len() > MAX_KEY_FILE_LEN || bytes.len() > KEY_FILE_LEN {
            // Check the magic first so that a random overwrite reads as "not a key file".
            if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
                return Err(KeyFileError::BadMagic);
            }
            return Err(KeyFileError::TooLong { len: bytes.len() });
        }
        if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
            if bytes.len() < MAGIC.len() {
                return Err(KeyFileError::Truncated { len: bytes.len() });
            }
            return Err(KeyFileError::BadMagic);
        }
        if bytes.len() < KEY_FILE_LEN {
            return Err(KeyFileError::Truncated { len: bytes.len() });
        }
        let (body, sum) = bytes
            .split_at_checked(BODY_LEN)
            .ok_or(KeyFileError::Truncated { len: bytes.len() })?;
        let expected = Sha256::digest(body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_slice(), sum)) {
            return Err(KeyFileError::ChecksumMismatch);
        }
        let mut r = body
            .get(MAGIC.len()..)
            .ok_or(KeyFileError::Truncated { len: bytes.len() })?;
        let version = take::<1>(&mut r)?[0];
        if version != VERSION {
            return Err(KeyFileError::UnsupportedVersion(version));
        }
        let kdf = take::<1>(&mut r)?[0];
        if kdf != KDF_ARGON2ID_V13 {
            return Err(KeyFileError::UnsupportedKdf(kdf));
        }
        let params = KdfParams {
            m_cost_kib: u32::from_be_bytes(take::<4>(&mut r)?),
            t_cost: u32::from_be_bytes(take::<4>(&mut r)?),
            p_cost: u32::from_be_bytes(take::<4>(&mut r)?),
        };
        if !params.is_within_bounds() {
            return Err(KeyFileError::ParamsOutOfBounds);
        }
        let salt = take::<SALT_LEN>(&mut r)?;
        let nonce = take::<NONCE_LEN>(&mut r)?;
        let sealed = take::<SEALED_LEN>(&mut r)?;
        Ok(Self {
            params,
            salt,
            nonce,
            sealed,
        })
    }
}

fn take<const N: usize>(r: &mut &[u8]) -> Result<[u8; N], KeyFileError> {
    let (head, rest) = r
        .split_at_checked(N)
        .ok_or(KeyFileError::Truncated { len: 0 })?;
    let mut out = [0u8; N];
    out.copy_from_slice(head);
    *r = rest;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams::insecure_fast_for_tests()
    }

    /// Catches a wrap/unwrap mismatch or a format that does not round-trip.
    #[test]
    fn round_trip() {
        let mk = MasterKey::random();
        let kf = KeyFile::wrap(&mk, &"correct horse".into(), fast()).unwrap();
        let bytes = kf.to_bytes();
        assert_eq!(bytes.len(), KEY_FILE_LEN);
        let parsed = KeyFile::parse(&bytes).unwrap();
        assert_eq!(parsed, kf);
        let got = parsed.unwrap_master(&"correct horse".into()).unwrap();
        assert_eq!(got.as_bytes(), mk.as_bytes());
        assert_eq!(
            parsed.unwrap_master(&"wrong".into()).unwrap_err(),
            UnwrapError::WrongPassphrase
        );
    }

    /// Catches damage being misreported as a wrong passphrase (or accepted), and any panic on
    /// truncation.
    #[test]
    fn damage_is_typed() {
        let mk = MasterKey::random();
        let bytes = KeyFile::wrap(&mk, &"pw".into(), fast()).unwrap().to_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let err = KeyFile::parse(&b).unwrap_err();
            assert!(
                matches!(err, KeyFileError::ChecksumMismatch | KeyFileError::BadMagic),
                "byte {i}: {err:?}"
            );
        }
        for n in 0..bytes.len() {
            assert!(KeyFile::parse(&bytes[..n]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            KeyFile::parse(&longer).unwrap_err(),
            KeyFileError::TooLong {
                len: KEY_FILE_LEN + 1
            }
        );
        assert_eq!(
            KeyFile::parse(&[0x5a; KEY_FILE_LEN]).unwrap_err(),
            KeyFileError::BadMagic
        );
    }

    /// Catches parameter downgrade by editing the header: the checksum and the AD both cover it.
    #[test]
    fn params_are_authenticated() {
        let mk = MasterKey::random();
        let kf = KeyFile::wrap(&mk, &"pw".into(), fast()).unwrap();
        let mut tampered = kf.clone();
        tampered.params.t_cost = 2;
        let reparsed = KeyFile::parse(&tampered.to_bytes()).unwrap();
        assert_eq!(
            reparsed.unwrap_master(&"pw".into()).unwrap_err(),
            UnwrapError::WrongPassphrase
        );
    }
}
