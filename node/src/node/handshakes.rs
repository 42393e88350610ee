//! The invite handshake as it arrives: message 1 to a pending invite (answered,
//! the contact made) and message 2 to an invite this node accepted.

use super::*;

impl<S: Shell> Runtime<S> {
    pub(super) fn inbound_handshake_init(&mut self, env: &Envelope) -> Inbound {
        // One lookup in memory, whatever the number of pending invites: junk under a
        // random tag costs as little with 300 invites as with none, and the time it takes
        // says nothing about how many there are.
        let Some((keys, expires)) = self.invites.get(&env.tag.0).cloned() else {
            if self.reset_keys.contains_key(&env.tag.0) {
                return self.inbound_reset_init(env);
            }
            return self.handshake_for_used_invite(env);
        };
        if self.now_ms() >= expires {
            // The sweep removes it (within SWEEP_EVERY_MS).
            self.emit(Event::error(
                ErrorCode::InviteExpired,
                "someone used an expired invite; it was refused",
            ));
            return Inbound::Dropped;
        }
        let card = self.card();
        // Our own invites are answered only in their own protocol (a changed version byte
        // in the code fails: no downgrade). An introduction's peer may be on an older build
        // (it then starts under its newest protocol, 2 at the least: introductions came
        // after it): only that peer can make a message 1 under the introduction's secret,
        // so trying the older protocols after ours lets nobody else choose (PROTOCOL.md
        // §24.4).
        let protocols: Vec<cairn_crypto::Protocol> =
            if self.intro_answers.contains_key(&keys.init_tag) {
                cairn_crypto::Protocol::ALL
                    .into_iter()
                    .rev()
                    .filter(|p| *p >= cairn_crypto::Protocol::V2)
                    .collect()
            } else {
                vec![keys.protocol()]
            };
        let answered = protocols.iter().find_map(|p| {
            let keys = keys.clone().with_protocol(*p);
            handshake::respond(&self.profile.identity, &keys, &card, env, &mut self.rng).ok()
        });
        let Some((est, response)) = answered else {
            return self.hostile("handshake rejected");
        };
        let id = self.profile.store.contact_id(est.peer_identity.as_bytes());
        if self.blocked.contains(&id) {
            // A blocked contact used one of our invites: no answer, and the invite stays
            // open for whoever it was meant for.
            return self.hostile("handshake from a blocked contact");
        }
        if let Some(old) = self.invite_for.get(&keys.init_tag).copied() {
            if self.contacts.contains_key(&old) {
                return self.answer_rekey_invite(env, &keys, expires, old, est, &response);
            }
        }
        if self.contacts.contains_key(&id) {
            // The invite is used up all the same, as before: nobody else may use it now.
            let _ = self.profile.store.consume_invite(
                &keys.init_tag,
                self.now_ms(),
                &env.encode(),
                &id,
            );
            self.invites.remove(&keys.init_tag);
            self.emit(Event::error(
                ErrorCode::AlreadyContact,
                "an existing contact accepted another invite; ignored",
            ));
            return Inbound::Dropped;
        }
        // An introduction's handshake must come from the person introduced.
        let intro = match self.intro_answering(&keys.init_tag, &est.peer_identity) {
            Ok(i) => i,
            Err(()) => return self.hostile("an introduction used by someone else"),
        };
        let alias = match intro.as_ref().and_then(|(a, _)| a.clone()) {
            Some(a) if self.by_alias(&a).is_none() => a,
            _ => self.unique_alias(&est.peer_card.display_name),
        };
        let contact = self.contact_from_card(alias.clone(), &est.peer_identity, &est.peer_card);
        let session_bytes = SecretBytes::from_slice(&est.session.to_bytes());
        // The invite used, the contact, its session and our answer: one atomic batch.
        match self.profile.store.answer_invite(
            &keys.init_tag,
            self.now_ms(),
            &env.encode(),
            &contact,
            &session_bytes,
            (MessageId(keys.id), &response.encode()),
        ) {
            Ok(_) => {
                self.invites.remove(&keys.init_tag);
                self.keep_used_invite_keys(&keys, expires);
            }
            Err(InviteError::Store(e)) => {
                self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
                return Inbound::TryLater;
            }
            Err(e) => {
                self.invites.remove(&keys.init_tag);
                self.emit(Event::error(
                    ErrorCode::InviteUsed,
                    format!("an invite was used again and refused: {e}"),
                ));
                return Inbound::Dropped;
            }
        }
        self.mirror(
            id,
            MessageId(keys.id),
            CONTROL_SEQ,
            response.encode(),
            self.now_ms(),
        );
        self.answers.insert(id, MessageId(keys.id));
        let online =
            PeerId::from_bytes(&contact.peer_id).is_ok_and(|p| self.shell.is_connected(&p));
        self.contacts.insert(
            id,
            ContactState {
                id,
                contact,
                session: Some(est.session),
                online,
            },
        );
        self.refresh_tags(true);
        let group_only = intro.as_ref().is_some_and(|(_, g)| *g);
        if intro.is_some() {
            self.intro_answered(&keys.init_tag, id, group_only);
        }
        if !group_only {
            self.emit(Event::ContactAdded {
                alias: alias.clone().into(),
            });
        }
        self.emit(Event::SessionEstablished {
            alias: alias.into(),
        });
        self.group_catch_up(&id);
        self.process_outbox(self.now_ms());
        Inbound::Processed
    }

