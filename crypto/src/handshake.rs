//! Session establishment: a Noise handshake between an invite's acceptor (initiator)
//! and its issuer (responder), with `snow`.
//!
//! Pattern: `Noise_IKpsk1_25519_ChaChaPoly_BLAKE2s`, prologue `"cairn/v2 handshake"`
//! (`"cairn/v1 handshake"` for a protocol v1 session: the invite keys' protocol),
//! PSK = the first 32 bytes of HKDF(invite secret, "cairn/v1 invite keys").
//!
//! ```text
//! IKpsk1:
//!   <- s
//!   ...
//!   -> e, es, s, ss, psk      (message 1: acceptor → issuer)
//!   <- e, ee, se              (message 2: issuer → acceptor)
//! ```
//!
//! Why `psk1` and not `psk2`: with `psk1` the PSK is mixed in before message 1's
//! payload is encrypted, so the issuer authenticates the invite secret *before* it
//! answers. A stranger who knows only the issuer's public key (an old invite, a
//! compromised contact list) gets no reply at all — with `psk2` the issuer would have
//! to answer first and only the stranger's later messages would fail. The initiator's
//! static key is still encrypted (under `es`) so a passive observer does not learn it.
//!
//! Each side's payload is its profile card and its first ratchet public key, padded
//! to a bucket. The ratchet's keys come from the handshake's final chaining key (the
//! Noise "split" output, which depends on every DH and the PSK) with the handshake
//! hash as salt — never from the public handshake hash alone:
//!
//! ```text
//! (k1, k2) = Split()
//! HKDF-SHA256(salt = handshake_hash, ikm = k1 | k2, info = "cairn/v1 session")
//!   → SK | HK_initiator | HK_responder | TAG_initiator | TAG_responder   (5 × 32 bytes)
//! ```
//!
//! **Hybrid handshake (protocol v3).** The acceptor's payload also carries a fresh
//! ML-KEM-768 encapsulation key; the inviter encapsulates to it and sends the ciphertext in
//! its payload; both mix the KEM's shared secret with the Noise split into the session keys:
//!
//! ```text
//! HKDF-SHA256(salt = handshake_hash, ikm = k1 | k2 | kem_secret, info = "cairn/v3 hybrid session")
//!   → SK | HK_initiator | HK_responder | TAG_initiator | TAG_responder
//! ```
//!
//! The handshake hash covers both payloads (so the key and ciphertext, and the protocol
//! through the prologue): a v3 handshake cannot finish without the KEM exchange, and a
//! recording of it decrypted later by breaking X25519 alone leaves the KEM secret unknown
//! (docs/PROTOCOL.md §11.9).
//!
//! Typestate: [`initiate`] returns an [`AwaitingResponse`], whose only way forward
//! is [`AwaitingResponse::finish`]; only a finished handshake yields a [`Session`].

use crate::card::{CardError, ProfileCard};
use crate::dh::{is_low_order, RatchetKeyPair};
use crate::envelope::{Envelope, EnvelopeKind, RoutingTag};
use crate::identity::{IdentityKeyPair, IdentityPublicKey, KEY_LEN};
use crate::invite::{Invite, InviteKeys};
use crate::kdf::{hkdf_keys, label};
use crate::kem::{self, EncapsulationKey, KemCiphertext, KemKeyPair, SharedSecret};
use crate::padding;
use crate::ratchet::keys::{HeaderKey, RootKey};
use crate::ratchet::{Session, SessionSeed};
use crate::routing::TagKey;
use crate::wire::{Reader, WireError, Writer};
use rand_core::{CryptoRng, RngCore};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use thiserror::Error;
use x25519_dalek::PublicKey;
use zeroize::Zeroizing;

/// The Noise protocol name.
pub const NOISE_PATTERN: &str = "Noise_IKpsk1_25519_ChaChaPoly_BLAKE2s";
/// The Noise prologue of the latest protocol: binds the protocol and its version
/// ([`crate::Protocol::prologue`] gives each version's).
pub const PROLOGUE: &[u8] = b"cairn/v2 handshake";
/// Version of the handshake payload layout of protocols v1 and v2 (ratchet key, card).
pub const HANDSHAKE_PAYLOAD_VERSION: u8 = 1;
/// Version of the hybrid handshake payload (protocol v3): ratchet key, ML-KEM value
/// (encapsulation key in message 1, ciphertext in message 2), card.
pub const HYBRID_PAYLOAD_VERSION: u8 = 2;
/// Version of the serialised [`AwaitingResponse`] (3: the ML-KEM seed of a hybrid
/// handshake; version 2, without it, and version 1, protocol v1 keys, are still read).
pub const PENDING_HANDSHAKE_VERSION: u8 = 3;
/// Length of the ML-KEM key-generation seed kept in a pending hybrid handshake.
const KEM_SEED_LEN: usize = 64;
/// Largest serialised [`AwaitingResponse`].
pub const MAX_PENDING_HANDSHAKE_LEN: usize =
    1 + 32 + crate::invite::INVITE_KEYS_LEN + 32 + 32 + KEM_SEED_LEN + 2 + 65536;

