//! Outbox entries that are not conversation messages: delivery receipts, handshake
//! messages. They share the outbox (retries, backoff, restart) with messages.

use super::backend::{TreeName, WriteBatch};
use super::codec::Record;
use super::error::StoreError;
use super::model::{ContactId, MessageId, OutboxEntry};
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
}
