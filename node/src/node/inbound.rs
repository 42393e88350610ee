//! Envelopes as they arrive, directly or from the mailbox: sorting them by kind,
//! decrypting messages in order, grouping a batch's texts, and acting on content.

use super::*;

impl<S: Shell> Runtime<S> {
    pub(super) fn inbound_envelope(&mut self, bytes: &[u8]) -> Inbound {
        let env = match Envelope::decode(bytes) {
            Ok(e) => e,
            Err(_) => return self.hostile("malformed envelope"),
        };
        match env.kind {
            EnvelopeKind::HandshakeInit => self.inbound_handshake_init(&env),
            EnvelopeKind::HandshakeResponse => self.inbound_handshake_response(&env),
            EnvelopeKind::Message => self.inbound_message(&env),
            EnvelopeKind::BulkChunk => {
                let mut out = [Inbound::Dropped];
                let mut bulk = None;
                self.join_bulk(&env, 0, &mut bulk, &mut out);
                self.finish_bulk(bulk, &mut out);
                out[0]
            }
        }
    }

    pub(super) fn hostile(&mut self, what: &'static str) -> Inbound {
        self.rejected += 1;
        tracing::info!(
            reason = what,
            count = self.rejected,
            "inbound envelope dropped"
        );
        Inbound::Dropped
    }

    pub(super) fn inbound_message(&mut self, env: &Envelope) -> Inbound {
        let mut out = [Inbound::Dropped];
        let mut group = None;
        self.inbound_message_into(env, 0, &mut group, &mut out);
        self.finish_group(group, &mut out);
        out[0]
    }

    /// Several envelopes that arrived together (a `DeliverBatch`, a mailbox fetch): text
    /// messages of one contact in a row are stored in one transaction with one receipt
    /// for all of them. Returns one outcome per envelope, in order.
    pub(super) fn inbound_envelopes(&mut self, items: &[Vec<u8>]) -> Vec<Inbound> {
        let mut out = vec![Inbound::Dropped; items.len()];
        let mut group: Option<TextGroup> = None;
        let mut bulk: Option<files::BulkRun> = None;
        for (i, bytes) in items.iter().enumerate() {
            let env = Envelope::decode(bytes);
            let is_bulk = matches!(&env, Ok(e) if e.kind == EnvelopeKind::BulkChunk);
            if !is_bulk && bulk.is_some() && !self.finish_bulk(bulk.take(), &mut out) {
                set(&mut out, i, Inbound::TryLater);
                continue;
            }
            match env {
                Ok(env) if env.kind == EnvelopeKind::Message => {
                    self.inbound_message_into(&env, i, &mut group, &mut out);
                }
                Ok(env) if is_bulk => {
                    if !self.finish_group(group.take(), &mut out) {
                        set(&mut out, i, Inbound::TryLater);
                        continue;
                    }
                    self.join_bulk(&env, i, &mut bulk, &mut out);
                }
                _ => {
                    if !self.finish_group(group.take(), &mut out) {
                        set(&mut out, i, Inbound::TryLater);
                        continue;
                    }
                    let r = self.inbound_envelope(bytes);
                    set(&mut out, i, r);
                }
            }
        }
        self.finish_group(group, &mut out);
        self.finish_bulk(bulk, &mut out);
        self.pump_accepted();
        out
    }

    /// One envelope that came alone (a `Deliver`).
    pub(super) fn inbound_envelope_alone(&mut self, bytes: &[u8]) -> Inbound {
        let r = self.inbound_envelope(bytes);
        self.pump_accepted();
        r
    }

