//! The user's commands (docs/CLI.md): invite, accept, send, contacts, history,
//! verify, expire and wipe; the contact lifecycle commands are in `contacts.rs`, reset
//! and re-key in `reset.rs` and `rekey.rs`.

use super::*;

impl<S: Shell> Runtime<S> {
    pub(crate) fn command(&mut self, cmd: Command) {
        match cmd {
            c @ (Command::InspectFile { .. }
            | Command::SendFile { .. }
            | Command::AcceptFile { .. }
            | Command::DeclineFile { .. }
            | Command::CancelFile { .. }
            | Command::ExportFile { .. }
            | Command::Files { .. }
            | Command::Forward { .. }) => self.file_command(c),
            Command::Invite {
                ttl_secs,
                for_contact,
            } => self.cmd_invite(
                ttl_secs.unwrap_or(DEFAULT_INVITE_TTL_SECS),
                for_contact.as_deref(),
            ),
            Command::Accept { code, alias } => self.cmd_accept(&code, &alias),
            Command::Send {
                to,
                text,
                client_ref,
            } => self.cmd_send(&to, vec![(text, client_ref)]),
            Command::Contacts => self.cmd_contacts(),
            Command::Exposure => self.cmd_exposure(),
            Command::History { with, limit } => self.cmd_history(&with, limit.unwrap_or(100)),
            Command::Verify { alias, confirm } => self.cmd_verify(&alias, confirm),
            Command::Expire { alias, seconds } => self.cmd_expire(&alias, seconds),
            Command::ExpireStatus { alias } => match self.by_alias(&alias) {
                None => self.unknown_contact(&alias),
                Some(cid) => match self.profile.store.conversation(&cid) {
                    Ok(c) => self.emit(Event::ExpireSet {
                        alias,
                        seconds: c.disappear_after_ms.map(|ms| ms / 1000),
                        by_contact: false,
                    }),
                    Err(e) => self.emit(Event::error(ErrorCode::StoreFailed, e.to_string())),
                },
            },
            Command::Status => self.emit(Event::Status {
                peers: self.shell.connected_peers(),
                addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
                relay: self.relay_reserved,
                lan: self.config.lan,
                rejected: self.rejected,
            }),
            Command::Rename { alias, to } => self.cmd_rename(&alias, &to),
            Command::Reset { alias, code: None } => self.cmd_reset(&alias),
            Command::Reset {
                alias,
                code: Some(code),
            } => self.cmd_reset_with_code(&alias, &code),
            Command::Block { alias } => self.cmd_block(&alias, true),
            Command::Unblock { alias } => self.cmd_block(&alias, false),
            Command::Delete {
                alias,
                keep_history,
            } => self.cmd_delete(&alias, keep_history),
            Command::GroupCreate { name, members } => self.cmd_group_create(&name, &members),
            Command::GroupAdd { group, alias } => self.cmd_group_add(&group, &alias),
            Command::GroupRemove { group, member } => {
                let m = self.group_member(&group, &member);
                self.cmd_group_change(&group, m.map(crate::group::Change::Remove));
            }
            Command::GroupPromote { group, member } => {
                let m = self.group_member(&group, &member);
                self.cmd_group_change(&group, m.map(crate::group::Change::Promote));
            }
            Command::GroupDemote { group, member } => {
                let m = self.group_member(&group, &member);
                self.cmd_group_change(&group, m.map(crate::group::Change::Demote));
            }
            Command::GroupLeave { group } => {
                self.cmd_group_change(&group, Ok(crate::group::Change::Leave))
            }
            Command::GroupRename { group, name } => {
                self.cmd_group_change(&group, Ok(crate::group::Change::Rename(name)))
            }
            Command::GroupSend {
                group,
                text,
                client_ref,
            } => self.cmd_group_send(&group, text, client_ref),
            Command::Groups => self.cmd_groups(),
            Command::GroupHistory { group, limit } => {
                self.cmd_group_history(&group, limit.unwrap_or(100))
            }
            Command::Introduce { alias, to } => self.cmd_introduce(&alias, &to),
            Command::AcceptIntroduction { id, alias } => {
                self.cmd_accept_intro(&id, alias.as_deref())
            }
            Command::RefuseIntroduction { id } => self.cmd_refuse_intro(&id),
            Command::MakeContact { alias } => self.cmd_make_contact(&alias),
            Command::Wipe { confirm } => self.cmd_wipe(&confirm),
            Command::SwitchMode { hidden, relay } => self.cmd_switch_mode(hidden, relay, false),
            Command::RotateOnion => self.cmd_switch_mode(true, None, true),
            Command::Quit => self.stopping = true,
        }
    }

