//! One error enum per operation. None of them carries plaintext, keys or names.

use std::io;
use std::path::PathBuf;

use super::backend::TreeName;
use super::kdf::KdfParams;
use super::model::ContactId;

/// The Argon2id parameters were rejected.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KdfError {
    /// Out of [`KdfParams::MAXIMUM`] or below what Argon2 accepts.
    #[error("invalid or out-of-bounds Argon2id parameters")]
    InvalidParams,
}

/// The key file could not be parsed. Without a readable key file nothing in the profile can be
/// decrypted.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Shorter than the format requires (truncated).
    #[error("key file is truncated ({len} bytes)")]
    Truncated {
        /// Bytes found.
        len: usize,
    },
    /// Longer than any key file this version writes.
    #[error("key file is too long ({len} bytes)")]
    TooLong {
        /// Bytes found.
        len: usize,
    },
    /// Does not start with the Cairn key file magic (overwritten or not a key file).
    #[error("not a Cairn key file (bad magic; overwritten or wiped?)")]
    BadMagic,
    /// A format version this build does not know.
    #[error("unsupported key file version {0}")]
    UnsupportedVersion(u8),
    /// A KDF this build does not know.
    #[error("unsupported key derivation function id {0}")]
    UnsupportedKdf(u8),
    /// The checksum over the file does not match: bytes were changed on disk.
    #[error("key file checksum mismatch: the file is damaged")]
    ChecksumMismatch,
    /// The stored Argon2id parameters are out of bounds.
    #[error("key file holds out-of-bounds Argon2id parameters")]
    ParamsOutOfBounds,
}

/// A record encoding (untrusted bytes from disk) could not be decoded.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Ended before a field was complete.
    #[error("record truncated")]
    Truncated,
    /// A length prefix exceeds its limit.
    #[error("field {field} too long: {len} > {max}")]
    TooLong {
        /// Field name.
        field: &'static str,
        /// Declared length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Record type tag not allowed in this tree.
    #[error("record type {tag} not allowed in tree {tree}")]
    WrongRecordType {
        /// Tree the record came from.
        tree: TreeName,
        /// Tag found.
        tag: u8,
    },
    /// Record version unknown.
    #[error("unknown record version {0}")]
    UnknownVersion(u8),
    /// An enum tag is out of range.
    #[error("unknown value {value} for field {field}")]
    UnknownTag {
        /// Field name.
        field: &'static str,
        /// Value found.
        value: u8,
    },
    /// Text is not valid UTF-8.
    #[error("field {0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// Bytes left after the last field.
    #[error("{0} trailing bytes after record")]
    TrailingBytes(usize),
    /// A record key has the wrong shape for its tree.
    #[error("bad record key length {len} for tree {tree}")]
    BadKey {
        /// Tree.
        tree: TreeName,
        /// Key length found.
        len: usize,
    },
    /// The sealed envelope is shorter than nonce + tag or has an unknown version.
    #[error("sealed value malformed")]
    BadSeal,
}

/// The database layer failed (I/O or sled's own corruption report).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend reports its own files as corrupt.
    #[error("database corrupted: {0}")]
    Corrupted(String),
    /// I/O or other backend failure.
    #[error("database error: {0}")]
    Other(String),
}

/// What is wrong with one record.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DamageKind {
    /// Authentication failed: the value was changed, truncated, moved to another key or tree,
    /// or written under another master key.
    #[error("authentication failed (tampered, truncated, swapped or foreign)")]
    Unsealable,
    /// Authentic but undecodable (written by an incompatible version).
    #[error("malformed record: {0}")]
    Malformed(DecodeError),
    /// The record key has the wrong shape.
    #[error("malformed key: {0}")]
    BadKey(DecodeError),
}

/// One damaged record: where it is and what is wrong. The key is shown in hex; store keys are
/// blinded or sequence numbers, so this reveals no names.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("damaged record in tree {tree} (key {key_hex}): {kind}")]
pub struct DamagedRecord {
    /// Tree.
    pub tree: TreeName,
    /// Record key, hex.
    pub key_hex: String,
    /// What is wrong.
    pub kind: DamageKind,
}

