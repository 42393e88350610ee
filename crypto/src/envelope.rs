//! Envelopes: what travels between nodes, relays and mailboxes.
//!
//! ```text
//! envelope = version u8 (=1) | kind u8 | routing_tag [16] | body
//! ```
//!
//! A bulk chunk (kind 4, docs/PROTOCOL.md §25.5) is the one kind outside the ratchet: its
//! body is a chunk index and a chunk already sealed under its file's key, always
//! [`BULK_BODY_LEN`] bytes.
//!
//! The routing tag is opaque: derived from session or invite secrets, it rotates
//! (see [`crate::routing`]) and is never an identity key or PeerId. The body is
//! ciphertext whose length is a padding bucket plus fixed overhead, so the size
//! reveals only the bucket.

use crate::padding::PADDING_BUCKETS;
use crate::wire::{Reader, WireError, Writer};
use thiserror::Error;

/// Envelope format version.
pub const ENVELOPE_VERSION: u8 = 1;
/// Routing tag length. 128 bits: collisions between unrelated sessions are negligible.
pub const ROUTING_TAG_LEN: usize = 16;
/// Bytes before the body.
pub const ENVELOPE_PREFIX_LEN: usize = 2 + ROUTING_TAG_LEN;
/// AEAD tag length (Poly1305).
pub const AEAD_TAG_LEN: usize = 16;
/// Encrypted header of a ratchet message: XChaCha20 nonce, header, Poly1305 tag.
pub const ENCRYPTED_HEADER_LEN: usize = 24 + crate::ratchet::header::HEADER_LEN + AEAD_TAG_LEN;
/// Largest envelope body: the largest bucket, an encrypted header and a tag. The Noise
/// handshake overheads (96 and 48 bytes) are no larger than the header's (80 + 16).
pub const MAX_BODY_LEN: usize =
    ENCRYPTED_HEADER_LEN + crate::padding::MAX_PADDED_LEN + AEAD_TAG_LEN;
/// Largest envelope on the wire. Transports and mailboxes refuse anything larger.
pub const MAX_ENVELOPE_LEN: usize = ENVELOPE_PREFIX_LEN + MAX_BODY_LEN;
/// Noise IKpsk1 message 1 overhead: ephemeral (32), encrypted static (32+16), payload tag.
pub const HANDSHAKE_INIT_OVERHEAD: usize = 32 + 48 + AEAD_TAG_LEN;
/// Noise IKpsk1 message 2 overhead: ephemeral (32), payload tag.
pub const HANDSHAKE_RESPONSE_OVERHEAD: usize = 32 + AEAD_TAG_LEN;

/// An opaque, rotating routing tag.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoutingTag(pub [u8; ROUTING_TAG_LEN]);

impl std::fmt::Debug for RoutingTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoutingTag(..)")
    }
}

/// What an envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EnvelopeKind {
    /// Noise message 1, from the invite's acceptor to its issuer.
    HandshakeInit = 1,
    /// Noise message 2, the issuer's answer.
    HandshakeResponse = 2,
    /// A Double Ratchet message.
    Message = 3,
    /// A file's chunk outside the ratchet, sealed under the file's key (§25.5).
    BulkChunk = 4,
}

/// A bulk chunk's body: index u64 | sealed chunk, zero-filled to a full sealed chunk.
pub const BULK_BODY_LEN: usize = 8 + crate::file::SEALED_CHUNK_LEN;
const _: () = assert!(ENVELOPE_PREFIX_LEN + BULK_BODY_LEN <= MAX_ENVELOPE_LEN);

impl EnvelopeKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::HandshakeInit),
            2 => Some(Self::HandshakeResponse),
            3 => Some(Self::Message),
            4 => Some(Self::BulkChunk),
            _ => None,
        }
    }

    /// Fixed overhead around the padded plaintext for this kind.
    fn overhead(self) -> usize {
        match self {
            Self::HandshakeInit => HANDSHAKE_INIT_OVERHEAD,
            Self::HandshakeResponse => HANDSHAKE_RESPONSE_OVERHEAD,
            Self::Message => ENCRYPTED_HEADER_LEN + AEAD_TAG_LEN,
            // Not padded: its length is fixed (checked apart).
            Self::BulkChunk => BULK_BODY_LEN,
        }
    }
}

/// Envelope decoding failures.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Larger than [`MAX_ENVELOPE_LEN`].
    #[error("envelope is larger than {MAX_ENVELOPE_LEN} bytes")]
    TooLarge,
    /// Shorter than its fixed parts.
    #[error("envelope is truncated")]
    Truncated,
    /// A version this code does not know.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// An unknown kind byte.
    #[error("unknown envelope kind {0}")]
    UnknownKind(u8),
    /// The body length is not a padding bucket plus the kind's overhead.
    #[error("envelope body has an invalid length")]
    BadLength,
}

impl From<WireError> for EnvelopeError {
    fn from(_: WireError) -> Self {
        Self::Truncated
    }
}

