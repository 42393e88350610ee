//! The user's file commands (docs/CLI.md: `inspect_file`, `send_file`, `accept_file`,
//! `decline_file`, `cancel_file`, `export_file`, `files`) and what the jobs they start
//! report back.

use super::inbound::stage_name;
use super::jobs::{FileJob, JobOutcome};
use super::*;
use crate::files::vault::Slot;
use crate::node::groups::group_ref;
use crate::store::StoredMessage;
use cairn_crypto::file::{FileDescriptor, FileKey};

impl<S: Shell> Runtime<S> {
    pub(in crate::node) fn file_command(&mut self, cmd: Command) {
        match cmd {
            Command::InspectFile { path } => {
                let job = FileJob::Inspect {
                    path: path.clone().into(),
                };
                self.start_job(Job::Inspect(path), job);
            }
            Command::SendFile {
                to,
                group,
                path,
                original,
                client_ref,
            } => {
                if let Some(target) = self.file_target(to, group, &client_ref) {
                    self.cmd_send_file(target, path, original, client_ref);
                }
            }
            Command::AcceptFile { file } => self.cmd_answer_file(&file, FileAction::Accept),
            Command::DeclineFile { file } => self.cmd_answer_file(&file, FileAction::Decline),
            Command::CancelFile { file } => self.cmd_answer_file(&file, FileAction::Cancel),
            Command::ExportFile { file, path } => self.cmd_export_file(&file, path),
            Command::Files { with, group } => self.cmd_files(with, group),
            Command::Forward {
                message,
                file,
                to,
                group,
                original,
                client_ref,
            } => match (message, file, to, group) {
                (Some(m), None, to, group) if to.is_some() != group.is_some() => {
                    self.forward_message(&m, to, group, client_ref)
                }
                (None, Some(f), to, group) if to.is_some() != group.is_some() => {
                    if let Some(target) = self.file_target(to, group, &client_ref) {
                        self.forward_file(&f, target, original, client_ref);
                    }
                }
                _ => self.emit(Event::error_for(
                    ErrorCode::BadArguments,
                    "forward takes one of message or file, and one of to or group",
                    client_ref,
                )),
            },
            _ => {}
        }
    }

    /// A received message's text, sent anew: a new id and time, from us, nothing of its
    /// first sender.
    fn forward_message(
        &mut self,
        id: &api::MessageId,
        to: Option<api::Alias>,
        group: Option<api::GroupRef>,
        client_ref: Option<ClientRef>,
    ) {
        let found = hex::decode(id.as_str())
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .and_then(|b| {
                let id = MessageId(b);
                self.profile
                    .store
                    .received_message(&id)
                    .ok()
                    .flatten()
                    .or_else(|| self.received_group_message(&id))
            });
        let Some(m) = found else {
            return self.emit(Event::error_for(
                ErrorCode::UnknownMessage,
                format!("no received message {}", id.as_str()),
                client_ref,
            ));
        };
        match (to, group) {
            (Some(to), _) => self.cmd_send(&to, vec![(m.text, client_ref)]),
            (None, Some(g)) => self.cmd_group_send(&g, m.text, client_ref),
            (None, None) => {}
        }
    }

    /// A group message received with this id. The index of received ids knows each copy's
    /// id, not the message's (which `group_message` reports): the groups' conversations are
    /// searched, the newest messages first — a user's forward, not a peer's doing.
    fn received_group_message(&self, id: &MessageId) -> Option<StoredMessage> {
        self.groups.keys().find_map(|g| {
            let conv = self.profile.store.group_conversation(&g.0);
            let listing = self.profile.store.messages(&conv).ok()?;
            listing
                .items
                .into_iter()
                .rev()
                .find(|m| m.id == *id && m.direction == Direction::Incoming)
        })
    }

