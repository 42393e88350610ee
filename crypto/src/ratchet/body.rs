//! A ratchet message's associated data and body: the keys a body is encrypted under in each
//! protocol, and opening one.

use super::header::HEADER_NONCE_LEN;
use super::keys::MessageKey;
use super::{DecryptError, SESSION_AD_LEN};
use crate::envelope::{AEAD_TAG_LEN, ENVELOPE_PREFIX_LEN};
use crate::kdf::{hmac, label};
use crate::padding;
use crate::protocol::Protocol;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

pub(super) fn header_ad(ad: &[u8; SESSION_AD_LEN], pre: &[u8; ENVELOPE_PREFIX_LEN]) -> Vec<u8> {
    let mut v = Vec::with_capacity(SESSION_AD_LEN + ENVELOPE_PREFIX_LEN);
    v.extend_from_slice(ad);
    v.extend_from_slice(pre);
    v
}

pub(super) fn body_ad(
    ad: &[u8; SESSION_AD_LEN],
    pre: &[u8; ENVELOPE_PREFIX_LEN],
    enc_header: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(SESSION_AD_LEN + ENVELOPE_PREFIX_LEN + enc_header.len());
    v.extend_from_slice(ad);
    v.extend_from_slice(pre);
    v.extend_from_slice(enc_header);
    v
}

/// The key a message body is encrypted under. Protocol v1: the message key itself.
/// Protocol v2: `HMAC-SHA256(mk, "cairn/v2 body key" | header nonce)`, so a state rolled
/// back (a restored old disk image) that derives the same message key again still never
/// encrypts two bodies under the same key: the header nonce is fresh randomness.
pub(super) fn body_key(
    protocol: Protocol,
    mk: &MessageKey,
    header_nonce: &[u8],
) -> zeroize::Zeroizing<[u8; 32]> {
    match protocol {
        Protocol::V1 => zeroize::Zeroizing::new(*mk.expose()),
        Protocol::V2 | Protocol::V3 | Protocol::V4 => {
            hmac(mk.expose(), &[label::BODY_KEY, header_nonce])
        }
    }
}

/// Opens a message body: ChaCha20-Poly1305 under the body key (see [`body_key`]; the
/// nonce is all-zero, as each body key encrypts exactly one message), then unpads.
pub(super) fn open_body(
    protocol: Protocol,
    mk: &MessageKey,
    ad: &[u8],
    enc_header: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    let (ct, tag) = ciphertext
        .split_at_checked(ciphertext.len().saturating_sub(AEAD_TAG_LEN))
        .ok_or(DecryptError::Malformed)?;
    let nonce = enc_header
        .get(..HEADER_NONCE_LEN)
        .ok_or(DecryptError::Malformed)?;
    let mut buf = ct.to_vec();
    let key = body_key(protocol, mk, nonce);
    let cipher = ChaCha20Poly1305::new(key.as_ref().into());
    cipher
        .decrypt_in_place_detached(&Nonce::default(), ad, &mut buf, tag.into())
        .map_err(|_| DecryptError::Rejected)?;
    let len = padding::unpadded_len(&buf).map_err(|_| DecryptError::Rejected)?;
    buf.truncate(len);
    Ok(buf)
}
