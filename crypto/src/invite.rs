//! Invite codes: one line of text (and a QR code) that lets a person add you.
//!
//! Text form: `CAIRN:` followed by RFC 4648 base32 (upper case, no padding) of
//!
//! ```text
//! version u8 | body_len u16 | body | checksum [4]
//! body = identity [32] | secret [32] | expires_at u64 | peer_id (u8 len) |
//!        addr_count u8 | addrs (u8 len each) | has_mailbox u8 | mailbox (u8 len)
//! checksum = BLAKE2s-256("cairn/v1 invite checksum" | version | body_len | body)[..4]
//! ```
//!
//! Decoding order: base32, then the framing (`body_len` against the actual length:
//! truncated or trailing), then the checksum, then the version, then the fields, then
//! the expiry.
//!
//! The version is the session protocol the inviter speaks ([`Protocol`]): `3` for codes
//! this build makes (a hybrid, post-quantum handshake), `2` and `1` for codes from older
//! builds (still accepted; the session made from one is of that protocol). The body is
//! the same in all.
//!
//! The base32 alphabet is QR "alphanumeric" mode, so the QR code stays small. Any
//! mistyped character changes the decoded bytes (base32 is canonical: non-zero
//! trailing bits are refused), so the checksum detects it with probability
//! 1 − 2⁻³². The checksum is *not* authentication: what authenticates the
//! inviter is the Noise handshake with the identity key and secret in the code.

use crate::card::{read_routing, validate_routing, write_routing, MAX_ADDRS};
use crate::identity::{IdentityPublicKey, KEY_LEN};
use crate::kdf::{hkdf_keys, label};
use crate::protocol::Protocol;
use crate::routing::MailboxKey;
use crate::secret::Secret32;
use crate::wire::{Reader, WireError, Writer};
use blake2::{Blake2s256, Digest};
use data_encoding::{DecodeKind, BASE32_NOPAD};
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;
use zeroize::Zeroizing;

/// The invite format version this code writes: the latest session protocol. Codes of
/// every version in [`Protocol::ALL`] are read.
pub const INVITE_VERSION: u8 = 4;
/// Prefix of the text form.
pub const INVITE_PREFIX: &str = "CAIRN:";
/// Checksum length in bytes (2⁻³² chance that a typo goes undetected).
pub const INVITE_CHECKSUM_LEN: usize = 4;
/// Largest encoded invite in bytes, before base32. Keeps the QR code scannable from
/// a screen (about 1,000 characters, QR version 25 or lower).
pub const MAX_INVITE_LEN: usize = 640;
/// Largest invite text accepted by the decoder, whitespace included.
pub const MAX_INVITE_TEXT_LEN: usize = 2 * (INVITE_PREFIX.len() + MAX_INVITE_LEN * 8 / 5 + 8);

/// Invite decoding and encoding failures, one per way a code can be wrong.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InviteError {
    /// The text does not start with `CAIRN:`.
    #[error("this is not a Cairn invite code (it should start with {INVITE_PREFIX})")]
    NotAnInvite,
    /// The text is longer than any invite.
    #[error("the invite code is too long")]
    TooLong,
    /// A character outside the invite alphabet.
    #[error("the invite code has an invalid character at position {position}")]
    BadCharacter {
        /// Position in the code after the prefix, whitespace removed.
        position: usize,
    },
    /// The code is cut short.
    #[error("the invite code is incomplete; copy the whole line")]
    Truncated,
    /// Bytes after the end of the invite.
    #[error("the invite code has extra characters at the end")]
    TrailingBytes,
    /// The checksum does not match: a character was mistyped or changed.
    #[error("the invite code is damaged (checksum mismatch); check it character by character")]
    BadChecksum,
    /// An invite format this version does not know.
    #[error("unsupported invite version {0}; update Cairn")]
    UnsupportedVersion(u8),
    /// A field is invalid although the checksum matched (a crafted code).
    #[error("the invite code is malformed")]
    Malformed,
    /// The invite's expiry time has passed.
    #[error("the invite expired; ask for a new one")]
    Expired,
    /// The invite does not fit [`MAX_INVITE_LEN`] (too many or too long addresses).
    #[error("too many or too long addresses for an invite")]
    TooLarge,
    /// The invite's identity key is a low-order point.
    #[error("the invite's identity key is invalid")]
    BadIdentity,
}