/// Handshake failures. Cryptographic rejections carry no detail.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The envelope is not the expected handshake message.
    #[error("not a handshake message of the expected kind")]
    WrongKind,
    /// The envelope's routing tag does not belong to this invite.
    #[error("handshake is not for this invite")]
    NotForThisInvite,
    /// Noise rejected the message: wrong invite secret, wrong key, forged or damaged.
    #[error("handshake rejected")]
    Rejected,
    /// The decrypted payload is malformed.
    #[error("handshake payload is malformed")]
    BadPayload,
    /// The peer's profile card is invalid.
    #[error("contact's profile card is invalid: {0}")]
    BadCard(CardError),
    /// Our own card cannot be sent.
    #[error("own profile card is invalid: {0}")]
    OwnCard(CardError),
    /// A key is a low-order point or gives a non-contributory DH result.
    #[error("a key in the handshake is invalid")]
    BadKey,
    /// Stored handshake state is malformed.
    #[error("stored handshake state is malformed")]
    BadState,
}

/// A finished handshake: the session and what was learned about the peer.
#[derive(Debug)]
pub struct Established {
    /// The ratchet session, ready to send and receive.
    pub session: Session,
    /// The peer's identity key (authenticated by the handshake).
    pub peer_identity: IdentityPublicKey,
    /// The peer's profile card.
    pub peer_card: ProfileCard,
}

/// Supplies snow with exactly the 32 ephemeral bytes we drew from the caller's RNG,
/// so the handshake is deterministic under a seeded RNG. Asking for more fails.
struct OneShotRandom(Option<Zeroizing<[u8; 32]>>);

impl Random for OneShotRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        match self.0.take() {
            Some(bytes) if dest.len() <= bytes.len() => {
                for (d, b) in dest.iter_mut().zip(bytes.iter()) {
                    *d = *b;
                }
                Ok(())
            }
            _ => Err(snow::Error::Rng),
        }
    }
}

struct SeededResolver(Zeroizing<[u8; 32]>);

impl CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(OneShotRandom(Some(self.0.clone()))))
    }
    fn resolve_dh(&self, choice: &snow::params::DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }
    fn resolve_hash(&self, choice: &snow::params::HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }
    fn resolve_cipher(&self, choice: &snow::params::CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

fn builder(ephemeral: &Zeroizing<[u8; 32]>) -> Result<snow::Builder<'static>, HandshakeError> {
    let params: snow::params::NoiseParams = NOISE_PATTERN
        .parse()
        .map_err(|_| HandshakeError::BadState)?;
    Ok(snow::Builder::with_resolver(
        params,
        Box::new(SeededResolver(ephemeral.clone())),
    ))
}

fn build(
    ephemeral: &Zeroizing<[u8; 32]>,
    local: &IdentityKeyPair,
    remote: Option<&IdentityPublicKey>,
    keys: &InviteKeys,
) -> Result<snow::HandshakeState, HandshakeError> {
    let secret = local.secret_bytes();
    let b = builder(ephemeral)?
        .local_private_key(secret.as_ref())
        .and_then(|b| b.psk(1, keys.psk.expose()))
        .and_then(|b| b.prologue(keys.protocol().prologue()))
        .map_err(|_| HandshakeError::BadState)?;
    match remote {
        Some(rs) => b
            .remote_public_key(rs.as_bytes())
            .and_then(|b| b.build_initiator()),
        None => b.build_responder(),
    }
    .map_err(|_| HandshakeError::BadState)
}

