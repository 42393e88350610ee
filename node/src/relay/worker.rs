//! The mailbox's own thread: every disk operation (deposit, fetch, acknowledgement, the
//! expiry sweep) runs here, off the relay's event loop, so a flood of fetches or a long
//! sweep delays other mailbox requests but never the relay's circuits, reservations and
//! connections.
//!
//! The relay loop hands it a few requests at a time (see `fair.rs`). The thread takes
//! whatever it was handed, serves it, makes all of it durable with one flush (group
//! commit), then answers. Between requests
//! it sweeps expired mail in small steps.

use super::mailbox::{Mailbox, Refusal, SWEEP_STEP};
use super::quota::{DepositQuota, DepositSource};
use crate::net::protocol::{RejectCode, Response};
use cairn_crypto::envelope::Envelope;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::UnboundedSender;

/// Most requests served before one flush.
const GROUP_COMMIT: usize = 256;
/// How often a full expiry sweep starts.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// One mailbox request, with the token the loop answers it by.
#[derive(Debug)]
pub enum Job<T> {
    /// Deposits (one, or a batch).
    Deposit {
        token: T,
        from: DepositSource,
        items: Vec<Vec<u8>>,
        batch: bool,
    },
    /// A fetch; `claim`: the fetcher holds a reservation, its tags count as claimed.
    Fetch {
        token: T,
        keys: Vec<[u8; 32]>,
        claim: bool,
    },
    /// An acknowledgement of collected mail.
    Ack {
        token: T,
        key: [u8; 32],
        ids: Vec<[u8; 16]>,
    },
}

/// The token of a request.
pub fn token<T: Copy>(job: &Job<T>) -> T {
    match job {
        Job::Deposit { token, .. } | Job::Fetch { token, .. } | Job::Ack { token, .. } => *token,
    }
}

/// What a request weighs for the thread: a deposit's bytes, the most a fetch returns, a
/// little for an acknowledgement.
pub fn cost<T>(job: &Job<T>) -> usize {
    match job {
        Job::Deposit { items, .. } => items.iter().map(Vec::len).sum(),
        Job::Fetch { .. } => crate::net::protocol::MAX_MAIL_RESPONSE_BYTES / 4,
        Job::Ack { ids, .. } => 64 + 16 * ids.len(),
    }
}

/// The mailbox thread's state.
pub struct Worker<T> {
    mailbox: Mailbox,
    quota: DepositQuota,
    discard_mail: bool,
    done: UnboundedSender<(T, Response)>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl<T: Send + 'static> Worker<T> {
    /// Starts the thread; it ends (after a last flush) when every sender of the queue is
    /// dropped.
    pub fn spawn(
        mailbox: Mailbox,
        quota: DepositQuota,
        discard_mail: bool,
        depth: usize,
        done: UnboundedSender<(T, Response)>,
    ) -> std::io::Result<(SyncSender<Job<T>>, std::thread::JoinHandle<()>)> {
        let (tx, rx) = std::sync::mpsc::sync_channel(depth);
        let worker = Self {
            mailbox,
            quota,
            discard_mail,
            done,
        };
        let handle = std::thread::Builder::new()
            .name("cairn-mailbox".into())
            .spawn(move || worker.run(rx))?;
        Ok((tx, handle))
    }

    /// The worker without its thread (the simulator drives it with [`Worker::serve_at`]).
    #[cfg(feature = "sim")]
    pub fn new(
        mailbox: Mailbox,
        quota: DepositQuota,
        discard_mail: bool,
        done: UnboundedSender<(T, Response)>,
    ) -> Self {
        Self {
            mailbox,
            quota,
            discard_mail,
            done,
        }
    }

    /// Its mailbox (the simulator looks at what it holds, and ages it).
    #[cfg(feature = "sim")]
    pub fn mailbox_mut(&mut self) -> &mut Mailbox {
        &mut self.mailbox
    }

    /// Whether deposits are answered as taken and thrown away (a relay that loses mail).
    #[cfg(feature = "sim")]
    pub fn set_discard_mail(&mut self, discard: bool) {
        self.discard_mail = discard;
    }