    /// Decrypts one message envelope (item `i`) on top of `group`: a text joins the
    /// group (stored when the group is finished); anything else finishes the group
    /// first and is applied at once. The outcome goes to `out[i]`.
    pub(super) fn inbound_message_into(
        &mut self,
        env: &Envelope,
        i: usize,
        group: &mut Option<TextGroup>,
        out: &mut [Inbound],
    ) {
        let Some(cid) = self.contact_for_tag(&env.tag) else {
            if let Some(cid) = self.candidate_tags.get(&env.tag).copied() {
                // Under a reset of the contact's that we answered: it took it.
                if self.blocked.contains(&cid) {
                    let r = self.hostile("message from a blocked contact");
                    return set(out, i, r);
                }
                if !self.finish_group(group.take(), out) {
                    return set(out, i, Inbound::TryLater);
                }
                return match self.take_candidate(cid, env) {
                    None => self.inbound_message_into(env, i, group, out),
                    Some(r) => set(out, i, r),
                };
            }
            // Straight from a contact whose session is being reset (or just was): it may
            // be under the session we are about to get, or the one we just left. "Try
            // later" makes its node send it again shortly — by then encrypted again under
            // the new session — instead of waiting for a renewal.
            if self.resetting_contact_of(self.direct_from).is_some() {
                tracing::debug!("message across a session reset: try later");
                // Its node may put it into our mailbox instead: look there soon.
                self.next_fetch_ms = self.next_fetch_ms.min(self.now_ms() + 2_000);
                return set(out, i, Inbound::TryLater);
            }
            let r = self.hostile("message with unknown routing tag");
            return set(out, i, r);
        };
        if self.blocked.contains(&cid) {
            // Dropped without an answer, like a stranger's (a mailbox deletes it).
            let r = self.hostile("message from a blocked contact");
            return set(out, i, r);
        }
        let full = group
            .as_ref()
            .is_some_and(|g| g.cid != cid || g.len() >= MAX_RECEIPT_IDS);
        if full && !self.finish_group(group.take(), out) {
            return set(out, i, Inbound::TryLater);
        }
        let current = match group.as_ref() {
            Some(g) => Some(g.session.clone()),
            None => match self.contacts.get(&cid) {
                Some(state) => state.session.clone(),
                None => {
                    let r = self.hostile("message for removed contact");
                    return set(out, i, r);
                }
            },
        };
        let Some(mut next) = current else {
            let r = self.hostile("message before handshake");
            return set(out, i, r);
        };
        // Read ahead of a mailbox backlog that is still being collected, this message
        // would give up keys of messages the mailbox is about to hand over: the sender
        // tries it again a little later (bounded by MAILBOX_CATCH_UP_MS). Judged from the
        // header alone, so holding it back costs no chain walk.
        if !self.reading_mail
            && self.now_ms() < self.catch_up_until_ms
            && next.would_give_up_keys(env)
        {
            return set(out, i, Inbound::TryLater);
        }
        let plain = match next.decrypt(env, self.now_secs()) {
            Ok(p) => {
                self.heard_from(&cid);
                p
            }
            // Authentic but already processed: a retransmission; acknowledge it again —
            // but only to the contact itself (or our mailbox). Anyone else holding a copy
            // gets the answer junk gets, and so cannot learn which node it is for.
            Err(DecryptError::Replayed) => {
                let from_contact = self.direct_from.is_none_or(|p| {
                    self.contacts
                        .get(&cid)
                        .is_some_and(|c| c.contact.peer_id == p.to_bytes())
                });
                if !from_contact {
                    let r = self.hostile("replay from someone other than the contact");
                    return set(out, i, r);
                }
                self.heard_from(&cid);
                return set(out, i, Inbound::Processed);
            }
            // Authentic header, but further ahead than this session can walk: keep it
            // (a mailbox holds it; deleting it as junk would lose the message) and say
            // once that this conversation needs a session reset.
            Err(DecryptError::TooFarAhead) => {
                self.heard_from(&cid);
                if self.too_far_ahead.insert(cid) {
                    let alias = self
                        .contacts
                        .get(&cid)
                        .map(|c| c.contact.alias.clone())
                        .unwrap_or_default();
                    tracing::warn!("a contact's message is too far ahead of the session");
                    self.emit(Event::error(
                        ErrorCode::SessionBehind,
                        format!(
                            "messages from {alias} are too far ahead of your session to be read; \
                             reset the session with them"
                        ),
                    ));
                }
                return set(out, i, Inbound::Kept);
            }
            Err(_) => {
                let r = self.hostile("message failed authentication");
                return set(out, i, r);
            }
        };
        let content = Content::decode(&plain);
        let content = match content {
            Ok(Content::Chunk {
                file,
                index,
                sealed,
            }) => {
                let chunk = files::Chunk {
                    item: i,
                    file,
                    index,
                    sealed,
                };
                return match self.join_chunk_run(group, cid, next, chunk, out) {
                    files::Joined::Yes => {}
                    files::Joined::Again => self.inbound_message_into(env, i, group, out),
                };
            }
            c => c,
        };
        if group.as_ref().is_some_and(|g| g.run.is_some()) {
            // Chunks before this: stored first (as below for texts before other content).
            if !self.finish_group(group.take(), out) {
                return set(out, i, Inbound::TryLater);
            }
            return self.inbound_message_into(env, i, group, out);
        }
        if let Ok(Content::Text {
            id,
            sent_at_ms,
            text,
        }) = content
        {
            let message = NewMessage {
                id: MessageId(id),
                direction: Direction::Incoming,
                text,
                created_at_ms: sent_at_ms,
                received_at_ms: None,
                state: DeliveryState::Received,
                group: None,
            };
            match group {
                Some(g) => {
                    g.session = next;
                    g.indices.push(i);
                    g.messages.push(message);
                }
                None => {
                    *group = Some(TextGroup {
                        cid,
                        session: next,
                        indices: vec![i],
                        messages: vec![message],
                        run: None,
                    })
                }
            }
            return;
        }
        if group.is_some() {
            // Texts before this one are waiting: store them (with their receipt, which
            // moves our sending chain) first, then decrypt this one again on top of
            // the stored state, so no state is ever written over a newer one.
            if !self.finish_group(group.take(), out) {
                return set(out, i, Inbound::TryLater);
            }
            return self.inbound_message_into(env, i, group, out);
        }
        let r = match content {
            Ok(c) => self.inbound_content(cid, next, c),
            Err(_) => {
                // Authentic but unreadable (a newer version): keep the ratchet moving —
                // in memory only once it is stored, so memory never runs ahead of the disk.
                if self
                    .profile
                    .store
                    .put_session(&cid, &SecretBytes::from_slice(&next.to_bytes()))
                    .is_err()
                {
                    return set(out, i, Inbound::TryLater);
                }
                self.dirty = true;
                if let Some(s) = self.contacts.get_mut(&cid) {
                    s.session = Some(next);
                }
                self.hostile("unreadable content")
            }
        };
        set(out, i, r);
    }