    /// `old` after a new handshake (a reset, a re-key): its alias and added date, the new
    /// key and card; "verified" only if the identity key is the one compared.
    pub(super) fn renewed_contact(
        &self,
        old: &Contact,
        est: &cairn_crypto::Established,
    ) -> Contact {
        let mut contact =
            self.contact_from_card(old.alias.clone(), &est.peer_identity, &est.peer_card);
        contact.added_at_ms = old.added_at_ms;
        contact.verified = old.verified && old.identity_key == contact.identity_key;
        contact
    }

    pub(super) fn contact_from_card(
        &self,
        alias: String,
        identity: &cairn_crypto::IdentityPublicKey,
        card: &ProfileCard,
    ) -> Contact {
        Contact {
            alias,
            identity_key: identity.as_bytes().to_vec(),
            peer_id: card.peer_id.clone(),
            addresses: addr_strings(&card.addrs),
            mailbox: mailbox_string(card.mailbox.as_ref()),
            verified: false,
            safety_number: SafetyNumber::new(&self.profile.identity.public(), identity)
                .digits()
                .to_owned(),
            added_at_ms: self.now_ms(),
        }
    }

    pub(super) fn inbound_handshake_response(&mut self, env: &Envelope) -> Inbound {
        let mut finished = None;
        if let Some((cid, pending)) = self.handshakes.remove(&env.tag.0) {
            let invite_id = MessageId(pending.invite_id());
            match pending.finish(&self.profile.identity, env) {
                Ok(est) => finished = Some((cid, invite_id, est)),
                Err(rej) => {
                    self.handshakes.insert(env.tag.0, (cid, rej.state));
                }
            }
        }
        let Some((cid, invite_id, est)) = finished else {
            // An answer to a reset of ours we no longer wait for (given up, or finished and
            // our receipt lost): the contact learns which session we hold (reset_answers.rs).
            if let Some(cid) = self.own_reset_contact(&env.tag.0) {
                self.acknowledge_answer(cid, env);
                return Inbound::Processed;
            }
            return self.hostile("handshake response for no pending handshake");
        };
        let Some(state) = self.contacts.get(&cid) else {
            return Inbound::Dropped;
        };
        let contact = self.renewed_contact(&state.contact, &est);
        let est_name = est.peer_card.display_name.clone();
        // Acknowledge the answer at once (a receipt for the invite's id, our first message
        // in the session): the inviter keeps resending its answer until it hears from us.
        let mut session = est.session;
        let now = self.now_ms();
        // A reset's answer is named too: the contact takes the session when it reads this.
        let mut ids = vec![invite_id.0];
        if self.resetting.contains(&cid) {
            ids.push(super::reset_answers::answer_id(&env.encode()).0);
        }
        let ack = Content::Receipt(ids)
            .encode()
            .ok()
            .and_then(|r| session.encrypt(&r, now / 1000, &mut self.rng).ok())
            .map(|env| env.encode());
        let mut rid = [0u8; 16];
        self.rng.fill_bytes(&mut rid);
        let changed = state.session.is_some() && state.contact.identity_key != contact.identity_key;
        if changed {
            // A re-key with the contact's new device (rekey.rs): the contact moves to its
            // new identity key with its history.
            return self.finish_rekey(cid, contact, session, ack, rid, invite_id);
        }
        let store = &self.profile.store;
        let name = format!("{HANDSHAKE_SETTING_PREFIX}{}", hex(&cid.0));
        let session_bytes = SecretBytes::from_slice(&session.to_bytes());
        let result = store
            .put_contact(&contact)
            .and_then(|_| match &ack {
                // The session after the receipt and the receipt, in one batch.
                Some(wire) => {
                    store.queue_control(&cid, Some(&session_bytes), MessageId(rid), wire, now)
                }
                None => store.put_session(&cid, &session_bytes),
            })
            .and_then(|_| store.remove_setting(&name));
        if let Err(e) = result {
            self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
            return Inbound::TryLater;
        }
        let alias = contact.alias.clone();
        let protocol = session.protocol().as_u8();
        if let Some(s) = self.contacts.get_mut(&cid) {
            s.contact = contact;
            s.session = Some(session);
        }
        let ack_id = ack.is_some().then_some(MessageId(rid));
        if let Some(wire) = ack {
            self.mirror(cid, MessageId(rid), CONTROL_SEQ, wire, now);
        }
        // The first handshake message needs no more retries.
        let _ = self.outbox_done(&invite_id, now);
        if self.resetting.remove(&cid) {
            // Resets of the contact's that we answered are left: it takes ours when it
            // reads our receipt for the answer, kept through the re-encryption so that the
            // contact moves at once, with no need for us to write (dropping it left the
            // upgrade reset of tests/tests/upgrade.rs unfinished until someone wrote). A
            // retry of it that the contact can no longer read — the response to the first
            // copy was lost and its chain is gone — is given up after MAX_DROPS refusals
            // (outbox.rs, `dropped_by_contact`; sim-long seed 121618).
            self.drop_candidates(&cid);
            self.after_reset(&cid, ack_id);
            self.refresh_tags(true);
            self.emit(Event::SessionReset {
                alias: alias.into(),
                protocol,
                identity_changed: false,
            });
            self.process_outbox(now);
            return Inbound::Processed;
        }
        self.refresh_tags(true);
        self.name_introduced(&cid, &est_name);
        let alias = self
            .contacts
            .get(&cid)
            .map_or(alias, |c| c.contact.alias.clone());
        self.emit(Event::SessionEstablished {
            alias: alias.into(),
        });
        self.group_catch_up(&cid);
        self.process_outbox(now);
        Inbound::Processed
    }
}
