//! The storage backend trait. The store seals and blinds everything before it reaches a
//! backend, so a backend only ever sees opaque keys and sealed values. sled is the one
//! implemented ([`super::SledBackend`]); another ordered key-value store with atomic multi-tree
//! batches and a durable flush could replace it without touching the store's callers.

use std::fmt;

use super::error::BackendError;

/// The trees (tables) of a profile. The name is part of every sealed value's associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TreeName {
    /// Profile marker (format version; proves the database belongs to the key file).
    Meta,
    /// Own identity secret and profile card.
    Identity,
    /// Contacts, keyed by blinded identity key.
    Contacts,
    /// Blinded PeerId -> contact id.
    PeerIndex,
    /// Blinded routing tag -> contact id.
    TagIndex,
    /// Ratchet state per contact.
    Sessions,
    /// Conversation state per contact (next sequence number, disappearing timer).
    Conversations,
    /// Messages, keyed by contact id || sequence number.
    Messages,
    /// Envelopes waiting for delivery, keyed by blinded message id.
    Outbox,
    /// Received message ids (blinded), for exactly-once display.
    Dedup,
    /// Pending invites, keyed by blinded invite secret.
    Invites,
    /// Settings, keyed by blinded name.
    Settings,
    /// Groups and their membership logs, keyed by blinded group id.
    Groups,
    /// Files sent and received (their transfer state and key; the content is in the
    /// profile's vault, `crate::files::vault`), keyed by blinded file id.
    Files,
    /// A relay's mailbox: envelopes kept for offline recipients, keyed by blinded routing
    /// tag, sequence number and salt (`relay::Mailbox`). Only in a relay's database, so not
    /// in [`TreeName::ALL`], which lists a profile's trees.
    Mail,
}

impl TreeName {
    /// Every tree of a profile, in a fixed order.
    pub const ALL: [TreeName; 14] = [
        TreeName::Meta,
        TreeName::Identity,
        TreeName::Contacts,
        TreeName::PeerIndex,
        TreeName::TagIndex,
        TreeName::Sessions,
        TreeName::Conversations,
        TreeName::Messages,
        TreeName::Outbox,
        TreeName::Dedup,
        TreeName::Invites,
        TreeName::Settings,
        TreeName::Groups,
        TreeName::Files,
    ];

    /// The on-disk tree name (also bound into each value's associated data).
    pub fn as_str(self) -> &'static str {
        match self {
            TreeName::Meta => "meta",
            TreeName::Identity => "identity",
            TreeName::Contacts => "contacts",
            TreeName::PeerIndex => "peer_index",
            TreeName::TagIndex => "tag_index",
            TreeName::Sessions => "sessions",
            TreeName::Conversations => "conversations",
            TreeName::Messages => "messages",
            TreeName::Outbox => "outbox",
            TreeName::Dedup => "dedup",
            TreeName::Invites => "invites",
            TreeName::Settings => "settings",
            TreeName::Mail => "mail",
            TreeName::Groups => "groups",
            TreeName::Files => "files",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            TreeName::Meta => 0,
            TreeName::Identity => 1,
            TreeName::Contacts => 2,
            TreeName::PeerIndex => 3,
            TreeName::TagIndex => 4,
            TreeName::Sessions => 5,
            TreeName::Conversations => 6,
            TreeName::Messages => 7,
            TreeName::Outbox => 8,
            TreeName::Dedup => 9,
            TreeName::Invites => 10,
            TreeName::Settings => 11,
            TreeName::Mail => 12,
            TreeName::Groups => 13,
            TreeName::Files => 14,
        }
    }
}

impl fmt::Display for TreeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One write in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Insert or replace.
    Put {
        /// Tree.
        tree: TreeName,
        /// Key.
        key: Vec<u8>,
        /// Value (already sealed).
        value: Vec<u8>,
    },
    /// Remove (no error if absent).
    Remove {
        /// Tree.
        tree: TreeName,
        /// Key.
        key: Vec<u8>,
    },
}

/// Writes applied all-or-nothing, across trees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// Empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an insert.
    pub fn put(&mut self, tree: TreeName, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(WriteOp::Put { tree, key, value });
    }

    /// Adds a removal.
    pub fn remove(&mut self, tree: TreeName, key: Vec<u8>) {
        self.ops.push(WriteOp::Remove { tree, key });
    }

    /// The writes in order.
    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// True if there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A key and its raw (sealed) value.
pub type RawEntry = (Vec<u8>, Vec<u8>);

/// An ordered key-value store with named trees, atomic batches and a durable flush.
pub trait Backend: Send + Sync {
    /// Reads one raw value.
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;

    /// All entries whose key starts with `prefix`, in key order.
    fn scan_prefix<'a>(
        &'a self,
        tree: TreeName,
        prefix: &[u8],
    ) -> Box<dyn Iterator<Item = Result<RawEntry, BackendError>> + 'a>;

    /// Calls `visit` with every entry whose key starts with `prefix`, in key order, borrowed
    /// rather than copied out, until it returns `false`. For long reads that copy the entries
    /// somewhere of their own; the default goes through [`Backend::scan_prefix`].
    fn visit_prefix(
        &self,
        tree: TreeName,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), BackendError> {
        for entry in self.scan_prefix(tree, prefix) {
            let (k, v) = entry?;
            if !visit(&k, &v) {
                break;
            }
        }
        Ok(())
    }

    /// Calls `visit` with every entry of `tree` whose key sorts after `after` (from the
    /// first if `after` is empty), in key order, until it returns `false`: for passes over a
    /// whole tree in steps that resume where the last one stopped. The default goes through
    /// [`Backend::visit_prefix`] and skips what comes before; sled seeks.
    fn visit_after(
        &self,
        tree: TreeName,
        after: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), BackendError> {
        self.visit_prefix(tree, &[], &mut |k, v| {
            if !after.is_empty() && k <= after {
                return true;
            }
            visit(k, v)
        })
    }

    /// Applies every write of `batch` atomically: after a crash either all or none are visible.
    /// Not necessarily durable until [`Backend::flush`] returns.
    fn apply(&self, batch: &WriteBatch) -> Result<(), BackendError>;

    /// Makes every write applied before this call durable.
    fn flush(&self) -> Result<(), BackendError>;
}