impl From<WireError> for InviteError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated => Self::Truncated,
            WireError::Trailing => Self::TrailingBytes,
            WireError::TooLong | WireError::Invalid => Self::Malformed,
        }
    }
}

/// The invite's one-time secret. Never stored by the inviter: the store keeps only
/// the [`InviteKeys`] derived from it.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct InviteSecret(Secret32);

impl InviteSecret {
    /// Draws a fresh secret.
    pub fn random(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self(Secret32::random(rng))
    }

    /// Wraps a secret received from elsewhere: an introduction (the node's
    /// `Content::Introduction`) carries one to both sides it introduces.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Secret32::from_bytes(bytes))
    }

    /// The secret's bytes, to hand to the two sides of an introduction (over their
    /// end-to-end encrypted sessions, never anywhere else).
    pub fn expose_secret(&self) -> &[u8; 32] {
        self.0.expose()
    }

    /// The keys both sides derive from the secret, for a session of the latest
    /// protocol (see [`InviteKeys::with_protocol`]).
    pub fn keys(&self) -> InviteKeys {
        let [psk, init, resp, id] = *hkdf_keys::<4>(&[], self.0.expose(), label::INVITE_KEYS);
        InviteKeys::from_parts(Protocol::LATEST, psk, init, resp, tag16(&id))
    }
}

impl std::fmt::Debug for InviteSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InviteSecret(<redacted>)")
    }
}

fn tag16(bytes: &[u8; 32]) -> [u8; 16] {
    crate::kdf::truncate(bytes)
}

/// What the inviter keeps for a pending invite: the Noise PSK and the mailbox keys
/// of the two handshake messages, all one-way derived from the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteKeys {
    /// The protocol of the session the handshake makes (the invite's version).
    protocol: Protocol,
    pub(crate) psk: Secret32,
    init_mailbox: MailboxKey,
    response_mailbox: MailboxKey,
    /// Routing tag under which the acceptor sends the first handshake message.
    pub init_tag: [u8; 16],
    /// Routing tag under which the inviter sends the handshake response.
    pub response_tag: [u8; 16],
    /// Public identifier of the invite (store key for the pending invite).
    pub id: [u8; 16],
}

/// Length of serialised [`InviteKeys`]: the protocol byte, then the keys.
pub const INVITE_KEYS_LEN: usize = 1 + INVITE_KEYS_V1_LEN;
/// Length of [`InviteKeys`] as written before protocol v2 (no protocol byte: v1).
pub const INVITE_KEYS_V1_LEN: usize = 32 * 3 + 16;

impl InviteKeys {
    fn from_parts(
        protocol: Protocol,
        psk: [u8; 32],
        init: [u8; 32],
        resp: [u8; 32],
        id: [u8; 16],
    ) -> Self {
        let init_mailbox = MailboxKey::from_array(init);
        let response_mailbox = MailboxKey::from_array(resp);
        Self {
            protocol,
            psk: Secret32::from_bytes(psk),
            init_tag: init_mailbox.tag().0,
            response_tag: response_mailbox.tag().0,
            init_mailbox,
            response_mailbox,
            id,
        }
    }

    /// The protocol of the session a handshake with these keys makes.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The same keys for a handshake of protocol `protocol` (the keys themselves do not
    /// depend on it; the Noise prologue and the session do).
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The key that fetches the first handshake message from the inviter's mailbox.
    pub fn init_mailbox_key(&self) -> &MailboxKey {
        &self.init_mailbox
    }

    /// The key that fetches the handshake response from the acceptor's mailbox.
    pub fn response_mailbox_key(&self) -> &MailboxKey {
        &self.response_mailbox
    }

