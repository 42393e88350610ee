//! Session reset with an existing contact (docs/PROTOCOL.md §23): starting one, answering
//! one, settling two at once, and re-encrypting what waited under the old session.

use super::*;

impl<S: Shell> Runtime<S> {
    /// Starts a session reset with an existing contact: a handshake under the reset
    /// secret both can derive (docs/PROTOCOL.md §23). The old session stays in use until
    /// the answer comes; then what waits in the outbox is encrypted again under the new one.
    /// A reset already under way with that contact goes on: its first message is sent
    /// again now rather than replaced by a new one. (A replaced first message may still sit
    /// in the contact's mailbox; answered after the new one, it would leave the contact on a
    /// session whose other half we threw away — found by the simulator, docs/SIMULATION.md.)
    pub(super) fn cmd_reset(&mut self, alias: &str) {
        let Some(cid) = self.unblocked_contact(alias) else {
            return;
        };
        if self.resetting.contains(&cid) {
            return self.resend_reset(&cid);
        }
        self.start_reset(cid);
    }

    /// Sends the first message of our pending reset with `cid` again at once.
    fn resend_reset(&mut self, cid: &ContactId) {
        let now = self.now_ms();
        let firsts: Vec<MessageId> = self
            .handshakes
            .values()
            .filter(|(c, _)| c == cid)
            .map(|(_, p)| MessageId(p.invite_id()))
            .collect();
        for id in firsts {
            self.backoff.remove(&id);
            if let Some(e) = self.outbox.get_mut(&id) {
                e.next_attempt_at_ms = now;
            }
        }
        self.next_fetch_ms = 0;
        self.process_outbox(now);
    }

    /// Starts a reset with `cid` under the newest protocol both speak (a user's command,
    /// or an upgrade to a newer protocol).
    pub(super) fn start_reset(&mut self, cid: ContactId) {
        let Some(contact) = self.contacts.get(&cid).map(|c| c.contact.clone()) else {
            return;
        };
        let Ok(peer_bytes) = <[u8; 32]>::try_from(contact.identity_key.as_slice()) else {
            return self.emit(Event::error(
                ErrorCode::HandshakeFailed,
                "damaged contact key",
            ));
        };
        let peer = cairn_crypto::IdentityPublicKey::from_bytes(peer_bytes);
        let me = self.profile.identity.public();
        let Some(secret) = cairn_crypto::reset_secret(&self.profile.identity, &me, &peer) else {
            return self.emit(Event::error(
                ErrorCode::HandshakeFailed,
                "invalid contact key",
            ));
        };
        let invite = Invite {
            identity: peer,
            peer_id: contact.peer_id.clone(),
            addrs: contact
                .addresses
                .iter()
                .filter_map(|a| a.parse::<Multiaddr>().ok())
                .map(|a| a.to_vec())
                .take(cairn_crypto::card::MAX_ADDRS)
                .collect(),
            mailbox: contact
                .mailbox
                .as_ref()
                .and_then(|m| m.parse::<Multiaddr>().ok())
                .map(|a| a.to_vec()),
            secret,
            expires_at: u64::MAX,
            protocol: self.reset_protocol(&cid),
        };
        self.begin_reset(cid, &invite);
    }

    /// Runs the handshake of a reset with `cid` under `invite` (the reset secret's, or an
    /// invite from the contact's new device: rekey.rs).
    pub(super) fn begin_reset(&mut self, cid: ContactId, invite: &Invite) {
        let card = self.card();
        let (pending, first) =
            match handshake::initiate(&self.profile.identity, invite, &card, &mut self.rng) {
                Ok(x) => x,
                Err(e) => {
                    return self.emit(Event::error(ErrorCode::HandshakeFailed, e.to_string()))
                }
            };
        // A reset already under way is replaced by this one.
        self.abandon_reset(&cid);
        let store = &self.profile.store;
        let name = format!("{HANDSHAKE_SETTING_PREFIX}{}", hex(&cid.0));
        let now = self.now_ms();
        let first_id = MessageId(pending.invite_id());
        let result = store
            .set_setting(&name, &pending.to_bytes())
            .and_then(|_| store.queue_control(&cid, None, first_id, &first.encode(), now));
        if let Err(e) = result {
            return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
        }
        self.mirror(cid, first_id, CONTROL_SEQ, first.encode(), now);
        self.handshakes
            .insert(pending.response_tag().0, (cid, pending));
        self.resetting.insert(cid);
        self.next_fetch_ms = 0;
        self.process_outbox(now);
    }

