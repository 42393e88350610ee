//! Outbox entries that are not conversation messages: delivery receipts, handshake
//! messages. They share the outbox (retries, backoff, restart) with messages.

use super::backend::{TreeName, WriteBatch};
use super::codec::Record;
use super::error::StoreError;
use super::model::{
    ContactId, DedupEntry, DeliveryState, Incoming, MessageId, NewMessage, OutboxEntry, Report,
};
use super::secret::SecretBytes;
use super::{lock_ignoring_poison, purpose, BatchId, ReportKeys, Staged, Store};
use std::collections::HashMap;

/// The `seq` of an outbox entry that carries no conversation message.
pub const CONTROL_SEQ: u64 = u64::MAX;

impl Store {
    /// Queues an envelope that is not a conversation message (a receipt or a handshake
    /// message) for `contact`, together with the ratchet state that encrypted it (if
    /// any), in one atomic batch. Returns once durable. `id` is the outbox key: random
    /// for receipts; remove the entry with [`Store::mark_delivered`] once a hop took it.
    pub fn queue_control(
        &self,
        contact: &ContactId,
        session_after: Option<&SecretBytes>,
        id: MessageId,
        envelope: &[u8],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        if let Some(s) = session_after {
            self.stage_session(&mut b, contact, s)?;
        }
        self.stage_control(&mut b, contact, id, envelope, now_ms)?;
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(())
    }

    /// Adds a control entry (due now) to `b`.
    pub(super) fn stage_control(
        &self,
        b: &mut WriteBatch,
        contact: &ContactId,
        id: MessageId,
        envelope: &[u8],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let entry = OutboxEntry {
            message_id: id,
            contact: *contact,
            seq: CONTROL_SEQ,
            envelope: envelope.to_vec(),
            attempts: 0,
            next_attempt_at_ms: now_ms,
            created_at_ms: now_ms,
        };
        self.put(
            b,
            TreeName::Outbox,
            self.keys.blind(purpose::OUTBOX, &id.0).to_vec(),
            &Record::Outbox(entry),
        )
    }