    fn run(mut self, rx: Receiver<Job<T>>) {
        let mut next_sweep = Instant::now() + SWEEP_EVERY;
        // Where the sweep in progress goes on (None: no sweep running).
        let mut sweep: Option<Vec<u8>> = None;
        loop {
            let first = if sweep.is_some() {
                match rx.try_recv() {
                    Ok(j) => Some(j),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                let wait = next_sweep.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(j) => Some(j),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            match first {
                Some(job) => {
                    let mut jobs = vec![job];
                    while jobs.len() < GROUP_COMMIT {
                        match rx.try_recv() {
                            Ok(j) => jobs.push(j),
                            Err(_) => break,
                        }
                    }
                    self.serve(jobs);
                }
                None => {
                    let cursor = sweep.take().unwrap_or_default();
                    if cursor.is_empty() {
                        next_sweep = Instant::now() + SWEEP_EVERY;
                    }
                    match self.mailbox.sweep_step(&cursor, SWEEP_STEP, now_ms()) {
                        Ok((n, next)) => {
                            if n > 0 {
                                tracing::debug!(removed = n, "expired mail swept");
                            }
                            sweep = next;
                        }
                        Err(e) => tracing::warn!(error = %e, "mailbox sweep failed"),
                    }
                }
            }
        }
        if let Err(e) = self.mailbox.flush() {
            tracing::warn!(error = %e, "mailbox flush failed");
        }
    }

    /// Serves `jobs`, makes their writes durable with one flush, then answers them; if the
    /// flush fails, what wrote is answered "try later" (a retried deposit is deduplicated
    /// by its recipient, a retried acknowledgement deletes nothing twice).
    fn serve(&mut self, jobs: Vec<Job<T>>) {
        self.serve_at(jobs, now_ms());
    }

    /// [`Worker::serve`] at `now` (Unix ms).
    pub fn serve_at(&mut self, jobs: Vec<Job<T>>, now: u64) {
        let mut answers = Vec::with_capacity(jobs.len());
        let mut wrote = false;
        for job in jobs {
            match job {
                Job::Deposit {
                    token,
                    from,
                    items,
                    batch,
                } => {
                    let codes: Vec<Option<RejectCode>> = items
                        .iter()
                        .map(|bytes| self.deposit(from, bytes, now))
                        .collect();
                    wrote |= codes.iter().any(Option::is_none);
                    let response = if batch {
                        Response::Results(codes)
                    } else {
                        codes
                            .first()
                            .copied()
                            .flatten()
                            .map_or(Response::Accepted, Response::Rejected)
                    };
                    answers.push((token, response, true));
                }
                Job::Fetch { token, keys, claim } => {
                    if claim {
                        self.mailbox.claim(&keys, now);
                    }
                    answers.push((token, Response::Mail(self.mailbox.fetch(&keys)), false));
                }
                Job::Ack { token, key, ids } => {
                    let response = match self.mailbox.ack_staged(&key, &ids) {
                        Ok(n) => {
                            wrote |= n > 0;
                            Response::Acked(n)
                        }
                        Err(_) => Response::Rejected(RejectCode::TryLater),
                    };
                    answers.push((token, response, true));
                }
            }
        }
        let durable = if wrote { self.mailbox.flush() } else { Ok(()) };
        if let Err(e) = &durable {
            tracing::warn!(error = %e, "mailbox flush failed");
        }
        for (token, response, writes) in answers {
            let response = match (&durable, writes, response) {
                (Err(_), true, Response::Results(codes)) => Response::Results(
                    codes
                        .into_iter()
                        .map(|c| c.or(Some(RejectCode::TryLater)))
                        .collect(),
                ),
                (Err(_), true, _) => Response::Rejected(RejectCode::TryLater),
                (_, _, r) => r,
            };
            if self.done.send((token, response)).is_err() {
                return;
            }
        }
    }

    /// Writes one deposit (not yet durable): `None` if taken, or why not.
    fn deposit(&mut self, source: DepositSource, bytes: &[u8], now: u64) -> Option<RejectCode> {
        let Ok(env) = Envelope::decode(bytes) else {
            return Some(RejectCode::Malformed);
        };
        if !self.quota.allow(source, bytes.len() as u64, now) {
            tracing::info!("mailbox deposit over the per-source quota");
            return Some(RejectCode::QuotaExceeded);
        }
        if self.discard_mail {
            return None;
        }
        let from = self.mailbox.depositor(source);
        match self.mailbox.stage_from(&env, bytes, Some(from), now) {
            Ok(None) => None,
            Ok(Some(why)) => {
                if why != Refusal::TagFull {
                    tracing::info!(?why, "mailbox deposit refused");
                }
                Some(RejectCode::QuotaExceeded)
            }
            Err(e) => {
                tracing::warn!(error = %e, "mailbox put failed");
                Some(RejectCode::TryLater)
            }
        }
    }
}