    /// A file (received, or sent) offered to `to` as a new file: cleaned again, under a new
    /// key and id, with a new time.
    fn forward_file(
        &mut self,
        file: &api::FileId,
        to: Target,
        original: bool,
        client_ref: Option<ClientRef>,
    ) {
        let Some(id) = self.named_file(file) else {
            return;
        };
        let Some(r) = self.files.records.get(&id).cloned() else {
            return;
        };
        if !r.held_whole() {
            return self.file_state_error(r.stage);
        }
        let mut slot = Slot([0; 16]);
        self.rng.fill_bytes(&mut slot.0);
        let key = FileKey::generate(&mut self.rng);
        let job = FileJob::Reseal {
            vault: Arc::clone(&self.files.vault),
            from: r.slot,
            descriptor: r.descriptor.clone(),
            original,
            slot,
            key: FileKey::from_key_bytes(*key.key_bytes()),
        };
        let what = Job::Import {
            to,
            slot,
            key: *key.key_bytes(),
            client_ref,
        };
        self.start_job(what, job);
    }

    /// Who a file goes to: one contact (that can be sent a file now) or one group; an
    /// error reported otherwise.
    fn file_target(
        &self,
        to: Option<api::Alias>,
        group: Option<api::GroupRef>,
        client_ref: &Option<ClientRef>,
    ) -> Option<Target> {
        match (to, group) {
            (Some(to), None) => self.sendable(&to, client_ref).map(Target::Contact),
            (None, Some(g)) => self
                .group_by_ref(g.as_str(), client_ref.clone())
                .map(Target::Group),
            _ => {
                self.emit(Event::error_for(
                    ErrorCode::BadArguments,
                    "a file goes to one of to or group",
                    client_ref.clone(),
                ));
                None
            }
        }
    }

    /// The contact `to`, if a file can be sent to it now (an error reported otherwise).
    fn sendable(&self, to: &str, client_ref: &Option<ClientRef>) -> Option<ContactId> {
        let Some(cid) = self.by_alias(to) else {
            self.unknown_contact(to);
            return None;
        };
        if self.blocked.contains(&cid) {
            self.emit(Event::error_for(
                ErrorCode::Blocked,
                "that contact is blocked",
                client_ref.clone(),
            ));
            return None;
        }
        if self.contacts.get(&cid).is_none_or(|c| c.session.is_none()) {
            self.emit(Event::error_for(
                ErrorCode::NotEstablished,
                "no session with that contact yet",
                client_ref.clone(),
            ));
            return None;
        }
        Some(cid)
    }

    fn cmd_send_file(
        &mut self,
        to: Target,
        path: String,
        original: bool,
        client_ref: Option<ClientRef>,
    ) {
        let mut slot = Slot([0; 16]);
        self.rng.fill_bytes(&mut slot.0);
        let key = FileKey::generate(&mut self.rng);
        let job = FileJob::Import {
            path: path.into(),
            original,
            vault: Arc::clone(&self.files.vault),
            slot,
            key: FileKey::from_key_bytes(*key.key_bytes()),
        };
        let what = Job::Import {
            to,
            slot,
            key: *key.key_bytes(),
            client_ref,
        };
        self.start_job(what, job);
    }

    /// A file the user names, if it exists.
    fn named_file(&self, file: &api::FileId) -> Option<[u8; 16]> {
        let id = file
            .bytes()
            .filter(|id| self.files.records.contains_key(id));
        if id.is_none() {
            self.emit(Event::error(
                ErrorCode::UnknownFile,
                format!("no file {}", file.as_str()),
            ));
        }
        id
    }

    fn file_state_error(&self, stage: Stage) {
        self.emit(Event::error(
            ErrorCode::FileState,
            format!("the transfer is {}", stage.name()),
        ));
    }

    /// Accept, decline or cancel: the transfer's state changes, the contact is told.
    fn cmd_answer_file(&mut self, file: &api::FileId, action: FileAction) {
        if let Some(id) = self.named_file(file) {
            self.answer_file(id, action);
        }
    }

