//! Re-keying a conversation with a contact who lost their old identity key (a new device,
//! docs/PROTOCOL.md §23.1). A reset (reset.rs) needs the key both already hold; a contact
//! without it can only make or accept a new invite. Made or accepted *for* the existing
//! contact, the invite's handshake re-keys the conversation instead of adding a stranger:
//! the contact moves to the new identity key with its alias and history, "verified" is
//! dropped, and both sides are told plainly that the key changed.

use super::*;

/// Setting that binds a pending invite (by its `init_tag`) to the contact it was made for.
fn binding_setting(init_tag: &[u8; 16]) -> String {
    format!("invite-for/{}", hex(init_tag))
}

impl<S: Shell> Runtime<S> {
    /// Remembers that the invite under `init_tag` was made for `cid` (their new device).
    pub(super) fn bind_invite(&mut self, init_tag: [u8; 16], cid: ContactId) -> Result<(), String> {
        self.profile
            .store
            .set_setting(&binding_setting(&init_tag), &cid.0)
            .map_err(|e| e.to_string())?;
        self.invite_for.insert(init_tag, cid);
        Ok(())
    }

    /// Loads the bindings of the pending invites (after they are loaded).
    pub(super) fn load_invite_bindings(&mut self) {
        let tags: Vec<[u8; 16]> = self.invites.keys().copied().collect();
        for tag in tags {
            let bound = self
                .profile
                .store
                .setting(&binding_setting(&tag))
                .ok()
                .flatten()
                .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
                .map(ContactId);
            if let Some(cid) = bound.filter(|c| self.contacts.contains_key(c)) {
                self.invite_for.insert(tag, cid);
            }
        }
    }

    /// Forgets the bindings of invites that are gone (used or expired).
    pub(super) fn sweep_invite_bindings(&mut self) {
        let gone: Vec<[u8; 16]> = self
            .invite_for
            .keys()
            .filter(|t| !self.invites.contains_key(*t))
            .copied()
            .collect();
        for tag in gone {
            self.invite_for.remove(&tag);
            let _ = self.profile.store.remove_setting(&binding_setting(&tag));
        }
    }

    /// `reset ALIAS CODE`: accepts the invite of `alias`'s new device. The handshake runs
    /// like a reset (the old session stays in use until the answer); when it finishes,
    /// the contact moves to the invite's identity key.
    pub(super) fn cmd_reset_with_code(&mut self, alias: &str, code: &str) {
        let Some(cid) = self.unblocked_contact(alias) else {
            return;
        };
        let Some(invite) = self.decode_invite(code) else {
            return;
        };
        if invite.identity == self.profile.identity.public() {
            return self.emit(Event::error(
                ErrorCode::OwnInvite,
                "this is your own invite",
            ));
        }
        let new_id = self.profile.store.contact_id(invite.identity.as_bytes());
        if new_id != cid && self.contacts.contains_key(&new_id) {
            return self.emit(Event::error(
                ErrorCode::AlreadyContact,
                "this invite is from another of your contacts",
            ));
        }
        // The new device is reached where its invite says, not where the old one was.
        let Some(mut contact) = self.contacts.get(&cid).map(|c| c.contact.clone()) else {
            return self.unknown_contact(alias);
        };
        let routing = ProfileCard {
            display_name: String::new(),
            peer_id: invite.peer_id.clone(),
            addrs: invite.addrs.clone(),
            mailbox: invite.mailbox.clone(),
        };
        contact.peer_id = routing.peer_id.clone();
        contact.addresses = addr_strings(&routing.addrs);
        contact.mailbox = mailbox_string(routing.mailbox.as_ref());
        if let Err(e) = self.profile.store.put_contact(&contact) {
            return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
        }
        if let Some(s) = self.contacts.get_mut(&cid) {
            s.contact = contact;
        }
        tracing::info!("re-keying a contact through an invite from their new device");
        self.begin_reset(cid, &invite);
    }

