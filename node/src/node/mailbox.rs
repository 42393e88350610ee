//! Collecting the node's own mail from its relay: fetches in flight, the keys
//! that open its tags, acknowledgements, and catching up on a backlog.

use super::*;

impl<S: Shell> Runtime<S> {
    /// An acknowledgement was answered (or failed): once none is left, a collection that
    /// found a full response goes on at the next tick.
    pub(super) fn ack_done(&mut self) {
        if self.fetch_more && !self.collecting() {
            self.fetch_more = false;
            // At once, not at the next tick: a backlog is collected at the pace of the
            // round trips, not of the timer.
            self.next_fetch_ms =
                self.now_ms() + u64::try_from(MAILBOX_POLL.as_millis()).unwrap_or(20_000);
            self.fetch_mail();
        }
    }

    /// Whether a collection is under way: fetches queued, or a fetch or acknowledgement
    /// waiting for its answer.
    pub(super) fn collecting(&self) -> bool {
        !self.fetch_queue.is_empty()
            || self
                .pending
                .values()
                .any(|p| matches!(p, Pending::Fetch | Pending::Ack))
    }

    pub(super) fn fetch_mail(&mut self) {
        if self.relay.is_none() {
            return;
        }
        // One collection at a time: the next starts when this one (and its
        // acknowledgements) is done, so the mailbox never hands out the same mail twice.
        if self.collecting() {
            return;
        }
        let mut keys: Vec<[u8; 32]> = Vec::new();
        self.fetch_keys.clear();
        let now = self.now_secs();
        let candidates = self.candidate_mailbox_keys(
            now + TAGS_AHEAD_SECS,
            MAILBOX_LOOKBACK_SECS + TAGS_AHEAD_SECS,
        );
        for k in self.session_mailbox_keys().into_iter().chain(candidates) {
            keys.push(k.to_array());
            self.fetch_keys.insert(k.tag(), k);
        }
        for (_, p) in self.handshakes.values() {
            keys.push(p.response_mailbox_key().to_array());
        }
        for (_, k) in self.reset_keys.values() {
            keys.push(k.init_mailbox_key().to_array());
        }
        // Answers to resets of ours we no longer wait for get a receipt (reset_answers.rs).
        for (_, k) in self.own_reset_keys.values() {
            keys.push(k.response_mailbox_key().to_array());
        }
        for (k, _) in self.invites.values() {
            keys.push(k.init_mailbox_key().to_array());
        }
        self.fetch_queue = keys.chunks(MAX_FETCH_KEYS).map(<[_]>::to_vec).collect();
        self.send_fetches();
    }

    /// The keys of the mail the contacts' sessions may send to our mailbox now. Oldest
    /// chain and epoch first: with each tag's mail in deposit order, a backlog comes back
    /// in the order it was written.
    fn session_mailbox_keys(&self) -> Vec<MailboxKey> {
        let now = self.now_secs();
        self.contacts
            .values()
            .filter_map(|c| c.session.as_ref())
            .flat_map(|s| {
                s.receive_mailbox_keys(
                    now + TAGS_AHEAD_SECS,
                    MAILBOX_LOOKBACK_SECS + TAGS_AHEAD_SECS,
                )
                .into_iter()
                .rev()
            })
            .collect()
    }

    /// The keys of the mail this node collects for its contacts' sessions (the simulator
    /// checks that none is left in the mailbox once the network healed).
    #[cfg(feature = "sim")]
    pub fn collected_mailbox_keys(&self) -> Vec<[u8; 32]> {
        self.session_mailbox_keys()
            .iter()
            .map(MailboxKey::to_array)
            .collect()
    }

    /// Sends queued fetch requests while fewer than [`MAX_FETCH_REQUESTS`] are answered:
    /// a node with many contacts stays within the relay's streams per connection.
    pub(super) fn send_fetches(&mut self) {
        let Some((relay, addr)) = self.relay.clone() else {
            self.fetch_queue.clear();
            return;
        };
        let mut pending = self
            .pending
            .values()
            .filter(|p| matches!(p, Pending::Fetch))
            .count();
        while pending < MAX_FETCH_REQUESTS {
            let Some(chunk) = self.fetch_queue.pop_front() else {
                break;
            };
            let rid =
                self.shell
                    .send_request(&relay, Request::MailboxFetch(chunk), vec![addr.clone()]);
            self.pending.insert(rid, Pending::Fetch);
            pending += 1;
        }
    }

    /// The mailbox key that opens `tag`, if it is one of ours.
    pub(super) fn mailbox_key_for(&self, tag: &RoutingTag) -> Option<MailboxKey> {
        if let Some(k) = self.fetch_keys.get(tag) {
            return Some(k.clone());
        }
        let now = self.now_secs();
        if let Some(cid) = self.tags.get(tag) {
            let s = self.contacts.get(cid)?.session.as_ref()?;
            return s
                .receive_mailbox_keys(
                    now + TAGS_AHEAD_SECS,
                    MAILBOX_LOOKBACK_SECS + TAGS_AHEAD_SECS,
                )
                .into_iter()
                .find(|k| k.tag() == *tag);
        }
        if let Some((_, p)) = self.handshakes.get(&tag.0) {
            return Some(p.response_mailbox_key().clone());
        }
        if let Some((_, k)) = self.reset_keys.get(&tag.0) {
            return Some(k.init_mailbox_key().clone());
        }
        self.invites
            .get(&tag.0)
            .map(|(k, _)| k.init_mailbox_key().clone())
    }

    /// Processes fetched mail and acknowledges what may go; returns how many envelopes were
    /// authentic (processed or kept).
    pub(super) fn got_mail(&mut self, items: Vec<([u8; 16], Vec<u8>)>) -> usize {
        let mut acks: BTreeMap<[u8; 32], Vec<[u8; 16]>> = BTreeMap::new();
        let (mids, envelopes): (Vec<[u8; 16]>, Vec<Vec<u8>>) = items.into_iter().unzip();
        self.reading_mail = true;
        let outcomes = self.inbound_envelopes(&envelopes);
        self.reading_mail = false;
        let authentic = outcomes
            .iter()
            .filter(|o| matches!(o, Inbound::Processed | Inbound::Kept))
            .count();
        tracing::debug!(n = outcomes.len(), authentic, "mail collected");
        for ((mid, bytes), processed) in mids.into_iter().zip(envelopes).zip(outcomes) {
            // Ack what we processed and what can never be processed (not ours / junk):
            // mail stays in the mailbox if storing it here failed, or if it is authentic
            // but cannot be read yet.
            if processed != Inbound::TryLater && processed != Inbound::Kept {
                if let Ok(env) = Envelope::decode(&bytes) {
                    if let Some(k) = self.mailbox_key_for(&env.tag) {
                        acks.entry(k.to_array()).or_default().push(mid);
                    }
                }
            }
        }
        // Delete from the mailbox only what is durable here.
        if !self.flush() {
            return authentic;
        }
        if let Some((relay, addr)) = self.relay.clone() {
            for (key, ids) in acks {
                let rid = self.shell.send_request(
                    &relay,
                    Request::MailboxAck { key, ids },
                    vec![addr.clone()],
                );
                self.pending.insert(rid, Pending::Ack);
            }
        }
        authentic
    }

    // ---------------------------------------------------------------- inbound
}