    /// Ends the transfers of files sent or offered in `gid` whose contact is no longer a
    /// member as our log stands (all of them if we are not): a group's document is not
    /// passed on to someone removed from it. Each is cancelled and its contact told.
    pub(in crate::node) fn end_group_files(&mut self, gid: &crate::group::GroupId) {
        let ids: Vec<[u8; 16]> = self
            .files
            .records
            .values()
            .filter(|r| r.group == Some(*gid))
            .filter(|r| matches!(r.stage, Stage::Offered | Stage::Moving))
            .filter(|r| self.shares_group(&r.contact, gid) == Some(false))
            .map(FileRecord::id)
            .collect();
        for id in ids {
            self.answer_file(id, FileAction::Cancel);
        }
    }

    fn answer_file(&mut self, id: [u8; 16], action: FileAction) {
        let Some(r) = self.files.records.get(&id).cloned() else {
            return;
        };
        let stage = match (action, r.outgoing, r.stage) {
            (FileAction::Accept, false, Stage::Offered) => Stage::Moving,
            (FileAction::Decline, false, Stage::Offered) => Stage::Declined,
            (FileAction::Cancel, _, Stage::Offered | Stage::Moving) => Stage::Cancelled,
            _ => return self.file_state_error(r.stage),
        };
        let Some(mut session) = self
            .contacts
            .get(&r.contact)
            .and_then(|c| c.session.clone())
        else {
            return self.file_state_error(r.stage);
        };
        let control = Content::FileControl { file: id, action };
        let Some(e) = self.seal_part(
            &mut session,
            r.contact,
            control_id(&id, action),
            &control,
            FILE_SEQ,
        ) else {
            return self.emit(Event::error(ErrorCode::EncryptFailed, "could not encrypt"));
        };
        let mut record = r.clone();
        record.stage = stage;
        if !self.write_file(
            r.contact,
            Some(record),
            Some(session),
            vec![(e, Some(Part::Control(action)))],
            Vec::new(),
        ) {
            return;
        }
        if stage == Stage::Moving {
            self.say_takes_bulk(&r);
        } else {
            self.stop_file(id, stage, false);
        }
        self.deferred.push(Deferred::Emit(Event::FileState {
            file: api::FileId::of(&id),
            state: stage_name(stage),
            by_contact: false,
        }));
    }

    fn cmd_export_file(&mut self, file: &api::FileId, path: String) {
        let Some(id) = self.named_file(file) else {
            return;
        };
        let Some(r) = self.files.records.get(&id) else {
            return;
        };
        if !r.held_whole() {
            return self.file_state_error(r.stage);
        }
        let job = FileJob::Export {
            vault: Arc::clone(&self.files.vault),
            slot: r.slot,
            descriptor: r.descriptor.clone(),
            path: path.clone().into(),
        };
        self.start_job(Job::Export(id, path), job);
    }

    /// The files of a contact's conversation (sent to it alone) or of a group's (one
    /// transfer per member, each naming its member).
    fn cmd_files(&mut self, with: Option<api::Alias>, group: Option<api::GroupRef>) {
        let conversation = match (&with, &group) {
            (Some(w), None) => match self.by_alias(w) {
                Some(cid) => Target::Contact(cid),
                None => return self.unknown_contact(w),
            },
            (None, Some(g)) => match self.group_by_ref(g.as_str(), None) {
                Some(gid) => Target::Group(gid),
                None => return,
            },
            _ => {
                return self.emit(Event::error(
                    ErrorCode::BadArguments,
                    "files takes one of with or group",
                ))
            }
        };
        let mut files: Vec<&FileRecord> = self
            .files
            .records
            .values()
            .filter(|r| match conversation {
                Target::Contact(cid) => r.contact == cid && r.group.is_none(),
                Target::Group(gid) => r.group == Some(gid),
            })
            .collect();
        files.sort_by_key(|r| (r.sent_at_ms, r.id()));
        let files = files
            .into_iter()
            .map(|r| {
                let done = if r.outgoing {
                    self.files.acked.get(&r.id()).map_or(0, ChunkSet::len)
                } else {
                    r.have.len()
                };
                let bytes = match r.stage {
                    Stage::Complete => r.descriptor.size,
                    _ => (done * CHUNK_LEN as u64).min(r.descriptor.size),
                };
                api::FileInfo {
                    file: api::FileId::of(&r.id()),
                    direction: if r.outgoing {
                        MessageDirection::Out
                    } else {
                        MessageDirection::In
                    },
                    contact: self.alias_of(&r.contact),
                    name: r.descriptor.name.clone(),
                    size: r.descriptor.size,
                    media_type: r.descriptor.media_type.clone(),
                    state: stage_name(r.stage),
                    bytes,
                    sent_at: r.sent_at_ms,
                    chunks_again: self.files.again.get(&r.id()).copied().unwrap_or(0),
                    bulk_chunks: self.files.bulk_in.get(&r.id()).copied().unwrap_or(0),
                }
            })
            .collect();
        self.emit(Event::Files { with, group, files });
    }