    /// Gives up our own pending reset with `cid` (its first message leaves the outbox).
    /// Nothing of it is kept: a copy of its first message may still reach the contact and
    /// be answered, but the contact only moves to that session once it hears from us
    /// under it, which it never will (its answer gets a receipt under the session we
    /// hold, and the contact drops it: reset_answers.rs).
    pub(super) fn abandon_reset(&mut self, cid: &ContactId) {
        if !self.resetting.remove(cid) {
            return;
        }
        let tags: Vec<[u8; 16]> = self
            .handshakes
            .iter()
            .filter(|(_, (c, _))| c == cid)
            .map(|(t, _)| *t)
            .collect();
        for tag in tags {
            if let Some((_, pending)) = self.handshakes.remove(&tag) {
                let _ = self.outbox_done(&MessageId(pending.invite_id()), self.now_ms());
            }
        }
        let name = format!("{HANDSHAKE_SETTING_PREFIX}{}", hex(&cid.0));
        let _ = self.profile.store.remove_setting(&name);
    }

    /// A reset replaced the session with `cid`: what waits in the outbox for it was
    /// encrypted under the old one, which the contact no longer has. Messages are
    /// encrypted again under the new session (same ids: nothing is shown twice); control
    /// entries of the old session (receipts, cards) are dropped — but not `ack`, our
    /// receipt for the handshake's answer, already under the new session (without it the
    /// contact would not take the session: reset_answers.rs), nor the answers and first
    /// messages of resets still under way.
    pub(super) fn after_reset(&mut self, cid: &ContactId, ack: Option<MessageId>) {
        // Messages queued just before are stored but may not be mirrored in memory yet
        // (deferred until durable): settle them, or they would leave under the old session.
        self.flush();
        self.reset_at.insert(*cid, self.now_ms());
        self.too_far_ahead.remove(cid);
        self.parked.remove(cid);
        let now = self.now_ms();
        // Our handshake answer and our answers to the contact's resets not taken yet stay.
        let mut keep: BTreeSet<MessageId> = self.answers.get(cid).copied().into_iter().collect();
        keep.extend(
            self.candidates
                .get(cid)
                .into_iter()
                .flatten()
                .map(|c| c.answer),
        );
        keep.extend(ack);
        // The first message of a reset of ours still pending (the contact's reset was taken
        // meanwhile) is not of any session: it goes on until answered.
        keep.extend(
            self.handshakes
                .values()
                .filter(|(c, _)| c == cid)
                .map(|(_, p)| MessageId(p.invite_id())),
        );
        let entries: Vec<OutboxEntry> = self
            .outbox
            .values()
            .filter(|e| e.contact == *cid && !keep.contains(&e.message_id))
            .cloned()
            .collect();
        let Some(mut next) = self.contacts.get(cid).and_then(|c| c.session.clone()) else {
            return;
        };
        let mut renewed = Vec::new();
        for e in entries {
            if e.seq == CONTROL_SEQ {
                let _ = self.outbox_done(&e.message_id, now);
                continue;
            }
            if self.in_flight.contains(&e.message_id) {
                // Its answer will find it renewed below at the next tick.
                self.in_flight.remove(&e.message_id);
            }
            if let Some(r) = self.encrypt_again(cid, e, &mut next, now) {
                renewed.push(r);
            }
        }
        for e in &mut renewed {
            // New to the new session: sent as soon as it is durable.
            e.attempts = 0;
        }
        if let Err(e) = self.commit_renewed(cid, next, renewed) {
            tracing::warn!(error = %e, "re-encrypting after a reset failed");
        }
    }