/// What a handshake payload carries besides the ratchet key and the card: nothing
/// (protocols v1, v2), or the ML-KEM value of a hybrid handshake (v3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KemField {
    /// Protocols v1 and v2: no KEM value (payload version 1).
    None,
    /// Message 1 of a hybrid handshake: an encapsulation key (payload version 2).
    EncapsulationKey,
    /// Message 2 of a hybrid handshake: a ciphertext (payload version 2).
    Ciphertext,
}

impl KemField {
    /// The field message `1` or `2` carries in a handshake of `protocol`.
    fn of(protocol: crate::Protocol, message: u8) -> Self {
        match (protocol.hybrid(), message) {
            (false, _) => KemField::None,
            (true, 1) => KemField::EncapsulationKey,
            (true, _) => KemField::Ciphertext,
        }
    }

    fn len(self) -> usize {
        match self {
            KemField::None => 0,
            KemField::EncapsulationKey => kem::ENCAPSULATION_KEY_LEN,
            KemField::Ciphertext => kem::CIPHERTEXT_LEN,
        }
    }

    fn version(self) -> u8 {
        match self {
            KemField::None => HANDSHAKE_PAYLOAD_VERSION,
            _ => HYBRID_PAYLOAD_VERSION,
        }
    }
}

/// A decoded handshake payload.
#[derive(Debug)]
pub(crate) struct Payload {
    pub(crate) ratchet: PublicKey,
    /// The KEM value ([`KemField::len`] bytes; empty for [`KemField::None`]).
    pub(crate) kem: Vec<u8>,
    pub(crate) card: ProfileCard,
}

/// `version u8 | ratchet [32] | kem value | card`, padded to a bucket.
pub(crate) fn encode_payload(
    ratchet: &PublicKey,
    field: KemField,
    kem: &[u8],
    card: &ProfileCard,
) -> Result<Vec<u8>, HandshakeError> {
    if kem.len() != field.len() {
        return Err(HandshakeError::BadState);
    }
    let mut p = Vec::with_capacity(512 + kem.len());
    p.put_u8(field.version());
    p.put(ratchet.as_bytes());
    p.put(kem);
    card.write(&mut p).map_err(HandshakeError::OwnCard)?;
    padding::pad(&p).map_err(|_| HandshakeError::OwnCard(CardError::TooLarge))
}

/// Reads a padded payload that must carry `field`: a payload of the other layout (a
/// classical payload in a hybrid handshake, or the reverse) is refused.
pub(crate) fn decode_payload(padded: &[u8], field: KemField) -> Result<Payload, HandshakeError> {
    let p = padding::unpad(padded).map_err(|_| HandshakeError::BadPayload)?;
    let mut r = Reader::new(p);
    let version = r.u8().map_err(|_| HandshakeError::BadPayload)?;
    if version != field.version() {
        return Err(HandshakeError::BadPayload);
    }
    let ratchet: [u8; 32] = r.array().map_err(|_| HandshakeError::BadPayload)?;
    if is_low_order(&ratchet) {
        return Err(HandshakeError::BadKey);
    }
    let kem = r
        .take(field.len())
        .map_err(|_| HandshakeError::BadPayload)?
        .to_vec();
    let card = ProfileCard::read(&mut r).map_err(HandshakeError::BadCard)?;
    r.finish().map_err(|_| HandshakeError::BadPayload)?;
    Ok(Payload {
        ratchet: PublicKey::from(ratchet),
        kem,
        card,
    })
}

fn remote_identity(hs: &snow::HandshakeState) -> Result<IdentityPublicKey, HandshakeError> {
    let rs: [u8; KEY_LEN] = hs
        .get_remote_static()
        .and_then(|s| s.try_into().ok())
        .ok_or(HandshakeError::Rejected)?;
    if is_low_order(&rs) {
        return Err(HandshakeError::BadKey);
    }
    Ok(IdentityPublicKey::from_bytes(rs))
}

