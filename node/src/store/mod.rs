//! The encrypted profile store.
//!
//! A profile is a directory ([`ProfilePaths`]) holding a key file and a sled database. A random
//! 256-bit master key encrypts everything; it exists on disk only wrapped under a key derived
//! from the passphrase with Argon2id ([`KdfParams`]). HKDF-SHA256 derives one subkey for sealing
//! values and one for blinding record keys. Every value is sealed with XChaCha20-Poly1305 with
//! its tree and key in the associated data; every key that would reveal a name, identity key,
//! PeerId, message id or invite secret is a keyed hash. See `docs/STORE.md` for the on-disk
//! format and what the disk still reveals.
//!
//! Every mutating call returns only after its writes are durable (flushed). Concurrent callers
//! share flushes (group commit). Multi-record updates (ratchet state + message + outbox entry,
//! or ratchet state + message + dedup id) are one atomic batch.
//!
//! ```no_run
//! use cairn_node::store::{KdfParams, OpenOptions, Passphrase, ProfilePaths, Store};
//! let paths = ProfilePaths::default_location()?;
//! let pass = Passphrase::new("correct horse battery staple");
//! let store = Store::create(&paths, &pass, KdfParams::recommended(), &OpenOptions::new())?;
//! drop(store);
//! let store = Store::open(&paths, &pass, &OpenOptions::new())?;
//! # Ok::<(), cairn_node::store::OpenError>(())
//! ```

mod backend;
mod check;
pub mod codec;
mod contacts;
mod control;
mod error;
mod files;
mod group_commit;
mod groups;
mod invites;
mod kdf;
mod keyfile;
#[cfg(any(test, feature = "sim"))]
mod mem_backend;
mod messages;
mod model;
mod outbox;
mod profile;
mod rekey;
mod reports;
pub(crate) mod seal;
mod secret;
mod settings;
mod sled_backend;
mod staged;
mod subkeys;
mod wipe;

use std::sync::{Mutex, MutexGuard};

pub use backend::{Backend, RawEntry, TreeName, WriteBatch, WriteOp};
pub use control::CONTROL_SEQ;
pub use error::{
    BackendError, DamageKind, DamagedRecord, DecodeError, InviteError, KdfError, KeyFileError,
    OpenError, StoreError, WipeError,
};
pub use files::{FileWrite, FILE_SEQ};
pub use groups::{CopyOut, GroupIncoming, GroupSend, GroupSent};
pub use kdf::KdfParams;
pub use keyfile::{KeyFile, KEY_FILE_LEN};
#[cfg(any(test, feature = "sim"))]
pub use mem_backend::{MemBackend, MemDisk};
pub use model::{
    Contact, ContactId, Conversation, DedupEntry, DeliveryState, Direction, GroupCopy, GroupPart,
    GroupRecord, Incoming, Invite, MessageId, Meta, NewMessage, NewOutbox, OutboxEntry, Report,
    StoredFile, StoredMessage, SweepReport, UsedInvite, MAX_GROUP_COPIES, MAX_REPORTS,
};
pub use profile::{ProfilePaths, CREATING_MARKER_NAME, DB_DIR_NAME, KEY_FILE_NAME, LOCK_FILE_NAME};
pub use reports::ReportKeys;
pub(crate) use secret::MasterKey;
pub use secret::{Passphrase, SecretBytes};
pub(crate) use sled_backend::map_err as sled_error;
pub use sled_backend::SledBackend;
pub use staged::Staged;
pub use wipe::{wipe_profile, WipeReport};

use codec::{
    decode_record, encode_record, message_key, parse_message_key, MessageBody, Record,
    MAX_OUTBOX_BATCH, MAX_OUTBOX_BATCH_BYTES,
};
use keyfile::UnwrapError;
use profile::{read_key_file, write_key_file_atomic, ProfileLock};
use seal::{OpenSealError, Sealer};
use std::collections::{HashMap, HashSet};
use subkeys::SubKeys;

