//! Conversations and their messages: appending, recording what is sent and received,
//! reading them back.

use super::*;

/// What [`Store::record_outgoing_many`] wrote: the first message's sequence number, and each
/// outbox batch record's id with how many consecutive envelopes it holds.
pub type RecordedOutgoing = (u64, Vec<(BatchId, usize)>);

impl Store {
    // -----------------------------------------------------------------------------------------
    // Conversations and messages

    /// A conversation's state (default if none was stored yet).
    pub fn conversation(&self, id: &ContactId) -> Result<Conversation, StoreError> {
        match self.get_record(TreeName::Conversations, &id.0)? {
            None => Ok(Conversation::default()),
            Some(Record::Conversation(c)) => Ok(c),
            Some(_) => Err(Self::wrong_type(TreeName::Conversations, &id.0)),
        }
    }

    /// Sets (or clears) the disappearing-message timer. It applies to messages stored from now
    /// on; each message's expiry is fixed when it is stored. Durable.
    pub fn set_disappearing_timer(
        &self,
        id: &ContactId,
        after_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut conv = self.conversation(id)?;
        conv.disappear_after_ms = after_ms;
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::Conversations,
            id.0.to_vec(),
            &Record::Conversation(conv),
        )?;
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(())
    }

    /// Adds `messages` to the batch at the conversation's next sequence numbers and the updated
    /// conversation record. Returns the first sequence number.
    pub(super) fn stage_messages(
        &self,
        b: &mut WriteBatch,
        id: &ContactId,
        messages: &[NewMessage],
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let mut conv = self.conversation(id)?;
        let first = conv.next_seq;
        let expires_at_ms = conv.disappear_after_ms.map(|d| now_ms.saturating_add(d));
        for m in messages {
            let body = MessageBody {
                id: m.id,
                direction: m.direction,
                text: m.text.clone(),
                created_at_ms: m.created_at_ms,
                received_at_ms: m.received_at_ms,
                sent_at_ms: None,
                delivered_at_ms: None,
                state: m.state,
                // A member's copy of a group message goes when it is delivered, not on the
                // 1:1 conversation's timer.
                expires_at_ms: match m.group {
                    Some(GroupPart::Copy { .. }) => None,
                    _ => expires_at_ms,
                },
                group: m.group.clone(),
            };
            let key = message_key(id, conv.next_seq);
            self.put(b, TreeName::Messages, key.to_vec(), &Record::Message(body))?;
            conv.next_seq = conv.next_seq.saturating_add(1);
        }
        conv.has_expiring |= expires_at_ms.is_some();
        self.put(
            b,
            TreeName::Conversations,
            id.0.to_vec(),
            &Record::Conversation(conv),
        )?;
        Ok(first)
    }

    /// Appends messages to a conversation in one atomic batch with one flush (history import,
    /// or many messages at once). Returns the sequence number of the first. Durable.
    pub fn append_messages(
        &self,
        id: &ContactId,
        messages: &[NewMessage],
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        let first = self.stage_messages(&mut b, id, messages, now_ms)?;
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(first)
    }

    /// Stores an outgoing message together with the ratchet state that encrypted it and the
    /// envelope to deliver, in one atomic batch, and gives its sequence number. Staged: the UI
    /// may show it as queued, and its envelope may leave, only once it is durable.
    pub fn record_outgoing(
        &self,
        id: &ContactId,
        session_after: &SecretBytes,
        message: &NewMessage,
        outbox: &NewOutbox,
        now_ms: u64,
    ) -> Result<Staged<u64>, StoreError> {
        let (first, _) = self
            .record_outgoing_many(
                id,
                session_after,
                std::slice::from_ref(message),
                std::slice::from_ref(outbox),
                now_ms,
            )?
            .after_next_flush();
        Ok(Staged::new(first))
    }

    /// [`Store::record_outgoing`] for several messages to one contact, encrypted
    /// one after the other: all of them, their envelopes and the ratchet state after the
    /// last, in one atomic batch. `messages` and `outboxes` pair up by index. Returns the
    /// sequence number of the first (the others follow in order) and, when the envelopes went
    /// into outbox batch records (more than one message), each record's id and how many
    /// consecutive envelopes it holds, in order. One record for many envelopes is one store
    /// write instead of many (the per-record cost of sled dominates a burst); see
    /// [`Record::OutboxBatch`] for how its entries are retired.
    pub fn record_outgoing_many(
        &self,
        id: &ContactId,
        session_after: &SecretBytes,
        messages: &[NewMessage],
        outboxes: &[NewOutbox],
        now_ms: u64,
    ) -> Result<Staged<RecordedOutgoing>, StoreError> {
        if messages.len() != outboxes.len() {
            return Err(StoreError::Invalid("messages and envelopes do not pair up"));
        }
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        let first = self.stage_messages(&mut b, id, messages, now_ms)?;
        self.stage_session(&mut b, id, session_after)?;
        let entries: Vec<OutboxEntry> = messages
            .iter()
            .zip(outboxes)
            .enumerate()
            .map(|(i, (message, outbox))| OutboxEntry {
                message_id: message.id,
                contact: *id,
                seq: first + i as u64,
                envelope: outbox.envelope.clone(),
                attempts: 0,
                next_attempt_at_ms: outbox.next_attempt_at_ms,
                created_at_ms: message.created_at_ms,
            })
            .collect();
        let mut batches = Vec::new();
        if let [entry] = entries.as_slice() {
            self.put(
                &mut b,
                TreeName::Outbox,
                self.keys
                    .blind(purpose::OUTBOX, &entry.message_id.0)
                    .to_vec(),
                &Record::Outbox(entry.clone()),
            )?;
        } else {
            let mut rest = entries.as_slice();
            while let Some(head) = rest.first() {
                let mut n = 0;
                let mut bytes = 0;
                for e in rest.iter().take(MAX_OUTBOX_BATCH) {
                    if n > 0 && bytes + e.envelope.len() > MAX_OUTBOX_BATCH_BYTES {
                        break;
                    }
                    bytes += e.envelope.len();
                    n += 1;
                }
                let (chunk, tail) = rest.split_at(n);
                let key = BatchId(self.keys.blind(purpose::OUTBOX_BATCH, &head.message_id.0));
                self.put(
                    &mut b,
                    TreeName::Outbox,
                    key.0.to_vec(),
                    &Record::OutboxBatch(chunk.to_vec()),
                )?;
                batches.push((key, n));
                rest = tail;
            }
        }
        self.backend.apply(&b)?;
        Ok(Staged::new((first, batches)))
    }

    /// Waits until every write applied so far is durable (shares flushes with concurrent
    /// callers).
    pub fn make_durable(&self) -> Result<(), StoreError> {
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(())
    }

    /// Stores an incoming message, the ratchet state after decrypting it and its dedup id, in
    /// one atomic batch. A message id seen before is not stored again ([`Incoming::Duplicate`]),
    /// but the session state is still saved. Returns once durable: only then may a delivery
    /// receipt be sent.
    pub fn record_incoming(
        &self,
        id: &ContactId,
        session_after: &SecretBytes,
        message: &NewMessage,
        now_ms: u64,
    ) -> Result<Incoming, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        self.stage_session(&mut b, id, session_after)?;
        let dedup_key = self.keys.blind(purpose::DEDUP, &message.id.0);
        let outcome = if self.backend.get(TreeName::Dedup, &dedup_key)?.is_some() {
            Incoming::Duplicate
        } else {
            let seq = self.stage_messages(&mut b, id, std::slice::from_ref(message), now_ms)?;
            self.put(
                &mut b,
                TreeName::Dedup,
                dedup_key.to_vec(),
                &Record::Dedup(DedupEntry {
                    received_at_ms: now_ms,
                    contact: *id,
                    seq,
                }),
            )?;
            Incoming::Stored { seq }
        };
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(outcome)
    }

    /// A message received with this id, if it is still kept (found through its dedup
    /// entry).
    pub fn received_message(&self, id: &MessageId) -> Result<Option<StoredMessage>, StoreError> {
        let key = self.keys.blind(purpose::DEDUP, &id.0);
        let Some(Record::Dedup(d)) = self.get_record(TreeName::Dedup, &key)? else {
            return Ok(None);
        };
        Ok(self
            .message(&d.contact, d.seq)?
            .filter(|m| m.id == *id && m.direction == Direction::Incoming))
    }

    /// True if a message with this id was received (and is still in the dedup window).
    pub fn is_duplicate(&self, message_id: &MessageId) -> Result<bool, StoreError> {
        let key = self.keys.blind(purpose::DEDUP, &message_id.0);
        Ok(self.backend.get(TreeName::Dedup, &key)?.is_some())
    }

    /// A message as the caller sees it: an outgoing one in the conversation's delivered ranges
    /// reads as `Delivered` (with no `delivered_at_ms`, which the ranges do not keep).
    pub(super) fn apply_ranges(conv: &Conversation, m: &mut StoredMessage) {
        if m.direction == Direction::Outgoing
            && m.state != DeliveryState::Delivered
            && conv.is_delivered(m.seq)
        {
            m.state = DeliveryState::Delivered;
        }
    }

    pub(super) fn to_stored(contact: ContactId, seq: u64, m: MessageBody) -> StoredMessage {
        StoredMessage {
            contact,
            seq,
            id: m.id,
            direction: m.direction,
            text: m.text,
            created_at_ms: m.created_at_ms,
            received_at_ms: m.received_at_ms,
            sent_at_ms: m.sent_at_ms,
            delivered_at_ms: m.delivered_at_ms,
            state: m.state,
            expires_at_ms: m.expires_at_ms,
            group: m.group,
        }
    }

    /// One message.
    pub fn message(&self, id: &ContactId, seq: u64) -> Result<Option<StoredMessage>, StoreError> {
        let key = message_key(id, seq);
        match self.get_record(TreeName::Messages, &key)? {
            None => Ok(None),
            Some(Record::Message(m)) => {
                let mut m = Self::to_stored(*id, seq, m);
                Self::apply_ranges(&self.conversation(id)?, &mut m);
                Ok(Some(m))
            }
            Some(_) => Err(Self::wrong_type(TreeName::Messages, &key)),
        }
    }

    /// A conversation's messages in order, plus any damaged ones. Long conversations are
    /// decrypted on several threads (see [`PARALLEL_OPEN_MIN`]).
    pub fn messages(&self, id: &ContactId) -> Result<Listing<StoredMessage>, StoreError> {
        let conv = self.conversation(id)?;
        let mut listing =
            self.scan_and_open(TreeName::Messages, &id.0, |k, v| self.open_message(k, v))?;
        for m in &mut listing.items {
            Self::apply_ranges(&conv, m);
        }
        Ok(listing)
    }

    pub(super) fn open_message(
        &self,
        k: &[u8],
        v: &mut [u8],
    ) -> Result<StoredMessage, DamagedRecord> {
        let r = self.open_record_in_place(TreeName::Messages, k, v)?;
        let (contact, seq) = parse_message_key(k)
            .map_err(|e| damaged(TreeName::Messages, k, DamageKind::BadKey(e)))?;
        match r {
            Record::Message(m) => Ok(Self::to_stored(contact, seq, m)),
            _ => Err(damaged(
                TreeName::Messages,
                k,
                DamageKind::Malformed(DecodeError::WrongRecordType {
                    tree: TreeName::Messages,
                    tag: 0,
                }),
            )),
        }
    }

    /// Scans `prefix` of `tree` and opens every entry, in order. The scan copies entries into
    /// chunks of [`PARALLEL_OPEN_MIN`] (one buffer each, no allocation per record); from the
    /// second chunk on, worker threads open chunks while the scan goes on, so copying records
    /// out of sled and authenticating them overlap instead of running one after the other.
    /// When the scan ends, this thread helps with what is left (a short listing is opened
    /// here alone). A scan error fails the listing, as it would without threads; a panic on a
    /// worker (a bug) is raised here once all threads have stopped, so no record is ever
    /// silently left out.
    pub(super) fn scan_and_open<T: Send>(
        &self,
        tree: TreeName,
        prefix: &[u8],
        open: impl Fn(&[u8], &mut [u8]) -> Result<T, DamagedRecord> + Sync,
    ) -> Result<Listing<T>, StoreError> {
        type Opened<T> = (usize, Vec<Result<T, DamagedRecord>>);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_OPEN_THREADS);
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Chunk)>();
        let rx = Mutex::new(rx);
        let done: Mutex<Vec<Opened<T>>> = Mutex::new(Vec::new());
        let open = &open;
        let work = || loop {
            let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
            let Ok((i, chunk)) = next else {
                break;
            };
            let opened = chunk.open_all(open);
            done.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((i, opened));
        };
        let scanned = std::thread::scope(|s| {
            let mut chunk = Chunk::default();
            let mut sent = 0;
            let scanned = self.backend.visit_prefix(tree, prefix, &mut |k, v| {
                chunk.push(k, v);
                if chunk.len() == PARALLEL_OPEN_MIN {
                    if sent == 0 {
                        // The calling thread is the last of `threads` once the scan is done.
                        for _ in 1..threads {
                            s.spawn(work);
                        }
                    }
                    let _ = tx.send((sent, std::mem::take(&mut chunk)));
                    sent += 1;
                }
                true
            });
            if chunk.len() > 0 {
                let _ = tx.send((sent, chunk));
            }
            drop(tx);
            work();
            scanned
        });
        scanned?;
        let mut parts = done.into_inner().unwrap_or_else(|p| p.into_inner());
        parts.sort_by_key(|(i, _)| *i);
        let n = parts.iter().map(|(_, v)| v.len()).sum();
        Ok(Listing::collect(n, parts.into_iter().flat_map(|(_, v)| v)))
    }
}
