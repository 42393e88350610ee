//! # cairn-crypto
//!
//! Cairn's cryptographic core: pure and sans-IO. No sockets, files, clocks or global
//! RNG: every function that needs time takes `now` (Unix seconds), and every function
//! that needs randomness takes the caller's RNG — so a seeded RNG reproduces a whole
//! transcript byte for byte (see `docs/vectors/`).
//!
//! - [`identity`]: long-term X25519 identity keys.
//! - [`invite`]: invite codes (text and QR).
//! - [`handshake`]: Noise `IKpsk1` session establishment with `snow`.
//! - [`ratchet`]: the Double Ratchet with header encryption.
//! - [`file`]: files sealed chunk by chunk (STREAM) and their descriptors.
//! - [`kem`]: ML-KEM-768 (FIPS 203), for post-quantum protection.
//! - [`padding`], [`envelope`], [`routing`]: what goes on the wire.
//! - [`protocol`]: session protocol versions and what each changes.
//! - [`safety`]: safety numbers.
//! - [`sim`]: the session state-machine harness shared by the property test and the
//!   fuzz target.
//!
//! The specification is `docs/PROTOCOL.md`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]

pub mod card;
pub mod dh;
pub mod envelope;
pub mod file;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod handshake;
pub mod identity;
pub mod invite;
pub(crate) mod kdf;
pub mod kem;
pub mod padding;
pub mod protocol;
pub mod ratchet;
pub mod reset;
pub mod routing;
pub mod safety;
pub(crate) mod secret;
pub mod sim;
pub mod wire;

pub use card::ProfileCard;
pub use envelope::{Envelope, EnvelopeKind, RoutingTag};
pub use file::{FileCipher, FileDescriptor, FileError, FileKey};
pub use handshake::{initiate, respond, AwaitingResponse, Established, HandshakeError};
pub use identity::{IdentityKeyPair, IdentityPublicKey};
pub use invite::{Invite, InviteError, InviteKeys, InviteSecret};
pub use protocol::Protocol;
pub use ratchet::codec::{SessionStateError, MAX_SESSION_STATE_LEN, SESSION_STATE_VERSION};
pub use ratchet::{DecryptError, EncryptError, Role, Session};
pub use reset::reset_secret;
pub use routing::MailboxKey;
pub use safety::SafetyNumber;