/// An outbox batch record (its key, a keyed hash of its first message id): see
/// [`Store::record_outgoing_many`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct BatchId(pub [u8; 32]);

/// Pending entries of outbox batch records: message id and the record it is in.
pub type BatchMembers = Vec<(MessageId, BatchId)>;

/// Store format version written in the marker record.
pub const FORMAT_VERSION: u32 = 1;
/// How long received message ids are kept for deduplication. Longer catches later
/// retransmissions; shorter keeps less metadata (each id says "a message arrived around then").
/// Listings at least this long are decrypted on several threads; below it, starting threads
/// costs more than it saves (about 20 us per thread against ~5 us per 1 KiB record).
pub const PARALLEL_OPEN_MIN: usize = 256;
/// Most threads one listing uses for decryption, the calling thread included (bounded so a big
/// read does not take every core from the network side of the node).
pub const MAX_OPEN_THREADS: usize = 4;

pub const DEDUP_RETENTION_MS: u64 = 30 * 24 * 60 * 60 * 1000;

const META_KEY: &[u8] = b"meta";
const IDENTITY_KEY: &[u8] = b"identity";
const CARD_KEY: &[u8] = b"card";

/// Blinding purposes (domain separation of the keyed hash).
mod purpose {
    pub const CONTACT: &str = "contact";
    pub const PEER: &str = "peer-id";
    pub const ROUTING_TAG: &str = "routing-tag";
    pub const OUTBOX: &str = "outbox-message-id";
    pub const OUTBOX_BATCH: &str = "outbox-batch-first-message-id";
    pub const DEDUP: &str = "dedup-message-id";
    pub const INVITE: &str = "invite-secret";
    pub const INVITE_USE: &str = "invite-first-message";
    pub const SETTING: &str = "setting-name";
    pub const GROUP: &str = "group-id";
    pub const GROUP_CONVERSATION: &str = "group-conversation";
    pub const FILE: &str = "file-id";
    pub const UNREPORTED: &str = "unreported-events";
}

/// Options for opening or creating a profile.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    allow_insecure_kdf: bool,
}

impl OpenOptions {
    /// Production defaults: key files below [`KdfParams::MINIMUM`] are refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// INSECURE, FOR TESTS ONLY: accept (and allow creating) key files whose Argon2id
    /// parameters are below [`KdfParams::MINIMUM`], such as
    /// [`KdfParams::insecure_fast_for_tests`]. No production code path sets this.
    pub fn allow_insecure_kdf_for_tests(mut self) -> Self {
        self.allow_insecure_kdf = true;
        self
    }
}

/// Records read from a tree, and the ones that could not be read. Damage is never dropped
/// silently: callers show what is readable and report the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Listing<T> {
    /// Readable records, in key order.
    pub items: Vec<T>,
    /// Records that failed authentication or decoding.
    pub damaged: Vec<DamagedRecord>,
}

/// Raw entries of a listing copied into one buffer. Values are decrypted in it, one at a
/// time, and each plaintext is zeroized as soon as it is decoded
/// ([`Store::open_record_in_place`]).
#[derive(Default)]
struct Chunk {
    buf: Vec<u8>,
    /// Where each entry's key ends and its value ends; each key starts where the entry before
    /// it ended.
    ends: Vec<(usize, usize)>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn push(&mut self, key: &[u8], value: &[u8]) {
        if self.ends.is_empty() {
            // Records of a listing are mostly of one size: room for a chunk of them at once.
            self.buf
                .reserve((key.len() + value.len()).saturating_mul(PARALLEL_OPEN_MIN + 8));
            self.ends.reserve(PARALLEL_OPEN_MIN);
        }
        self.buf.extend_from_slice(key);
        let key_end = self.buf.len();
        self.buf.extend_from_slice(value);
        self.ends.push((key_end, self.buf.len()));
    }