    /// A contact started a reset (message 1 under its reset tag): answer it. The session
    /// is replaced (keeping history, alias and verification) once the contact is heard
    /// from under the new one (reset_answers.rs).
    pub(super) fn inbound_reset_init(&mut self, env: &Envelope) -> Inbound {
        let Some((cid, keys)) = self.reset_keys.get(&env.tag.0).cloned() else {
            return self.hostile("reset for no contact");
        };
        if self.blocked.contains(&cid) {
            return self.hostile("reset from a blocked contact");
        }
        let card = self.card();
        // The initiator resets under the newest protocol it knows we both speak: try each
        // we speak, newest first (the version is bound into the handshake, so at most one
        // can succeed) — but none older than the contact is known to speak: a reset never
        // moves a conversation to an older protocol.
        let floor = self.reset_protocol(&cid);
        let mut answered = None;
        for protocol in cairn_crypto::Protocol::ALL
            .iter()
            .rev()
            .filter(|p| **p >= floor)
        {
            let keys = keys.clone().with_protocol(*protocol);
            if let Ok(x) =
                handshake::respond(&self.profile.identity, &keys, &card, env, &mut self.rng)
            {
                answered = Some(x);
                break;
            }
        }
        let Some((est, response)) = answered else {
            return self.hostile("reset handshake rejected");
        };
        let Some(mut contact) = self.contacts.get(&cid).map(|c| c.contact.clone()) else {
            return Inbound::Dropped;
        };
        if contact.identity_key != est.peer_identity.as_bytes().to_vec() {
            return self.hostile("reset from another identity");
        }
        // The reset secret is the same for every reset in one direction: a message 1 seen
        // before is the initiator retrying (our kept answer goes again) or a replay.
        let digest = reset_digest(&keys, env);
        let used_name = format!("reset-used/{}", hex(&cid.0));
        let used = self
            .profile
            .store
            .setting(&used_name)
            .ok()
            .flatten()
            .unwrap_or_default();
        if used.chunks_exact(32).any(|c| c == digest.as_slice()) {
            self.resend_answer(&cid, &digest);
            return Inbound::Processed;
        }
        // Both sides started one at once: the lower identity key's reset goes on, the
        // other is abandoned, so both end with the same session.
        if self.resetting.contains(&cid) {
            if self.profile.identity.public().as_bytes() < est.peer_identity.as_bytes() {
                // Ours goes on; the contact gives its own up when ours reaches it. Its first
                // message is not remembered as answered: a copy arriving after ours completed
                // is answered then (if the contact started it only after answering ours, it
                // is still pending there; remembering it here left that reset pending for
                // ever: sim-long seed 70642).
                return Inbound::Processed;
            }
            self.abandon_reset(&cid);
        }
        contact.peer_id = est.peer_card.peer_id.clone();
        contact.addresses = addr_strings(&est.peer_card.addrs);
        contact.mailbox = mailbox_string(est.peer_card.mailbox.as_ref());
        // The new session is kept aside until the contact is heard from under it
        // (reset_answers.rs): the one in use stays until then.
        self.answer_reset(cid, contact, est.session, &response.encode(), used, &digest)
    }

    /// The keys under which each contact may start a reset with us, and those of the
    /// resets we may start (docs/PROTOCOL.md §23).
    pub(super) fn refresh_reset_keys(&mut self) {
        self.reset_keys.clear();
        self.own_reset_keys.clear();
        let me = self.profile.identity.public();
        for (cid, c) in &self.contacts {
            let Ok(bytes) = <[u8; 32]>::try_from(c.contact.identity_key.as_slice()) else {
                continue;
            };
            let peer = cairn_crypto::IdentityPublicKey::from_bytes(bytes);
            if let Some(secret) = cairn_crypto::reset_secret(&self.profile.identity, &peer, &me) {
                let keys = secret.keys();
                self.reset_keys.insert(keys.init_tag, (*cid, keys));
            }
            if let Some(secret) = cairn_crypto::reset_secret(&self.profile.identity, &me, &peer) {
                let keys = secret.keys();
                self.own_reset_keys.insert(keys.response_tag, (*cid, keys));
            }
        }
    }
}

/// Most reset first messages remembered per contact (to refuse replays).
const MAX_RESET_DIGESTS: usize = 16;

/// The remembered digests `used` with `digest` added, the oldest dropped past
/// [`MAX_RESET_DIGESTS`].
pub(super) fn with_digest(mut used: Vec<u8>, digest: &[u8; 32]) -> Vec<u8> {
    used.extend_from_slice(digest);
    if used.len() > 32 * MAX_RESET_DIGESTS {
        used.drain(..used.len() - 32 * MAX_RESET_DIGESTS);
    }
    used
}

/// A keyed digest of a reset's first message (keyed with the reset's id, so the stored
/// value says nothing to whoever lacks the contact's keys).
fn reset_digest(keys: &InviteKeys, env: &Envelope) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&keys.id)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(b"cairn/v1 reset used");
    m.update(&env.encode());
    m.finalize().into_bytes().into()
}
