//! The outbox: scheduling, backoff, batching, routes (direct or the contact's
//! mailbox, and which addresses may be dialled), hops taken, receipts awaited, and
//! renewing what was never acknowledged.

use super::*;

/// An outbox entry after [`Runtime::count_attempt`].
struct Counted {
    seq: u64,
    contact: ContactId,
    attempts: u32,
}

/// Setting: the profile card last sent to the contacts.
const CARD_SETTING: &str = "last-announced-card";

/// Failures of an envelope, the last of them a drop by the contact, before it is taken as
/// unreadable by the contact ([`Runtime::dropped_by_contact`]).
pub(super) const MAX_DROPS: u32 = 4;

impl<S: Shell> Runtime<S> {
    pub(super) fn process_outbox(&mut self, now: u64) {
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            return;
        }
        let mut due: Vec<&OutboxEntry> = self
            .outbox
            .values()
            .filter(|e| e.next_attempt_at_ms <= now && !self.in_flight.contains(&e.message_id))
            // Nothing leaves for a blocked contact (it waits, should the block be lifted).
            .filter(|e| !self.blocked.contains(&e.contact))
            // A message a hop took waits for `renew_unacknowledged` (at the next tick).
            .filter(|e| {
                e.attempts == 0 || e.seq == CONTROL_SEQ || self.renewed.contains(&e.message_id)
            })
            .filter(|e| {
                self.backoff
                    .get(&e.message_id)
                    .is_none_or(|(_, next)| *next <= now)
            })
            .collect();
        schedule::order_due(&mut due, &self.answers, |id| self.files.place(id));
        let room = MAX_IN_FLIGHT - self.in_flight.len();
        let bulk = self.bulk_contacts();
        let batches = schedule::plan_batches(&due, &self.requests, &bulk, room);
        for batch in batches {
            match <[OutboxEntry; 1]>::try_from(batch) {
                Ok([entry]) => self.attempt(&entry, Route::Direct),
                Err(batch) => self.attempt_batch(batch),
            }
        }
    }

    /// Records a delivery request, which takes one of its contact's slots.
    pub(super) fn request_started(&mut self, rid: RequestId, pending: Pending) {
        if let Pending::Outbox { contact, .. } | Pending::Batch { contact, .. } = &pending {
            *self.requests.entry(*contact).or_default() += 1;
        }
        self.pending.insert(rid, pending);
    }

    /// The request is answered or failed: forgets it, and frees its contact's slot.
    pub(super) fn take_pending(&mut self, rid: &RequestId) -> Option<Pending> {
        let pending = self.pending.remove(rid)?;
        if let Some(peer) = self.mailbox_rids.remove(rid) {
            if let Some(n) = self.mailbox_load.get_mut(&peer) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.mailbox_load.remove(&peer);
                }
            }
        }
        if let Pending::Outbox { contact, .. } | Pending::Batch { contact, .. } = &pending {
            if let Some(n) = self.requests.get_mut(contact) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.requests.remove(contact);
                }
            }
        }
        Some(pending)
    }

    /// Sends several envelopes for one contact in one `DeliverBatch`.
    pub(super) fn attempt_batch(&mut self, batch: Vec<OutboxEntry>) {
        let Some(contact) = batch.first().map(|e| e.contact) else {
            return;
        };
        let ids: Vec<MessageId> = batch.iter().map(|e| e.message_id).collect();
        let Some((peer, addrs)) = self.contact_target(&contact) else {
            return self.entries_failed(ids, Route::Direct, contact);
        };
        let req = Request::DeliverBatch(batch.into_iter().map(|e| e.envelope).collect());
        let rid = self.shell.send_request(&peer, req, addrs);
        self.in_flight.extend(ids.iter().copied());
        self.request_started(
            rid,
            Pending::Batch {
                contact,
                ids,
                route: Route::Direct,
            },
        );
    }

    /// Hops did not take these entries of `contact` on `route`: what failed directly goes
    /// to the contact's mailbox at once, in `MailboxPutBatch` requests; the rest backs off.
    /// Entries that left the outbox meanwhile (their receipt came) are only forgotten.
    pub(super) fn entries_failed(&mut self, ids: Vec<MessageId>, route: Route, contact: ContactId) {
        let mailbox = self.contact_mailbox(&contact);
        let mut fallback: Vec<OutboxEntry> = Vec::new();
        for id in ids {
            self.in_flight.remove(&id);
            let direct_only = self.direct_only(&id);
            let Some(entry) = self.outbox.get(&id) else {
                continue;
            };
            if route == Route::Direct && mailbox.is_some() && !direct_only {
                fallback.push(entry.clone());
            } else {
                self.back_off(id);
            }
        }
        let Some((peer, addr)) = mailbox else {
            return;
        };
        if self.mailbox_busy(&peer) {
            // Its requests in flight are at the cap: try again shortly, in order.
            for e in fallback {
                self.wait_for_mailbox(e.message_id);
            }
            return;
        }
        if fallback.len() == 1 || self.no_mailbox_batch.contains(&peer) {
            for e in fallback {
                self.attempt(&e, Route::Mailbox);
            }
            return;
        }
        // Packed like a DeliverBatch: at most MAX_BATCH and MAX_REQUEST_LEN per request.
        let mut batch: Vec<OutboxEntry> = Vec::new();
        let mut bytes = 0;
        for e in fallback {
            let len = e.envelope.len();
            if !batch.is_empty()
                && (batch.len() >= MAX_BATCH || Request::batch_len([bytes, len]) > MAX_REQUEST_LEN)
            {
                self.attempt_mailbox_batch(contact, peer, &addr, std::mem::take(&mut batch));
                bytes = 0;
            }
            bytes += 4 + len;
            batch.push(e);
        }
        if !batch.is_empty() {
            self.attempt_mailbox_batch(contact, peer, &addr, batch);
        }
    }

    /// Deposits several entries of `contact` into its mailbox with one request.
    pub(super) fn attempt_mailbox_batch(
        &mut self,
        contact: ContactId,
        peer: PeerId,
        addr: &Multiaddr,
        batch: Vec<OutboxEntry>,
    ) {
        let ids: Vec<MessageId> = batch.iter().map(|e| e.message_id).collect();
        if self.mailbox_busy(&peer) {
            for id in ids {
                self.wait_for_mailbox(id);
            }
            return;
        }
        let req = Request::MailboxPutBatch(batch.into_iter().map(|e| e.envelope).collect());
        let rid = self.shell.send_request(&peer, req, vec![addr.clone()]);
        self.mailbox_started(rid, peer);
        self.in_flight.extend(ids.iter().copied());
        self.request_started(
            rid,
            Pending::Batch {
                contact,
                ids,
                route: Route::Mailbox,
            },
        );
    }

    /// If our reachable addresses or mailbox changed since we last told our contacts,
    /// send them the new profile card (through the outbox: directly, or into their
    /// mailbox), so a contact whose view of us is stale still reaches us.
    pub(super) fn announce_card_if_changed(&mut self) {
        const SETTING: &str = CARD_SETTING;
        if self.switch_under_way() {
            // The card of the mode being left must not follow the new one.
            return;
        }
        let card = self.card();
        let Ok(bytes) = card.to_bytes() else {
            return;
        };
        let previous = self.profile.store.setting(SETTING).ok().flatten();
        if previous.as_deref() == Some(bytes.as_slice()) {
            return;
        }
        let Ok(plain) = Content::Card(card).encode() else {
            return;
        };
        let ids: Vec<ContactId> = self.contacts.keys().copied().collect();
        for cid in ids {
            self.send_control(&cid, &plain);
        }
        let _ = self.profile.store.set_setting(SETTING, &bytes);
    }

    /// Encrypts a control content for `cid` and queues it with the new ratchet state in one
    /// transaction (sent like a message, not resent once a hop took it): its outbox id, or
    /// `None` if there is no session yet or it could not be stored.
    pub(super) fn send_control(&mut self, cid: &ContactId, plain: &[u8]) -> Option<MessageId> {
        let now = self.now_ms();
        let state = self.contacts.get_mut(cid)?;
        let mut next = state.session.as_ref()?.clone();
        let env = next.encrypt(plain, now / 1000, &mut self.rng).ok()?;
        let mut rid = [0u8; 16];
        self.rng.fill_bytes(&mut rid);
        let b = SecretBytes::from_slice(&next.to_bytes());
        let wire = env.encode();
        if self
            .profile
            .store
            .queue_control(cid, Some(&b), MessageId(rid), &wire, now)
            .is_err()
        {
            return None;
        }
        state.session = Some(next);
        self.mirror(*cid, MessageId(rid), CONTROL_SEQ, wire, now);
        Some(MessageId(rid))
    }

    /// After a start: connect to every contact, so both sides see each other online
    /// and retry at once instead of waiting out a backoff that began while we were
    /// down.
    pub(super) fn reconnect_pending(&mut self) {
        let contacts: Vec<ContactId> = self
            .contacts
            .keys()
            .filter(|id| !self.blocked.contains(id))
            .copied()
            .collect();
        for cid in contacts {
            if let Some((peer, addrs)) = self.contact_target(&cid) {
                let _ = self.shell.dial(Dial {
                    peer: Some(peer),
                    addrs,
                    ..Dial::default()
                });
            }
        }
    }

    /// Whether local addresses may be dialled (LAN mode or `--private-addresses`).
    pub(super) fn allow_local(&self) -> bool {
        self.config.lan || self.config.private_addresses
    }

    /// A contact's PeerId and the addresses of it the node may dial.
    pub(super) fn contact_target(&mut self, cid: &ContactId) -> Option<(PeerId, Vec<Multiaddr>)> {
        let allow_local = self.allow_local();
        let c = &self.contacts.get(cid)?.contact;
        let peer = PeerId::from_bytes(&c.peer_id).ok()?;
        let all: Vec<Multiaddr> = c.addresses.iter().filter_map(|a| a.parse().ok()).collect();
        let addrs: Vec<Multiaddr> = all
            .iter()
            .filter(|a| addresses::dialable(a, allow_local))
            .cloned()
            .collect();
        if addrs.is_empty() && !all.is_empty() && self.warned_local.insert(*cid) {
            let alias = c.alias.clone();
            self.emit(Event::error(
                ErrorCode::LocalAddressesOnly,
                format!(
                    "{alias} can only be reached at local addresses (loopback, LAN or \
                     link-local), which are dialled only with --lan or --private-addresses; \
                     messages go through the mailbox"
                ),
            ));
        }
        Some((peer, addrs))
    }

    /// A contact's mailbox (its relay) as PeerId and address, if the node may dial it.
    pub(super) fn contact_mailbox(&self, cid: &ContactId) -> Option<(PeerId, Multiaddr)> {
        let addr = self
            .contacts
            .get(cid)?
            .contact
            .mailbox
            .as_ref()?
            .parse::<Multiaddr>()
            .ok()?;
        let peer = peer_of(&addr)?;
        // A mailbox at a local address is dialled only where local addresses are — or when
        // it is our own relay, which this node dials anyway.
        let ours = self.relay.as_ref().is_some_and(|(p, _)| *p == peer);
        if !ours && !addresses::dialable(&addr, self.allow_local()) {
            return None;
        }
        Some((peer, addr))
    }

    pub(super) fn attempt(&mut self, entry: &OutboxEntry, route: Route) {
        let req;
        let (peer, addrs) = match route {
            Route::Direct => {
                let Some(t) = self.contact_target(&entry.contact) else {
                    return self.attempt_failed(entry.message_id, route, entry.contact);
                };
                req = Request::Deliver(entry.envelope.clone());
                t
            }
            Route::Mailbox => {
                let Some((peer, addr)) = self.contact_mailbox(&entry.contact) else {
                    return self.attempt_failed(entry.message_id, route, entry.contact);
                };
                if self.mailbox_busy(&peer) {
                    self.in_flight.remove(&entry.message_id);
                    return self.wait_for_mailbox(entry.message_id);
                }
                req = Request::MailboxPut(entry.envelope.clone());
                (peer, vec![addr])
            }
        };
        let rid = self.shell.send_request(&peer, req, addrs);
        if route == Route::Mailbox {
            self.mailbox_started(rid, peer);
        }
        self.in_flight.insert(entry.message_id);
        self.request_started(
            rid,
            Pending::Outbox {
                id: entry.message_id,
                route,
                contact: entry.contact,
            },
        );
    }

    pub(super) fn attempt_failed(&mut self, id: MessageId, route: Route, contact: ContactId) {
        self.in_flight.remove(&id);
        // Fall back to the contact's mailbox at once — unless it is part of a file too
        // large for the mailbox, which waits for a direct connection.
        if route == Route::Direct && !self.direct_only(&id) {
            let has_mailbox = self
                .contacts
                .get(&contact)
                .is_some_and(|c| c.contact.mailbox.is_some());
            if has_mailbox {
                if let Ok(Some(entry)) = self.outbox_entry(&id) {
                    return self.attempt(&entry, Route::Mailbox);
                }
            }
        }
        self.back_off(id);
    }

    /// The PeerId of `contact`'s mailbox.
    pub(super) fn mailbox_of(&self, contact: &ContactId) -> Option<PeerId> {
        self.contact_mailbox(contact).map(|(p, _)| p)
    }

    /// Whether deposits into the mailbox at `peer` are at [`MAX_MAILBOX_REQUESTS`].
    pub(super) fn mailbox_busy(&self, peer: &PeerId) -> bool {
        self.mailbox_load.get(peer).copied().unwrap_or(0) >= MAX_MAILBOX_REQUESTS
    }

    /// Counts a deposit request to the mailbox at `peer` until it is answered or fails.
    pub(super) fn mailbox_started(&mut self, rid: RequestId, peer: PeerId) {
        *self.mailbox_load.entry(peer).or_default() += 1;
        self.mailbox_rids.insert(rid, peer);
    }

    /// `id` waits for a free request slot of its mailbox: a short wait that does not count
    /// as a failed attempt.
    pub(super) fn wait_for_mailbox(&mut self, id: MessageId) {
        let attempts = self.backoff.get(&id).map_or(0, |(a, _)| *a);
        let next = self.now_ms() + 200 + self.rng.gen_range(0..200);
        self.backoff.insert(id, (attempts, next));
    }

    /// The next attempt of `id` waits (exponential backoff with jitter).
    pub(super) fn back_off(&mut self, id: MessageId) {
        let attempts = self.backoff.get(&id).map_or(0, |(a, _)| *a) + 1;
        let next = self.now_ms() + schedule::backoff_delay(attempts, &mut self.rng);
        self.backoff.insert(id, (attempts, next));
    }

    /// The contact dropped an envelope of ours without an answer (or refused it as not
    /// authentic in a batch), which is what a node does with an envelope it cannot read:
    /// its keys for that chain position are gone (the envelope waited while the session
    /// moved on past what the contact keeps of old chains, `MAX_SKIPPED_STEPS`). Retrying
    /// the same envelope can never succeed: it stayed in the outbox for ever (found by the
    /// simulator's bounded-memory invariant, for a receipt). After [`MAX_DROPS`] failures,
    /// the last of them such a drop — or [`MAX_DROPS`] such drops, whatever came between
    /// (a single envelope's or a batch's) — a message is encrypted again at the next tick, at the
    /// session's current position (a renewal, counted against [`MAX_RENEWALS`]), and a
    /// control envelope — never encrypted again — is given up as if a mailbox had taken it;
    /// what it may have carried is sent again freshly encrypted where that matters: the
    /// profile card at the next tick, the protocol announcement when the contact is next
    /// heard from (a receipt comes again with the renewed messages it confirms). True if
    /// the envelope was dealt with here.
    pub(super) fn dropped_by_contact(&mut self, id: MessageId) -> bool {
        let now = self.now_ms();
        let Some((seq, contact)) = self.outbox.get(&id).map(|e| (e.seq, e.contact)) else {
            return false;
        };
        if self.awaits_answer(&id, now) {
            return false;
        }
        // Failures of any kind since the last backoff reset (a reconnect clears it), or
        // refusals as unreadable since the envelope last got through (kept across
        // reconnects: on a link that keeps dropping, backoff alone never got there — sim-long
        // seed 121618, a reset's receipt retried for ever).
        let failures = self.backoff.get(&id).map_or(0, |(a, _)| *a);
        let refusals = self.refusals.entry(id).or_default();
        *refusals += 1;
        if failures + 1 < MAX_DROPS && *refusals < MAX_DROPS {
            return false;
        }
        self.refusals.remove(&id);
        self.in_flight.remove(&id);
        self.backoff.remove(&id);
        if seq != CONTROL_SEQ {
            self.renewed.remove(&id);
            self.count_attempt(id, |_| now);
            tracing::info!("a message the contact cannot read is encrypted again");
            return true;
        }
        let _ = self
            .profile
            .store
            .remove_controls(&[id])
            .map(Staged::relaxed);
        self.outbox.remove(&id);
        let _ = self.profile.store.remove_setting(CARD_SETTING);
        self.announced.remove(&contact);
        tracing::info!("a control envelope the contact cannot read was given up");
        true
    }

    /// Counts one more attempt of outbox entry `id` (a hop took it, or its contact could not
    /// read it) and makes it due at `next_at(attempts)` — except a message past
    /// [`MAX_RENEWALS`], which waits for its contact to be heard from. Returns the entry's
    /// new sequence number, contact and attempts.
    fn count_attempt(
        &mut self,
        id: MessageId,
        next_at: impl FnOnce(u32) -> u64,
    ) -> Option<Counted> {
        let entry = self.outbox.get_mut(&id)?;
        entry.attempts = entry.attempts.saturating_add(1);
        if entry.seq != CONTROL_SEQ && entry.attempts > MAX_RENEWALS {
            entry.next_attempt_at_ms = u64::MAX;
            self.parked.entry(entry.contact).or_default().push(id);
        } else {
            entry.next_attempt_at_ms = next_at(entry.attempts);
        }
        Some(Counted {
            seq: entry.seq,
            contact: entry.contact,
            attempts: entry.attempts,
        })
    }

    /// A hop did not take an entry (failure or refusal): mailbox fallback, then backoff
    /// — unless the entry left the outbox meanwhile (its receipt came).
    pub(super) fn entry_failed(&mut self, id: MessageId, route: Route, contact: ContactId) {
        if self.outbox.contains_key(&id) {
            self.attempt_failed(id, route, contact);
        } else {
            self.in_flight.remove(&id);
        }
    }

    pub(super) fn outbox_entry(&self, id: &MessageId) -> Result<Option<OutboxEntry>, String> {
        Ok(self.outbox.get(id).cloned())
    }

    /// An entry is done (receipted): it leaves the outbox and every per-entry mark.
    pub(super) fn entry_done(&mut self, id: &MessageId) -> Option<OutboxEntry> {
        self.in_flight.remove(id);
        self.backoff.remove(id);
        self.refusals.remove(id);
        self.renewed.remove(id);
        self.outbox.remove(id)
    }

    /// A hop took these entries. Messages now wait for their receipt (and are resent
    /// if none comes); control entries are done, except a handshake init, which stays
    /// until the response arrives, and a handshake answer, which stays until the acceptor
    /// is heard from (at most [`ANSWER_KEPT_MS`]). One store write for all of them.
    pub(super) fn hops_accepted(&mut self, ids: Vec<MessageId>) {
        self.switch_hops(&ids);
        // A bulk chunk went only to the contact's node, which answered once it was stored:
        // that answer is its receipt.
        let (bulk, ids): (Vec<MessageId>, Vec<MessageId>) = ids.into_iter().partition(|id| {
            self.outbox
                .get(id)
                .is_some_and(|e| files::is_bulk(&e.envelope))
        });
        if !bulk.is_empty() {
            self.bulk_delivered(bulk);
        }
        let now = self.now_ms();
        let resend = u64::try_from(self.config.resend_after.as_millis()).unwrap_or(600_000);
        let mut sent: Vec<(MessageId, ContactId, u64, u64)> = Vec::new();
        let mut done: Vec<MessageId> = Vec::new();
        for id in ids {
            self.in_flight.remove(&id);
            self.backoff.remove(&id);
            self.refusals.remove(&id);
            self.renewed.remove(&id);
            let Some(seq) = self.outbox.get(&id).map(|e| e.seq) else {
                continue;
            };
            if seq == CONTROL_SEQ && !self.awaits_answer(&id, now) {
                done.push(id);
                continue;
            }
            // Wait for the receipt (or the handshake response), then send again.
            let Some(entry) = self.count_attempt(id, |attempts| {
                now.saturating_add(renew_delay(resend, attempts))
            }) else {
                continue;
            };
            if entry.seq != CONTROL_SEQ && entry.seq != FILE_SEQ && entry.attempts == 1 {
                sent.push((id, entry.contact, entry.seq, now));
                if !self.is_group_copy(&id) {
                    self.emit(Event::Sent {
                        id: api::MessageId::of(&id),
                    });
                }
            }
        }
        if !done.is_empty() {
            let _ = self
                .profile
                .store
                .remove_controls(&done)
                .map(Staged::relaxed);
            for id in &done {
                if let Some(e) = self.outbox.remove(id) {
                    if self.answers.get(&e.contact) == Some(id) {
                        self.answers.remove(&e.contact);
                    }
                }
            }
        }
        self.sent_marks.extend(sent);
    }

    /// The clock went back by `delta` ms (set right after running ahead): every wait that
    /// was measured on the old clock moves back with it, so a retry or a renewal comes after
    /// the same wait on the new clock instead of `delta` later. Without this, a clock set
    /// back by hours held every unacknowledged message for those hours (found by the
    /// simulator, docs/SIMULATION.md).
    pub(super) fn clock_moved_back(&mut self, delta: u64) {
        for e in self.outbox.values_mut() {
            if e.next_attempt_at_ms != u64::MAX {
                e.next_attempt_at_ms = e.next_attempt_at_ms.saturating_sub(delta);
            }
        }
        for (_, next) in self.backoff.values_mut() {
            *next = next.saturating_sub(delta);
        }
        self.next_fetch_ms = self.next_fetch_ms.saturating_sub(delta);
        self.next_sweep_ms = self.next_sweep_ms.saturating_sub(delta);
        // So do the times things happened, which windows are measured from: a reset's grace
        // (a contact's messages under unknown tags answered "try later"), the mailbox's
        // catch-up, the last receipt to an answer, a stranger's last sign of life. Left as
        // they were, a clock set back by hours held a reset's ten-minute grace for those
        // hours, and the contact's envelopes under the old session were retried all that
        // time instead of refused and dropped (sim-long seed 152578).
        for t in self.reset_at.values_mut() {
            *t = t.saturating_sub(delta);
        }
        if self.catch_up_until_ms > 0 {
            self.catch_up_until_ms = self.catch_up_until_ms.saturating_sub(delta);
        }
        for t in self.acked_answers.values_mut() {
            *t = t.saturating_sub(delta);
        }
        for t in self.strangers.values_mut() {
            *t = t.saturating_sub(delta);
        }
    }

    /// After a start: no stored wait is longer than its stage allows on this clock (the
    /// clock may have been set back while the node was down).
    pub(super) fn bound_waits(&mut self, now: u64) {
        let resend = u64::try_from(self.config.resend_after.as_millis()).unwrap_or(600_000);
        for e in self.outbox.values_mut() {
            if e.next_attempt_at_ms != u64::MAX {
                let longest = now.saturating_add(renew_delay(resend, e.attempts.max(1)));
                e.next_attempt_at_ms = e.next_attempt_at_ms.min(longest);
            }
        }
    }

    /// Whether the control entry `id` must stay in the outbox after a hop took it: our
    /// handshake init until its answer arrives, our handshake answer until the acceptor
    /// is heard from (a mailbox can lose either; the other side cannot ask again).
    pub(super) fn awaits_answer(&self, id: &MessageId, now: u64) -> bool {
        let init = self
            .handshakes
            .values()
            .any(|(_, p)| MessageId(p.invite_id()) == *id);
        let answer = self.outbox.get(id).is_some_and(|e| {
            (self.answers.get(&e.contact) == Some(id) || self.is_candidate_answer(id))
                && e.created_at_ms.saturating_add(ANSWER_KEPT_MS) > now
        });
        init || answer
    }

    /// `cid` sent us something authentic: it has the session, so our handshake answer
    /// (if one is still kept) has arrived.
    pub(super) fn heard_from(&mut self, cid: &ContactId) {
        // Both sides have the session now: it can carry our protocol announcement (sent at
        // the next tick, never in the middle of reading a batch).
        if self
            .contacts
            .get(cid)
            .and_then(|c| c.session.as_ref())
            .is_some_and(|s| s.protocol() < cairn_crypto::Protocol::LATEST)
            && !self.announced.contains(cid)
        {
            self.announce_due = true;
        }
        if let Some(id) = self.answers.remove(cid) {
            if let Err(e) = self.outbox_done(&id, self.now_ms()) {
                tracing::warn!(error = %e, "could not retire a handshake answer");
            }
        }
        self.unpark(cid);
    }

    /// `cid` is alive (heard from, or connected): messages that used up their renewals
    /// without a receipt start a new round, the first after `resend_after`.
    pub(super) fn unpark(&mut self, cid: &ContactId) {
        let Some(ids) = self.parked.remove(cid) else {
            return;
        };
        let now = self.now_ms();
        let resend = u64::try_from(self.config.resend_after.as_millis()).unwrap_or(600_000);
        for id in ids {
            if let Some(e) = self.outbox.get_mut(&id) {
                if e.next_attempt_at_ms == u64::MAX && !self.renewed.contains(&id) {
                    e.attempts = 1;
                    e.next_attempt_at_ms = now.saturating_add(resend);
                }
            }
        }
    }

    /// Messages a hop took whose receipt did not come in time are encrypted again (same
    /// id, text and time, the next keys of the sending chain) before they are resent. If
    /// the recipient has the message and only its receipt was lost (a mailbox that expired
    /// or dropped it), the old envelope is recognised there as a replay and never
    /// acknowledged; a new one is decrypted, found in the dedup set (not shown twice) and
    /// acknowledged. The new envelope replaces the old one in the outbox together with the
    /// session, and leaves only once that is durable; meanwhile the entry is parked. This
    /// happens at most once per `resend_after` × hops per message, so the recipient's
    /// skipped keys stay few. Runs at each tick; until then `process_outbox` holds such
    /// entries back.
    pub(super) fn renew_unacknowledged(&mut self, now: u64) {
        let mut stale: BTreeMap<ContactId, Vec<MessageId>> = BTreeMap::new();
        for e in self.outbox.values() {
            if e.attempts > 0
                && e.seq != CONTROL_SEQ
                && e.next_attempt_at_ms <= now
                && !self.in_flight.contains(&e.message_id)
                && !self.renewed.contains(&e.message_id)
            {
                stale.entry(e.contact).or_default().push(e.message_id);
            }
        }
        for (cid, ids) in stale {
            let Some(mut next) = self.contacts.get(&cid).and_then(|c| c.session.clone()) else {
                continue;
            };
            let mut renewed = Vec::new();
            for id in ids {
                let Some(entry) = self.outbox.get(&id).cloned() else {
                    continue;
                };
                match self.encrypt_again(&cid, entry, &mut next, now) {
                    Some(e) => renewed.push(e),
                    // A message gone from the store (expired, wiped) or unreadable is resent
                    // as it was.
                    None => {
                        self.renewed.insert(id);
                    }
                }
            }
            if let Err(e) = self.commit_renewed(&cid, next, renewed) {
                tracing::warn!(error = %e, "renewing envelopes failed");
            }
        }
    }

    /// `entry` with its message encrypted again from the stored text under `next`.
    pub(super) fn encrypt_again(
        &mut self,
        cid: &ContactId,
        mut entry: OutboxEntry,
        next: &mut Session,
        now: u64,
    ) -> Option<OutboxEntry> {
        if entry.seq == FILE_SEQ {
            return self.file_encrypt_again(&entry, next);
        }
        let m = self.profile.store.message(cid, entry.seq).ok()??;
        let plain = match m.group {
            // A group's copy: the content it carries, as it was.
            Some(crate::store::GroupPart::Copy { content, .. }) => content,
            _ => Content::Text {
                id: m.id.0,
                sent_at_ms: m.created_at_ms,
                text: m.text,
            }
            .encode()
            .ok()?,
        };
        entry.envelope = next
            .encrypt(&plain, now / 1000, &mut self.rng)
            .ok()?
            .encode();
        entry.next_attempt_at_ms = now;
        Some(entry)
    }

    /// Stores `Sent` for messages a hop took that are still waiting for their receipt.
    pub(super) fn store_sent_marks(&mut self) {
        if self.sent_marks.is_empty() {
            return;
        }
        let marks: Vec<(ContactId, u64, u64)> = std::mem::take(&mut self.sent_marks)
            .into_iter()
            .filter(|(id, _, _, _)| self.outbox.contains_key(id))
            .map(|(_, c, seq, at)| (c, seq, at))
            .collect();
        if marks.is_empty() {
            return;
        }
        if let Err(e) = self.profile.store.mark_sent(&marks).map(Staged::relaxed) {
            tracing::warn!(error = %e, "mark_sent failed");
        }
    }
}
