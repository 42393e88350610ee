//! Invites: pending ones, consuming and answering them, and the used ones kept to
//! recognise a repeated handshake.

use super::*;

impl Store {
    // -----------------------------------------------------------------------------------------
    // Invites

    /// Stores a pending invite under a keyed hash of its secret. Durable.
    pub fn add_invite(&self, secret: &[u8], invite: &Invite) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::Invites,
            self.keys.blind(purpose::INVITE, secret).to_vec(),
            &Record::Invite(invite.clone()),
        )?;
        self.commit(&b)
    }

    /// Consumes an invite with the handshake message `first_message` that uses it, for the
    /// contact it makes: atomically checks it and replaces it with a [`UsedInvite`] record
    /// (kept until the invite would have expired), so it can be used once and a second use is
    /// recognised: [`InviteError::Used`], telling the same message again (its acceptor
    /// retransmitting) from another. An expired invite is removed and reported as
    /// [`InviteError::Expired`]. Durable.
    pub fn consume_invite(
        &self,
        secret: &[u8],
        now_ms: u64,
        first_message: &[u8],
        contact: &ContactId,
    ) -> Result<Invite, InviteError> {
        self.consume_invite_with(secret, now_ms, first_message, contact, |_| Ok(()))
    }

    /// Answers a used invite in one atomic batch: the invite becomes a used record, the new
    /// contact is stored with its session, and the handshake answer is queued. A crash leaves
    /// either all of it or none (the acceptor then sends its first message again and gets
    /// an answer). Errors as [`Store::consume_invite`]; on any error nothing is written.
    pub fn answer_invite(
        &self,
        secret: &[u8],
        now_ms: u64,
        first_message: &[u8],
        contact: &Contact,
        session: &SecretBytes,
        answer: (MessageId, &[u8]),
    ) -> Result<Invite, InviteError> {
        let id = self.contact_id(&contact.identity_key);
        // A "move" to its own id is an ordinary write of the contact.
        self.answer_invite_moving(secret, now_ms, first_message, &id, contact, session, answer)
    }

    pub(super) fn consume_invite_with(
        &self,
        secret: &[u8],
        now_ms: u64,
        first_message: &[u8],
        contact: &ContactId,
        also: impl FnOnce(&mut WriteBatch) -> Result<(), StoreError>,
    ) -> Result<Invite, InviteError> {
        let key = self.keys.blind(purpose::INVITE, secret).to_vec();
        let first_message = self.keys.blind(purpose::INVITE_USE, first_message);
        let _w = lock_ignoring_poison(&self.writer);
        let invite = match self.get_record(TreeName::Invites, &key)? {
            None => return Err(InviteError::Unknown),
            Some(Record::Invite(i)) => i,
            Some(Record::UsedInvite(u)) => {
                return Err(InviteError::Used {
                    same_acceptor: (u.first_message == first_message).then_some(u.contact),
                })
            }
            Some(_) => return Err(Self::wrong_type(TreeName::Invites, &key).into()),
        };
        let mut b = WriteBatch::new();
        if now_ms >= invite.expires_at_ms {
            b.remove(TreeName::Invites, key);
        } else {
            let used = UsedInvite {
                expires_at_ms: invite.expires_at_ms,
                first_message,
                contact: *contact,
            };
            self.put(&mut b, TreeName::Invites, key, &Record::UsedInvite(used))?;
            also(&mut b)?;
        }
        self.backend.apply(&b).map_err(StoreError::from)?;
        drop(_w);
        self.group
            .wait_durable(self.backend.as_ref())
            .map_err(StoreError::from)?;
        if now_ms >= invite.expires_at_ms {
            return Err(InviteError::Expired);
        }
        Ok(invite)
    }

    /// Whether the invite with this secret was used: `Err(InviteError::Used)` as
    /// [`Store::consume_invite`] would answer for `first_message`, `Err(Unknown)` if there is
    /// no used invite under it (a pending one included). Reads only.
    pub fn check_used_invite(&self, secret: &[u8], first_message: &[u8]) -> InviteError {
        let key = self.keys.blind(purpose::INVITE, secret);
        match self.get_record(TreeName::Invites, &key) {
            Ok(Some(Record::UsedInvite(u))) => InviteError::Used {
                same_acceptor: (u.first_message
                    == self.keys.blind(purpose::INVITE_USE, first_message))
                .then_some(u.contact),
            },
            Ok(_) => InviteError::Unknown,
            Err(e) => InviteError::Store(e),
        }
    }

    /// Pending invites (for listing and revoking), plus damaged ones.
    pub fn pending_invites(&self) -> Result<Listing<Invite>, StoreError> {
        let raw = self.scan_records(TreeName::Invites, &[])?;
        Ok(Listing {
            items: raw
                .items
                .into_iter()
                .filter_map(|(_, r)| match r {
                    Record::Invite(i) => Some(i),
                    _ => None,
                })
                .collect(),
            damaged: raw.damaged,
        })
    }
}