/// An envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    /// What the body is.
    pub kind: EnvelopeKind,
    /// The opaque routing tag.
    pub tag: RoutingTag,
    /// Ciphertext.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("kind", &self.kind)
            .field("len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Envelope {
    /// The bytes before the body; bound into every AEAD's associated data.
    pub fn prefix(&self) -> [u8; ENVELOPE_PREFIX_LEN] {
        prefix(self.kind, &self.tag)
    }

    /// Encodes for the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENVELOPE_PREFIX_LEN + self.body.len());
        out.put(&self.prefix());
        out.put(&self.body);
        out
    }

    /// Decodes and checks the structure (not the cryptography) of an envelope.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::TooLarge);
        }
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let k = r.u8()?;
        let kind = EnvelopeKind::from_u8(k).ok_or(EnvelopeError::UnknownKind(k))?;
        let tag = RoutingTag(r.array()?);
        let body = r.rest();
        if kind == EnvelopeKind::BulkChunk {
            if body.len() != BULK_BODY_LEN {
                return Err(EnvelopeError::BadLength);
            }
        } else {
            let padded = body
                .len()
                .checked_sub(kind.overhead())
                .ok_or(EnvelopeError::BadLength)?;
            if !PADDING_BUCKETS.contains(&padded) {
                return Err(EnvelopeError::BadLength);
            }
        }
        Ok(Self {
            kind,
            tag,
            body: body.to_vec(),
        })
    }
}

pub(crate) fn prefix(kind: EnvelopeKind, tag: &RoutingTag) -> [u8; ENVELOPE_PREFIX_LEN] {
    let mut p = [0u8; ENVELOPE_PREFIX_LEN];
    p[0] = ENVELOPE_VERSION;
    p[1] = kind as u8;
    p[2..].copy_from_slice(&tag.0);
    p
}

impl crate::wire::Codec for Envelope {
    type Error = EnvelopeError;
    const MAX_LEN: usize = MAX_ENVELOPE_LEN;
    fn to_wire(&self) -> Result<Vec<u8>, EnvelopeError> {
        Ok(self.encode())
    }
    fn from_wire(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        Self::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a `Debug` that prints nothing or the tag (a tag links envelopes of one
    /// chain in logs): it names the type, and no more (a survivor of mutation testing).
    #[test]
    fn routing_tag_debug_names_the_type_only() {
        assert_eq!(
            format!("{:?}", RoutingTag([0xab; ROUTING_TAG_LEN])),
            "RoutingTag(..)"
        );
        // An envelope shows its kind and length, not its tag or body.
        let e = env(EnvelopeKind::Message, 1024);
        let len = e.body.len();
        assert_eq!(
            format!("{e:?}"),
            format!("Envelope {{ kind: Message, len: {len}, .. }}")
        );
    }

    fn env(kind: EnvelopeKind, padded: usize) -> Envelope {
        Envelope {
            kind,
            tag: RoutingTag([7; 16]),
            body: vec![1; kind.overhead() + padded],
        }
    }

    /// Catches a bulk chunk of any length but its one (§25.5), or one refused.
    #[test]
    fn bulk_chunk_has_one_length() {
        let e = Envelope {
            kind: EnvelopeKind::BulkChunk,
            tag: RoutingTag([7; 16]),
            body: vec![1; BULK_BODY_LEN],
        };
        assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
        for len in [0, 1, BULK_BODY_LEN - 1, BULK_BODY_LEN + 1, MAX_BODY_LEN] {
            let mut b = e.clone();
            b.body = vec![1; len];
            assert_eq!(
                Envelope::decode(&b.encode()),
                Err(EnvelopeError::BadLength),
                "{len}"
            );
        }
    }

    /// Catches an encoder/decoder mismatch.
    #[test]
    fn round_trip() {
        for kind in [
            EnvelopeKind::HandshakeInit,
            EnvelopeKind::HandshakeResponse,
            EnvelopeKind::Message,
        ] {
            let e = env(kind, 256);
            assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
        }
        let max = env(EnvelopeKind::Message, 65536);
        assert_eq!(max.encode().len(), MAX_ENVELOPE_LEN);
        assert!(Envelope::decode(&max.encode()).is_ok());
    }

    /// Catches a decoder that accepts bad versions, kinds, lengths or oversize input.
    #[test]
    fn rejects() {
        let good = env(EnvelopeKind::Message, 512).encode();
        let mut v = good.clone();
        v[0] = 2;
        assert_eq!(
            Envelope::decode(&v),
            Err(EnvelopeError::UnsupportedVersion(2))
        );
        let mut k = good.clone();
        k[1] = 9;
        assert_eq!(Envelope::decode(&k), Err(EnvelopeError::UnknownKind(9)));
        assert_eq!(
            Envelope::decode(&good[..good.len() - 1]),
            Err(EnvelopeError::BadLength)
        );
        assert_eq!(Envelope::decode(&good[..10]), Err(EnvelopeError::Truncated));
        assert_eq!(
            Envelope::decode(&vec![1u8; MAX_ENVELOPE_LEN + 1]),
            Err(EnvelopeError::TooLarge)
        );
    }
}
