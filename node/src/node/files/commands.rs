//! The user's file commands (docs/CLI.md: `inspect_file`, `send_file`, `accept_file`,
//! `decline_file`, `cancel_file`, `export_file`, `files`) and what the jobs they start
//! report back.

use super::inbound::stage_name;
use super::jobs::{FileJob, JobOutcome};
use super::*;
use crate::files::vault::Slot;
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
                path,
                original,
                client_ref,
            } => self.cmd_send_file(&to, path, original, client_ref),
            Command::AcceptFile { file } => self.cmd_answer_file(&file, FileAction::Accept),
            Command::DeclineFile { file } => self.cmd_answer_file(&file, FileAction::Decline),
            Command::CancelFile { file } => self.cmd_answer_file(&file, FileAction::Cancel),
            Command::ExportFile { file, path } => self.cmd_export_file(&file, path),
            Command::Files { with } => self.cmd_files(&with),
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
                (None, Some(f), Some(to), None) => self.forward_file(&f, &to, original, client_ref),
                (None, Some(_), None, Some(_)) => self.emit(Event::error_for(
                    ErrorCode::BadArguments,
                    "files cannot be sent to groups yet",
                    client_ref,
                )),
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
                self.profile
                    .store
                    .received_message(&MessageId(b))
                    .ok()
                    .flatten()
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

    /// A file (received, or sent) offered to `to` as a new file: cleaned again, under a new
    /// key and id, with a new time.
    fn forward_file(
        &mut self,
        file: &api::FileId,
        to: &str,
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
        let Some(cid) = self.sendable(to, &client_ref) else {
            return;
        };
        let mut new_id = [0u8; 16];
        self.rng.fill_bytes(&mut new_id);
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
            contact: cid,
            id: new_id,
            slot,
            key: *key.key_bytes(),
            client_ref,
        };
        self.start_job(what, job);
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
        to: &str,
        path: String,
        original: bool,
        client_ref: Option<ClientRef>,
    ) {
        let Some(cid) = self.sendable(to, &client_ref) else {
            return;
        };
        let mut id = [0u8; 16];
        self.rng.fill_bytes(&mut id);
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
            contact: cid,
            id,
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
        let Some(id) = self.named_file(file) else {
            return;
        };
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
        if stage != Stage::Moving {
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

    fn cmd_files(&mut self, with: &api::Alias) {
        let Some(cid) = self.by_alias(with) else {
            return self.unknown_contact(with);
        };
        let mut files: Vec<&FileRecord> = self
            .files
            .records
            .values()
            .filter(|r| r.contact == cid)
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
                    name: r.descriptor.name.clone(),
                    size: r.descriptor.size,
                    media_type: r.descriptor.media_type.clone(),
                    state: stage_name(r.stage),
                    bytes,
                    sent_at: r.sent_at_ms,
                    chunks_again: self.files.again.get(&r.id()).copied().unwrap_or(0),
                }
            })
            .collect();
        self.emit(Event::Files {
            with: with.clone(),
            files,
        });
    }

    /// A job finished.
    pub(crate) fn job_completed(&mut self, n: u64, outcome: JobOutcome) {
        let Some(what) = self.files.jobs.remove(&n) else {
            return;
        };
        match (what, outcome) {
            (
                Job::Import {
                    contact,
                    id,
                    slot,
                    key,
                    client_ref,
                },
                JobOutcome::Imported(result),
            ) => match result {
                Ok(imported) => self.offer_file(contact, id, slot, key, imported, client_ref),
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

    /// The file is sealed in the vault: offer it (the offer leaves once durable).
    fn offer_file(
        &mut self,
        cid: ContactId,
        id: [u8; 16],
        slot: Slot,
        key: [u8; 32],
        imported: super::jobs::Imported,
        client_ref: Option<ClientRef>,
    ) {
        let fail = |rt: &mut Self, code: ErrorCode, why: String, client_ref| {
            let _ = rt.files.vault.remove(slot);
            rt.emit(Event::error_for(code, why, client_ref));
        };
        let descriptor = FileDescriptor {
            id,
            name: imported.name,
            media_type: imported.media_type,
            size: imported.size,
            sha256: imported.sha256,
            key: FileKey::from_key_bytes(key),
        };
        let Some(mut session) = self.contacts.get(&cid).and_then(|c| c.session.clone()) else {
            return fail(
                self,
                ErrorCode::NotEstablished,
                "no session".into(),
                client_ref,
            );
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
            expires_at_ms: self.file_expiry(&cid),
            descriptor,
        };
        let content = Content::File {
            id: offer,
            sent_at_ms: now,
            descriptor: record.descriptor.clone(),
        };
        let Some(e) = self.seal_part(&mut session, cid, offer, &content, FILE_SEQ) else {
            return fail(
                self,
                ErrorCode::EncryptFailed,
                "could not encrypt".into(),
                client_ref,
            );
        };
        let event = Event::FileQueued {
            file: api::FileId::of(&id),
            name: record.descriptor.name.clone(),
            size: record.descriptor.size,
            removed: imported.removed,
            client_ref: client_ref.clone(),
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
        } else {
            let _ = self.files.vault.remove(slot);
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
