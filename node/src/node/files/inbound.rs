//! A file's offer, chunk or control from a contact. Each is receipted (its id: the offer's
//! message id, a chunk's or a control's derived one), stored with the receipt and the
//! ratchet state in one transaction, and acknowledged once durable (chunks in runs:
//! `runs.rs`). What a transfer's state refuses (a chunk before acceptance, outside the span,
//! of another contact's file) moves the session on and changes nothing else.

use super::*;
use crate::files::vault::Slot;

impl<S: Shell> Runtime<S> {
    pub(in crate::node) fn inbound_file(
        &mut self,
        cid: ContactId,
        next: Session,
        content: Content,
    ) -> Inbound {
        match content {
            Content::File {
                id,
                sent_at_ms,
                group,
                descriptor,
            } => self.inbound_offer(cid, next, id, sent_at_ms, group, descriptor),
            // Every chunk is taken (or refused) as part of a run (`runs.rs`).
            Content::Chunk { .. } => self.file_refused(cid, next, "chunk outside a run"),
            Content::FileControl { file, action } => self.inbound_control(cid, next, file, action),
            _ => Inbound::Dropped,
        }
    }

    /// The session moves on and nothing else changes (what a transfer refuses).
    pub(super) fn file_refused(
        &mut self,
        cid: ContactId,
        next: Session,
        why: &'static str,
    ) -> Inbound {
        if !self.session_moves_on(cid, next) {
            return Inbound::TryLater;
        }
        self.hostile(why)
    }

    /// Stores `next` as `cid`'s session (staged), then keeps it; false if it could not.
    pub(super) fn session_moves_on(&mut self, cid: ContactId, next: Session) -> bool {
        let bytes = SecretBytes::from_slice(&next.to_bytes());
        if self.profile.store.put_session(&cid, &bytes).is_err() {
            return false;
        }
        self.dirty = true;
        if let Some(s) = self.contacts.get_mut(&cid) {
            s.session = Some(next);
        }
        true
    }

    /// Stores a receipt for `id` (something seen before: its receipt was lost).
    fn receipt_again(&mut self, cid: ContactId, mut next: Session, id: [u8; 16]) -> Inbound {
        let Some(receipt) = self.receipt_part(&mut next, cid, vec![id]) else {
            return Inbound::TryLater;
        };
        if self.write_file(cid, None, Some(next), vec![(receipt, None)], Vec::new()) {
            Inbound::Processed
        } else {
            Inbound::TryLater
        }
    }

    fn inbound_offer(
        &mut self,
        cid: ContactId,
        mut next: Session,
        offer: [u8; 16],
        sent_at_ms: u64,
        gid: Option<crate::group::GroupId>,
        descriptor: cairn_crypto::file::FileDescriptor,
    ) -> Inbound {
        let id = descriptor.id;
        if let Some(r) = self.files.records.get(&id) {
            if r.contact != cid || r.outgoing || r.offer != offer {
                return self.file_refused(cid, next, "file offer under another's id");
            }
            return self.receipt_again(cid, next, offer);
        }
        if self
            .profile
            .store
            .is_duplicate(&MessageId(offer))
            .unwrap_or(false)
        {
            // Offered, then removed (expired): nothing to show again.
            return self.file_refused(cid, next, "file offer seen before");
        }
        if let Some(g) = &gid {
            // Shown in the group only if its sender and we are members as our log
            // stands; otherwise not acknowledged, as a group's text would not be (its
            // welcome, or the change that added its sender, may be on the way).
            if self.shares_group(&cid, g) != Some(true) {
                return Inbound::Kept;
            }
        }
        let mut slot = Slot([0; 16]);
        self.rng.fill_bytes(&mut slot.0);
        let record = FileRecord {
            contact: cid,
            outgoing: false,
            stage: Stage::Offered,
            slot,
            offer,
            sent_at_ms,
            next: 0,
            have: ChunkSet::default(),
            direct_only: false,
            expires_at_ms: self.file_expiry(&cid, gid),
            group: gid,
            descriptor,
            chunks_in_store: false,
        };
        let Some(receipt) = self.receipt_part(&mut next, cid, vec![offer]) else {
            return Inbound::TryLater;
        };
        let event = Event::FileOffered {
            from: self.alias_of(&cid),
            group: gid.as_ref().map(crate::node::groups::group_ref),
            file: api::FileId::of(&id),
            name: record.descriptor.name.clone(),
            size: record.descriptor.size,
            media_type: record.descriptor.media_type.clone(),
            sent_at: sent_at_ms,
        };
        if !self.write_file(
            cid,
            Some(record),
            Some(next),
            vec![(receipt, None)],
            vec![MessageId(offer)],
        ) {
            return Inbound::TryLater;
        }
        self.deferred.push(Deferred::Emit(event));
        Inbound::Processed
    }

    fn inbound_control(
        &mut self,
        cid: ContactId,
        mut next: Session,
        file: [u8; 16],
        action: FileAction,
    ) -> Inbound {
        let Some(r) = self.files.records.get(&file).cloned() else {
            return self.file_refused(cid, next, "control of no file");
        };
        if r.contact != cid {
            return self.file_refused(cid, next, "control of another's file");
        }
        let Some(receipt) = self.receipt_part(&mut next, cid, vec![control_id(&file, action)])
        else {
            return Inbound::TryLater;
        };
        let mut record = r.clone();
        let new_stage = match (action, r.outgoing, r.stage) {
            (FileAction::Accept, true, Stage::Offered) => Some(Stage::Moving),
            (FileAction::Decline, true, Stage::Offered) => Some(Stage::Declined),
            (FileAction::Cancel, _, Stage::Offered | Stage::Moving) => Some(Stage::Cancelled),
            _ => None,
        };
        if let Some(s) = new_stage {
            record.stage = s;
        }
        if !self.write_file(
            cid,
            Some(record),
            Some(next),
            vec![(receipt, None)],
            Vec::new(),
        ) {
            return Inbound::TryLater;
        }
        let Some(stage) = new_stage else {
            return Inbound::Processed;
        };
        match stage {
            // After the rest of the batch: the recipient's `TakesBulk` comes with its
            // acceptance, and the first window then goes as bulk chunks too (§25.5).
            Stage::Moving => {
                self.files.accepted.insert(file);
            }
            _ => self.stop_file(file, stage, false),
        }
        self.deferred.push(Deferred::Emit(Event::FileState {
            file: api::FileId::of(&file),
            state: stage_name(stage),
            by_contact: true,
        }));
        Inbound::Processed
    }
}

/// A stage as front ends name it.
pub(crate) fn stage_name(s: Stage) -> api::FileStateName {
    match s {
        Stage::Offered => api::FileStateName::Offered,
        Stage::Moving => api::FileStateName::Moving,
        Stage::Complete => api::FileStateName::Complete,
        Stage::Declined => api::FileStateName::Declined,
        Stage::Cancelled => api::FileStateName::Cancelled,
        Stage::Failed => api::FileStateName::Failed,
    }
}
