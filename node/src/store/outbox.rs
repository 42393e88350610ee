//! The outbox and delivery state: what waits to be sent, batches, attempts, receipts.

use super::*;

impl Store {
    // -----------------------------------------------------------------------------------------
    // Outbox and delivery state

    /// Every outbox entry, ordered by next attempt time.
    pub fn outbox(&self) -> Result<Listing<OutboxEntry>, StoreError> {
        Ok(self.outbox_batched()?.0)
    }

    /// Every pending outbox entry, ordered by next attempt time, and the batch record each
    /// entry from one belongs to. An entry of a batch record is pending while no
    /// [`Record::Outbox`] with its id replaces it (a renewed envelope) and its message is
    /// still there and not delivered (delivered ranges or its own state). Batch records with
    /// no pending entry left (their removal was lost in a crash) are removed.
    pub fn outbox_batched(&self) -> Result<(Listing<OutboxEntry>, BatchMembers), StoreError> {
        let raw = self.scan_records(TreeName::Outbox, &[])?;
        let mut out = Listing {
            items: Vec::new(),
            damaged: raw.damaged,
        };
        let mut batches = Vec::new();
        for (k, r) in raw.items {
            match r {
                Record::Outbox(o) => out.items.push(o),
                Record::OutboxBatch(entries) => match <[u8; 32]>::try_from(k.as_slice()) {
                    Ok(key) => batches.push((BatchId(key), entries)),
                    Err(_) => out.damaged.push(damaged(
                        TreeName::Outbox,
                        &k,
                        DamageKind::Malformed(DecodeError::WrongRecordType {
                            tree: TreeName::Outbox,
                            tag: 0,
                        }),
                    )),
                },
                _ => out.damaged.push(damaged(
                    TreeName::Outbox,
                    &k,
                    DamageKind::Malformed(DecodeError::WrongRecordType {
                        tree: TreeName::Outbox,
                        tag: 0,
                    }),
                )),
            }
        }
        let singles: HashSet<MessageId> = out.items.iter().map(|o| o.message_id).collect();
        let mut convs: HashMap<ContactId, Option<Conversation>> = HashMap::new();
        let mut members = Vec::new();
        let mut retired = WriteBatch::new();
        for (key, entries) in batches {
            let mut live = 0;
            for e in entries {
                if singles.contains(&e.message_id) {
                    continue;
                }
                let conv = match convs.get(&e.contact) {
                    Some(c) => c,
                    None => {
                        let c = self.conversation(&e.contact).ok();
                        convs.entry(e.contact).or_insert(c)
                    }
                };
                if self.batch_entry_done(&e.contact, e.seq, conv.as_ref())? {
                    continue;
                }
                live += 1;
                members.push((e.message_id, key));
                out.items.push(e);
            }
            if live == 0 {
                retired.remove(TreeName::Outbox, key.0.to_vec());
            }
        }
        if !retired.is_empty() {
            let _w = lock_ignoring_poison(&self.writer);
            self.backend.apply(&retired)?;
        }
        out.items.sort_by_key(|o| o.next_attempt_at_ms);
        Ok((out, members))
    }

    /// Whether the entry for message `seq` of `contact` in a batch record needs no more
    /// sending: its message is delivered (in `conv`'s ranges or its own state) or failed, or
    /// gone (expired, or its contact removed). `conv` is the conversation record, `None` if
    /// it does not open (it then proves nothing: the message itself decides).
    pub(crate) fn batch_entry_done(
        &self,
        contact: &ContactId,
        seq: u64,
        conv: Option<&Conversation>,
    ) -> Result<bool, StoreError> {
        if conv.is_some_and(|c| c.is_delivered(seq)) {
            return Ok(true);
        }
        let key = message_key(contact, seq);
        Ok(match self.get_record(TreeName::Messages, &key) {
            Ok(Some(Record::Message(m))) => {
                matches!(m.state, DeliveryState::Delivered | DeliveryState::Failed)
            }
            Ok(None) => true,
            // A damaged message record proves nothing either: keep sending (the recipient
            // deduplicates), and let `check` report the damage.
            Ok(Some(_)) | Err(StoreError::Damaged(_)) => false,
            Err(e) => return Err(e),
        })
    }

    /// Outbox entries due at `now_ms`.
    pub fn outbox_due(&self, now_ms: u64) -> Result<Listing<OutboxEntry>, StoreError> {
        let mut l = self.outbox()?;
        l.items.retain(|o| o.next_attempt_at_ms <= now_ms);
        Ok(l)
    }

    pub(super) fn outbox_entry(
        &self,
        message_id: &MessageId,
    ) -> Result<Option<(Vec<u8>, OutboxEntry)>, StoreError> {
        let key = self.keys.blind(purpose::OUTBOX, &message_id.0).to_vec();
        match self.get_record(TreeName::Outbox, &key)? {
            None => Ok(None),
            Some(Record::Outbox(o)) => Ok(Some((key, o))),
            Some(_) => Err(Self::wrong_type(TreeName::Outbox, &key)),
        }
    }

    pub(super) fn update_message(
        &self,
        b: &mut WriteBatch,
        contact: &ContactId,
        seq: u64,
        f: impl FnOnce(&mut MessageBody),
    ) -> Result<(), StoreError> {
        let key = message_key(contact, seq);
        match self.get_record(TreeName::Messages, &key)? {
            // The message may have disappeared (timer) while its envelope was in flight.
            None => Ok(()),
            Some(Record::Message(mut m)) => {
                f(&mut m);
                self.put(b, TreeName::Messages, key.to_vec(), &Record::Message(m))
            }
            Some(_) => Err(Self::wrong_type(TreeName::Messages, &key)),
        }
    }

    pub(super) fn finish_delivery(
        &self,
        message_id: &MessageId,
        f: impl FnOnce(&mut MessageBody),
    ) -> Result<bool, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let Some((key, entry)) = self.outbox_entry(message_id)? else {
            return Ok(false);
        };
        let mut b = WriteBatch::new();
        self.update_message(&mut b, &entry.contact, entry.seq, f)?;
        b.remove(TreeName::Outbox, key);
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(true)
    }

    /// An end-to-end receipt arrived: removes the outbox entry and marks the message
    /// `Delivered`, atomically. Returns false if it was not in the outbox. Durable. For entries
    /// stored alone (control entries, single messages); entries of a batch record are
    /// confirmed through [`Store::apply_receipt`].
    pub fn mark_delivered(&self, message_id: &MessageId, now_ms: u64) -> Result<bool, StoreError> {
        self.finish_delivery(message_id, |m| {
            m.state = DeliveryState::Delivered;
            m.delivered_at_ms = Some(now_ms);
        })
    }
}
