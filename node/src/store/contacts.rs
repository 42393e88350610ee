//! Contacts, their routing tags and their sessions.

use super::*;

impl Store {
    // -----------------------------------------------------------------------------------------
    // Contacts

    /// The store id of the contact with this identity public key (a keyed hash of it).
    pub fn contact_id(&self, identity_key: &[u8]) -> ContactId {
        ContactId(self.keys.blind(purpose::CONTACT, identity_key))
    }

    /// Adds or replaces a contact (keyed by its identity key) and its PeerId index entry.
    /// Durable.
    pub fn put_contact(&self, contact: &Contact) -> Result<ContactId, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        let id = self.stage_contact(&mut b, contact)?;
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(id)
    }

    /// Adds a contact and its PeerId index entry to `b` (replacing the old index entry).
    pub(super) fn stage_contact(
        &self,
        b: &mut WriteBatch,
        contact: &Contact,
    ) -> Result<ContactId, StoreError> {
        let id = self.contact_id(&contact.identity_key);
        if let Some(old) = self.contact(&id)? {
            if old.peer_id != contact.peer_id {
                b.remove(
                    TreeName::PeerIndex,
                    self.keys.blind(purpose::PEER, &old.peer_id).to_vec(),
                );
            }
        }
        self.put(
            b,
            TreeName::Contacts,
            id.0.to_vec(),
            &Record::Contact(contact.clone()),
        )?;
        self.put(
            b,
            TreeName::PeerIndex,
            self.keys.blind(purpose::PEER, &contact.peer_id).to_vec(),
            &Record::PeerIndex(id),
        )?;
        Ok(id)
    }

    /// One contact.
    pub fn contact(&self, id: &ContactId) -> Result<Option<Contact>, StoreError> {
        match self.get_record(TreeName::Contacts, &id.0)? {
            None => Ok(None),
            Some(Record::Contact(c)) => Ok(Some(c)),
            Some(_) => Err(Self::wrong_type(TreeName::Contacts, &id.0)),
        }
    }

    /// All contacts (in blinded-key order, i.e. no meaningful order), plus any damaged ones.
    pub fn contacts(&self) -> Result<Listing<(ContactId, Contact)>, StoreError> {
        let raw = self.scan_records(TreeName::Contacts, &[])?;
        let mut out = Listing {
            items: Vec::with_capacity(raw.items.len()),
            damaged: raw.damaged,
        };
        for (k, r) in raw.items {
            match (<[u8; 32]>::try_from(k.as_slice()), r) {
                (Ok(id), Record::Contact(c)) => out.items.push((ContactId(id), c)),
                _ => out.damaged.push(damaged(
                    TreeName::Contacts,
                    &k,
                    DamageKind::Malformed(DecodeError::WrongRecordType {
                        tree: TreeName::Contacts,
                        tag: 0,
                    }),
                )),
            }
        }
        Ok(out)
    }

    /// The contact with this PeerId, through the blinded PeerId index.
    pub fn contact_by_peer_id(
        &self,
        peer_id: &[u8],
    ) -> Result<Option<(ContactId, Contact)>, StoreError> {
        let key = self.keys.blind(purpose::PEER, peer_id);
        match self.get_record(TreeName::PeerIndex, &key)? {
            None => Ok(None),
            Some(Record::PeerIndex(id)) => Ok(self.contact(&id)?.map(|c| (id, c))),
            Some(_) => Err(Self::wrong_type(TreeName::PeerIndex, &key)),
        }
    }

    /// Removes a contact with its PeerId index entry, routing tags, session, conversation,
    /// messages and outbox entries, in one atomic batch. Durable.
    pub fn remove_contact(&self, id: &ContactId) -> Result<(), StoreError> {
        self.remove_contact_inner(id, true)
    }

    /// Like [`Store::remove_contact`], but the conversation and its messages stay: they
    /// belong to the contact's id (its identity key, blinded), so they are shown again if
    /// the same person is added again. Durable.
    pub fn remove_contact_keeping_history(&self, id: &ContactId) -> Result<(), StoreError> {
        self.remove_contact_inner(id, false)
    }

    /// Stages the removal of a contact's record, its PeerId index entry and its session.
    pub(super) fn stage_remove_contact_record(
        &self,
        b: &mut WriteBatch,
        id: &ContactId,
    ) -> Result<(), StoreError> {
        if let Some(c) = self.contact(id)? {
            b.remove(
                TreeName::PeerIndex,
                self.keys.blind(purpose::PEER, &c.peer_id).to_vec(),
            );
        }
        b.remove(TreeName::Contacts, id.0.to_vec());
        b.remove(TreeName::Sessions, id.0.to_vec());
        Ok(())
    }

    pub(super) fn remove_contact_inner(
        &self,
        id: &ContactId,
        history: bool,
    ) -> Result<(), StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        self.stage_remove_contact_record(&mut b, id)?;
        if history {
            b.remove(TreeName::Conversations, id.0.to_vec());
            for entry in self.backend.scan_prefix(TreeName::Messages, &id.0) {
                let (k, _) = entry?;
                b.remove(TreeName::Messages, k);
            }
        }
        for (k, r) in self.scan_records(TreeName::Outbox, &[])?.items {
            let theirs = match &r {
                Record::Outbox(o) => o.contact == *id,
                Record::OutboxBatch(entries) => entries.iter().any(|e| e.contact == *id),
                _ => false,
            };
            if theirs {
                b.remove(TreeName::Outbox, k);
            }
        }
        for (k, r) in self.scan_records(TreeName::TagIndex, &[])?.items {
            if matches!(r, Record::RoutingTag(c) if c == *id) {
                b.remove(TreeName::TagIndex, k);
            }
        }
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(())
    }

    /// Maps a routing tag (derived from a session, rotating) to a contact, under a keyed hash
    /// of the tag. Durable.
    pub fn put_routing_tag(&self, tag: &[u8], id: &ContactId) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::TagIndex,
            self.keys.blind(purpose::ROUTING_TAG, tag).to_vec(),
            &Record::RoutingTag(*id),
        )?;
        self.commit(&b)
    }

    /// The contact a routing tag belongs to.
    pub fn contact_by_routing_tag(&self, tag: &[u8]) -> Result<Option<ContactId>, StoreError> {
        let key = self.keys.blind(purpose::ROUTING_TAG, tag);
        match self.get_record(TreeName::TagIndex, &key)? {
            None => Ok(None),
            Some(Record::RoutingTag(id)) => Ok(Some(id)),
            Some(_) => Err(Self::wrong_type(TreeName::TagIndex, &key)),
        }
    }

    /// Forgets a routing tag (after it rotated out). Durable.
    pub fn remove_routing_tag(&self, tag: &[u8]) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        b.remove(
            TreeName::TagIndex,
            self.keys.blind(purpose::ROUTING_TAG, tag).to_vec(),
        );
        self.commit(&b)
    }

    // -----------------------------------------------------------------------------------------
    // Sessions

    /// The ratchet state stored for a contact (opaque, `Session::to_bytes`).
    pub fn session(&self, id: &ContactId) -> Result<Option<SecretBytes>, StoreError> {
        match self.get_record(TreeName::Sessions, &id.0)? {
            None => Ok(None),
            Some(Record::Session(s)) => Ok(Some(s)),
            Some(_) => Err(Self::wrong_type(TreeName::Sessions, &id.0)),
        }
    }

    /// Stores ratchet state on its own (e.g. after a handshake). Durable. Ratchet steps that
    /// produce or consume a message use [`Store::record_outgoing`] / [`Store::record_incoming`].
    pub fn put_session(&self, id: &ContactId, state: &SecretBytes) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.stage_session(&mut b, id, state)?;
        self.commit(&b)
    }
}
