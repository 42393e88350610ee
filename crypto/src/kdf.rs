//! Key derivation: every label Cairn uses, and the HKDF/HMAC helpers that use them.
//!
//! All derivations use SHA-256 (HKDF per RFC 5869, HMAC per RFC 2104). Each label is
//! unique, so no two derivations can ever produce related keys. `docs/PROTOCOL.md`
//! lists the same labels.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// HKDF info labels. Changing any of these is a protocol version change.
pub(crate) mod label {
    /// Session keys from the Noise handshake (root key, header keys, routing keys).
    pub const SESSION: &[u8] = b"cairn/v1 session";
    /// Protocol v3: session keys from the Noise handshake and the ML-KEM-768 shared
    /// secret of its payloads (hybrid).
    pub const HYBRID_SESSION: &[u8] = b"cairn/v3 hybrid session";
    /// Protocol v4: a root-key step that mixes a post-quantum secret (the sparse
    /// post-quantum ratchet) with the DH output.
    pub const PQ_RATCHET_ROOT: &[u8] = b"cairn/v4 pq ratchet root";
    /// Root-key ratchet step (KDF_RK): new root key, chain key, next header key.
    pub const RATCHET_ROOT: &[u8] = b"cairn/v1 ratchet root";
    /// From the invite secret: Noise PSK | init mailbox key | response mailbox key |
    /// invite id (4 × 32 bytes).
    pub const INVITE_KEYS: &[u8] = b"cairn/v1 invite keys";
    /// Hash prefix turning a mailbox key into its routing tag.
    pub const ROUTING_TAG: &[u8] = b"cairn/v1 routing tag";
    /// Message input to the mailbox-key PRF (per direction and epoch).
    pub const MAILBOX_KEY: &[u8] = b"cairn/v1 mailbox key";
    /// Invite code checksum: prefix of the BLAKE2s-256 input (not a personalisation).
    pub const INVITE_CHECKSUM: &[u8] = b"cairn/v1 invite checksum";
    /// Safety-number fingerprint iteration input.
    pub const SAFETY_NUMBER: &[u8] = b"cairn/v1 safety number";
    /// Session reset: the invite secret of a reset from one identity to another, from
    /// their static-static X25519 output.
    pub const SESSION_RESET: &[u8] = b"cairn/v1 session reset";
    /// Protocol v2: a sending chain's routing-tag key, from the chain's header key.
    pub const CHAIN_TAG_KEY: &[u8] = b"cairn/v2 chain tag key";
    /// Protocol v2: a message body's key, from the message key and the header nonce.
    pub const BODY_KEY: &[u8] = b"cairn/v2 body key";
}

/// HKDF-SHA256 extract-and-expand, filling `out`.
pub(crate) fn hkdf_into(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    // Every caller asks for at most 5 * 32 bytes, far below HKDF's 255 * 32 limit.
    if hk.expand(info, out).is_err() {
        unreachable_len();
    }
}

#[cold]
fn unreachable_len() {
    // Only reachable if a caller asks for more than 8160 bytes, which none does.
    debug_assert!(false, "HKDF output length out of range");
}

/// HKDF-SHA256 into `K` keys of 32 bytes each.
pub(crate) fn hkdf_keys<const K: usize>(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[[u8; 32]; K]> {
    let mut buf = Zeroizing::new(vec![0u8; 32 * K]);
    hkdf_into(salt, ikm, info, &mut buf);
    let mut out = Zeroizing::new([[0u8; 32]; K]);
    for (o, c) in out.iter_mut().zip(buf.chunks_exact(32)) {
        o.copy_from_slice(c);
    }
    out
}

/// The first `N` bytes of a 32-byte MAC or hash.
pub(crate) fn truncate<const N: usize>(full: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(full) {
        *o = *b;
    }
    out
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut mac = keyed(key);
    for p in parts {
        mac.update(p);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// A keyed HMAC state; clone it to compute several MACs under one key cheaply.
pub(crate) fn keyed(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length.
        Err(_) => unreachable!("HMAC accepts any key length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5869 test case 1: catches a wrong HKDF construction (salt/ikm swapped, wrong hash).
    #[test]
    fn rfc5869_case_1() {
        let ikm = [0x0bu8; 22];
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let mut okm = [0u8; 42];
        hkdf_into(&salt, &ikm, &info, &mut okm);
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    /// RFC 5869 test case 3 (empty salt and info): catches mishandled empty inputs.
    #[test]
    fn rfc5869_case_3() {
        let ikm = [0x0bu8; 22];
        let mut okm = [0u8; 42];
        hkdf_into(&[], &ikm, &[], &mut okm);
        assert_eq!(
            hex::encode(okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }

    /// RFC 4231 test case 2 for HMAC-SHA256: catches a wrong MAC (the chain KDF's primitive).
    #[test]
    fn rfc4231_case_2() {
        let mac = hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