    /// Stores incoming messages of one contact that arrived together with the one delivery
    /// receipt for all of them: the messages (in order), their dedup ids, the ratchet
    /// state after decrypting them all *and* encrypting the receipt, and the receipt's
    /// outbox entry, in one atomic batch. A crash can never leave a stored message without
    /// its receipt queued (the sender would wait for ever), nor a receipt without its
    /// messages. Returns one outcome per message; a message whose id was seen before
    /// (also earlier in the same list) is a duplicate and not stored again, but is in
    /// the receipt. Staged: the messages must not be acknowledged or shown before they are
    /// durable.
    pub fn record_incoming_batch(
        &self,
        contact: &ContactId,
        session_after: &SecretBytes,
        messages: &[NewMessage],
        receipt_id: MessageId,
        receipt_envelope: &[u8],
        now_ms: u64,
    ) -> Result<Staged<(Vec<Incoming>, ReportKeys)>, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        self.stage_session(&mut b, contact, session_after)?;
        let mut fresh: Vec<NewMessage> = Vec::with_capacity(messages.len());
        let mut fresh_keys = Vec::with_capacity(messages.len());
        let mut outcomes = Vec::with_capacity(messages.len());
        for m in messages {
            let dedup_key = self.keys.blind(purpose::DEDUP, &m.id.0);
            if fresh_keys.contains(&dedup_key)
                || self.backend.get(TreeName::Dedup, &dedup_key)?.is_some()
            {
                outcomes.push(None);
            } else {
                outcomes.push(Some(fresh.len() as u64));
                fresh.push(m.clone());
                fresh_keys.push(dedup_key);
            }
        }
        let first = if fresh.is_empty() {
            0
        } else {
            self.stage_messages(&mut b, contact, &fresh, now_ms)?
        };
        for (i, key) in fresh_keys.iter().enumerate() {
            self.put(
                &mut b,
                TreeName::Dedup,
                key.to_vec(),
                &Record::Dedup(DedupEntry {
                    received_at_ms: now_ms,
                    contact: *contact,
                    seq: first + i as u64,
                }),
            )?;
        }
        let entry = OutboxEntry {
            message_id: receipt_id,
            contact: *contact,
            seq: CONTROL_SEQ,
            envelope: receipt_envelope.to_vec(),
            attempts: 0,
            next_attempt_at_ms: now_ms,
            created_at_ms: now_ms,
        };
        self.put(
            &mut b,
            TreeName::Outbox,
            self.keys.blind(purpose::OUTBOX, &receipt_id.0).to_vec(),
            &Record::Outbox(entry),
        )?;
        // Their `message` events, owed until the node marks them made.
        let reports: Vec<Report> = (0..fresh.len() as u64)
            .map(|i| Report::Message {
                contact: *contact,
                seq: first + i,
            })
            .collect();
        let keys = self.stage_reports(&mut b, &receipt_id.0, &reports)?;
        self.backend.apply(&b)?;
        let outcomes = outcomes
            .into_iter()
            .map(|o| match o {
                Some(i) => Incoming::Stored { seq: first + i },
                None => Incoming::Duplicate,
            })
            .collect();
        Ok(Staged::new((outcomes, keys)))
    }

    /// Applies an end-to-end receipt: every listed message still in the outbox becomes
    /// `Delivered` (in the conversation's delivered ranges, one small write, rather than in
    /// each message's record) and leaves the outbox, and the ratchet state after decrypting the
    /// receipt is saved — one atomic batch, staged: the receipt must not be acknowledged
    /// before it is durable. Returns the ids that were in
    /// the outbox. Each id may come with the sequence number of its message when the caller knows
    /// it is in the outbox for `contact` (the node's outbox mirror), which saves reading
    /// the outbox entry back; ids without one are looked up (those in a batch record are
    /// found only this way). `retire` lists batch records whose last pending entries this
    /// receipt confirms: they are removed in the same batch.
    pub fn apply_receipt(
        &self,
        contact: &ContactId,
        session_after: &SecretBytes,
        ids: &[(MessageId, Option<u64>)],
        retire: &[BatchId],
        now_ms: u64,
    ) -> Result<Staged<Vec<MessageId>>, StoreError> {
        Ok(self
            .apply_receipt_reporting(contact, session_after, ids, retire, &|_| false, now_ms)?
            .map(|(done, _)| done))
    }

    /// [`Store::apply_receipt`], keeping in the same write a `delivered` report
    /// ([`Report::Delivered`]) for each confirmed id that `report` accepts (the node's own
    /// messages, not its copies and file parts).
    pub fn apply_receipt_reporting(
        &self,
        contact: &ContactId,
        session_after: &SecretBytes,
        ids: &[(MessageId, Option<u64>)],
        retire: &[BatchId],
        report: &dyn Fn(&MessageId) -> bool,
        now_ms: u64,
    ) -> Result<Staged<(Vec<MessageId>, ReportKeys)>, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        let mut done = Vec::new();
        // One write for the conversation's delivered ranges instead of one per message.
        let mut conv = self.conversation(contact)?;
        let mut conv_changed = false;
        // Entries of this contact's batch records, read only if an id is not found alone.
        let mut in_batches: Option<HashMap<MessageId, u64>> = None;
        for (id, known) in ids {
            let (key, seq) = match known {
                Some(seq) => (self.keys.blind(purpose::OUTBOX, &id.0).to_vec(), *seq),
                None => match self.outbox_entry(id)? {
                    Some((key, entry)) => {
                        if entry.contact != *contact {
                            // A receipt can only confirm messages sent to its sender.
                            continue;
                        }
                        (key, entry.seq)
                    }
                    None => {
                        if in_batches.is_none() {
                            in_batches = Some(self.batch_entries_of(contact)?);
                        }
                        let Some(seq) = in_batches.as_ref().and_then(|m| m.get(id).copied()) else {
                            continue;
                        };
                        // Still in its record until the record is retired: done only once.
                        if self.batch_entry_done(contact, seq, Some(&conv))? {
                            continue;
                        }
                        (self.keys.blind(purpose::OUTBOX, &id.0).to_vec(), seq)
                    }
                },
            };
            if seq == CONTROL_SEQ {
                continue;
            }
            if seq < conv.next_seq && conv.mark_delivered(seq) {
                conv_changed = true;
            } else {
                // Too many ranges (receipts far out of order): mark the message itself.
                self.update_message(&mut b, contact, seq, |m| {
                    m.state = DeliveryState::Delivered;
                    m.delivered_at_ms = Some(now_ms);
                })?;
            }
            b.remove(TreeName::Outbox, key);
            done.push(*id);
        }
        // Batch records whose every entry is now delivered (the caller keeps count).
        for batch in retire {
            b.remove(TreeName::Outbox, batch.0.to_vec());
        }
        if conv_changed {
            self.put(
                &mut b,
                TreeName::Conversations,
                contact.0.to_vec(),
                &Record::Conversation(conv),
            )?;
        }
        self.stage_session(&mut b, contact, session_after)?;
        let reports: Vec<Report> = done
            .iter()
            .filter(|id| report(id))
            .map(|id| Report::Delivered(*id))
            .collect();
        let keys = match reports.first() {
            Some(Report::Delivered(first)) => self.stage_reports(&mut b, &first.0, &reports)?,
            _ => ReportKeys::default(),
        };
        self.backend.apply(&b)?;
        Ok(Staged::new((done, keys)))
    }

    /// Message id → sequence number of every entry in `contact`'s outbox batch records.
    fn batch_entries_of(&self, contact: &ContactId) -> Result<HashMap<MessageId, u64>, StoreError> {
        let mut out = HashMap::new();
        for (_, r) in self.scan_records(TreeName::Outbox, &[])?.items {
            if let Record::OutboxBatch(entries) = r {
                for e in entries.into_iter().filter(|e| e.contact == *contact) {
                    out.insert(e.message_id, e.seq);
                }
            }
        }
        Ok(out)
    }

    /// Records a delivery attempt: attempts + 1, next attempt time, message state `Sent`.
    /// Returns false if the message is no longer in the outbox. Staged: its loss only causes
    /// a harmless resend (the recipient deduplicates).
    pub fn mark_attempted(
        &self,
        message_id: &MessageId,
        now_ms: u64,
        next_attempt_at_ms: u64,
    ) -> Result<Staged<bool>, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let Some((key, mut entry)) = self.outbox_entry(message_id)? else {
            return Ok(Staged::new(false));
        };
        entry.attempts = entry.attempts.saturating_add(1);
        entry.next_attempt_at_ms = next_attempt_at_ms;
        let mut b = WriteBatch::new();
        if entry.seq != CONTROL_SEQ {
            self.update_message(&mut b, &entry.contact, entry.seq, |m| {
                if m.state == DeliveryState::Queued {
                    m.state = DeliveryState::Sent;
                }
                m.sent_at_ms = Some(now_ms);
            })?;
        }
        self.put(&mut b, TreeName::Outbox, key, &Record::Outbox(entry))?;
        self.backend.apply(&b)?;
        Ok(Staged::new(true))
    }

    /// Replaces the envelopes of `contact`'s outbox entries that were encrypted again (same
    /// message, the next keys of the sending chain) and stores the ratchet state after
    /// encrypting them, in one atomic write, staged: the new envelopes may leave only once it
    /// is durable, or a crash could bring back a ratchet state whose keys were already used. Entries no longer in the outbox (delivered meanwhile) are
    /// skipped, not brought back.
    pub fn renew_envelopes(
        &self,
        contact: &ContactId,
        session_after: &SecretBytes,
        entries: &[OutboxEntry],
    ) -> Result<Staged<()>, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        let mut in_batches: Option<HashMap<MessageId, u64>> = None;
        let conv = self.conversation(contact)?;
        for entry in entries {
            if entry.contact != *contact || entry.seq == CONTROL_SEQ {
                continue;
            }
            let key = match self.outbox_entry(&entry.message_id)? {
                Some((key, _)) => key,
                // An entry of a batch record, still pending: the new envelope is stored alone
                // under the message id and replaces the one in the record.
                None => {
                    if in_batches.is_none() {
                        in_batches = Some(self.batch_entries_of(contact)?);
                    }
                    let pending = in_batches
                        .as_ref()
                        .is_some_and(|m| m.get(&entry.message_id) == Some(&entry.seq))
                        && !self.batch_entry_done(contact, entry.seq, Some(&conv))?;
                    if !pending {
                        continue;
                    }
                    self.keys
                        .blind(purpose::OUTBOX, &entry.message_id.0)
                        .to_vec()
                }
            };
            self.put(
                &mut b,
                TreeName::Outbox,
                key,
                &Record::Outbox(entry.clone()),
            )?;
        }
        self.stage_session(&mut b, contact, session_after)?;
        self.backend.apply(&b)?;
        Ok(Staged::new(()))
    }

    /// Marks conversation messages (contact, sequence number, when) whose envelope a hop took
    /// as `Sent`, in one write, staged (losing it only shows them as queued until their
    /// receipt arrives). The outbox entries are not
    /// rewritten: after a restart they are sent again at once, which the recipient
    /// deduplicates.
    pub fn mark_sent(&self, messages: &[(ContactId, u64, u64)]) -> Result<Staged<()>, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        for (contact, seq, sent_at_ms) in messages {
            self.update_message(&mut b, contact, *seq, |m| {
                if m.state == DeliveryState::Queued {
                    m.state = DeliveryState::Sent;
                }
                m.sent_at_ms = Some(*sent_at_ms);
            })?;
        }
        self.backend.apply(&b)?;
        Ok(Staged::new(()))
    }

    /// Removes control entries (receipts, handshake messages) a hop has taken, in one
    /// write, staged: if the removal is lost, an entry is sent again and the duplicate is
    /// dropped by the recipient.
    pub fn remove_controls(&self, ids: &[MessageId]) -> Result<Staged<()>, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        for message_id in ids {
            let Some((key, entry)) = self.outbox_entry(message_id)? else {
                continue;
            };
            if entry.seq == CONTROL_SEQ {
                b.remove(TreeName::Outbox, key);
            }
        }
        self.backend.apply(&b)?;
        Ok(Staged::new(()))
    }
}
