//! The simulated relay: the real mailbox (`relay::Mailbox`, over its own in-memory disk)
//! and the real mailbox worker (`relay::worker::Worker`), served within the world's steps.
//! It crashes and restarts like a node: what it had not flushed is lost, and so is what it
//! kept in memory only (who claimed which tag, what each source holds).

use super::*;
use crate::relay::worker::{Job, Worker};
use crate::relay::{DepositQuota, DepositSource, Mailbox};
use crate::store::TreeName;

/// The relay: the real mailbox and the real mailbox worker, served in the world's steps.
pub(super) struct SimRelay {
    pub(super) peer: PeerId,
    pub(super) addr: Multiaddr,
    disk: MemDisk,
    master: [u8; 32],
    /// The running relay (`None` while crashed).
    worker: Option<Worker<Responder>>,
    done: mpsc::UnboundedReceiver<(Responder, Response)>,
    /// Who waits for each of its answers.
    waiting: BTreeMap<Responder, (usize, u32, RequestId)>,
    next: u64,
    /// Bytes of envelopes the nodes asked it to keep, taken or refused, since the run
    /// began ([`crate::sim::script::Script::mailbox_offered_bytes`]).
    pub(super) offered: u64,
}

impl SimRelay {
    /// Starts the relay over its disk: the mailbox rebuilds its counts from what the disk
    /// holds, as a real relay does from its database.
    fn boot(&mut self) -> Result<(), String> {
        let mailbox = Mailbox::over(
            Box::new(self.disk.backend()),
            &self.master,
            crate::relay::DEFAULT_RETENTION,
        )
        .map_err(|e| e.to_string())?;
        let quota = DepositQuota::new(
            crate::relay::DEPOSIT_BYTES_PER_WINDOW,
            crate::relay::DEPOSIT_WINDOW,
        );
        let (tx, rx) = mpsc::unbounded_channel();
        self.worker = Some(Worker::new(mailbox, quota, false, tx));
        self.done = rx;
        Ok(())
    }

    /// Whether the relay runs.
    pub(super) fn up(&self) -> bool {
        self.worker.is_some()
    }

    /// How many envelopes the mailbox holds under the tags these keys open.
    pub(super) fn holds_for(&mut self, keys: &[[u8; 32]]) -> Result<usize, String> {
        let Some(worker) = self.worker.as_mut() else {
            return Err("the relay is down at the end".into());
        };
        Ok(worker.mailbox_mut().fetch(keys).len())
    }

    /// Sweeps the mailbox as it would be swept at `now_ms` (Unix ms); what it holds then:
    /// envelopes, and bytes its accounting still counts. The records on its disk must be
    /// the ones its accounting counts.
    pub(super) fn swept_at(&mut self, now_ms: u64) -> Result<(usize, u64), String> {
        let Some(worker) = self.worker.as_mut() else {
            return Err("the relay is down at the end".into());
        };
        let mailbox = worker.mailbox_mut();
        mailbox.sweep_at(now_ms).map_err(|e| e.to_string())?;
        let on_disk = self.disk.records(TreeName::Mail);
        if on_disk != mailbox.len() {
            return Err(format!(
                "the relay counts {} envelopes but its disk holds {on_disk}",
                mailbox.len()
            ));
        }
        Ok((mailbox.len(), mailbox.total_bytes()))
    }
}