/// The session keys of a finished handshake: from the Noise split alone (v1, v2), or
/// from the split and the ML-KEM shared secret (v3, `kem` is then required).
fn seed(
    hs: &mut snow::HandshakeState,
    protocol: crate::Protocol,
    kem: Option<&SharedSecret>,
) -> Result<SessionSeed, HandshakeError> {
    let mut ad = [0u8; 32];
    ad.copy_from_slice(hs.get_handshake_hash());
    let (k1, k2) = hs.dangerously_get_raw_split();
    let mut ikm = Zeroizing::new(Vec::with_capacity(96));
    ikm.extend_from_slice(&k1);
    ikm.extend_from_slice(&k2);
    let info = match (protocol.hybrid(), kem) {
        (false, None) => label::SESSION,
        (true, Some(ss)) => {
            ikm.extend_from_slice(ss.expose_secret());
            label::HYBRID_SESSION
        }
        _ => return Err(HandshakeError::BadState),
    };
    let [sk, hki, hkr, tagi, tagr] = *hkdf_keys::<5>(&ad, &ikm, info);
    Ok(SessionSeed {
        protocol,
        ad,
        sk: RootKey::from_bytes(sk),
        hk_initiator: HeaderKey::from_bytes(hki),
        hk_responder: HeaderKey::from_bytes(hkr),
        tag_initiator: TagKey::from_bytes(tagi),
        tag_responder: TagKey::from_bytes(tagr),
    })
}

/// Starts a handshake as the acceptor of `invite`: returns the state that waits for
/// the answer and the first handshake message to send to the inviter.
pub fn initiate(
    identity: &IdentityKeyPair,
    invite: &Invite,
    card: &ProfileCard,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(AwaitingResponse, Envelope), HandshakeError> {
    if is_low_order(invite.identity.as_bytes()) {
        return Err(HandshakeError::BadKey);
    }
    let keys = invite.keys();
    let mut ephemeral = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(ephemeral.as_mut());
    let ratchet = RatchetKeyPair::generate(rng);
    let field = KemField::of(keys.protocol(), 1);
    let kem = match field {
        KemField::None => None,
        _ => {
            let mut seed = Zeroizing::new([0u8; KEM_SEED_LEN]);
            rng.fill_bytes(seed.as_mut());
            let pair = KemKeyPair::from_seed(&seed);
            Some((seed, pair))
        }
    };
    let ek = kem.as_ref().map_or(
        &[][..],
        |(_, pair)| &pair.encapsulation_key().as_bytes()[..],
    );
    let payload = encode_payload(&ratchet.public, field, ek, card)?;
    let mut pending = AwaitingResponse {
        remote: invite.identity,
        keys,
        ephemeral,
        ratchet,
        kem,
        payload,
        live: None,
    };
    let (hs, msg) = pending.replay(identity)?;
    pending.live = Some(hs);
    let envelope = Envelope {
        kind: EnvelopeKind::HandshakeInit,
        tag: RoutingTag(pending.keys.init_tag),
        body: msg,
    };
    Ok((pending, envelope))
}

/// The acceptor's side after sending message 1: waits for the inviter's answer.
/// Serialisable, so an answer that arrives days later (from a mailbox) still works.
pub struct AwaitingResponse {
    remote: IdentityPublicKey,
    keys: InviteKeys,
    ephemeral: Zeroizing<[u8; 32]>,
    ratchet: RatchetKeyPair,
    /// A hybrid handshake's ML-KEM key pair and the seed it comes from (kept, not the
    /// 2,400-byte decapsulation key).
    kem: Option<(Zeroizing<[u8; KEM_SEED_LEN]>, KemKeyPair)>,
    /// Padded payload of message 1 (not secret: card, ratchet public key and, in a hybrid
    /// handshake, the encapsulation key).
    payload: Vec<u8>,
    /// The snow state after writing message 1, if still in memory.
    live: Option<snow::HandshakeState>,
}

impl std::fmt::Debug for AwaitingResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwaitingResponse(<redacted>)")
    }
}

/// A response that did not finish the handshake, with the unchanged state so a
/// genuine answer can still be processed.
pub struct Rejected {
    /// The handshake state, as it was before the bad response.
    pub state: AwaitingResponse,
    /// Why the response was rejected.
    pub error: HandshakeError,
}