    /// Opens every entry in order.
    fn open_all<T>(
        mut self,
        open: impl Fn(&[u8], &mut [u8]) -> Result<T, DamagedRecord>,
    ) -> Vec<Result<T, DamagedRecord>> {
        let mut rest: &mut [u8] = &mut self.buf;
        let mut at = 0;
        let mut out = Vec::with_capacity(self.ends.len());
        for &(key_end, end) in &self.ends {
            let (entry, tail) = std::mem::take(&mut rest).split_at_mut(end - at);
            let (key, value) = entry.split_at_mut(key_end - at);
            out.push(open(key, value));
            rest = tail;
            at = end;
        }
        out
    }
}

impl<T> Listing<T> {
    /// Sorts `n` results (in key order) into readable and damaged.
    fn collect(n: usize, results: impl Iterator<Item = Result<T, DamagedRecord>>) -> Self {
        let mut out = Self {
            items: Vec::with_capacity(n),
            damaged: Vec::new(),
        };
        for r in results {
            match r {
                Ok(item) => out.items.push(item),
                Err(d) => out.damaged.push(d),
            }
        }
        out
    }
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            damaged: Vec::new(),
        }
    }
}

/// The result of [`Store::check`] for one tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeCheck {
    /// Tree.
    pub tree: TreeName,
    /// Records that authenticate and decode.
    pub readable: usize,
    /// Records that do not.
    pub damaged: Vec<DamagedRecord>,
    /// The backend failed while scanning this tree (the counts above are then partial).
    pub scan_error: Option<BackendError>,
}

/// The result of [`Store::check`]: what can still be read, tree by tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// One entry per tree.
    pub trees: Vec<TreeCheck>,
}

impl CheckReport {
    /// True when every record is readable.
    pub fn is_clean(&self) -> bool {
        self.trees
            .iter()
            .all(|t| t.damaged.is_empty() && t.scan_error.is_none())
    }

    /// Total readable records.
    pub fn readable(&self) -> usize {
        self.trees.iter().map(|t| t.readable).sum()
    }

    /// All damaged records.
    pub fn damaged(&self) -> impl Iterator<Item = &DamagedRecord> {
        self.trees.iter().flat_map(|t| t.damaged.iter())
    }
}