    pub(super) fn by_alias(&self, alias: &str) -> Option<ContactId> {
        self.contacts
            .values()
            .find(|c| c.contact.alias == alias)
            .map(|c| c.id)
    }

    pub(super) fn unknown_contact(&self, alias: &str) {
        self.emit(Event::error(
            ErrorCode::UnknownContact,
            format!("no contact named {alias:?}"),
        ));
    }

    pub(super) fn cmd_invite(&mut self, ttl: u64, for_contact: Option<&str>) {
        let bound = match for_contact {
            None => None,
            Some(alias) => match self.unblocked_contact(alias) {
                None => return,
                cid => cid,
            },
        };
        let now = self.now_secs();
        let card = self.card();
        let invite = match Invite::new(
            self.profile.identity.public(),
            card.peer_id.clone(),
            card.addrs.clone(),
            card.mailbox.clone(),
            now + ttl,
            &mut self.rng,
        ) {
            Ok(i) => i,
            Err(e) => return self.emit(Event::error(ErrorCode::InviteFailed, e.to_string())),
        };
        let keys = invite.keys();
        let record = StoredInvite {
            created_at_ms: now * 1000,
            expires_at_ms: (now + ttl) * 1000,
            payload: SecretBytes::from_slice(&keys.to_bytes()),
        };
        // The binding first: an invite stored without it would add the contact's new
        // device as a stranger.
        if let Some(cid) = bound {
            if let Err(e) = self.bind_invite(keys.init_tag, cid) {
                return self.emit(Event::error(ErrorCode::StoreFailed, e));
            }
        }
        if let Err(e) = self.profile.store.add_invite(&keys.init_tag, &record) {
            return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
        }
        self.invites
            .insert(keys.init_tag, (keys.clone(), record.expires_at_ms));
        match invite.encode() {
            Ok(code) => self.emit(Event::Invite {
                code: code.to_string(),
                addresses: addr_strings(&card.addrs),
                relay: mailbox_string(card.mailbox.as_ref()),
            }),
            Err(e) => self.emit(Event::error(ErrorCode::InviteFailed, e.to_string())),
        }
    }

    pub(super) fn unique_alias(&self, wanted: &str) -> String {
        let base: String = wanted
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let base = if base.is_empty() {
            "contact".to_owned()
        } else {
            base
        };
        if self.by_alias(&base).is_none() {
            return base;
        }
        (2..)
            .map(|n| format!("{base}-{n}"))
            .find(|a| self.by_alias(a).is_none())
            .unwrap_or(base)
    }

    /// Decodes an invite code a user gave; reports why it is refused.
    pub(super) fn decode_invite(&self, code: &str) -> Option<Invite> {
        match Invite::decode(code, self.now_secs()) {
            Ok(i) => Some(i),
            Err(cairn_crypto::InviteError::Expired) => {
                self.emit(Event::error(
                    ErrorCode::InviteExpired,
                    "this invite has expired; ask for a new one",
                ));
                None
            }
            Err(e) => {
                self.emit(Event::error(ErrorCode::InvalidInvite, e.to_string()));
                None
            }
        }
    }

    /// The contact named `alias`, if there is one and it is not blocked (else reported).
    pub(super) fn unblocked_contact(&self, alias: &str) -> Option<ContactId> {
        let Some(cid) = self.by_alias(alias) else {
            self.unknown_contact(alias);
            return None;
        };
        if self.blocked.contains(&cid) {
            self.emit(Event::error(
                ErrorCode::Blocked,
                format!("{alias:?} is blocked; unblock them first"),
            ));
            return None;
        }
        Some(cid)
    }

    pub(super) fn cmd_accept(&mut self, code: &str, alias: &str) {
        let Some(invite) = self.decode_invite(code) else {
            return;
        };
        self.accept_invite(&invite, alias, true);
    }