impl std::fmt::Debug for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejected")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl AwaitingResponse {
    /// Re-runs message 1 deterministically (same ephemeral, same payload), giving a
    /// fresh snow state and the message bytes.
    fn replay(
        &self,
        identity: &IdentityKeyPair,
    ) -> Result<(snow::HandshakeState, Vec<u8>), HandshakeError> {
        let mut hs = build(&self.ephemeral, identity, Some(&self.remote), &self.keys)?;
        let mut msg = vec![0u8; self.payload.len() + crate::envelope::HANDSHAKE_INIT_OVERHEAD];
        let n = hs
            .write_message(&self.payload, &mut msg)
            .map_err(|_| HandshakeError::BadState)?;
        msg.truncate(n);
        Ok((hs, msg))
    }

    /// The routing tag under which the inviter's answer arrives.
    pub fn response_tag(&self) -> RoutingTag {
        RoutingTag(self.keys.response_tag)
    }

    /// The key that fetches the inviter's answer from our own mailbox.
    pub fn response_mailbox_key(&self) -> &crate::routing::MailboxKey {
        self.keys.response_mailbox_key()
    }

    /// The invite's public identifier.
    pub fn invite_id(&self) -> [u8; 16] {
        self.keys.id
    }

    /// Message 1 again, byte for byte, for retransmission (e.g. after a restart).
    pub fn first_message(&self, identity: &IdentityKeyPair) -> Result<Envelope, HandshakeError> {
        let (_, msg) = self.replay(identity)?;
        Ok(Envelope {
            kind: EnvelopeKind::HandshakeInit,
            tag: RoutingTag(self.keys.init_tag),
            body: msg,
        })
    }

    /// Reads the inviter's answer. On success the handshake is finished; on failure
    /// the state comes back unchanged inside [`Rejected`].
    #[allow(clippy::result_large_err)]
    pub fn finish(
        mut self,
        identity: &IdentityKeyPair,
        response: &Envelope,
    ) -> Result<Established, Rejected> {
        match self.try_finish(identity, response) {
            Ok(est) => Ok(est),
            Err(error) => {
                // The snow state may have absorbed part of the bad message: rebuild it.
                self.live = self.replay(identity).ok().map(|(hs, _)| hs);
                Err(Rejected { state: self, error })
            }
        }
    }

    fn try_finish(
        &mut self,
        identity: &IdentityKeyPair,
        response: &Envelope,
    ) -> Result<Established, HandshakeError> {
        if response.kind != EnvelopeKind::HandshakeResponse {
            return Err(HandshakeError::WrongKind);
        }
        if response.tag.0 != self.keys.response_tag {
            return Err(HandshakeError::NotForThisInvite);
        }
        let mut hs = match self.live.take() {
            Some(hs) => hs,
            None => self.replay(identity)?.0,
        };
        let mut payload = Zeroizing::new(vec![0u8; response.body.len()]);
        let n = hs
            .read_message(&response.body, &mut payload)
            .map_err(|_| HandshakeError::Rejected)?;
        if !hs.is_handshake_finished() {
            return Err(HandshakeError::Rejected);
        }
        let protocol = self.keys.protocol();
        let got = decode_payload(
            payload.get(..n).ok_or(HandshakeError::BadPayload)?,
            KemField::of(protocol, 2),
        )?;
        let secret = match &self.kem {
            None => None,
            Some((_, pair)) => {
                let ct =
                    KemCiphertext::from_bytes(&got.kem).map_err(|_| HandshakeError::BadPayload)?;
                Some(pair.decapsulate(&ct))
            }
        };
        let seed = seed(&mut hs, protocol, secret.as_ref())?;
        let session = Session::new_initiator(seed, self.ratchet.clone(), got.ratchet)
            .ok_or(HandshakeError::BadKey)?;
        Ok(Established {
            session,
            peer_identity: self.remote,
            peer_card: got.card,
        })
    }

    /// Serialises for the encrypted store (holds secrets: seal it).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        // Exact size, allocated once: no reallocation leaves a copy of the secrets behind.
        let seed_len = if self.kem.is_some() { KEM_SEED_LEN } else { 0 };
        let len =
            1 + 32 + crate::invite::INVITE_KEYS_LEN + 32 + 32 + seed_len + 2 + self.payload.len();
        let mut v = Zeroizing::new(Vec::with_capacity(len));
        v.put_u8(PENDING_HANDSHAKE_VERSION);
        v.put(self.remote.as_bytes());
        v.put(&self.keys.to_bytes());
        v.put(self.ephemeral.as_ref());
        v.put(&Zeroizing::new(self.ratchet.secret.to_bytes())[..]);
        if let Some((seed, _)) = &self.kem {
            v.put(seed.as_ref());
        }
        v.put_bytes_u16(&self.payload);
        v
    }

    /// Restores a state written by [`AwaitingResponse::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HandshakeError> {
        if bytes.len() > MAX_PENDING_HANDSHAKE_LEN {
            return Err(HandshakeError::BadState);
        }
        let parse = || -> Result<Self, WireError> {
            let mut r = Reader::new(bytes);
            let version = r.u8()?;
            let keys_len = match version {
                1 => crate::invite::INVITE_KEYS_V1_LEN,
                2 | PENDING_HANDSHAKE_VERSION => crate::invite::INVITE_KEYS_LEN,
                _ => return Err(WireError::Invalid),
            };
            let remote = IdentityPublicKey::from_bytes(r.array()?);
            let keys = InviteKeys::from_bytes(r.take(keys_len)?)?;
            let ephemeral = Zeroizing::new(r.array()?);
            let ratchet = RatchetKeyPair::from_secret_bytes(*Zeroizing::new(r.array()?));
            // A hybrid handshake keeps its KEM seed (state version 3 only: older builds
            // knew no hybrid protocol).
            let kem = if keys.protocol().hybrid() {
                if version < PENDING_HANDSHAKE_VERSION {
                    return Err(WireError::Invalid);
                }
                let seed = Zeroizing::new(r.array::<KEM_SEED_LEN>()?);
                let pair = KemKeyPair::from_seed(&seed);
                Some((seed, pair))
            } else {
                None
            };
            let payload = r.bytes_u16(usize::from(u16::MAX))?.to_vec();
            r.finish()?;
            // The payload must be message 1's for these keys (and, in a hybrid handshake,
            // carry the seed's encapsulation key), or the replayed message 1 would differ
            // from the one sent.
            let field = KemField::of(keys.protocol(), 1);
            let sent = decode_payload(&payload, field).map_err(|_| WireError::Invalid)?;
            if let Some((_, pair)) = &kem {
                if sent.kem[..] != pair.encapsulation_key().as_bytes()[..] {
                    return Err(WireError::Invalid);
                }
            }
            Ok(Self {
                remote,
                keys,
                ephemeral,
                ratchet,
                kem,
                payload,
                live: None,
            })
        };
        parse().map_err(|_| HandshakeError::BadState)
    }
}

