//! The sled 0.34 backend.

use std::path::Path;
use std::time::{Duration, Instant};

use super::backend::{Backend, RawEntry, TreeName, WriteBatch, WriteOp};
use super::error::BackendError;

/// sled's page cache size for a profile. Messages are small; 64 MiB keeps a large history warm
/// without taking sled's 1 GiB default from a small laptop.
const CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// How long to wait for a just-closed sled database in this process to release its files.
pub(crate) const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits until nobody holds sled's lock on the database file in `db_dir` (sled takes an
/// exclusive flock on `db_dir/db` while open). Returns false on timeout. Creates nothing.
pub(crate) fn wait_until_released(db_dir: &Path, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .open(db_dir.join("db"))
        {
            Ok(f) => f,
            // No database file: nothing holds it.
            Err(_) => return true,
        };
        if let Ok(true) = fs4::fs_std::FileExt::try_lock_exclusive(&file) {
            let _ = fs4::fs_std::FileExt::unlock(&file);
            return true;
        }
        drop(file);
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The sled backend: one sled database holding every [`TreeName`] in one sled tree, each
/// record's key prefixed with its tree's index byte. One tree (rather than one per
/// `TreeName`) lets every atomic batch be a plain `sled::Batch`, which sled applies
/// atomically on a single tree without the overlay and bookkeeping of a multi-tree
/// transaction: the store's writes (a message, its ratchet state, its outbox entry)
/// always span several `TreeName`s.
pub struct SledBackend {
    db: sled::Db,
    records: sled::Tree,
}

impl std::fmt::Debug for SledBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SledBackend(..)")
    }
}

pub(crate) fn map_err(e: sled::Error) -> BackendError {
    match e {
        sled::Error::Corruption { .. } => BackendError::Corrupted(e.to_string()),
        other => BackendError::Other(other.to_string()),
    }
}

/// The sled key of `key` in `tree`.
fn full_key(tree: TreeName, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(tree_byte(tree));
    k.extend_from_slice(key);
    k
}

fn tree_byte(tree: TreeName) -> u8 {
    // 14 trees: the index always fits.
    u8::try_from(tree.index()).unwrap_or(u8::MAX)
}

impl SledBackend {
    /// Opens (or creates) the sled database at `path`. The store calls this only after the
    /// passphrase was verified, so a wrong passphrase never touches the database.
    pub fn open(path: &Path) -> Result<Self, BackendError> {
        // sled's background I/O threads can hold its file lock for a moment after the previous
        // handle in this process was dropped; wait for them (the profile lock already keeps
        // other processes out, so this never waits for a foreign holder in practice).
        wait_until_released(path, RELEASE_TIMEOUT);
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_CAPACITY)
            .open()
            .map_err(map_err)?;
        let records = db.open_tree("records").map_err(map_err)?;
        Ok(Self { db, records })
    }

    /// The sled tree `name` of a database written before its records went through this
    /// backend, if it holds anything (for moving old records over once).
    pub(crate) fn legacy_tree(&self, name: &str) -> Result<Option<sled::Tree>, BackendError> {
        let exists = self
            .db
            .tree_names()
            .iter()
            .any(|t| t.as_ref() == name.as_bytes());
        if !exists {
            return Ok(None);
        }
        Ok(Some(self.db.open_tree(name).map_err(map_err)?))
    }

    /// Drops the legacy tree `name` once its records were moved.
    pub(crate) fn drop_legacy_tree(&self, name: &str) -> Result<(), BackendError> {
        self.db.drop_tree(name).map(|_| ()).map_err(map_err)
    }

    /// Number of entries in a tree (for tests and reports).
    pub fn len(&self, name: TreeName) -> Result<usize, BackendError> {
        let mut n = 0;
        for r in self.records.scan_prefix([tree_byte(name)]) {
            r.map_err(map_err)?;
            n += 1;
        }
        Ok(n)
    }

    /// True if the tree is empty.
    pub fn is_empty(&self, name: TreeName) -> Result<bool, BackendError> {
        match self.records.scan_prefix([tree_byte(name)]).next() {
            None => Ok(true),
            Some(r) => r.map(|_| false).map_err(map_err),
        }
    }
}

impl Backend for SledBackend {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self
            .records
            .get(full_key(tree, key))
            .map_err(map_err)?
            .map(|v| v.to_vec()))
    }

    fn scan_prefix<'a>(
        &'a self,
        tree: TreeName,
        prefix: &[u8],
    ) -> Box<dyn Iterator<Item = Result<RawEntry, BackendError>> + 'a> {
        Box::new(self.records.scan_prefix(full_key(tree, prefix)).map(|r| {
            r.map(|(k, v)| (k.get(1..).unwrap_or_default().to_vec(), v.to_vec()))
                .map_err(map_err)
        }))
    }

    fn visit_prefix(
        &self,
        tree: TreeName,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), BackendError> {
        for entry in self.records.scan_prefix(full_key(tree, prefix)) {
            let (k, v) = entry.map_err(map_err)?;
            if !visit(k.get(1..).unwrap_or_default(), &v) {
                break;
            }
        }
        Ok(())
    }

    fn visit_after(
        &self,
        tree: TreeName,
        after: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), BackendError> {
        use std::ops::Bound;
        let start = if after.is_empty() {
            Bound::Included(vec![tree_byte(tree)])
        } else {
            Bound::Excluded(full_key(tree, after))
        };
        for entry in self.records.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (k, v) = entry.map_err(map_err)?;
            let Some((&t, key)) = k.split_first() else {
                continue;
            };
            if t != tree_byte(tree) || !visit(key, &v) {
                break;
            }
        }
        Ok(())
    }

    fn apply(&self, batch: &WriteBatch) -> Result<(), BackendError> {
        if batch.is_empty() {
            return Ok(());
        }
        // One write is atomic on its own, and a plain insert or remove is several times
        // cheaper in sled than a batch of one (the relay's mailbox writes one record per
        // deposit).
        if let [op] = batch.ops() {
            return match op {
                WriteOp::Put { tree, key, value } => self
                    .records
                    .insert(full_key(*tree, key), value.as_slice())
                    .map(|_| ())
                    .map_err(map_err),
                WriteOp::Remove { tree, key } => self
                    .records
                    .remove(full_key(*tree, key))
                    .map(|_| ())
                    .map_err(map_err),
            };
        }
        // All trees live in one sled tree: one sled::Batch, applied atomically.
        let mut b = sled::Batch::default();
        for op in batch.ops() {
            match op {
                WriteOp::Put { tree, key, value } => {
                    b.insert(full_key(*tree, key), value.as_slice())
                }
                WriteOp::Remove { tree, key } => b.remove(full_key(*tree, key)),
            }
        }
        self.records.apply_batch(b).map_err(map_err)
    }

    fn flush(&self) -> Result<(), BackendError> {
        self.db.flush().map(|_| ()).map_err(map_err)
    }
}
