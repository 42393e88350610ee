//! Durability as a type. A store method whose write is durable when it returns gives its
//! result as is; one that only applies its write (atomic, in order with every other write,
//! but lost in a crash until the next flush) gives a [`Staged`] result, which its caller must
//! resolve in one of three ways, each spelled where the decision is made:
//!
//! - [`Staged::durable`]: flush now (blocking until the write is on disk);
//! - [`Staged::after_next_flush`]: the write becomes durable with the next flush, and the
//!   caller holds back everything that depends on it — showing it, acknowledging it, sending
//!   what it stored — until that flush completed (the runtime's deferred work,
//!   `node/src/node/durability.rs`);
//! - [`Staged::relaxed`]: losing the write in a crash is harmless (bookkeeping that is redone
//!   after a restart, or a duplicate its recipient drops); it becomes durable with a later
//!   flush.

use super::{Store, StoreError};

/// A result whose write the store applied but did not make durable.
#[must_use = "a staged write is not durable: call durable(), after_next_flush() or relaxed()"]
#[derive(Debug)]
pub struct Staged<T> {
    value: T,
}

impl<T> Staged<T> {
    pub(super) fn new(value: T) -> Self {
        Self { value }
    }

    /// Makes the write (and every write applied before it) durable now, then gives the
    /// result.
    pub fn durable(self, store: &Store) -> Result<T, StoreError> {
        store.make_durable()?;
        Ok(self.value)
    }

    /// The result now; the write is durable once the next flush completed, and whatever
    /// depends on it waits for that flush.
    pub fn after_next_flush(self) -> T {
        self.value
    }

    /// The same write, with its result changed by `f`.
    pub(super) fn map<U>(self, f: impl FnOnce(T) -> U) -> Staged<U> {
        Staged::new(f(self.value))
    }

    /// The result now; the write may be lost in a crash, harmlessly.
    pub fn relaxed(self) -> T {
        self.value
    }
}