    /// Serialises for the encrypted store: `protocol u8 | psk | init mailbox key |
    /// response mailbox key | id` ([`INVITE_KEYS_LEN`] bytes).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(INVITE_KEYS_LEN));
        v.put_u8(self.protocol.as_u8());
        v.put(self.psk.expose());
        v.put(&self.init_mailbox.to_array());
        v.put(&self.response_mailbox.to_array());
        v.put(&self.id);
        v
    }

    /// Restores keys written by [`InviteKeys::to_bytes`], or by a build before protocol
    /// v2 ([`INVITE_KEYS_V1_LEN`] bytes, no protocol byte: protocol v1).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let protocol = if bytes.len() == INVITE_KEYS_V1_LEN {
            Protocol::V1
        } else {
            Protocol::from_u8(r.u8()?).ok_or(WireError::Invalid)?
        };
        let psk = Zeroizing::new(r.array()?);
        let init = Zeroizing::new(r.array()?);
        let resp = Zeroizing::new(r.array()?);
        let id = r.array()?;
        r.finish()?;
        Ok(Self::from_parts(protocol, *psk, *init, *resp, id))
    }
}

impl std::fmt::Debug for InviteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InviteKeys { psk: <redacted>, .. }")
    }
}

/// A decoded invite.
#[derive(Clone, PartialEq, Eq)]
pub struct Invite {
    /// The inviter's identity public key.
    pub identity: IdentityPublicKey,
    /// The inviter's libp2p PeerId (opaque bytes).
    pub peer_id: Vec<u8>,
    /// Addresses where the inviter listens (opaque binary multiaddrs).
    pub addrs: Vec<Vec<u8>>,
    /// The inviter's relay/mailbox address, if any.
    pub mailbox: Option<Vec<u8>>,
    /// The one-time secret.
    pub secret: InviteSecret,
    /// Unix time (seconds) after which the invite is refused.
    pub expires_at: u64,
    /// The session protocol the inviter speaks (the code's version byte).
    pub protocol: Protocol,
}