    /// Starts the handshake an invite (or an introduction, introductions.rs) opens, with
    /// the contact named `alias`; `announce`: report the new contact (a group-only peer is
    /// not reported). False if it was refused (and reported).
    pub(super) fn accept_invite(&mut self, invite: &Invite, alias: &str, announce: bool) -> bool {
        let refuse = |me: &Self, e: Event| {
            me.emit(e);
            false
        };
        if let Some(e) = Self::alias_problem(alias) {
            return refuse(self, e);
        }
        if self.by_alias(alias).is_some() {
            return refuse(
                self,
                Event::error(
                    ErrorCode::AliasTaken,
                    format!("{alias:?} is already a contact"),
                ),
            );
        }
        if invite.identity == self.profile.identity.public() {
            return refuse(
                self,
                Event::error(ErrorCode::OwnInvite, "this is your own invite"),
            );
        }
        let id = self.profile.store.contact_id(invite.identity.as_bytes());
        if self.blocked.contains(&id) {
            return refuse(
                self,
                Event::error(
                    ErrorCode::Blocked,
                    "this invite is from a contact you blocked; unblock them first",
                ),
            );
        }
        if self.contacts.contains_key(&id) {
            return refuse(
                self,
                Event::error(ErrorCode::AlreadyContact, "you already have this contact"),
            );
        }
        let card = self.card();
        let (pending, first) =
            match handshake::initiate(&self.profile.identity, invite, &card, &mut self.rng) {
                Ok(x) => x,
                Err(e) => {
                    return refuse(
                        self,
                        Event::error(ErrorCode::HandshakeFailed, e.to_string()),
                    )
                }
            };
        // What the invite says about the inviter, until its own card arrives.
        let routing = ProfileCard {
            display_name: String::new(),
            peer_id: invite.peer_id.clone(),
            addrs: invite.addrs.clone(),
            mailbox: invite.mailbox.clone(),
        };
        let contact = self.contact_from_card(alias.to_owned(), &invite.identity, &routing);
        let store = &self.profile.store;
        let name = format!("{HANDSHAKE_SETTING_PREFIX}{}", hex(&id.0));
        let result = store
            .put_contact(&contact)
            .and_then(|_| store.set_setting(&name, &pending.to_bytes()))
            .and_then(|_| {
                store.queue_control(
                    &id,
                    None,
                    MessageId(pending.invite_id()),
                    &first.encode(),
                    self.now_ms(),
                )
            });
        if let Err(e) = result {
            return refuse(self, Event::error(ErrorCode::StoreFailed, e.to_string()));
        }
        self.mirror(
            id,
            MessageId(pending.invite_id()),
            CONTROL_SEQ,
            first.encode(),
            self.now_ms(),
        );
        self.handshakes
            .insert(pending.response_tag().0, (id, pending));
        self.contacts.insert(
            id,
            ContactState {
                id,
                contact,
                session: None,
                online: false,
            },
        );
        if announce {
            self.emit(Event::ContactAdded {
                alias: alias.into(),
            });
        }
        self.process_outbox(self.now_ms());
        self.next_fetch_ms = 0;
        true
    }