impl World {
    /// The relay serves one request from machine `i` with the real mailbox worker.
    pub(super) fn relay_serves(
        &mut self,
        i: usize,
        e: u32,
        id: RequestId,
        request: crate::net::protocol::Request,
    ) {
        use crate::net::protocol::{RejectCode, Request};
        let r = self.relay_index();
        if !self.linked(i, r) {
            return;
        }
        let Some(from) = self.machines.get(i).and_then(|m| m.peer) else {
            return;
        };
        let is_deposit = matches!(
            request,
            Request::MailboxPut(_) | Request::MailboxPutBatch(_)
        );
        let lose = is_deposit && self.roll(self.config.faults.relay_loss);
        let now = self.now + START_CLOCK_MS;
        let Some(relay) = self.relay.as_mut() else {
            return;
        };
        let Some(worker) = relay.worker.as_mut() else {
            return;
        };
        relay.offered += match &request {
            Request::MailboxPut(bytes) => bytes.len() as u64,
            Request::MailboxPutBatch(items) => items.iter().map(|b| b.len() as u64).sum(),
            _ => 0,
        };
        let token = Responder(relay.next);
        relay.next += 1;
        relay.waiting.insert(token, (i, e, id));
        let source = DepositSource::Peer(from);
        let job = match request {
            Request::MailboxPut(bytes) => Some(Job::Deposit {
                token,
                from: source,
                items: vec![bytes],
                batch: false,
            }),
            Request::MailboxPutBatch(items) => Some(Job::Deposit {
                token,
                from: source,
                items,
                batch: true,
            }),
            Request::MailboxFetch(keys) => Some(Job::Fetch {
                token,
                keys,
                claim: true,
            }),
            Request::MailboxAck { key, ids } => Some(Job::Ack { token, key, ids }),
            _ => None,
        };
        let mut answers = Vec::new();
        match job {
            Some(job) => {
                worker.set_discard_mail(lose);
                worker.serve_at(vec![job], now);
                worker.set_discard_mail(false);
                while let Ok(a) = relay.done.try_recv() {
                    answers.push(a);
                }
            }
            None => answers.push((token, Response::Rejected(RejectCode::Unsupported))),
        }
        if lose {
            self.report.relay_lost += 1;
            self.note(format!("relay throws away a deposit of n{i}"));
        }
        for (token, response) in answers {
            let Some((s, se, id)) = self.relay.as_mut().and_then(|r| r.waiting.remove(&token))
            else {
                continue;
            };
            if self.linked(s, r) && !self.roll(self.config.faults.loss) {
                let t = self.now + self.latency();
                self.at(t, Item::Answer(s, se, id, response));
            } else {
                self.report.lost += 1;
            }
        }
    }

    pub(super) fn start_relay(&mut self) -> Result<(), String> {
        let mut master = [0u8; 32];
        self.rng.fill_bytes(&mut master);
        let mut key = [0u8; 32];
        self.rng.fill_bytes(&mut key);
        let peer = libp2p::identity::Keypair::ed25519_from_bytes(key)
            .map_err(|e| e.to_string())?
            .public()
            .to_peer_id();
        let addr: Multiaddr = format!("/ip4/10.9.0.100/tcp/4001/p2p/{peer}")
            .parse()
            .map_err(|e: libp2p::multiaddr::Error| e.to_string())?;
        let mut relay = SimRelay {
            peer,
            addr,
            disk: MemDisk::new(),
            master,
            worker: None,
            done: mpsc::unbounded_channel().1,
            waiting: BTreeMap::new(),
            next: 0,
            offered: 0,
        };
        relay.boot()?;
        self.relay = Some(relay);
        Ok(())
    }

    /// The relay crashes: what it had not flushed is lost, with every answer it owed.
    pub(super) fn crash_relay(&mut self) -> Result<(), String> {
        let Some(relay) = self.relay.as_mut().filter(|r| r.up()) else {
            return Ok(());
        };
        relay.worker = None;
        relay.waiting.clear();
        relay.disk.crash();
        self.report.crashes += 1;
        self.note("relay crashes".into());
        self.update_links()
    }

    /// The relay starts again over what its disk kept.
    pub(super) fn restart_relay(&mut self) -> Result<(), String> {
        let Some(relay) = self.relay.as_mut().filter(|r| !r.up()) else {
            return Ok(());
        };
        relay.boot()?;
        self.note("relay starts".into());
        self.update_links()
    }
}