/// Opening or creating a profile failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// No key file in the directory: no profile there, or it was wiped.
    #[error("no profile at {0} (no key file; never created or wiped)")]
    NotFound(PathBuf),
    /// A `create` of this profile was interrupted (crash or kill); nothing usable was written.
    /// Calling `create` again clears the leftovers.
    #[error("creation of the profile at {0} was interrupted; create it again")]
    IncompleteCreation(PathBuf),
    /// `create` found an existing profile (or leftovers of one).
    #[error("a profile already exists at {0}")]
    AlreadyExists(PathBuf),
    /// Another process (or another handle in this one) has the profile open.
    #[error("profile in use: {0} is open in another process")]
    InUse(PathBuf),
    /// The passphrase does not unwrap the master key. Nothing on disk was changed.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The key file is damaged; nothing in the profile can be decrypted without it.
    #[error("key file damaged, nothing can be decrypted: {0}")]
    KeyFileDamaged(KeyFileError),
    /// The key file's Argon2id parameters are below [`KdfParams::MINIMUM`].
    #[error("key file uses Argon2id parameters below the minimum ({0:?}); refusing to open")]
    KdfBelowMinimum(KdfParams),
    /// Parameters given to `create` are invalid.
    #[error(transparent)]
    Kdf(#[from] KdfError),
    /// The key file is present but the database directory is not (half-wiped profile).
    #[error("the profile's database is missing (half-wiped profile?)")]
    DatabaseMissing,
    /// The database's marker record does not open under this key: the database belongs to
    /// another profile or is damaged.
    #[error("database does not match this key file or its marker is damaged: {0}")]
    DatabaseMismatch(DamagedRecord),
    /// The database has no marker record (incomplete or foreign database).
    #[error("the profile's database has no marker record (incomplete or foreign database)")]
    MarkerMissing,
    /// The database was written by an unknown store format version.
    #[error("unsupported store format version {0}")]
    UnsupportedFormat(u32),
    /// The database could not be opened.
    #[error(transparent)]
    Database(#[from] BackendError),
    /// The platform has no data directory for the default profile location.
    #[error("no default data directory on this platform; pass a profile directory")]
    NoDefaultDirectory,
    /// Filesystem error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// A store operation on an open profile failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database layer failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A record is damaged; other records may still be readable (see `Store::check`).
    #[error(transparent)]
    Damaged(#[from] DamagedRecord),
    /// A value exceeds a store limit and was not written.
    #[error("field {field} too large: {len} > {max}")]
    TooLarge {
        /// Field name.
        field: &'static str,
        /// Length given.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The referenced record does not exist.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The caller passed something the store cannot write as asked (nothing was written).
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    /// Old passphrase wrong on a passphrase change; nothing was changed.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// New Argon2id parameters below the minimum.
    #[error("Argon2id parameters below the minimum ({0:?})")]
    KdfBelowMinimum(KdfParams),
    /// Invalid Argon2id parameters.
    #[error(transparent)]
    Kdf(#[from] KdfError),
    /// The key file could not be parsed.
    #[error("key file damaged: {0}")]
    KeyFileDamaged(KeyFileError),
    /// Filesystem error (key file).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Consuming an invite failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InviteError {
    /// No pending invite with this secret: never issued, or already used (single use).
    #[error("unknown or already used invite")]
    Unknown,
    /// The invite expired; it has been removed.
    #[error("invite expired")]
    Expired,
    /// The invite was used before. `same_acceptor` is the contact it made if this is the
    /// very handshake message that used it (its acceptor retransmitting), `None` if someone
    /// else is using it again.
    #[error("invite already used")]
    Used {
        /// The contact, when it is the same message again.
        same_acceptor: Option<ContactId>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Panic wipe failed at one step. Earlier steps are done; running the wipe again resumes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WipeError {
    /// Filesystem error during a step.
    #[error("wipe failed while {step}: {source}")]
    Io {
        /// The step that failed.
        step: &'static str,
        /// The error.
        source: io::Error,
    },
}