    /// A contact's alias (empty if it is gone).
    pub(super) fn alias_of(&self, cid: &ContactId) -> api::Alias {
        self.contacts
            .get(cid)
            .map(|c| c.contact.alias.clone())
            .unwrap_or_default()
            .into()
    }

    /// A job finished.
    pub(crate) fn job_completed(&mut self, n: u64, outcome: JobOutcome) {
        let Some(what) = self.files.jobs.remove(&n) else {
            return;
        };
        match (what, outcome) {
            (
                Job::Import {
                    to,
                    slot,
                    key,
                    client_ref,
                },
                JobOutcome::Imported(result),
            ) => match result {
                Ok(imported) => self.offer_file(to, slot, key, &imported, client_ref),
                Err((code, message)) => {
                    let _ = self.files.vault.remove(slot);
                    self.emit(Event::error_for(code, message, client_ref));
                }
            },
            (Job::Inspect(path), JobOutcome::Inspected(result)) => match result {
                Ok(i) => self.emit(Event::FileInspected {
                    path,
                    format: i.format.map(|f| format!("{f:?}").to_lowercase()),
                    removed: i.removed,
                    cleanable: i.refused.is_none(),
                    note: i.refused,
                }),
                Err(e) => self.emit(Event::error(ErrorCode::FileUnreadable, e)),
            },
            (Job::Verify(id), JobOutcome::Verified(result)) => self.verified(id, result),
            (Job::Export(id, path), JobOutcome::Exported(result)) => match result {
                Ok(()) => self.emit(Event::FileExported {
                    file: api::FileId::of(&id),
                    path,
                }),
                Err(e) => self.emit(Event::error(ErrorCode::ExportFailed, e)),
            },
            _ => {}
        }
    }

    /// The file is sealed in the vault: offer it to its contact, or to each member of its
    /// group that can be reached (each offer leaves once durable). The slot is deleted if
    /// nobody could be offered it.
    fn offer_file(
        &mut self,
        to: Target,
        slot: Slot,
        key: [u8; 32],
        imported: &super::jobs::Imported,
        client_ref: Option<ClientRef>,
    ) {
        let (contacts, group, unreached) = match to {
            Target::Contact(cid) => (vec![cid], None, Vec::new()),
            Target::Group(gid) => {
                let (to, not) = self.file_recipients(&gid);
                (to, Some(gid), not)
            }
        };
        let mut offered = 0;
        let mut failed = None;
        for cid in contacts {
            match self.offer_to(cid, group, slot, key, imported, client_ref.clone()) {
                Ok(()) => offered += 1,
                Err(e) => failed = Some(e),
            }
        }
        if offered == 0 {
            let _ = self.files.vault.remove(slot);
            let why = failed.unwrap_or(Some((
                ErrorCode::NotEstablished,
                "no member of the group can be sent a file yet".into(),
            )));
            if let Some((code, why)) = why {
                self.emit(Event::error_for(code, why, client_ref));
            }
            return;
        }
        if !unreached.is_empty() {
            let names: Vec<&str> = unreached.iter().map(|n| n.as_str()).collect();
            self.emit(Event::error_for(
                ErrorCode::NotEstablished,
                format!(
                    "not offered to {} (no session yet): send it again once they are reachable",
                    names.join(", ")
                ),
                client_ref,
            ));
        }
    }

