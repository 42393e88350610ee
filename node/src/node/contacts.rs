//! The contact lifecycle the user drives: rename, block and unblock, delete; and the own
//! card contacts get.

use super::*;

impl<S: Shell> Runtime<S> {
    /// The own profile card as contacts get it (and invites carry it): the display name,
    /// PeerId, the addresses a contact could dial, and the mailbox.
    pub(super) fn card(&self) -> ProfileCard {
        let mut addrs: Vec<Vec<u8>> = Vec::new();
        let mut seen = BTreeSet::new();
        let allow_local = self.allow_local();
        for a in &self.listen_addrs {
            // Only what a contact could dial (`addresses::shareable`), and circuits through
            // our relay, which reveal nothing the card's mailbox does not.
            let circuit = self.relay.is_some() && a.iter().any(|p| p == Protocol::P2pCircuit);
            if !(circuit || addresses::shareable(a, allow_local)) || !seen.insert(a.to_string()) {
                continue;
            }
            if addrs.len() < cairn_crypto::card::MAX_ADDRS {
                addrs.push(a.to_vec());
            }
        }
        self.card_with(addrs, self.relay.as_ref().map(|(_, a)| a))
    }

    /// The own card with these addresses and mailbox (the current one, or the one of the
    /// mode a switch goes to).
    pub(super) fn card_with(
        &self,
        addrs: Vec<Vec<u8>>,
        mailbox: Option<&Multiaddr>,
    ) -> ProfileCard {
        ProfileCard {
            display_name: self.profile.display_name.clone(),
            peer_id: self.shell.local_peer_id().to_bytes(),
            addrs,
            mailbox: mailbox.map(|a| a.to_vec()),
        }
    }

    /// An alias the user may give: non-empty, no control, invisible or direction-changing
    /// characters (the rules of a display name, so one alias cannot pose as another).
    pub(super) fn alias_problem(alias: &str) -> Option<Event> {
        let bad = alias.trim().is_empty()
            || alias.len() > cairn_crypto::card::MAX_DISPLAY_NAME_LEN
            || alias.chars().any(char::is_control)
            || ProfileCard {
                display_name: alias.to_owned(),
                peer_id: vec![0],
                addrs: vec![],
                mailbox: None,
            }
            .validate()
            .is_err();
        bad.then(|| {
            Event::error(
                ErrorCode::InvalidAlias,
                "an alias must be 1 to 64 bytes of visible text",
            )
        })
    }

    pub(super) fn cmd_rename(&mut self, alias: &str, to: &str) {
        let Some(cid) = self.by_alias(alias) else {
            return self.unknown_contact(alias);
        };
        if let Some(e) = Self::alias_problem(to) {
            return self.emit(e);
        }
        if to != alias && self.by_alias(to).is_some() {
            return self.emit(Event::error(
                ErrorCode::AliasTaken,
                format!("{to:?} is already a contact"),
            ));
        }
        let Some(mut contact) = self.contacts.get(&cid).map(|c| c.contact.clone()) else {
            return self.unknown_contact(alias);
        };
        contact.alias = to.to_owned();
        if let Err(e) = self.profile.store.put_contact(&contact) {
            return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
        }
        if let Some(c) = self.contacts.get_mut(&cid) {
            c.contact = contact;
        }
        self.emit(Event::ContactRenamed {
            alias: alias.into(),
            to: to.into(),
        });
    }

    /// Writes the blocked set (durable).
    pub(super) fn store_blocked(&self, blocked: &BTreeSet<ContactId>) -> Result<(), String> {
        let mut ids: Vec<&ContactId> = blocked.iter().collect();
        ids.sort_by_key(|id| id.0);
        let bytes: Vec<u8> = ids.iter().flat_map(|id| id.0).collect();
        self.profile
            .store
            .set_setting(BLOCKED_SETTING, &bytes)
            .map_err(|e| e.to_string())
    }

    pub(super) fn cmd_block(&mut self, alias: &str, block: bool) {
        let Some(cid) = self.by_alias(alias) else {
            return self.unknown_contact(alias);
        };
        let mut next = self.blocked.clone();
        if block {
            next.insert(cid);
        } else {
            next.remove(&cid);
        }
        if let Err(e) = self.store_blocked(&next) {
            return self.emit(Event::error(ErrorCode::StoreFailed, e));
        }
        self.blocked = next;
        if block {
            // Nothing more goes to it; a connection it holds is closed.
            self.parked.remove(&cid);
            if let Some(peer) = self
                .contacts
                .get(&cid)
                .and_then(|c| PeerId::from_bytes(&c.contact.peer_id).ok())
            {
                self.shell.disconnect(&peer);
            }
        } else {
            self.process_outbox(self.now_ms());
        }
        self.emit(Event::ContactBlocked {
            alias: alias.into(),
            blocked: block,
        });
    }

    pub(super) fn cmd_delete(&mut self, alias: &str, keep_history: bool) {
        let Some(cid) = self.by_alias(alias) else {
            return self.unknown_contact(alias);
        };
        let mut blocked = self.blocked.clone();
        if blocked.remove(&cid) {
            if let Err(e) = self.store_blocked(&blocked) {
                return self.emit(Event::error(ErrorCode::StoreFailed, e));
            }
        }
        let removed = if keep_history {
            self.profile.store.remove_contact_keeping_history(&cid)
        } else {
            self.profile.store.remove_contact(&cid)
        };
        if let Err(e) = removed {
            return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
        }
        self.blocked = blocked;
        if !keep_history {
            self.forget_files_of(cid);
        }
        let name = format!("{HANDSHAKE_SETTING_PREFIX}{}", hex(&cid.0));
        let _ = self.profile.store.remove_setting(&name);
        self.forget_protocol(&cid);
        self.handshakes.retain(|_, (id, _)| *id != cid);
        self.drop_candidates(&cid);
        let gone: Vec<MessageId> = self
            .outbox
            .values()
            .filter(|e| e.contact == cid)
            .map(|e| e.message_id)
            .collect();
        for id in gone {
            self.outbox.remove(&id);
            self.backoff.remove(&id);
            self.refusals.remove(&id);
            self.renewed.remove(&id);
            if let Some(batch) = self.batch_of.remove(&id) {
                if let Some(n) = self.batch_left.get_mut(&batch) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.batch_left.remove(&batch);
                    }
                }
            }
        }
        self.answers.remove(&cid);
        self.parked.remove(&cid);
        self.too_far_ahead.remove(&cid);
        let peer = self
            .contacts
            .remove(&cid)
            .and_then(|c| PeerId::from_bytes(&c.contact.peer_id).ok());
        if let Some(peer) = peer {
            self.shell.disconnect(&peer);
        }
        self.refresh_tags(true);
        self.emit(Event::ContactDeleted {
            alias: alias.into(),
            kept_history: keep_history,
        });
    }
}
