//! Outbox entries that are not conversation messages: delivery receipts, handshake
//! messages. They share the outbox (retries, backoff, restart) with messages.

use super::backend::{TreeName, WriteBatch};
use super::codec::Record;
use super::error::StoreError;
use super::model::{ContactId, DedupEntry, Incoming, MessageId, NewMessage, OutboxEntry};
use super::secret::SecretBytes;
use super::{lock_ignoring_poison, purpose, Store};

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
            self.put(
                &mut b,
                TreeName::Sessions,
                contact.0.to_vec(),
                &Record::Session(s.clone()),
            )?;
        }
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
            &mut b,
            TreeName::Outbox,
            self.keys.blind(purpose::OUTBOX, &id.0).to_vec(),
            &Record::Outbox(entry),
        )?;
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(())
    }

    /// Stores an incoming message, its dedup id, the ratchet state after decrypting it
    /// *and* encrypting the delivery receipt, and the receipt's outbox entry — all in one
    /// atomic batch, durable when it returns. A crash can never leave a stored message
    /// without its receipt queued (the sender would wait for ever), nor a receipt
    /// without its message. A duplicate is not stored again, but its receipt is queued.
    pub fn record_incoming_with_receipt(
        &self,
        contact: &ContactId,
        session_after: &SecretBytes,
        message: &NewMessage,
        receipt_id: MessageId,
        receipt_envelope: &[u8],
        now_ms: u64,
    ) -> Result<Incoming, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::Sessions,
            contact.0.to_vec(),
            &Record::Session(session_after.clone()),
        )?;
        let dedup_key = self.keys.blind(purpose::DEDUP, &message.id.0);
        let outcome = if self.backend.get(TreeName::Dedup, &dedup_key)?.is_some() {
            Incoming::Duplicate
        } else {
            let seq =
                self.stage_messages(&mut b, contact, std::slice::from_ref(message), now_ms)?;
            self.put(
                &mut b,
                TreeName::Dedup,
                dedup_key.to_vec(),
                &Record::Dedup(DedupEntry {
                    received_at_ms: now_ms,
                    contact: *contact,
                    seq,
                }),
            )?;
            Incoming::Stored { seq }
        };
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
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(outcome)
    }
}