impl std::fmt::Debug for Invite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invite")
            .field("addrs", &self.addrs.len())
            .field("mailbox", &self.mailbox.is_some())
            .field("expires_at", &self.expires_at)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Invite {
    /// Creates an invite with a fresh secret.
    pub fn new(
        identity: IdentityPublicKey,
        peer_id: Vec<u8>,
        addrs: Vec<Vec<u8>>,
        mailbox: Option<Vec<u8>>,
        expires_at: u64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self, InviteError> {
        let invite = Self {
            identity,
            peer_id,
            addrs,
            mailbox,
            secret: InviteSecret::random(rng),
            expires_at,
            protocol: Protocol::LATEST,
        };
        invite.to_bytes()?;
        Ok(invite)
    }

    /// The binary form (before base32).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, InviteError> {
        validate_routing(&self.peer_id, &self.addrs, self.mailbox.as_deref())
            .map_err(|_| InviteError::TooLarge)?;
        // Allocated once at the largest size an invite may have: the secret is written
        // first, and a reallocation would leave a copy of it in freed memory.
        let mut body = Zeroizing::new(Vec::with_capacity(MAX_INVITE_LEN));
        body.put(self.identity.as_bytes());
        body.put(self.secret.0.expose());
        body.put_u64(self.expires_at);
        write_routing(
            &mut body,
            &self.peer_id,
            &self.addrs,
            self.mailbox.as_deref(),
        );
        let total = 3 + body.len() + INVITE_CHECKSUM_LEN;
        if total > MAX_INVITE_LEN {
            return Err(InviteError::TooLarge);
        }
        let mut out = Zeroizing::new(Vec::with_capacity(total));
        out.put_u8(self.protocol.as_u8());
        out.put_u16(u16::try_from(body.len()).map_err(|_| InviteError::TooLarge)?);
        out.put(&body);
        let sum = checksum(&out);
        out.put(&sum);
        Ok(out)
    }

    /// The one-line text form, `CAIRN:…`.
    pub fn encode(&self) -> Result<Zeroizing<String>, InviteError> {
        let bytes = self.to_bytes()?;
        let mut s = Zeroizing::new(String::with_capacity(
            INVITE_PREFIX.len() + BASE32_NOPAD.encode_len(bytes.len()),
        ));
        s.push_str(INVITE_PREFIX);
        BASE32_NOPAD.encode_append(&bytes, &mut s);
        Ok(s)
    }

    /// A QR code of the text form (alphanumeric mode), medium error correction.
    pub fn to_qr(&self) -> Result<qrcode::QrCode, InviteError> {
        let text = self.encode()?;
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
            .map_err(|_| InviteError::TooLarge)
    }

    /// Decodes and checks a code typed or pasted by a person. `now` is the current
    /// Unix time in seconds; an invite whose `expires_at <= now` is refused.
    /// Whitespace anywhere and letter case are ignored.
    pub fn decode(text: &str, now: u64) -> Result<Self, InviteError> {
        let invite = Self::decode_ignoring_expiry(text)?;
        if invite.expires_at <= now {
            return Err(InviteError::Expired);
        }
        Ok(invite)
    }

    /// Decodes without the expiry check (for showing an expired invite's details).
    pub fn decode_ignoring_expiry(text: &str) -> Result<Self, InviteError> {
        if text.len() > MAX_INVITE_TEXT_LEN {
            return Err(InviteError::TooLong);
        }
        let compact: Zeroizing<String> = Zeroizing::new(
            text.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        let payload = compact
            .strip_prefix(INVITE_PREFIX)
            .ok_or(InviteError::NotAnInvite)?;
        let bytes = Zeroizing::new(BASE32_NOPAD.decode(payload.as_bytes()).map_err(|e| {
            match e.kind {
                DecodeKind::Symbol => InviteError::BadCharacter {
                    position: e.position,
                },
                DecodeKind::Length => InviteError::Truncated,
                // Non-canonical trailing bits: the last character was changed.
                _ => InviteError::BadChecksum,
            }
        })?);
        Self::from_bytes(&bytes)
    }

    /// Decodes the binary form (no expiry check).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InviteError> {
        if bytes.len() > MAX_INVITE_LEN {
            return Err(InviteError::TooLong);
        }
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        let body_len = usize::from(r.u16()?);
        let expected = body_len + INVITE_CHECKSUM_LEN;
        match r.remaining().cmp(&expected) {
            std::cmp::Ordering::Less => return Err(InviteError::Truncated),
            std::cmp::Ordering::Greater => return Err(InviteError::TrailingBytes),
            std::cmp::Ordering::Equal => {}
        }
        let body = r.take(body_len)?;
        let sum: [u8; INVITE_CHECKSUM_LEN] = r.array()?;
        let signed = bytes.get(..3 + body_len).ok_or(InviteError::Truncated)?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &checksum(signed)[..],
            &sum[..],
        )) {
            return Err(InviteError::BadChecksum);
        }
        // The version is checked after the checksum, so a typo in the first characters
        // reads as "damaged", and only a genuine newer code as "update Cairn".
        let protocol =
            Protocol::from_u8(version).ok_or(InviteError::UnsupportedVersion(version))?;
        let mut b = Reader::new(body);
        let identity = IdentityPublicKey::from_bytes(b.array::<KEY_LEN>()?);
        let secret = InviteSecret(Secret32::from_bytes(b.array()?));
        let expires_at = b.u64()?;
        let (peer_id, addrs, mailbox) = read_routing(&mut b).map_err(|_| InviteError::Malformed)?;
        b.finish().map_err(|_| InviteError::Malformed)?;
        debug_assert!(addrs.len() <= MAX_ADDRS);
        if crate::dh::is_low_order(identity.as_bytes()) {
            return Err(InviteError::BadIdentity);
        }
        Ok(Self {
            identity,
            peer_id,
            addrs,
            mailbox,
            secret,
            expires_at,
            protocol,
        })
    }

    /// The keys both sides derive from this invite's secret, for its protocol.
    pub fn keys(&self) -> InviteKeys {
        self.secret.keys().with_protocol(self.protocol)
    }
}

fn checksum(bytes: &[u8]) -> [u8; INVITE_CHECKSUM_LEN] {
    let mut h = Blake2s256::new();
    h.update(label::INVITE_CHECKSUM);
    h.update(bytes);
    crate::kdf::truncate(&h.finalize())
}