    /// Stores a group of texts with one receipt for all of them, in one transaction:
    /// messages, dedup ids, ratchet state, receipt. Sets their outcomes; false if it
    /// could not (the sender retries; the ratchet state in memory is unchanged).
    pub(super) fn finish_group(&mut self, group: Option<TextGroup>, out: &mut [Inbound]) -> bool {
        let Some(TextGroup {
            cid,
            mut session,
            indices,
            mut messages,
            run,
        }) = group
        else {
            return true;
        };
        if let Some(run) = run {
            return self.finish_chunk_run(cid, Some(session), run, out);
        }
        let now = self.now_ms();
        for m in &mut messages {
            m.received_at_ms = Some(now);
        }
        let ids: Vec<[u8; 16]> = messages.iter().map(|m| m.id.0).collect();
        let receipt = Content::Receipt(ids)
            .encode()
            .ok()
            .and_then(|r| session.encrypt(&r, now / 1000, &mut self.rng).ok());
        let stored = match receipt {
            Some(receipt_env) => {
                let mut rid = [0u8; 16];
                self.rng.fill_bytes(&mut rid);
                let receipt_wire = receipt_env.encode();
                self.profile
                    .store
                    .record_incoming_batch(
                        &cid,
                        &SecretBytes::from_slice(&session.to_bytes()),
                        &messages,
                        MessageId(rid),
                        &receipt_wire,
                        now,
                    )
                    .map(|outcomes| (outcomes.after_next_flush(), rid, receipt_wire))
                    .map_err(|e| self.emit(Event::error(ErrorCode::StoreFailed, e.to_string())))
                    .ok()
            }
            None => None,
        };
        let Some(((outcomes, reports), rid, receipt_wire)) = stored else {
            for i in indices {
                set(out, i, Inbound::TryLater);
            }
            return false;
        };
        let alias = match self.contacts.get_mut(&cid) {
            Some(s) => {
                s.session = Some(session);
                s.contact.alias.clone()
            }
            None => String::new(),
        };
        for ((i, m), outcome) in indices.into_iter().zip(messages).zip(outcomes) {
            if let Incoming::Stored { .. } = outcome {
                self.deferred.push(Deferred::Emit(Event::Message {
                    from: alias.clone().into(),
                    id: api::MessageId::of(&m.id),
                    text: m.text,
                    sent_at: m.created_at_ms,
                }));
            }
            set(out, i, Inbound::Processed);
        }
        self.deferred.push(Deferred::Reported(reports));
        self.defer_mirror(cid, MessageId(rid), CONTROL_SEQ, receipt_wire, now);
        true
    }

