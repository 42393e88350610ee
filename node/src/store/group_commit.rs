//! Group commit: many writers waiting for durability share one flush.
//!
//! Each writer applies its batch, then takes a ticket. The first waiter with no flush running
//! becomes the leader: it flushes everything applied so far and completes every ticket issued
//! before the flush started. Writers that arrive while a flush runs wait and are covered by the
//! next one, so under load N writers cost far fewer than N flushes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::backend::Backend;
use super::error::BackendError;

#[derive(Debug, Default)]
struct State {
    /// Last ticket handed out.
    issued: u64,
    /// Every ticket <= this is durable.
    durable: u64,
    /// A flush is running.
    flushing: bool,
    /// Tickets in (failed_from, failed_upto] got a flush error.
    failed_upto: u64,
    failed_from: u64,
    last_error: Option<BackendError>,
}

/// Coordinates flushes for one backend.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    cv: Condvar,
    flushes: AtomicU64,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another writer panicked; the counters stay consistent
        // because every update to them is a single assignment.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns once every write applied before this call is durable.
    pub(crate) fn wait_durable(&self, backend: &dyn Backend) -> Result<(), BackendError> {
        let mut st = self.lock();
        st.issued += 1;
        let ticket = st.issued;
        loop {
            if ticket <= st.durable {
                return Ok(());
            }
            if ticket > st.failed_from && ticket <= st.failed_upto {
                return Err(st
                    .last_error
                    .clone()
                    .unwrap_or_else(|| BackendError::Other("flush failed".into())));
            }
            if !st.flushing {
                st.flushing = true;
                let target = st.issued;
                drop(st);
                self.flushes.fetch_add(1, Ordering::Relaxed);
                let result = backend.flush();
                st = self.lock();
                st.flushing = false;
                match result {
                    Ok(()) => st.durable = st.durable.max(target),
                    Err(e) => {
                        st.failed_from = st.durable.max(st.failed_upto);
                        st.failed_upto = target;
                        st.last_error = Some(e);
                    }
                }
                self.cv.notify_all();
                continue;
            }
            st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Flushes performed so far (for tests and benchmarks).
    pub(crate) fn flush_count(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}