    /// Sends `texts` (each with the client's `ref`, echoed in its `queued` or `error`).
    pub(super) fn cmd_send(&mut self, to: &str, texts: Vec<(String, Option<ClientRef>)>) {
        // One error per send, so a client can pair each answer with its send.
        let fail_all = |me: &Self,
                        code: ErrorCode,
                        message: String,
                        texts: Vec<(String, Option<ClientRef>)>| {
            for (_, r) in texts {
                me.emit(Event::error_for(code, message.clone(), r));
            }
        };
        let Some(cid) = self.by_alias(to) else {
            return fail_all(
                self,
                ErrorCode::UnknownContact,
                format!("no contact named {to:?}"),
                texts,
            );
        };
        if self.blocked.contains(&cid) {
            return fail_all(
                self,
                ErrorCode::Blocked,
                format!("{to:?} is blocked; unblock them to write to them"),
                texts,
            );
        }
        let Some(session) = self.contacts.get(&cid).and_then(|s| s.session.as_ref()) else {
            return fail_all(
                self,
                ErrorCode::NotEstablished,
                format!("the handshake with {to:?} has not finished yet"),
                texts,
            );
        };
        let mut next = session.clone();
        let mut messages = Vec::with_capacity(texts.len());
        let mut outboxes = Vec::with_capacity(texts.len());
        let mut refs = Vec::with_capacity(texts.len());
        for (text, client_ref) in texts {
            let mut id = [0u8; 16];
            self.rng.fill_bytes(&mut id);
            let now = self.now_ms().max(self.last_sent_ms + 1);
            let content = Content::Text {
                id,
                sent_at_ms: now,
                text,
            };
            let plain = match content.encode() {
                Ok(p) => p,
                Err(e) => {
                    self.emit(Event::error_for(
                        ErrorCode::TooLong,
                        e.to_string(),
                        client_ref,
                    ));
                    continue;
                }
            };
            let env = match next.encrypt(&plain, now / 1000, &mut self.rng) {
                Ok(e) => e,
                Err(e) => {
                    self.emit(Event::error_for(
                        ErrorCode::EncryptFailed,
                        e.to_string(),
                        client_ref,
                    ));
                    continue;
                }
            };
            self.last_sent_ms = now;
            let Content::Text { text, .. } = content else {
                continue;
            };
            messages.push(NewMessage {
                id: MessageId(id),
                direction: Direction::Outgoing,
                text,
                created_at_ms: now,
                received_at_ms: None,
                state: DeliveryState::Queued,
                group: None,
            });
            outboxes.push(NewOutbox {
                envelope: env.encode(),
                // Due at once, even when the display timestamp runs ahead in a burst.
                next_attempt_at_ms: self.now_ms(),
            });
            refs.push(client_ref);
        }
        if messages.is_empty() {
            return;
        }
        let now = self.last_sent_ms;
        let stored = self
            .profile
            .store
            .record_outgoing_many(
                &cid,
                &SecretBytes::from_slice(&next.to_bytes()),
                &messages,
                &outboxes,
                now,
            )
            .map(Staged::after_next_flush);
        match stored {
            Ok((first, batches)) => {
                if let Some(state) = self.contacts.get_mut(&cid) {
                    state.session = Some(next);
                }
                let mut ids = messages.iter().map(|m| m.id);
                for (batch, n) in batches {
                    self.batch_left.insert(batch, n);
                    for id in ids.by_ref().take(n) {
                        self.batch_of.insert(id, batch);
                    }
                }
                // Shown as queued, and sent, only once durable (at the next flush).
                for (i, ((m, o), client_ref)) in
                    messages.into_iter().zip(outboxes).zip(refs).enumerate()
                {
                    self.deferred.push(Deferred::Emit(Event::Queued {
                        id: api::MessageId::of(&m.id),
                        client_ref,
                    }));
                    self.defer_mirror(cid, m.id, first + i as u64, o.envelope, m.created_at_ms);
                }
            }
            Err(e) => {
                for r in refs {
                    self.emit(Event::error_for(ErrorCode::StoreFailed, e.to_string(), r));
                }
            }
        }
    }

    pub(super) fn cmd_contacts(&self) {
        let mut contacts: Vec<ContactInfo> = self
            .contacts
            .values()
            // Peers met through a group are not contacts until the user makes them one.
            .filter(|c| !self.group_only.contains(&c.id))
            .map(|c| ContactInfo {
                alias: c.contact.alias.clone().into(),
                verified: c.contact.verified,
                online: c.online,
                established: c.session.is_some(),
                blocked: self.blocked.contains(&c.id),
                protocol: c.session.as_ref().map(|s| s.protocol().as_u8()),
                messages: self
                    .profile
                    .store
                    .conversation(&c.id)
                    .map(|conv| usize::try_from(conv.next_seq).unwrap_or(usize::MAX))
                    .unwrap_or(0),
            })
            .collect();
        contacts.sort_by(|a, b| a.alias.cmp(&b.alias));
        self.emit(Event::Contacts { contacts });
    }

    pub(super) fn cmd_history(&self, alias: &str, limit: usize) {
        let Some(cid) = self.by_alias(alias) else {
            return self.unknown_contact(alias);
        };
        match self.profile.store.messages(&cid) {
            Ok(mut listing) => {
                // Conversation order: by the writer's clock (strictly increasing per
                // sender), then by arrival.
                // Copies of group messages travel in this conversation but belong to
                // their group's.
                listing.items.retain(|m| m.group.is_none());
                listing.items.sort_by_key(|m| (m.created_at_ms, m.seq));
                let skip = listing.items.len().saturating_sub(limit);
                let messages = listing
                    .items
                    .into_iter()
                    .skip(skip)
                    .map(|m| MessageInfo {
                        id: api::MessageId::of(&m.id),
                        direction: match m.direction {
                            Direction::Incoming => MessageDirection::In,
                            Direction::Outgoing => MessageDirection::Out,
                        },
                        text: m.text,
                        sent_at: m.created_at_ms,
                        state: match m.state {
                            DeliveryState::Queued => MessageState::Queued,
                            DeliveryState::Sent => MessageState::Sent,
                            DeliveryState::Delivered => MessageState::Delivered,
                            DeliveryState::Failed => MessageState::Failed,
                            DeliveryState::Received => MessageState::Received,
                        },
                    })
                    .collect();
                self.emit(Event::History {
                    with: alias.into(),
                    messages,
                });
            }
            Err(e) => self.emit(Event::error(ErrorCode::StoreFailed, e.to_string())),
        }
    }