/// An open, unlocked profile. Holds the profile lock until dropped.
pub struct Store {
    // Field order is drop order: the database closes before the lock is released.
    backend: Box<dyn Backend>,
    sealer: Sealer,
    keys: SubKeys,
    master: MasterKey,
    group: group_commit::GroupCommit,
    writer: Mutex<()>,
    key_file_writer: Mutex<()>,
    paths: ProfilePaths,
    allow_insecure_kdf: bool,
    lock: Option<ProfileLock>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

/// A value that did not open. A malformed envelope (e.g. truncated below nonce + tag) is as
/// unauthentic as a forged one.
fn unsealable(tree: TreeName, key: &[u8], _: OpenSealError) -> DamagedRecord {
    damaged(tree, key, DamageKind::Unsealable)
}

fn damaged(tree: TreeName, key: &[u8], kind: DamageKind) -> DamagedRecord {
    DamagedRecord {
        tree,
        key_hex: hex(key),
        kind,
    }
}

/// The record keys a tree may hold; anything else is damage.
fn key_shape_ok(tree: TreeName, key: &[u8]) -> bool {
    match tree {
        TreeName::Meta => key == META_KEY,
        TreeName::Identity => key == IDENTITY_KEY || key == CARD_KEY,
        TreeName::Messages => key.len() == codec::MESSAGE_KEY_LEN,
        _ => key.len() == 32,
    }
}

fn lock_ignoring_poison(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    // -----------------------------------------------------------------------------------------
    // Lifecycle

    /// Creates a new profile in `paths.dir` (created if missing). Runs Argon2id once.
    /// Refuses parameters below [`KdfParams::MINIMUM`] unless the options allow it for tests.
    pub fn create(
        paths: &ProfilePaths,
        passphrase: &Passphrase,
        params: KdfParams,
        options: &OpenOptions,
    ) -> Result<Self, OpenError> {
        if !params.is_within_bounds() {
            return Err(OpenError::Kdf(KdfError::InvalidParams));
        }
        if !params.meets_minimum() && !options.allow_insecure_kdf {
            return Err(OpenError::KdfBelowMinimum(params));
        }
        profile::create_private_dir(&paths.dir)?;
        let lock = ProfileLock::acquire(paths)?;
        if paths.creating_marker().exists() {
            // A previous create was interrupted (the marker is removed only after the key file
            // is in place): its leftovers were never a usable profile. Clear them.
            wipe::wipe_leftovers(paths)
                .map_err(|e| OpenError::Io(std::io::Error::other(e.to_string())))?;
        } else if paths.key_file().exists() || paths.db_dir().exists() {
            // A database without a key file and without the creation marker is not ours to
            // guess about (a key file may be restorable from a backup): refuse; wipe it first.
            return Err(OpenError::AlreadyExists(paths.dir.clone()));
        }
        profile::write_marker(paths)?;
        let master = MasterKey::random();
        let key_file = KeyFile::wrap(&master, passphrase, params)?;
        let backend = SledBackend::open(&paths.db_dir())?;
        let store = Self::assemble(
            Box::new(backend),
            master,
            paths.clone(),
            options.allow_insecure_kdf,
            Some(lock),
        );
        store.write_format_marker()?;
        // The key file is written last, then the marker removed: a crash anywhere before leaves
        // the marker, and the next create clears the leftovers.
        write_key_file_atomic(paths, &key_file.to_bytes())?;
        profile::remove_marker(paths)?;
        Ok(store)
    }

    /// The format record a new database starts with, durable.
    fn write_format_marker(&self) -> Result<(), OpenError> {
        let store = self;
        {
            let mut batch = WriteBatch::new();
            store
                .put(
                    &mut batch,
                    TreeName::Meta,
                    META_KEY.to_vec(),
                    &Record::Meta(Meta {
                        format: FORMAT_VERSION,
                    }),
                )
                .map_err(|e| OpenError::Io(std::io::Error::other(e.to_string())))?;
            store.backend.apply(&batch)?;
            store.backend.flush()?;
        }
        Ok(())
    }

    /// A store on a simulated machine's disk, under `master` (the simulator's; no key file,
    /// no lock): created on first use, reopened after a crash.
    #[cfg(any(test, feature = "sim"))]
    pub fn in_memory(disk: &MemDisk, master: [u8; 32]) -> Result<Self, OpenError> {
        let store = Self::assemble(
            Box::new(disk.backend()),
            MasterKey::from_bytes(master),
            ProfilePaths::new("/nonexistent/cairn-sim"),
            true,
            None,
        );
        if store.backend.get(TreeName::Meta, META_KEY)?.is_none() {
            store.write_format_marker()?;
        }
        Ok(store)
    }

    /// Opens an existing profile. Runs Argon2id once at the cost stored in the key file.
    ///
    /// A wrong passphrase returns [`OpenError::WrongPassphrase`] after the full KDF cost and
    /// leaves every byte of the profile directory unchanged (the database is not opened until
    /// the master key is unwrapped). Another holder of the profile gives [`OpenError::InUse`].
    pub fn open(
        paths: &ProfilePaths,
        passphrase: &Passphrase,
        options: &OpenOptions,
    ) -> Result<Self, OpenError> {
        if !paths.key_file().exists() {
            return Err(OpenError::NotFound(paths.dir.clone()));
        }
        let lock = ProfileLock::acquire(paths)?;
        if paths.creating_marker().exists() {
            return Err(OpenError::IncompleteCreation(paths.dir.clone()));
        }
        let bytes = read_key_file(paths)?;
        let key_file = KeyFile::parse(&bytes).map_err(OpenError::KeyFileDamaged)?;
        if !key_file.params.meets_minimum() && !options.allow_insecure_kdf {
            return Err(OpenError::KdfBelowMinimum(key_file.params));
        }
        let master = match key_file.unwrap_master(passphrase) {
            Ok(m) => m,
            Err(UnwrapError::WrongPassphrase) => return Err(OpenError::WrongPassphrase),
            Err(UnwrapError::Kdf(e)) => return Err(OpenError::Kdf(e)),
        };
        Self::open_unlocked(paths, master, options, lock)
    }

    /// Opens the database with an already unwrapped master key.
    fn open_unlocked(
        paths: &ProfilePaths,
        master: MasterKey,
        options: &OpenOptions,
        lock: ProfileLock,
    ) -> Result<Self, OpenError> {
        if !paths.db_dir().is_dir() {
            return Err(OpenError::DatabaseMissing);
        }
        let backend = SledBackend::open(&paths.db_dir())?;
        let store = Self::assemble(
            Box::new(backend),
            master,
            paths.clone(),
            options.allow_insecure_kdf,
            Some(lock),
        );
        match store.backend.get(TreeName::Meta, META_KEY)? {
            None => return Err(OpenError::MarkerMissing),
            Some(raw) => match store.open_record(TreeName::Meta, META_KEY, raw) {
                Ok(Record::Meta(m)) if m.format == FORMAT_VERSION => {}
                Ok(Record::Meta(m)) => return Err(OpenError::UnsupportedFormat(m.format)),
                Ok(_) => {
                    return Err(OpenError::DatabaseMismatch(damaged(
                        TreeName::Meta,
                        META_KEY,
                        DamageKind::Malformed(DecodeError::WrongRecordType {
                            tree: TreeName::Meta,
                            tag: 0,
                        }),
                    )))
                }
                Err(d) => return Err(OpenError::DatabaseMismatch(d)),
            },
        }
        Ok(store)
    }

    fn assemble(
        backend: Box<dyn Backend>,
        master: MasterKey,
        paths: ProfilePaths,
        allow_insecure_kdf: bool,
        lock: Option<ProfileLock>,
    ) -> Self {
        let keys = SubKeys::derive(&master);
        let sealer = Sealer::new(keys.value_key());
        Self {
            backend,
            sealer,
            keys,
            master,
            group: group_commit::GroupCommit::default(),
            writer: Mutex::new(()),
            key_file_writer: Mutex::new(()),
            paths,
            allow_insecure_kdf,
            lock,
        }
    }

    /// Rewraps the master key under a new passphrase (and possibly new, higher Argon2id
    /// parameters). Only the key file changes, atomically (write, fsync, rename). Runs Argon2id
    /// twice: once to check `old`, once to wrap under `new`.
    pub fn change_passphrase(
        &self,
        old: &Passphrase,
        new: &Passphrase,
        params: KdfParams,
    ) -> Result<(), StoreError> {
        if !params.is_within_bounds() {
            return Err(StoreError::Kdf(KdfError::InvalidParams));
        }
        if !params.meets_minimum() && !self.allow_insecure_kdf {
            return Err(StoreError::KdfBelowMinimum(params));
        }
        let _guard = lock_ignoring_poison(&self.key_file_writer);
        let bytes = read_key_file(&self.paths).map_err(|e| match e {
            OpenError::Io(io) => StoreError::Io(io),
            other => StoreError::Io(std::io::Error::other(other.to_string())),
        })?;
        let current = KeyFile::parse(&bytes).map_err(StoreError::KeyFileDamaged)?;
        let unwrapped = match current.unwrap_master(old) {
            Ok(m) => m,
            Err(UnwrapError::WrongPassphrase) => return Err(StoreError::WrongPassphrase),
            Err(UnwrapError::Kdf(e)) => return Err(StoreError::Kdf(e)),
        };
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            unwrapped.as_bytes().as_slice(),
            self.master.as_bytes().as_slice(),
        )) {
            // The key file on disk no longer matches this open profile: refuse to touch it.
            return Err(StoreError::KeyFileDamaged(KeyFileError::ChecksumMismatch));
        }
        let rewrapped = KeyFile::wrap(&self.master, new, params)?;
        write_key_file_atomic(&self.paths, &rewrapped.to_bytes())?;
        Ok(())
    }

    /// The profile's paths.
    pub fn paths(&self) -> &ProfilePaths {
        &self.paths
    }

    /// Flushes performed so far by durable writes (group commit makes this smaller than the
    /// number of durable writes under concurrency).
    pub fn flush_count(&self) -> u64 {
        self.group.flush_count()
    }

    /// Flushes and closes the profile, releasing the lock.
    pub fn close(self) -> Result<(), StoreError> {
        self.backend.flush()?;
        Ok(())
    }

    /// Panic wipe of this profile: closes the database, destroys the key file (overwrite with
    /// random bytes, fsync, delete), then removes the database. See [`wipe_profile`].
    pub fn wipe(mut self) -> Result<WipeReport, WipeError> {
        let paths = self.paths.clone();
        let lock = self.lock.take();
        // Close sled (and its background flusher) before removing its files.
        drop(self);
        let report = wipe_profile(&paths);
        drop(lock);
        report
    }

    // -----------------------------------------------------------------------------------------
    // Sealing helpers

    fn put(
        &self,
        batch: &mut WriteBatch,
        tree: TreeName,
        key: Vec<u8>,
        record: &Record,
    ) -> Result<(), StoreError> {
        let plain = zeroize::Zeroizing::new(encode_record(record)?);
        let sealed = self.sealer.seal(tree, &key, &plain);
        batch.put(tree, key, sealed);
        Ok(())
    }

    /// Adds a contact's ratchet state to the batch.
    fn stage_session(
        &self,
        batch: &mut WriteBatch,
        contact: &ContactId,
        state: &SecretBytes,
    ) -> Result<(), StoreError> {
        self.put(
            batch,
            TreeName::Sessions,
            contact.0.to_vec(),
            &Record::Session(state.clone()),
        )
    }

    /// Opens and decodes one record.
    fn open_record(
        &self,
        tree: TreeName,
        key: &[u8],
        mut raw: Vec<u8>,
    ) -> Result<Record, DamagedRecord> {
        self.open_record_in_place(tree, key, &mut raw)
    }

    /// Opens and decodes a sealed value where it is (in its own buffer, or in a chunk of a long
    /// listing), so no second buffer is needed. The plaintext is zeroized before returning.
    fn open_record_in_place(
        &self,
        tree: TreeName,
        key: &[u8],
        raw: &mut [u8],
    ) -> Result<Record, DamagedRecord> {
        if !key_shape_ok(tree, key) {
            return Err(damaged(
                tree,
                key,
                DamageKind::BadKey(DecodeError::BadKey {
                    tree,
                    len: key.len(),
                }),
            ));
        }
        let plain = self
            .sealer
            .open_in_place(tree, key, raw)
            .map_err(|e| unsealable(tree, key, e))?;
        let record = decode_record(tree, plain);
        zeroize::Zeroize::zeroize(plain);
        record.map_err(|e| damaged(tree, key, DamageKind::Malformed(e)))
    }

    fn get_record(&self, tree: TreeName, key: &[u8]) -> Result<Option<Record>, StoreError> {
        match self.backend.get(tree, key)? {
            None => Ok(None),
            Some(raw) => Ok(Some(self.open_record(tree, key, raw)?)),
        }
    }

    fn scan_records(
        &self,
        tree: TreeName,
        prefix: &[u8],
    ) -> Result<Listing<(Vec<u8>, Record)>, StoreError> {
        self.scan_and_open(tree, prefix, |k, v| {
            self.open_record_in_place(tree, k, v)
                .map(|r| (k.to_vec(), r))
        })
    }

    /// Applies a batch atomically and waits until it is durable.
    fn commit(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        self.backend.apply(batch)?;
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(())
    }

    fn wrong_type(tree: TreeName, key: &[u8]) -> StoreError {
        StoreError::Damaged(damaged(
            tree,
            key,
            DamageKind::Malformed(DecodeError::WrongRecordType { tree, tag: 0 }),
        ))
    }
}
