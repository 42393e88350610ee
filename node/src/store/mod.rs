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
pub mod codec;
mod control;
mod error;
mod group_commit;
mod kdf;
mod keyfile;
mod model;
mod profile;
mod rekey;
pub(crate) mod seal;
mod secret;
mod sled_backend;
mod subkeys;
mod wipe;

use std::sync::{Mutex, MutexGuard};

pub use backend::{Backend, RawEntry, TreeName, WriteBatch, WriteOp};
pub use control::CONTROL_SEQ;
pub use error::{
    BackendError, DamageKind, DamagedRecord, DecodeError, InviteError, KdfError, KeyFileError,
    OpenError, StoreError, WipeError,
};
pub use kdf::KdfParams;
pub use keyfile::{KeyFile, KEY_FILE_LEN};
pub use model::{
    Contact, ContactId, Conversation, DedupEntry, DeliveryState, Direction, Incoming, Invite,
    MessageId, Meta, NewMessage, NewOutbox, OutboxEntry, StoredMessage, SweepReport, UsedInvite,
};
pub use profile::{ProfilePaths, CREATING_MARKER_NAME, DB_DIR_NAME, KEY_FILE_NAME, LOCK_FILE_NAME};
pub(crate) use secret::MasterKey;
pub use secret::{Passphrase, SecretBytes};
pub use sled_backend::SledBackend;
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
/// [`Store::record_outgoing_many_deferred`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
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
            lock,
        );
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
        // The key file is written last, then the marker removed: a crash anywhere before leaves
        // the marker, and the next create clears the leftovers.
        write_key_file_atomic(paths, &key_file.to_bytes())?;
        profile::remove_marker(paths)?;
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
            lock,
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
        lock: ProfileLock,
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
            lock: Some(lock),
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

    // -----------------------------------------------------------------------------------------
    // Identity and profile card

    /// Stores the own identity secret (opaque bytes serialised by cairn-crypto). Durable.
    pub fn set_identity(&self, secret: &SecretBytes) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::Identity,
            IDENTITY_KEY.to_vec(),
            &Record::Identity(secret.clone()),
        )?;
        self.commit(&b)
    }

    /// The own identity secret, if set.
    pub fn identity(&self) -> Result<Option<SecretBytes>, StoreError> {
        match self.get_record(TreeName::Identity, IDENTITY_KEY)? {
            None => Ok(None),
            Some(Record::Identity(s)) => Ok(Some(s)),
            Some(_) => Err(Self::wrong_type(TreeName::Identity, IDENTITY_KEY)),
        }
    }

    /// Stores the own profile card (opaque bytes serialised by cairn-crypto). Durable.
    pub fn set_profile_card(&self, card: &[u8]) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::Identity,
            CARD_KEY.to_vec(),
            &Record::ProfileCard(card.to_vec()),
        )?;
        self.commit(&b)
    }

    /// The own profile card, if set.
    pub fn profile_card(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.get_record(TreeName::Identity, CARD_KEY)? {
            None => Ok(None),
            Some(Record::ProfileCard(c)) => Ok(Some(c)),
            Some(_) => Err(Self::wrong_type(TreeName::Identity, CARD_KEY)),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Contacts

    /// The store id of the contact with this identity public key (a keyed hash of it).
    pub fn contact_id(&self, identity_key: &[u8]) -> ContactId {
        ContactId(self.keys.blind(purpose::CONTACT, identity_key))
    }

    /// Adds or replaces a contact (keyed by its identity key) and its PeerId index entry.
    /// Durable.
    pub fn put_contact(&self, contact: &Contact) -> Result<ContactId, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        let id = self.stage_contact(&mut b, contact)?;
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(id)
    }

    /// Adds a contact and its PeerId index entry to `b` (replacing the old index entry).
    fn stage_contact(
        &self,
        b: &mut WriteBatch,
        contact: &Contact,
    ) -> Result<ContactId, StoreError> {
        let id = self.contact_id(&contact.identity_key);
        if let Some(old) = self.contact(&id)? {
            if old.peer_id != contact.peer_id {
                b.remove(
                    TreeName::PeerIndex,
                    self.keys.blind(purpose::PEER, &old.peer_id).to_vec(),
                );
            }
        }
        self.put(
            b,
            TreeName::Contacts,
            id.0.to_vec(),
            &Record::Contact(contact.clone()),
        )?;
        self.put(
            b,
            TreeName::PeerIndex,
            self.keys.blind(purpose::PEER, &contact.peer_id).to_vec(),
            &Record::PeerIndex(id),
        )?;
        Ok(id)
    }

    /// One contact.
    pub fn contact(&self, id: &ContactId) -> Result<Option<Contact>, StoreError> {
        match self.get_record(TreeName::Contacts, &id.0)? {
            None => Ok(None),
            Some(Record::Contact(c)) => Ok(Some(c)),
            Some(_) => Err(Self::wrong_type(TreeName::Contacts, &id.0)),
        }
    }

    /// All contacts (in blinded-key order, i.e. no meaningful order), plus any damaged ones.
    pub fn contacts(&self) -> Result<Listing<(ContactId, Contact)>, StoreError> {
        let raw = self.scan_records(TreeName::Contacts, &[])?;
        let mut out = Listing {
            items: Vec::with_capacity(raw.items.len()),
            damaged: raw.damaged,
        };
        for (k, r) in raw.items {
            match (<[u8; 32]>::try_from(k.as_slice()), r) {
                (Ok(id), Record::Contact(c)) => out.items.push((ContactId(id), c)),
                _ => out.damaged.push(damaged(
                    TreeName::Contacts,
                    &k,
                    DamageKind::Malformed(DecodeError::WrongRecordType {
                        tree: TreeName::Contacts,
                        tag: 0,
                    }),
                )),
            }
        }
        Ok(out)
    }

    /// The contact with this PeerId, through the blinded PeerId index.
    pub fn contact_by_peer_id(
        &self,
        peer_id: &[u8],
    ) -> Result<Option<(ContactId, Contact)>, StoreError> {
        let key = self.keys.blind(purpose::PEER, peer_id);
        match self.get_record(TreeName::PeerIndex, &key)? {
            None => Ok(None),
            Some(Record::PeerIndex(id)) => Ok(self.contact(&id)?.map(|c| (id, c))),
            Some(_) => Err(Self::wrong_type(TreeName::PeerIndex, &key)),
        }
    }

    /// Removes a contact with its PeerId index entry, routing tags, session, conversation,
    /// messages and outbox entries, in one atomic batch. Durable.
    pub fn remove_contact(&self, id: &ContactId) -> Result<(), StoreError> {
        self.remove_contact_inner(id, true)
    }

    /// Like [`Store::remove_contact`], but the conversation and its messages stay: they
    /// belong to the contact's id (its identity key, blinded), so they are shown again if
    /// the same person is added again. Durable.
    pub fn remove_contact_keeping_history(&self, id: &ContactId) -> Result<(), StoreError> {
        self.remove_contact_inner(id, false)
    }

    /// Stages the removal of a contact's record, its PeerId index entry and its session.
    fn stage_remove_contact_record(
        &self,
        b: &mut WriteBatch,
        id: &ContactId,
    ) -> Result<(), StoreError> {
        if let Some(c) = self.contact(id)? {
            b.remove(
                TreeName::PeerIndex,
                self.keys.blind(purpose::PEER, &c.peer_id).to_vec(),
            );
        }
        b.remove(TreeName::Contacts, id.0.to_vec());
        b.remove(TreeName::Sessions, id.0.to_vec());
        Ok(())
    }

    fn remove_contact_inner(&self, id: &ContactId, history: bool) -> Result<(), StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        self.stage_remove_contact_record(&mut b, id)?;
        if history {
            b.remove(TreeName::Conversations, id.0.to_vec());
            for entry in self.backend.scan_prefix(TreeName::Messages, &id.0) {
                let (k, _) = entry?;
                b.remove(TreeName::Messages, k);
            }
        }
        for (k, r) in self.scan_records(TreeName::Outbox, &[])?.items {
            let theirs = match &r {
                Record::Outbox(o) => o.contact == *id,
                Record::OutboxBatch(entries) => entries.iter().any(|e| e.contact == *id),
                _ => false,
            };
            if theirs {
                b.remove(TreeName::Outbox, k);
            }
        }
        for (k, r) in self.scan_records(TreeName::TagIndex, &[])?.items {
            if matches!(r, Record::RoutingTag(c) if c == *id) {
                b.remove(TreeName::TagIndex, k);
            }
        }
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(())
    }

    /// Maps a routing tag (derived from a session, rotating) to a contact, under a keyed hash
    /// of the tag. Durable.
    pub fn put_routing_tag(&self, tag: &[u8], id: &ContactId) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::TagIndex,
            self.keys.blind(purpose::ROUTING_TAG, tag).to_vec(),
            &Record::RoutingTag(*id),
        )?;
        self.commit(&b)
    }

    /// The contact a routing tag belongs to.
    pub fn contact_by_routing_tag(&self, tag: &[u8]) -> Result<Option<ContactId>, StoreError> {
        let key = self.keys.blind(purpose::ROUTING_TAG, tag);
        match self.get_record(TreeName::TagIndex, &key)? {
            None => Ok(None),
            Some(Record::RoutingTag(id)) => Ok(Some(id)),
            Some(_) => Err(Self::wrong_type(TreeName::TagIndex, &key)),
        }
    }

    /// Forgets a routing tag (after it rotated out). Durable.
    pub fn remove_routing_tag(&self, tag: &[u8]) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        b.remove(
            TreeName::TagIndex,
            self.keys.blind(purpose::ROUTING_TAG, tag).to_vec(),
        );
        self.commit(&b)
    }

    // -----------------------------------------------------------------------------------------
    // Sessions

    /// The ratchet state stored for a contact (opaque, `Session::to_bytes`).
    pub fn session(&self, id: &ContactId) -> Result<Option<SecretBytes>, StoreError> {
        match self.get_record(TreeName::Sessions, &id.0)? {
            None => Ok(None),
            Some(Record::Session(s)) => Ok(Some(s)),
            Some(_) => Err(Self::wrong_type(TreeName::Sessions, &id.0)),
        }
    }

    /// Stores ratchet state on its own (e.g. after a handshake). Durable. Ratchet steps that
    /// produce or consume a message use [`Store::record_outgoing`] / [`Store::record_incoming`].
    pub fn put_session(&self, id: &ContactId, state: &SecretBytes) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.stage_session(&mut b, id, state)?;
        self.commit(&b)
    }

    // -----------------------------------------------------------------------------------------
    // Conversations and messages

    /// A conversation's state (default if none was stored yet).
    pub fn conversation(&self, id: &ContactId) -> Result<Conversation, StoreError> {
        match self.get_record(TreeName::Conversations, &id.0)? {
            None => Ok(Conversation::default()),
            Some(Record::Conversation(c)) => Ok(c),
            Some(_) => Err(Self::wrong_type(TreeName::Conversations, &id.0)),
        }
    }

    /// Sets (or clears) the disappearing-message timer. It applies to messages stored from now
    /// on; each message's expiry is fixed when it is stored. Durable.
    pub fn set_disappearing_timer(
        &self,
        id: &ContactId,
        after_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut conv = self.conversation(id)?;
        conv.disappear_after_ms = after_ms;
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::Conversations,
            id.0.to_vec(),
            &Record::Conversation(conv),
        )?;
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(())
    }

    /// Adds `messages` to the batch at the conversation's next sequence numbers and the updated
    /// conversation record. Returns the first sequence number.
    fn stage_messages(
        &self,
        b: &mut WriteBatch,
        id: &ContactId,
        messages: &[NewMessage],
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let mut conv = self.conversation(id)?;
        let first = conv.next_seq;
        let expires_at_ms = conv.disappear_after_ms.map(|d| now_ms.saturating_add(d));
        for m in messages {
            let body = MessageBody {
                id: m.id,
                direction: m.direction,
                text: m.text.clone(),
                created_at_ms: m.created_at_ms,
                received_at_ms: m.received_at_ms,
                sent_at_ms: None,
                delivered_at_ms: None,
                state: m.state,
                expires_at_ms,
            };
            let key = message_key(id, conv.next_seq);
            self.put(b, TreeName::Messages, key.to_vec(), &Record::Message(body))?;
            conv.next_seq = conv.next_seq.saturating_add(1);
        }
        conv.has_expiring |= expires_at_ms.is_some();
        self.put(
            b,
            TreeName::Conversations,
            id.0.to_vec(),
            &Record::Conversation(conv),
        )?;
        Ok(first)
    }

    /// Appends messages to a conversation in one atomic batch with one flush (history import,
    /// or many messages at once). Returns the sequence number of the first. Durable.
    pub fn append_messages(
        &self,
        id: &ContactId,
        messages: &[NewMessage],
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        let first = self.stage_messages(&mut b, id, messages, now_ms)?;
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(first)
    }

    /// Stores an outgoing message together with the ratchet state that encrypted it and the
    /// envelope to deliver, in one atomic batch. Returns the message's sequence number once it
    /// is durable: only then may the UI show it as queued/sent.
    pub fn record_outgoing(
        &self,
        id: &ContactId,
        session_after: &SecretBytes,
        message: &NewMessage,
        outbox: &NewOutbox,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let seq = self.record_outgoing_deferred(id, session_after, message, outbox, now_ms)?;
        self.make_durable()?;
        Ok(seq)
    }

    /// [`Store::record_outgoing`] without waiting for the flush: the batch is applied
    /// (atomic, in order with every other write) and becomes durable at the next
    /// [`Store::make_durable`]. The caller must not show the message as queued or send
    /// its envelope before that.
    pub fn record_outgoing_deferred(
        &self,
        id: &ContactId,
        session_after: &SecretBytes,
        message: &NewMessage,
        outbox: &NewOutbox,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        self.record_outgoing_many_deferred(
            id,
            session_after,
            std::slice::from_ref(message),
            std::slice::from_ref(outbox),
            now_ms,
        )
        .map(|(first, _)| first)
    }

    /// [`Store::record_outgoing_deferred`] for several messages to one contact, encrypted
    /// one after the other: all of them, their envelopes and the ratchet state after the
    /// last, in one atomic batch. `messages` and `outboxes` pair up by index. Returns the
    /// sequence number of the first (the others follow in order) and, when the envelopes went
    /// into outbox batch records (more than one message), each record's id and how many
    /// consecutive envelopes it holds, in order. One record for many envelopes is one store
    /// write instead of many (the per-record cost of sled dominates a burst); see
    /// [`Record::OutboxBatch`] for how its entries are retired.
    pub fn record_outgoing_many_deferred(
        &self,
        id: &ContactId,
        session_after: &SecretBytes,
        messages: &[NewMessage],
        outboxes: &[NewOutbox],
        now_ms: u64,
    ) -> Result<(u64, Vec<(BatchId, usize)>), StoreError> {
        if messages.len() != outboxes.len() {
            return Err(StoreError::Invalid("messages and envelopes do not pair up"));
        }
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        let first = self.stage_messages(&mut b, id, messages, now_ms)?;
        self.stage_session(&mut b, id, session_after)?;
        let entries: Vec<OutboxEntry> = messages
            .iter()
            .zip(outboxes)
            .enumerate()
            .map(|(i, (message, outbox))| OutboxEntry {
                message_id: message.id,
                contact: *id,
                seq: first + i as u64,
                envelope: outbox.envelope.clone(),
                attempts: 0,
                next_attempt_at_ms: outbox.next_attempt_at_ms,
                created_at_ms: message.created_at_ms,
            })
            .collect();
        let mut batches = Vec::new();
        if let [entry] = entries.as_slice() {
            self.put(
                &mut b,
                TreeName::Outbox,
                self.keys
                    .blind(purpose::OUTBOX, &entry.message_id.0)
                    .to_vec(),
                &Record::Outbox(entry.clone()),
            )?;
        } else {
            let mut rest = entries.as_slice();
            while let Some(head) = rest.first() {
                let mut n = 0;
                let mut bytes = 0;
                while n < rest.len().min(MAX_OUTBOX_BATCH)
                    && (n == 0 || bytes + rest[n].envelope.len() <= MAX_OUTBOX_BATCH_BYTES)
                {
                    bytes += rest[n].envelope.len();
                    n += 1;
                }
                let (chunk, tail) = rest.split_at(n);
                let key = BatchId(self.keys.blind(purpose::OUTBOX_BATCH, &head.message_id.0));
                self.put(
                    &mut b,
                    TreeName::Outbox,
                    key.0.to_vec(),
                    &Record::OutboxBatch(chunk.to_vec()),
                )?;
                batches.push((key, n));
                rest = tail;
            }
        }
        self.backend.apply(&b)?;
        Ok((first, batches))
    }

    /// Waits until every write applied so far is durable (shares flushes with concurrent
    /// callers).
    pub fn make_durable(&self) -> Result<(), StoreError> {
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(())
    }

    /// Stores an incoming message, the ratchet state after decrypting it and its dedup id, in
    /// one atomic batch. A message id seen before is not stored again ([`Incoming::Duplicate`]),
    /// but the session state is still saved. Returns once durable: only then may a delivery
    /// receipt be sent.
    pub fn record_incoming(
        &self,
        id: &ContactId,
        session_after: &SecretBytes,
        message: &NewMessage,
        now_ms: u64,
    ) -> Result<Incoming, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        self.stage_session(&mut b, id, session_after)?;
        let dedup_key = self.keys.blind(purpose::DEDUP, &message.id.0);
        let outcome = if self.backend.get(TreeName::Dedup, &dedup_key)?.is_some() {
            Incoming::Duplicate
        } else {
            let seq = self.stage_messages(&mut b, id, std::slice::from_ref(message), now_ms)?;
            self.put(
                &mut b,
                TreeName::Dedup,
                dedup_key.to_vec(),
                &Record::Dedup(DedupEntry {
                    received_at_ms: now_ms,
                    contact: *id,
                    seq,
                }),
            )?;
            Incoming::Stored { seq }
        };
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(outcome)
    }

    /// True if a message with this id was received (and is still in the dedup window).
    pub fn is_duplicate(&self, message_id: &MessageId) -> Result<bool, StoreError> {
        let key = self.keys.blind(purpose::DEDUP, &message_id.0);
        Ok(self.backend.get(TreeName::Dedup, &key)?.is_some())
    }

    /// A message as the caller sees it: an outgoing one in the conversation's delivered ranges
    /// reads as `Delivered` (with no `delivered_at_ms`, which the ranges do not keep).
    fn apply_ranges(conv: &Conversation, m: &mut StoredMessage) {
        if m.direction == Direction::Outgoing
            && m.state != DeliveryState::Delivered
            && conv.is_delivered(m.seq)
        {
            m.state = DeliveryState::Delivered;
        }
    }

    fn to_stored(contact: ContactId, seq: u64, m: MessageBody) -> StoredMessage {
        StoredMessage {
            contact,
            seq,
            id: m.id,
            direction: m.direction,
            text: m.text,
            created_at_ms: m.created_at_ms,
            received_at_ms: m.received_at_ms,
            sent_at_ms: m.sent_at_ms,
            delivered_at_ms: m.delivered_at_ms,
            state: m.state,
            expires_at_ms: m.expires_at_ms,
        }
    }

    /// One message.
    pub fn message(&self, id: &ContactId, seq: u64) -> Result<Option<StoredMessage>, StoreError> {
        let key = message_key(id, seq);
        match self.get_record(TreeName::Messages, &key)? {
            None => Ok(None),
            Some(Record::Message(m)) => {
                let mut m = Self::to_stored(*id, seq, m);
                Self::apply_ranges(&self.conversation(id)?, &mut m);
                Ok(Some(m))
            }
            Some(_) => Err(Self::wrong_type(TreeName::Messages, &key)),
        }
    }

    /// A conversation's messages in order, plus any damaged ones. Long conversations are
    /// decrypted on several threads (see [`PARALLEL_OPEN_MIN`]).
    pub fn messages(&self, id: &ContactId) -> Result<Listing<StoredMessage>, StoreError> {
        let conv = self.conversation(id)?;
        let mut listing =
            self.scan_and_open(TreeName::Messages, &id.0, |k, v| self.open_message(k, v))?;
        for m in &mut listing.items {
            Self::apply_ranges(&conv, m);
        }
        Ok(listing)
    }

    fn open_message(&self, k: &[u8], v: &mut [u8]) -> Result<StoredMessage, DamagedRecord> {
        let r = self.open_record_in_place(TreeName::Messages, k, v)?;
        let (contact, seq) = parse_message_key(k)
            .map_err(|e| damaged(TreeName::Messages, k, DamageKind::BadKey(e)))?;
        match r {
            Record::Message(m) => Ok(Self::to_stored(contact, seq, m)),
            _ => Err(damaged(
                TreeName::Messages,
                k,
                DamageKind::Malformed(DecodeError::WrongRecordType {
                    tree: TreeName::Messages,
                    tag: 0,
                }),
            )),
        }
    }

    /// Scans `prefix` of `tree` and opens every entry, in order. The scan copies entries into
    /// chunks of [`PARALLEL_OPEN_MIN`] (one buffer each, no allocation per record); from the
    /// second chunk on, worker threads open chunks while the scan goes on, so copying records
    /// out of sled and authenticating them overlap instead of running one after the other.
    /// When the scan ends, this thread helps with what is left (a short listing is opened
    /// here alone). A scan error fails the listing, as it would without threads; a panic on a
    /// worker (a bug) is raised here once all threads have stopped, so no record is ever
    /// silently left out.
    fn scan_and_open<T: Send>(
        &self,
        tree: TreeName,
        prefix: &[u8],
        open: impl Fn(&[u8], &mut [u8]) -> Result<T, DamagedRecord> + Sync,
    ) -> Result<Listing<T>, StoreError> {
        type Opened<T> = (usize, Vec<Result<T, DamagedRecord>>);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_OPEN_THREADS);
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Chunk)>();
        let rx = Mutex::new(rx);
        let done: Mutex<Vec<Opened<T>>> = Mutex::new(Vec::new());
        let open = &open;
        let work = || loop {
            let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
            let Ok((i, chunk)) = next else {
                break;
            };
            let opened = chunk.open_all(open);
            done.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((i, opened));
        };
        let scanned = std::thread::scope(|s| {
            let mut chunk = Chunk::default();
            let mut sent = 0;
            let scanned = self.backend.visit_prefix(tree, prefix, &mut |k, v| {
                chunk.push(k, v);
                if chunk.len() == PARALLEL_OPEN_MIN {
                    if sent == 0 {
                        // The calling thread is the last of `threads` once the scan is done.
                        for _ in 1..threads {
                            s.spawn(work);
                        }
                    }
                    let _ = tx.send((sent, std::mem::take(&mut chunk)));
                    sent += 1;
                }
                true
            });
            if chunk.len() > 0 {
                let _ = tx.send((sent, chunk));
            }
            drop(tx);
            work();
            scanned
        });
        scanned?;
        let mut parts = done.into_inner().unwrap_or_else(|p| p.into_inner());
        parts.sort_by_key(|(i, _)| *i);
        let n = parts.iter().map(|(_, v)| v.len()).sum();
        Ok(Listing::collect(n, parts.into_iter().flat_map(|(_, v)| v)))
    }

    // -----------------------------------------------------------------------------------------
    // Outbox and delivery state

    /// Every outbox entry, ordered by next attempt time.
    pub fn outbox(&self) -> Result<Listing<OutboxEntry>, StoreError> {
        Ok(self.outbox_batched()?.0)
    }

    /// Every pending outbox entry, ordered by next attempt time, and the batch record each
    /// entry from one belongs to. An entry of a batch record is pending while no
    /// [`Record::Outbox`] with its id replaces it (a renewed envelope) and its message is
    /// still there and not delivered (delivered ranges or its own state). Batch records with
    /// no pending entry left (their removal was lost in a crash) are removed.
    pub fn outbox_batched(&self) -> Result<(Listing<OutboxEntry>, BatchMembers), StoreError> {
        let raw = self.scan_records(TreeName::Outbox, &[])?;
        let mut out = Listing {
            items: Vec::new(),
            damaged: raw.damaged,
        };
        let mut batches = Vec::new();
        for (k, r) in raw.items {
            match r {
                Record::Outbox(o) => out.items.push(o),
                Record::OutboxBatch(entries) => match <[u8; 32]>::try_from(k.as_slice()) {
                    Ok(key) => batches.push((BatchId(key), entries)),
                    Err(_) => out.damaged.push(damaged(
                        TreeName::Outbox,
                        &k,
                        DamageKind::Malformed(DecodeError::WrongRecordType {
                            tree: TreeName::Outbox,
                            tag: 0,
                        }),
                    )),
                },
                _ => out.damaged.push(damaged(
                    TreeName::Outbox,
                    &k,
                    DamageKind::Malformed(DecodeError::WrongRecordType {
                        tree: TreeName::Outbox,
                        tag: 0,
                    }),
                )),
            }
        }
        let singles: HashSet<MessageId> = out.items.iter().map(|o| o.message_id).collect();
        let mut convs: HashMap<ContactId, Option<Conversation>> = HashMap::new();
        let mut members = Vec::new();
        let mut retired = WriteBatch::new();
        for (key, entries) in batches {
            let mut live = 0;
            for e in entries {
                if singles.contains(&e.message_id) {
                    continue;
                }
                let conv = match convs.get(&e.contact) {
                    Some(c) => c,
                    None => {
                        let c = self.conversation(&e.contact).ok();
                        convs.entry(e.contact).or_insert(c)
                    }
                };
                if self.batch_entry_done(&e.contact, e.seq, conv.as_ref())? {
                    continue;
                }
                live += 1;
                members.push((e.message_id, key));
                out.items.push(e);
            }
            if live == 0 {
                retired.remove(TreeName::Outbox, key.0.to_vec());
            }
        }
        if !retired.is_empty() {
            let _w = lock_ignoring_poison(&self.writer);
            self.backend.apply(&retired)?;
        }
        out.items.sort_by_key(|o| o.next_attempt_at_ms);
        Ok((out, members))
    }

    /// Whether the entry for message `seq` of `contact` in a batch record needs no more
    /// sending: its message is delivered (in `conv`'s ranges or its own state) or failed, or
    /// gone (expired, or its contact removed). `conv` is the conversation record, `None` if
    /// it does not open (it then proves nothing: the message itself decides).
    pub(crate) fn batch_entry_done(
        &self,
        contact: &ContactId,
        seq: u64,
        conv: Option<&Conversation>,
    ) -> Result<bool, StoreError> {
        if conv.is_some_and(|c| c.is_delivered(seq)) {
            return Ok(true);
        }
        let key = message_key(contact, seq);
        Ok(match self.get_record(TreeName::Messages, &key) {
            Ok(Some(Record::Message(m))) => {
                matches!(m.state, DeliveryState::Delivered | DeliveryState::Failed)
            }
            Ok(None) => true,
            // A damaged message record proves nothing either: keep sending (the recipient
            // deduplicates), and let `check` report the damage.
            Ok(Some(_)) | Err(StoreError::Damaged(_)) => false,
            Err(e) => return Err(e),
        })
    }

    /// Outbox entries due at `now_ms`.
    pub fn outbox_due(&self, now_ms: u64) -> Result<Listing<OutboxEntry>, StoreError> {
        let mut l = self.outbox()?;
        l.items.retain(|o| o.next_attempt_at_ms <= now_ms);
        Ok(l)
    }

    fn outbox_entry(
        &self,
        message_id: &MessageId,
    ) -> Result<Option<(Vec<u8>, OutboxEntry)>, StoreError> {
        let key = self.keys.blind(purpose::OUTBOX, &message_id.0).to_vec();
        match self.get_record(TreeName::Outbox, &key)? {
            None => Ok(None),
            Some(Record::Outbox(o)) => Ok(Some((key, o))),
            Some(_) => Err(Self::wrong_type(TreeName::Outbox, &key)),
        }
    }

    fn update_message(
        &self,
        b: &mut WriteBatch,
        contact: &ContactId,
        seq: u64,
        f: impl FnOnce(&mut MessageBody),
    ) -> Result<(), StoreError> {
        let key = message_key(contact, seq);
        match self.get_record(TreeName::Messages, &key)? {
            // The message may have disappeared (timer) while its envelope was in flight.
            None => Ok(()),
            Some(Record::Message(mut m)) => {
                f(&mut m);
                self.put(b, TreeName::Messages, key.to_vec(), &Record::Message(m))
            }
            Some(_) => Err(Self::wrong_type(TreeName::Messages, &key)),
        }
    }

    /// Records a delivery attempt: attempts + 1, next attempt time, message state `Sent`.
    /// Returns false if the message is no longer in the outbox. Durable.
    pub fn mark_attempted(
        &self,
        message_id: &MessageId,
        now_ms: u64,
        next_attempt_at_ms: u64,
    ) -> Result<bool, StoreError> {
        let found = self.mark_attempted_relaxed(message_id, now_ms, next_attempt_at_ms)?;
        self.make_durable()?;
        Ok(found)
    }

    fn finish_delivery(
        &self,
        message_id: &MessageId,
        f: impl FnOnce(&mut MessageBody),
    ) -> Result<bool, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let Some((key, entry)) = self.outbox_entry(message_id)? else {
            return Ok(false);
        };
        let mut b = WriteBatch::new();
        self.update_message(&mut b, &entry.contact, entry.seq, f)?;
        b.remove(TreeName::Outbox, key);
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(true)
    }

    /// An end-to-end receipt arrived: removes the outbox entry and marks the message
    /// `Delivered`, atomically. Returns false if it was not in the outbox. Durable. For entries
    /// stored alone (control entries, single messages); entries of a batch record are
    /// confirmed through [`Store::apply_receipt_deferred`].
    pub fn mark_delivered(&self, message_id: &MessageId, now_ms: u64) -> Result<bool, StoreError> {
        self.finish_delivery(message_id, |m| {
            m.state = DeliveryState::Delivered;
            m.delivered_at_ms = Some(now_ms);
        })
    }

    /// Delivery given up: removes the outbox entry and marks the message `Failed`. Durable.
    pub fn mark_failed(&self, message_id: &MessageId) -> Result<bool, StoreError> {
        self.finish_delivery(message_id, |m| m.state = DeliveryState::Failed)
    }

    // -----------------------------------------------------------------------------------------
    // Invites

    /// Stores a pending invite under a keyed hash of its secret. Durable.
    pub fn add_invite(&self, secret: &[u8], invite: &Invite) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::Invites,
            self.keys.blind(purpose::INVITE, secret).to_vec(),
            &Record::Invite(invite.clone()),
        )?;
        self.commit(&b)
    }

    /// Consumes an invite with the handshake message `first_message` that uses it, for the
    /// contact it makes: atomically checks it and replaces it with a [`UsedInvite`] record
    /// (kept until the invite would have expired), so it can be used once and a second use is
    /// recognised: [`InviteError::Used`], telling the same message again (its acceptor
    /// retransmitting) from another. An expired invite is removed and reported as
    /// [`InviteError::Expired`]. Durable.
    pub fn consume_invite(
        &self,
        secret: &[u8],
        now_ms: u64,
        first_message: &[u8],
        contact: &ContactId,
    ) -> Result<Invite, InviteError> {
        self.consume_invite_with(secret, now_ms, first_message, contact, |_| Ok(()))
    }

    /// Answers a used invite in one atomic batch: the invite becomes a used record, the new
    /// contact is stored with its session, and the handshake answer is queued. A crash leaves
    /// either all of it or none (the acceptor then sends its first message again and gets
    /// an answer). Errors as [`Store::consume_invite`]; on any error nothing is written.
    pub fn answer_invite(
        &self,
        secret: &[u8],
        now_ms: u64,
        first_message: &[u8],
        contact: &Contact,
        session: &SecretBytes,
        answer: (MessageId, &[u8]),
    ) -> Result<Invite, InviteError> {
        let id = self.contact_id(&contact.identity_key);
        // A "move" to its own id is an ordinary write of the contact.
        self.answer_invite_moving(secret, now_ms, first_message, &id, contact, session, answer)
    }

    fn consume_invite_with(
        &self,
        secret: &[u8],
        now_ms: u64,
        first_message: &[u8],
        contact: &ContactId,
        also: impl FnOnce(&mut WriteBatch) -> Result<(), StoreError>,
    ) -> Result<Invite, InviteError> {
        let key = self.keys.blind(purpose::INVITE, secret).to_vec();
        let first_message = self.keys.blind(purpose::INVITE_USE, first_message);
        let _w = lock_ignoring_poison(&self.writer);
        let invite = match self.get_record(TreeName::Invites, &key)? {
            None => return Err(InviteError::Unknown),
            Some(Record::Invite(i)) => i,
            Some(Record::UsedInvite(u)) => {
                return Err(InviteError::Used {
                    same_acceptor: (u.first_message == first_message).then_some(u.contact),
                })
            }
            Some(_) => return Err(Self::wrong_type(TreeName::Invites, &key).into()),
        };
        let mut b = WriteBatch::new();
        if now_ms >= invite.expires_at_ms {
            b.remove(TreeName::Invites, key);
        } else {
            let used = UsedInvite {
                expires_at_ms: invite.expires_at_ms,
                first_message,
                contact: *contact,
            };
            self.put(&mut b, TreeName::Invites, key, &Record::UsedInvite(used))?;
            also(&mut b)?;
        }
        self.backend.apply(&b).map_err(StoreError::from)?;
        drop(_w);
        self.group
            .wait_durable(self.backend.as_ref())
            .map_err(StoreError::from)?;
        if now_ms >= invite.expires_at_ms {
            return Err(InviteError::Expired);
        }
        Ok(invite)
    }

    /// Whether the invite with this secret was used: `Err(InviteError::Used)` as
    /// [`Store::consume_invite`] would answer for `first_message`, `Err(Unknown)` if there is
    /// no used invite under it (a pending one included). Reads only.
    pub fn check_used_invite(&self, secret: &[u8], first_message: &[u8]) -> InviteError {
        let key = self.keys.blind(purpose::INVITE, secret);
        match self.get_record(TreeName::Invites, &key) {
            Ok(Some(Record::UsedInvite(u))) => InviteError::Used {
                same_acceptor: (u.first_message
                    == self.keys.blind(purpose::INVITE_USE, first_message))
                .then_some(u.contact),
            },
            Ok(_) => InviteError::Unknown,
            Err(e) => InviteError::Store(e),
        }
    }

    /// Pending invites (for listing and revoking), plus damaged ones.
    pub fn pending_invites(&self) -> Result<Listing<Invite>, StoreError> {
        let raw = self.scan_records(TreeName::Invites, &[])?;
        Ok(Listing {
            items: raw
                .items
                .into_iter()
                .filter_map(|(_, r)| match r {
                    Record::Invite(i) => Some(i),
                    _ => None,
                })
                .collect(),
            damaged: raw.damaged,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Settings

    /// A setting's value.
    pub fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.keys.blind(purpose::SETTING, name.as_bytes());
        match self.get_record(TreeName::Settings, &key)? {
            None => Ok(None),
            Some(Record::Setting(v)) => Ok(Some(v)),
            Some(_) => Err(Self::wrong_type(TreeName::Settings, &key)),
        }
    }

    /// Sets a setting (name blinded, value sealed). Durable.
    pub fn set_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::Settings,
            self.keys.blind(purpose::SETTING, name.as_bytes()).to_vec(),
            &Record::Setting(value.to_vec()),
        )?;
        self.commit(&b)
    }

    /// Removes a setting. Durable.
    pub fn remove_setting(&self, name: &str) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        b.remove(
            TreeName::Settings,
            self.keys.blind(purpose::SETTING, name.as_bytes()).to_vec(),
        );
        self.commit(&b)
    }

    // -----------------------------------------------------------------------------------------
    // Sweeper, check

    /// Removes expired disappearing messages (and their outbox entries), expired invites, and
    /// dedup ids older than [`DEDUP_RETENTION_MS`]. Call periodically with the current time.
    /// Durable. Damaged records are counted, not removed (see [`Store::check`]).
    pub fn sweep(&self, now_ms: u64) -> Result<SweepReport, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut report = SweepReport::default();
        let mut b = WriteBatch::new();
        let mut expired: HashSet<MessageId> = HashSet::new();
        let convs = self.scan_records(TreeName::Conversations, &[])?;
        report.damaged += convs.damaged.len();
        for (k, r) in convs.items {
            let Record::Conversation(c) = r else { continue };
            if !c.has_expiring {
                continue;
            }
            for entry in self.backend.scan_prefix(TreeName::Messages, &k) {
                let (mk, mv) = entry?;
                match self.open_record(TreeName::Messages, &mk, mv) {
                    Ok(Record::Message(m)) => {
                        if m.expires_at_ms.is_some_and(|e| e <= now_ms) {
                            b.remove(TreeName::Messages, mk);
                            b.remove(
                                TreeName::Outbox,
                                self.keys.blind(purpose::OUTBOX, &m.id.0).to_vec(),
                            );
                            expired.insert(m.id);
                            report.messages_removed += 1;
                        }
                    }
                    _ => report.damaged += 1,
                }
            }
        }
        if !expired.is_empty() {
            // Their envelopes in batch records go too (the record is rewritten without them).
            for (k, r) in self.scan_records(TreeName::Outbox, &[])?.items {
                let Record::OutboxBatch(entries) = r else {
                    continue;
                };
                if !entries.iter().any(|e| expired.contains(&e.message_id)) {
                    continue;
                }
                let kept: Vec<OutboxEntry> = entries
                    .into_iter()
                    .filter(|e| !expired.contains(&e.message_id))
                    .collect();
                if kept.is_empty() {
                    b.remove(TreeName::Outbox, k);
                } else {
                    self.put(&mut b, TreeName::Outbox, k, &Record::OutboxBatch(kept))?;
                }
            }
        }
        let invites = self.scan_records(TreeName::Invites, &[])?;
        report.damaged += invites.damaged.len();
        for (k, r) in invites.items {
            let expires_at_ms = match r {
                Record::Invite(i) => i.expires_at_ms,
                Record::UsedInvite(u) => u.expires_at_ms,
                _ => continue,
            };
            if expires_at_ms <= now_ms {
                b.remove(TreeName::Invites, k);
                report.invites_removed += 1;
            }
        }
        let dedup = self.scan_records(TreeName::Dedup, &[])?;
        report.damaged += dedup.damaged.len();
        for (k, r) in dedup.items {
            if let Record::Dedup(d) = r {
                if d.received_at_ms.saturating_add(DEDUP_RETENTION_MS) <= now_ms {
                    b.remove(TreeName::Dedup, k);
                    report.dedup_removed += 1;
                }
            }
        }
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(report)
    }

    /// Reads every record of every tree and reports, per tree, how many are readable and which
    /// are damaged (failed authentication, malformed, or under a malformed key). Never panics;
    /// never stops at the first damaged record.
    pub fn check(&self) -> CheckReport {
        let mut trees = Vec::with_capacity(TreeName::ALL.len());
        for tree in TreeName::ALL {
            let mut t = TreeCheck {
                tree,
                readable: 0,
                damaged: Vec::new(),
                scan_error: None,
            };
            for entry in self.backend.scan_prefix(tree, &[]) {
                match entry {
                    Ok((k, v)) => match self.open_record(tree, &k, v) {
                        Ok(_) => t.readable += 1,
                        Err(d) => t.damaged.push(d),
                    },
                    Err(e) => {
                        t.scan_error = Some(e);
                        break;
                    }
                }
            }
            trees.push(t);
        }
        CheckReport { trees }
    }
}