    pub(super) fn cmd_verify(&mut self, alias: &str, confirm: bool) {
        let Some(cid) = self.by_alias(alias) else {
            return self.unknown_contact(alias);
        };
        let Some(state) = self.contacts.get_mut(&cid) else {
            return;
        };
        let Ok(key) = <[u8; 32]>::try_from(state.contact.identity_key.as_slice()) else {
            return;
        };
        let sn = SafetyNumber::new(
            &self.profile.identity.public(),
            &cairn_crypto::IdentityPublicKey::from_bytes(key),
        );
        if confirm && !state.contact.verified {
            state.contact.verified = true;
            if let Err(e) = self.profile.store.put_contact(&state.contact) {
                state.contact.verified = false;
                return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
            }
        }
        let verified = state.contact.verified;
        self.emit(Event::SafetyNumber {
            alias: alias.into(),
            digits: sn.groups().join(" "),
            qr: sn.qr_payload(),
            verified,
        });
    }

    pub(super) fn cmd_expire(&mut self, alias: &str, seconds: Option<u64>) {
        let Some(cid) = self.by_alias(alias) else {
            return self.unknown_contact(alias);
        };
        if seconds.is_some_and(|s| s > crate::content::MAX_TIMER_SECS) {
            return self.emit(Event::error(
                ErrorCode::BadArguments,
                "disappearing messages can be set to at most a year",
            ));
        }
        let now = self.now_ms();
        if let Err(e) = self.store_timer(&cid, seconds, now) {
            return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
        }
        // The contact's copy of the conversation follows (both sides delete at expiry).
        let timer = Content::Timer {
            set_at_ms: now,
            seconds,
        };
        if let Ok(plain) = timer.encode() {
            if self.send_control(&cid, &plain).is_none() {
                tracing::warn!("the timer could not be sent to the contact");
            }
        }
        self.emit(Event::ExpireSet {
            alias: alias.into(),
            seconds,
            by_contact: false,
        });
    }

    /// Stores envelopes encrypted again under `next` together with that session (one
    /// transaction), then parks their entries until the write is durable, when the new
    /// envelopes replace the old ones (`Deferred::Renewed`). Nothing changes on error.
    pub(super) fn commit_renewed(
        &mut self,
        cid: &ContactId,
        next: Session,
        renewed: Vec<OutboxEntry>,
    ) -> Result<(), String> {
        if renewed.is_empty() {
            return Ok(());
        }
        let session = SecretBytes::from_slice(&next.to_bytes());
        self.profile
            .store
            .renew_envelopes(cid, &session, &renewed)
            .map_err(|e| e.to_string())?
            .after_next_flush();
        if let Some(state) = self.contacts.get_mut(cid) {
            state.session = Some(next);
        }
        tracing::debug!(n = renewed.len(), "messages encrypted again");
        for e in renewed {
            if let Some(parked) = self.outbox.get_mut(&e.message_id) {
                parked.next_attempt_at_ms = u64::MAX;
            }
            self.renewed.insert(e.message_id);
            self.deferred.push(Deferred::Renewed(e));
        }
        self.dirty = true;
        Ok(())
    }

    pub(super) fn cmd_wipe(&mut self, confirm: &str) {
        if confirm != "WIPE" {
            return self.emit(Event::error(
                ErrorCode::WipeNotConfirmed,
                "send {\"cmd\":\"wipe\",\"confirm\":\"WIPE\"}",
            ));
        }
        let paths = self.profile.store.paths().clone();
        match crate::store::wipe_profile(&paths) {
            Ok(_) => self.emit(Event::Wiped),
            Err(e) => self.emit(Event::error(ErrorCode::WipeFailed, e.to_string())),
        }
        self.stopping = true;
    }

    // ---------------------------------------------------------------- delivery
}