    /// Applies a decrypted message that is not a text (receipt, card); `next` is the
    /// ratchet state after decrypting it.
    pub(super) fn inbound_content(
        &mut self,
        cid: ContactId,
        next: Session,
        content: Content,
    ) -> Inbound {
        let now = self.now_ms();
        match content {
            Content::Text { .. } => Inbound::Dropped,
            Content::Receipt(ids) => {
                // Under the session in use: an answer of ours it names was not taken.
                self.answers_not_taken(&cid, &ids);
                // The mirror holds every pending outbox entry (an envelope leaves only once
                // mirrored), so an id not in it for this contact confirms nothing to do: only
                // mirrored ids go to the store, with their sequence number. Each id once: a
                // receipt that repeats one must not count it twice.
                let mut seen = BTreeSet::new();
                let ids: Vec<(MessageId, Option<u64>)> = ids
                    .into_iter()
                    .map(MessageId)
                    .filter(|id| seen.insert(*id))
                    .filter_map(|id| {
                        let e = self.outbox.get(&id).filter(|e| e.contact == cid)?;
                        Some((id, Some(e.seq)))
                    })
                    .collect();
                // Batch records whose last pending entries this receipt confirms go in
                // the same write (every id with a known sequence number becomes done).
                let mut left: BTreeMap<BatchId, usize> = BTreeMap::new();
                for (id, seq) in &ids {
                    if seq.is_some_and(|s| s != CONTROL_SEQ) {
                        if let Some(b) = self.batch_of.get(id) {
                            let n = left
                                .entry(*b)
                                .or_insert_with(|| self.batch_left.get(b).copied().unwrap_or(0));
                            *n = n.saturating_sub(1);
                        }
                    }
                }
                let retire: Vec<BatchId> = left
                    .iter()
                    .filter(|(_, n)| **n == 0)
                    .map(|(b, _)| *b)
                    .collect();
                let bytes = SecretBytes::from_slice(&next.to_bytes());
                // The ids whose `delivered` the client is owed (see below).
                let own = |id: &MessageId| {
                    !self.files.parts.contains_key(id)
                        && !self.copy_of.contains_key(id)
                        && !self.copies_sent.contains_key(id)
                };
                match self
                    .profile
                    .store
                    .apply_receipt_reporting(&cid, &bytes, &ids, &retire, &own, now)
                    .map(Staged::after_next_flush)
                {
                    Ok((done, reports)) => {
                        if let Some(s) = self.contacts.get_mut(&cid) {
                            s.session = Some(next);
                        }
                        // Our copies (group content, introductions): no `delivered` of an
                        // id the client never saw; their records go.
                        let copies: Vec<MessageId> = done
                            .iter()
                            .filter(|m| self.copies_sent.contains_key(m))
                            .copied()
                            .collect();
                        self.dirty = true;
                        for (b, n) in left {
                            if n == 0 {
                                self.batch_left.remove(&b);
                            } else {
                                self.batch_left.insert(b, n);
                            }
                        }
                        for mid in done {
                            self.batch_of.remove(&mid);
                            self.entry_done(&mid);
                            if !self.file_part_delivered(&mid)
                                && !self.group_copy_delivered(&mid)
                                && !copies.contains(&mid)
                            {
                                self.deferred.push(Deferred::Emit(Event::Delivered {
                                    id: api::MessageId::of(&mid),
                                }));
                            }
                        }
                        self.deferred.push(Deferred::Reported(reports));
                        self.forget_delivered_copies(&copies);
                        self.pump_contact(cid);
                        Inbound::Processed
                    }
                    Err(_) => Inbound::TryLater,
                }
            }
            Content::Timer { set_at_ms, seconds } => {
                // The later setting wins (by the setters' clocks), so two people changing
                // it at once end with the same timer. Applied before the session moves: a
                // crash in between makes the envelope come again, and applying is idempotent.
                let newer = set_at_ms > self.timer_set_at(&cid);
                if newer && self.store_timer(&cid, seconds, set_at_ms).is_err() {
                    return Inbound::TryLater;
                }
                let bytes = SecretBytes::from_slice(&next.to_bytes());
                if self.profile.store.put_session(&cid, &bytes).is_err() {
                    return Inbound::TryLater;
                }
                let Some(s) = self.contacts.get_mut(&cid) else {
                    return Inbound::Dropped;
                };
                s.session = Some(next);
                if newer {
                    let alias = s.contact.alias.clone();
                    self.emit(Event::ExpireSet {
                        alias: alias.into(),
                        seconds,
                        by_contact: true,
                    });
                }
                Inbound::Processed
            }
            Content::Protocol(newest) => self.inbound_protocol(cid, next, newest),
            Content::Group { copy, group, body } => {
                self.inbound_group(cid, next, copy, group, body)
            }
            Content::Introduction { copy, intros } => self.inbound_intros(cid, next, copy, intros),
            c @ (Content::File { .. } | Content::Chunk { .. } | Content::FileControl { .. }) => {
                self.inbound_file(cid, next, c)
            }
            Content::TakesBulk { file, span } => self.inbound_takes_bulk(cid, next, file, span),
            Content::Card(card) => {
                let Some(mut contact) = self.contacts.get(&cid).map(|s| s.contact.clone()) else {
                    return Inbound::Dropped;
                };
                contact.addresses = addr_strings(&card.addrs);
                contact.mailbox = mailbox_string(card.mailbox.as_ref());
                // Stored first; memory follows only what the disk holds.
                let bytes = SecretBytes::from_slice(&next.to_bytes());
                let stored = self
                    .profile
                    .store
                    .put_contact(&contact)
                    .and_then(|_| self.profile.store.put_session(&cid, &bytes));
                if stored.is_err() {
                    return Inbound::TryLater;
                }
                if let Some(s) = self.contacts.get_mut(&cid) {
                    s.session = Some(next);
                    s.contact = contact;
                }
                Inbound::Processed
            }
        }
    }