    /// Offers the file sealed in `slot` to `cid` under a new id (the offer stored with
    /// the session that encrypted it). An error not yet reported is returned.
    fn offer_to(
        &mut self,
        cid: ContactId,
        group: Option<crate::group::GroupId>,
        slot: Slot,
        key: [u8; 32],
        imported: &super::jobs::Imported,
        client_ref: Option<ClientRef>,
    ) -> Result<(), Option<(ErrorCode, String)>> {
        let mut id = [0u8; 16];
        self.rng.fill_bytes(&mut id);
        let descriptor = FileDescriptor {
            id,
            name: imported.name.clone(),
            media_type: imported.media_type.clone(),
            size: imported.size,
            sha256: imported.sha256,
            key: FileKey::from_key_bytes(key),
        };
        let Some(mut session) = self.contacts.get(&cid).and_then(|c| c.session.clone()) else {
            return Err(Some((ErrorCode::NotEstablished, "no session".into())));
        };
        let mut offer = [0u8; 16];
        self.rng.fill_bytes(&mut offer);
        let now = self.now_ms().max(self.last_sent_ms + 1);
        self.last_sent_ms = now;
        let record = FileRecord {
            contact: cid,
            outgoing: true,
            stage: Stage::Offered,
            slot,
            offer,
            sent_at_ms: now,
            next: 0,
            have: ChunkSet::default(),
            direct_only: descriptor.size > MAILBOX_FILE_LIMIT,
            expires_at_ms: self.file_expiry(&cid, group),
            group,
            descriptor,
            chunks_in_store: false,
        };
        let content = Content::File {
            id: offer,
            sent_at_ms: now,
            group: record.group,
            descriptor: record.descriptor.clone(),
        };
        let Some(e) = self.seal_part(&mut session, cid, offer, &content, FILE_SEQ) else {
            return Err(Some((ErrorCode::EncryptFailed, "could not encrypt".into())));
        };
        let event = Event::FileQueued {
            file: api::FileId::of(&id),
            to: self.alias_of(&cid),
            group: group.as_ref().map(group_ref),
            name: record.descriptor.name.clone(),
            size: record.descriptor.size,
            removed: imported.removed.clone(),
            client_ref,
        };
        self.files.acked.insert(id, ChunkSet::default());
        if self.write_file(
            cid,
            Some(record),
            Some(session),
            vec![(e, Some(Part::Offer))],
            Vec::new(),
        ) {
            self.deferred.push(Deferred::Emit(event));
            Ok(())
        } else {
            // Reported by `write_file`.
            self.files.acked.remove(&id);
            Err(None)
        }
    }

    fn verified(&mut self, id: [u8; 16], result: Result<bool, String>) {
        let Some(mut r) = self.files.records.get(&id).cloned() else {
            return;
        };
        if r.stage != Stage::Moving {
            return;
        }
        match result {
            Ok(true) => {
                r.stage = Stage::Complete;
                let size = r.descriptor.size;
                if self.write_file(r.contact, Some(r), None, Vec::new(), Vec::new()) {
                    self.progress(id, false, size, size);
                    self.deferred.push(Deferred::Emit(Event::FileState {
                        file: api::FileId::of(&id),
                        state: api::FileStateName::Complete,
                        by_contact: false,
                    }));
                }
            }
            Ok(false) => {
                self.stop_file(id, Stage::Failed, false);
                self.emit(Event::FileState {
                    file: api::FileId::of(&id),
                    state: api::FileStateName::Failed,
                    by_contact: false,
                });
            }
            Err(e) => tracing::warn!(error = %e, "a received file could not be checked"),
        }
    }
}
