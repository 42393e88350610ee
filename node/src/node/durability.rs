//! Durability: background flushes of the store, work that waits for one (answers,
//! receipts, events), and mirroring a sent message into the outbox.

use super::shell::Flush;
use super::*;

impl<S: Shell> Runtime<S> {
    /// Starts a flush on a blocking thread for everything applied so far.
    pub(crate) fn start_flush(&mut self) {
        let id = self.next_flush_id;
        self.next_flush_id += 1;
        self.dirty = false;
        self.forget_reports();
        self.flushing = Some((id, std::mem::take(&mut self.deferred)));
        let flush = self.flush_job();
        self.files.syncing.clone_from(&flush.slots);
        self.shell.start_flush(id, flush);
    }

    /// A flush of the store and of the slots written since the last one began.
    fn flush_job(&mut self) -> Flush {
        Flush {
            store: std::sync::Arc::clone(&self.profile.store),
            vault: std::sync::Arc::clone(&self.files.vault),
            slots: std::mem::take(&mut self.files.unsynced)
                .into_iter()
                .collect(),
        }
    }

    pub(crate) fn flush_completed(&mut self, id: u64, result: Result<(), String>) {
        let Some((running, work)) = self.flushing.take() else {
            return;
        };
        if running != id {
            self.flushing = Some((running, work));
            return;
        }
        let synced = std::mem::take(&mut self.files.syncing);
        match result {
            Ok(()) => self.release(work),
            Err(e) => {
                // Whatever waited stays unsent; the slots are synced again next time.
                self.files.unsynced.extend(synced);
                self.emit(Event::error(ErrorCode::StoreFailed, e));
            }
        }
    }

    /// Makes every applied write durable now (blocking the loop), then does what waited
    /// for it: events shown, hops acknowledged, envelopes released to the outbox. Always
    /// asks the store, whatever `dirty` says: not every write marks the runtime dirty (a
    /// receipt's delivery state, a handshake, a card), and what calls this — mail about to
    /// be deleted from the mailbox, a stop, a reset — needs all of them durable (the
    /// simulator found mail acknowledged while such writes waited).
    pub(super) fn flush(&mut self) -> bool {
        let mut work = match self.flushing.take() {
            Some((_, w)) => w,
            None => Vec::new(),
        };
        self.dirty = false;
        work.append(&mut self.deferred);
        self.forget_reports();
        let mut flush = self.flush_job();
        // A flush in the background may not have synced its slots yet.
        flush.slots.append(&mut self.files.syncing);
        if let Err(e) = flush.run() {
            self.files.unsynced.extend(flush.slots);
            // Nothing is acknowledged or shown: peers retry, and so do we after restart.
            self.emit(Event::error(ErrorCode::StoreFailed, e));
            return false;
        }
        self.release(work);
        true
    }

    pub(super) fn release(&mut self, work: Vec<Deferred>) {
        for w in work {
            match w {
                Deferred::Emit(e) => self.emit(e),
                Deferred::Respond(to, r) => self.shell.respond(to, r),
                // Both are due at once; `min` keeps them so if the clock was set back
                // while they waited for the flush (`clock_moved_back` sees only the
                // mirror).
                Deferred::Mirror(mut e) => {
                    e.next_attempt_at_ms = e.next_attempt_at_ms.min(self.now_ms());
                    self.outbox.insert(e.message_id, e);
                }
                Deferred::Reported(keys) => self.reports_made.push(keys),
                Deferred::Renewed(mut e) => {
                    e.next_attempt_at_ms = e.next_attempt_at_ms.min(self.now_ms());
                    if let Some(current) = self.outbox.get_mut(&e.message_id) {
                        *current = e;
                    }
                }
            }
        }
        self.process_outbox(self.now_ms());
    }

    /// Forgets the reports made since the last flush, in one write that this flush makes
    /// durable (written only now, so that nothing waits unflushed behind a flush the node
    /// relies on, such as one before acknowledging mail). Lost in a crash, they are made
    /// again at start.
    fn forget_reports(&mut self) {
        let made = std::mem::take(&mut self.reports_made);
        if let Err(e) = self.profile.store.reported(&made).map(Staged::relaxed) {
            tracing::warn!(error = %e, "reports made but not marked");
        }
    }

    /// Makes the reports a crash kept from being made (`store::Report`): a received
    /// message's `message` event, an own message's `delivered`. Called at start, before
    /// anything new is stored (whose own reports are made after its flush); a report made
    /// before the crash is made again (the front end knows it by its message id).
    pub(super) fn repeat_reports(&mut self) {
        let owed = match self.profile.store.unreported() {
            Ok(o) => o,
            Err(e) => {
                self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
                return;
            }
        };
        for (keys, reports) in owed {
            for r in reports {
                match r {
                    Report::Message { contact, seq } => {
                        let Ok(Some(m)) = self.profile.store.message(&contact, seq) else {
                            continue; // gone since (deleted, expired)
                        };
                        let from = self
                            .contacts
                            .get(&contact)
                            .map(|s| s.contact.alias.clone())
                            .unwrap_or_default();
                        if m.direction == Direction::Incoming && m.group.is_none() {
                            self.emit(Event::Message {
                                from: from.into(),
                                id: api::MessageId::of(&m.id),
                                text: m.text,
                                sent_at: m.created_at_ms,
                            });
                        }
                    }
                    Report::Delivered(id) => self.emit(Event::Delivered {
                        id: api::MessageId::of(&id),
                    }),
                    Report::GroupMessage { group, seq } => {
                        self.repeat_group_message(crate::group::GroupId(group), seq)
                    }
                }
            }
            self.reports_made.push(keys);
        }
    }

    pub(super) fn defer_mirror(
        &mut self,
        contact: ContactId,
        id: MessageId,
        seq: u64,
        envelope: Vec<u8>,
        created_at_ms: u64,
    ) {
        let entry = new_entry(contact, id, seq, envelope, created_at_ms, self.now_ms());
        self.deferred.push(Deferred::Mirror(entry));
        self.dirty = true;
    }

    /// Records in the mirror an outbox entry the store just made durable.
    pub(super) fn mirror(
        &mut self,
        contact: ContactId,
        id: MessageId,
        seq: u64,
        envelope: Vec<u8>,
        now: u64,
    ) {
        self.outbox
            .insert(id, new_entry(contact, id, seq, envelope, now, now));
    }

    /// Removes an entry from the store's outbox (done) and the mirror.
    pub(super) fn outbox_done(&mut self, id: &MessageId, now: u64) -> Result<bool, String> {
        let r = self
            .profile
            .store
            .mark_delivered(id, now)
            .map_err(|e| e.to_string())?;
        self.outbox.remove(id);
        self.in_flight.remove(id);
        self.backoff.remove(id);
        self.refusals.remove(id);
        self.renewed.remove(id);
        Ok(r)
    }
}