    /// A first handshake message for an invite made for the existing contact `old` (their
    /// new device): answers it, and moves the contact to the new identity key with its
    /// history, in one atomic batch with the used invite and the answer.
    pub(super) fn answer_rekey_invite(
        &mut self,
        env: &Envelope,
        keys: &InviteKeys,
        expires: u64,
        old: ContactId,
        est: cairn_crypto::Established,
        response: &Envelope,
    ) -> Inbound {
        let Some(state) = self.contacts.get(&old) else {
            return Inbound::Dropped;
        };
        let new_id = self.profile.store.contact_id(est.peer_identity.as_bytes());
        if new_id != old && self.contacts.contains_key(&new_id) {
            self.emit(Event::error(
                ErrorCode::AlreadyContact,
                "an invite made for a contact's new device was accepted by another contact; ignored",
            ));
            return Inbound::Dropped;
        }
        let contact = self.renewed_contact(&state.contact, &est);
        let changed = contact.identity_key != state.contact.identity_key;
        self.settle_before_move();
        let session_bytes = SecretBytes::from_slice(&est.session.to_bytes());
        let answered = self.profile.store.answer_invite_moving(
            &keys.init_tag,
            self.now_ms(),
            &env.encode(),
            &old,
            &contact,
            &session_bytes,
            (MessageId(keys.id), &response.encode()),
        );
        match answered {
            Ok(_) => {
                self.invites.remove(&keys.init_tag);
                self.keep_used_invite_keys(keys, expires);
                self.sweep_invite_bindings();
            }
            Err(InviteError::Store(e)) => {
                self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
                return Inbound::TryLater;
            }
            Err(e) => {
                self.invites.remove(&keys.init_tag);
                self.sweep_invite_bindings();
                self.emit(Event::error(
                    ErrorCode::InviteUsed,
                    format!("an invite was used again and refused: {e}"),
                ));
                return Inbound::Dropped;
            }
        }
        let alias = contact.alias.clone();
        let protocol = est.session.protocol().as_u8();
        self.moved_in_memory(old, new_id, contact, est.session);
        let now = self.now_ms();
        self.mirror(
            new_id,
            MessageId(keys.id),
            CONTROL_SEQ,
            response.encode(),
            now,
        );
        self.answers.insert(new_id, MessageId(keys.id));
        self.after_reset(&new_id, None);
        self.refresh_tags(true);
        self.emit(Event::SessionReset {
            alias: alias.into(),
            protocol,
            identity_changed: changed,
        });
        if changed {
            tracing::warn!("a contact's identity key changed (re-key with a new device)");
        }
        self.process_outbox(now);
        Inbound::Processed
    }

    /// Makes every write that names a contact by id durable and applied, so that nothing
    /// in memory still points at the id a move is about to retire.
    pub(super) fn settle_before_move(&mut self) {
        self.store_sent_marks();
        self.flush();
    }

    /// After the store moved contact `old` to `new` (or updated it in place when the ids
    /// are equal): the same in memory, with the new session.
    pub(super) fn moved_in_memory(
        &mut self,
        old: ContactId,
        new: ContactId,
        contact: Contact,
        session: Session,
    ) {
        let online = self.contacts.get(&old).is_some_and(|c| c.online);
        self.contacts.remove(&old);
        self.contacts.insert(
            new,
            ContactState {
                id: new,
                contact,
                session: Some(session),
                online,
            },
        );
        if old == new {
            return;
        }
        for e in self.outbox.values_mut().filter(|e| e.contact == old) {
            e.contact = new;
        }
        for (_, (c, _)) in self.handshakes.iter_mut() {
            if *c == old {
                *c = new;
            }
        }
        if let Some(a) = self.answers.remove(&old) {
            self.answers.insert(new, a);
        }
        if let Some(p) = self.parked.remove(&old) {
            self.parked.insert(new, p);
        }
        if let Some(n) = self.requests.remove(&old) {
            self.requests.insert(new, n);
        }
        // Resets of the old key's that we answered: its new device cannot take them.
        self.drop_candidates(&old);
        for set in [&mut self.resetting, &mut self.too_far_ahead] {
            if set.remove(&old) {
                set.insert(new);
            }
        }
        for (_, c) in self.invite_for.iter_mut() {
            if *c == old {
                *c = new;
            }
        }
        self.tags_steps.remove(&old);
        // Per-contact settings named by id: the timer's last setting moves; what was
        // recorded about the old key's protocol and resets does not apply to the new one.
        self.move_timer_setting(&old, &new);
        self.forget_protocol(&old);
        let _ = self
            .profile
            .store
            .remove_setting(&format!("reset-used/{}", hex(&old.0)));
    }

    /// The answer to our handshake under an invite from `cid`'s new device arrived
    /// (`reset ALIAS CODE`): the contact moves to the new key, with the new session and
    /// the receipt that acknowledges the answer, in one atomic batch.
    pub(super) fn finish_rekey(
        &mut self,
        cid: ContactId,
        contact: Contact,
        session: Session,
        ack: Option<Vec<u8>>,
        rid: [u8; 16],
        invite_id: MessageId,
    ) -> Inbound {
        self.settle_before_move();
        let now = self.now_ms();
        let session_bytes = SecretBytes::from_slice(&session.to_bytes());
        let control = ack.as_deref().map(|w| (MessageId(rid), w, now));
        let new = match self
            .profile
            .store
            .move_contact(&cid, &contact, &session_bytes, control)
        {
            Ok(id) => id,
            Err(e) => {
                self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
                return Inbound::TryLater;
            }
        };
        let _ = self
            .profile
            .store
            .remove_setting(&format!("{HANDSHAKE_SETTING_PREFIX}{}", hex(&cid.0)));
        let alias = contact.alias.clone();
        let protocol = session.protocol().as_u8();
        self.moved_in_memory(cid, new, contact, session);
        if let Some(wire) = ack {
            self.mirror(new, MessageId(rid), CONTROL_SEQ, wire, now);
        }
        let _ = self.outbox_done(&invite_id, now);
        self.resetting.remove(&new);
        self.after_reset(&new, Some(MessageId(rid)));
        self.refresh_tags(true);
        tracing::warn!("a contact's identity key changed (re-key with a new device)");
        self.emit(Event::SessionReset {
            alias: alias.into(),
            protocol,
            identity_changed: true,
        });
        self.process_outbox(now);
        Inbound::Processed
    }
}
