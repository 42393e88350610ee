//! An in-memory [`Backend`] that remembers what was made durable, for the simulator: a
//! [`MemDisk`] outlives the store over it, and [`MemDisk::crash`] throws away every write
//! applied since the last flush, as a power cut would (writes are applied atomically, batch
//! by batch, as sled does).

use super::backend::{Backend, RawEntry, TreeName, WriteBatch, WriteOp};
use super::error::BackendError;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Data = BTreeMap<(TreeName, Vec<u8>), Vec<u8>>;

#[derive(Default)]
struct State {
    applied: Data,
    durable: Data,
}

/// The disk of a simulated machine.
#[derive(Clone, Default)]
pub struct MemDisk(Arc<Mutex<State>>);

impl std::fmt::Debug for MemDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemDisk(..)")
    }
}

impl MemDisk {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    /// A crash: every write not yet flushed is lost.
    pub fn crash(&self) {
        self.with(|s| s.applied = s.durable.clone());
    }

    /// Whether writes wait for a flush.
    pub fn unflushed(&self) -> bool {
        self.with(|s| s.applied != s.durable)
    }

    /// Makes everything applied durable (a flush that finished).
    pub fn flush_now(&self) {
        self.with(|s| {
            s.durable = s.applied.clone();
        });
    }

    /// Records in `tree` (written, flushed or not).
    pub fn records(&self, tree: TreeName) -> usize {
        self.with(|s| s.applied.keys().filter(|(t, _)| *t == tree).count())
    }

    /// A backend over this disk.
    pub fn backend(&self) -> MemBackend {
        MemBackend(self.clone())
    }
}

/// A [`Backend`] over a [`MemDisk`].
#[derive(Debug)]
pub struct MemBackend(MemDisk);

impl Backend for MemBackend {
    fn get(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self
            .0
            .with(|s| s.applied.get(&(tree, key.to_vec())).cloned()))
    }

    fn scan_prefix<'a>(
        &'a self,
        tree: TreeName,
        prefix: &[u8],
    ) -> Box<dyn Iterator<Item = Result<RawEntry, BackendError>> + 'a> {
        let found: Vec<Result<RawEntry, BackendError>> = self.0.with(|s| {
            s.applied
                .range((tree, prefix.to_vec())..)
                .take_while(|((t, k), _)| *t == tree && k.starts_with(prefix))
                .map(|((_, k), v)| Ok((k.clone(), v.clone())))
                .collect()
        });
        Box::new(found.into_iter())
    }

    fn apply(&self, batch: &WriteBatch) -> Result<(), BackendError> {
        self.0.with(|s| {
            for op in batch.ops() {
                match op {
                    WriteOp::Put { tree, key, value } => {
                        s.applied.insert((*tree, key.clone()), value.clone());
                    }
                    WriteOp::Remove { tree, key } => {
                        s.applied.remove(&(*tree, key.clone()));
                    }
                }
            }
        });
        Ok(())
    }

    fn flush(&self) -> Result<(), BackendError> {
        self.0.with(|s| {
            s.durable = s.applied.clone();
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a crash that keeps unflushed writes or loses flushed ones, and prefix scans
    /// that cross trees.
    #[test]
    fn crash_loses_only_unflushed_writes() {
        let disk = MemDisk::new();
        let b = disk.backend();
        let mut w = WriteBatch::new();
        w.put(TreeName::Meta, b"a1".to_vec(), b"x".to_vec());
        w.put(TreeName::Settings, b"a2".to_vec(), b"y".to_vec());
        b.apply(&w).unwrap();
        b.flush().unwrap();
        let mut w = WriteBatch::new();
        w.put(TreeName::Meta, b"a3".to_vec(), b"z".to_vec());
        w.remove(TreeName::Meta, b"a1".to_vec());
        b.apply(&w).unwrap();
        assert!(disk.unflushed());
        let scan: Vec<_> = b
            .scan_prefix(TreeName::Meta, b"a")
            .map(|e| e.unwrap().0)
            .collect();
        assert_eq!(scan, vec![b"a3".to_vec()]);
        disk.crash();
        let after = disk.backend();
        assert_eq!(
            after.get(TreeName::Meta, b"a1").unwrap(),
            Some(b"x".to_vec())
        );
        assert_eq!(after.get(TreeName::Meta, b"a3").unwrap(), None);
        assert_eq!(
            after.get(TreeName::Settings, b"a2").unwrap(),
            Some(b"y".to_vec())
        );
        assert!(!disk.unflushed());
    }
}
