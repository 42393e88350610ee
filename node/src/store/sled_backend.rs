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

/// The sled backend: one sled database, one sled tree per [`TreeName`].
pub struct SledBackend {
    db: sled::Db,
    trees: Vec<sled::Tree>,
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
        let mut trees = Vec::with_capacity(TreeName::ALL.len());
        for name in TreeName::ALL {
            trees.push(db.open_tree(name.as_str()).map_err(map_err)?);
        }
        Ok(Self { db, trees })
    }

    fn tree(&self, name: TreeName) -> Result<&sled::Tree, BackendError> {
        self.trees
            .get(name.index())
            .ok_or_else(|| BackendError::Other("unknown tree".into()))
    }

    /// Number of entries in a tree (for tests and reports).
    pub fn len(&self, name: TreeName) -> Result<usize, BackendError> {
        Ok(self.tree(name)?.len())
    }

    /// True if the tree is empty.
    pub fn is_empty(&self, name: TreeName) -> Result<bool, BackendError> {
        Ok(self.tree(name)?.is_empty())
    }
}

impl Backend for SledBackend {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self
            .tree(tree)?
            .get(key)
            .map_err(map_err)?
            .map(|v| v.to_vec()))
    }

    fn scan_prefix<'a>(
        &'a self,
        tree: TreeName,
        prefix: &[u8],
    ) -> Box<dyn Iterator<Item = Result<RawEntry, BackendError>> + 'a> {
        match self.tree(tree) {
            Ok(t) => Box::new(
                t.scan_prefix(prefix)
                    .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(map_err)),
            ),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }

    fn apply(&self, batch: &WriteBatch) -> Result<(), BackendError> {
        if batch.is_empty() {
            return Ok(());
        }
        // One sled::Batch per touched tree, applied in one multi-tree transaction.
        let mut per_tree: Vec<Option<sled::Batch>> = TreeName::ALL.iter().map(|_| None).collect();
        for op in batch.ops() {
            let (tree, slot_op): (TreeName, &WriteOp) = match op {
                WriteOp::Put { tree, .. } | WriteOp::Remove { tree, .. } => (*tree, op),
            };
            let slot = per_tree
                .get_mut(tree.index())
                .ok_or_else(|| BackendError::Other("unknown tree".into()))?;
            let b = slot.get_or_insert_with(sled::Batch::default);
            match slot_op {
                WriteOp::Put { key, value, .. } => b.insert(key.as_slice(), value.as_slice()),
                WriteOp::Remove { key, .. } => b.remove(key.as_slice()),
            }
        }
        let mut trees: Vec<&sled::Tree> = Vec::new();
        let mut batches: Vec<sled::Batch> = Vec::new();
        for (i, b) in per_tree.into_iter().enumerate() {
            if let Some(b) = b {
                let t = self
                    .trees
                    .get(i)
                    .ok_or_else(|| BackendError::Other("unknown tree".into()))?;
                trees.push(t);
                batches.push(b);
            }
        }
        if let ([tree], [b]) = (trees.as_slice(), batches.as_slice()) {
            // A single-tree batch is atomic on its own.
            return tree.apply_batch(b.clone()).map_err(map_err);
        }
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        use sled::Transactional;
        let result = trees.as_slice().transaction(|txs| {
            for (tx, b) in txs.iter().zip(batches.iter()) {
                tx.apply_batch(b)?;
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(e)) => Err(map_err(e)),
            Err(TransactionError::Abort(())) => {
                Err(BackendError::Other("transaction aborted".into()))
            }
        }
    }

    fn flush(&self) -> Result<(), BackendError> {
        self.db.flush().map(|_| ()).map_err(map_err)
    }
}
