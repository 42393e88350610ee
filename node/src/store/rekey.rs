//! Moving a contact to a new identity key: a contact who lost their old key (a new device)
//! re-keys the conversation through a new invite, and keeps its history (PROTOCOL §23.1).
//!
//! A contact's records live under its id, a keyed hash of its identity key, so a new key
//! means a new id: the contact record, its session, its conversation and every message, and
//! its outbox entries move to the new id in one atomic batch with the new session.

use super::backend::{TreeName, WriteBatch};
use super::codec::Record;
use super::error::{InviteError, StoreError};
use super::model::{Contact, ContactId, MessageId};
use super::secret::SecretBytes;
use super::{lock_ignoring_poison, Invite, Store};

impl Store {
    /// Moves contact `old` to `contact` (same person, new identity key) with its new session
    /// and, if given, a control envelope for it (the answer or receipt that finishes the
    /// handshake), in one atomic batch. Returns the new id; with an unchanged key it is
    /// `old` and this is an ordinary update. Fails with `Invalid` if the new key already
    /// belongs to another contact (nothing is written). Durable.
    pub fn move_contact(
        &self,
        old: &ContactId,
        contact: &Contact,
        session: &SecretBytes,
        control: Option<(MessageId, &[u8], u64)>,
    ) -> Result<ContactId, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        let new = self.stage_move(&mut b, old, contact)?;
        self.stage_session(&mut b, &new, session)?;
        if let Some((id, envelope, now_ms)) = control {
            self.stage_control(&mut b, &new, id, envelope, now_ms)?;
        }
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(new)
    }

    /// Like [`Store::answer_invite`], for an invite made for an existing contact `old`
    /// (their new device): the invite is used, the contact moves to its new key with its
    /// history and the new session, and the answer is queued, in one atomic batch.
    #[allow(clippy::too_many_arguments)]
    pub fn answer_invite_moving(
        &self,
        secret: &[u8],
        now_ms: u64,
        first_message: &[u8],
        old: &ContactId,
        contact: &Contact,
        session: &SecretBytes,
        answer: (MessageId, &[u8]),
    ) -> Result<Invite, InviteError> {
        let id = self.contact_id(&contact.identity_key);
        self.consume_invite_with(secret, now_ms, first_message, &id, |b| {
            self.stage_move(b, old, contact)?;
            self.stage_session(b, &id, session)?;
            self.stage_control(b, &id, answer.0, answer.1, now_ms)
        })
    }

    /// Stages the move of everything under `old` to `contact`'s id (see the module).
    fn stage_move(
        &self,
        b: &mut WriteBatch,
        old: &ContactId,
        contact: &Contact,
    ) -> Result<ContactId, StoreError> {
        let new = self.contact_id(&contact.identity_key);
        if new == *old {
            return self.stage_contact(b, contact);
        }
        if self.contact(&new)?.is_some() {
            return Err(StoreError::Invalid(
                "the new identity key already belongs to another contact",
            ));
        }
        self.stage_remove_contact_record(b, old)?;
        if let Some(conv) = self.get_record(TreeName::Conversations, &old.0)? {
            self.put(b, TreeName::Conversations, new.0.to_vec(), &conv)?;
            b.remove(TreeName::Conversations, old.0.to_vec());
        }
        // Messages are keyed by contact id || seq, and sealed with their key as associated
        // data: each is sealed again under its new key. (A damaged record stays where it
        // is: it cannot be read under either id.)
        for (k, r) in self.scan_records(TreeName::Messages, &old.0)?.items {
            let Some(seq) = k.get(old.0.len()..) else {
                continue;
            };
            let mut moved = new.0.to_vec();
            moved.extend_from_slice(seq);
            self.put(b, TreeName::Messages, moved, &r)?;
            b.remove(TreeName::Messages, k);
        }
        for (k, r) in self.scan_records(TreeName::Outbox, &[])?.items {
            let moved = match r {
                Record::Outbox(mut o) if o.contact == *old => {
                    o.contact = new;
                    Record::Outbox(o)
                }
                Record::OutboxBatch(mut entries) if entries.iter().any(|e| e.contact == *old) => {
                    for e in entries.iter_mut().filter(|e| e.contact == *old) {
                        e.contact = new;
                    }
                    Record::OutboxBatch(entries)
                }
                _ => continue,
            };
            self.put(b, TreeName::Outbox, k, &moved)?;
        }
        for (k, r) in self.scan_records(TreeName::TagIndex, &[])?.items {
            if matches!(r, Record::RoutingTag(c) if c == *old) {
                b.remove(TreeName::TagIndex, k);
            }
        }
        self.stage_contact(b, contact)
    }
}