    // ---------------------------------------------------------------- swarm
}

/// Texts of one contact decrypted in a row, waiting to be stored with one receipt.
pub(super) struct TextGroup {
    pub(super) cid: ContactId,
    /// The ratchet state after the last of them.
    pub(super) session: Session,
    /// Their indices in the batch, and the messages.
    pub(super) indices: Vec<usize>,
    pub(super) messages: Vec<NewMessage>,
    /// Or, instead of texts, chunks of one file (`files/inbound.rs`).
    pub(super) run: Option<files::ChunkRun>,
}

impl TextGroup {
    /// Items in the group (each named in its receipt).
    fn len(&self) -> usize {
        self.messages.len() + self.run.as_ref().map_or(0, |r| r.items.len())
    }
}

pub(super) fn set(out: &mut [Inbound], i: usize, r: Inbound) {
    if let Some(slot) = out.get_mut(i) {
        *slot = r;
    }
}

/// What happened to an inbound envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Inbound {
    /// Stored or already had it: acknowledge.
    Processed,
    /// Authentic, but this session cannot read it now (too far ahead in its chain):
    /// never acknowledged, so a mailbox keeps it and a sender retries it.
    Kept,
    /// Not ours, forged or malformed: no reply.
    Dropped,
    /// Could not store it now: the sender should retry.
    TryLater,
}