/// Answers a first handshake message as the issuer of the invite whose keys are
/// `invite`. Pure: nothing changes on failure; on success the caller marks the
/// invite used, stores the session and sends the returned response.
pub fn respond(
    identity: &IdentityKeyPair,
    invite: &InviteKeys,
    card: &ProfileCard,
    init: &Envelope,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Established, Envelope), HandshakeError> {
    if init.kind != EnvelopeKind::HandshakeInit {
        return Err(HandshakeError::WrongKind);
    }
    if init.tag.0 != invite.init_tag {
        return Err(HandshakeError::NotForThisInvite);
    }
    let mut ephemeral = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(ephemeral.as_mut());
    let mut hs = build(&ephemeral, identity, None, invite)?;
    let mut payload = Zeroizing::new(vec![0u8; init.body.len()]);
    let n = hs
        .read_message(&init.body, &mut payload)
        .map_err(|_| HandshakeError::Rejected)?;
    let peer_identity = remote_identity(&hs)?;
    let protocol = invite.protocol();
    let got = decode_payload(
        payload.get(..n).ok_or(HandshakeError::BadPayload)?,
        KemField::of(protocol, 1),
    )?;
    let ratchet = RatchetKeyPair::generate(rng);
    let (ct, secret) = match KemField::of(protocol, 1) {
        KemField::None => (None, None),
        _ => {
            let ek = EncapsulationKey::from_bytes(&got.kem).map_err(|_| HandshakeError::BadKey)?;
            let (ct, ss) = ek.encapsulate(rng);
            (Some(ct), Some(ss))
        }
    };
    let ct_bytes = ct.as_ref().map_or(&[][..], |c| &c.as_bytes()[..]);
    let out_payload = encode_payload(&ratchet.public, KemField::of(protocol, 2), ct_bytes, card)?;
    let mut msg = vec![0u8; out_payload.len() + crate::envelope::HANDSHAKE_RESPONSE_OVERHEAD];
    let len = hs
        .write_message(&out_payload, &mut msg)
        .map_err(|_| HandshakeError::BadState)?;
    msg.truncate(len);
    if !hs.is_handshake_finished() {
        return Err(HandshakeError::BadState);
    }
    let seed = seed(&mut hs, protocol, secret.as_ref())?;
    let session = Session::new_responder(seed, ratchet, got.ratchet);
    Ok((
        Established {
            session,
            peer_identity,
            peer_card: got.card,
        },
        Envelope {
            kind: EnvelopeKind::HandshakeResponse,
            tag: RoutingTag(invite.response_tag),
            body: msg,
        },
    ))
}

#[cfg(test)]
mod tests;
