//! Files in the runtime (docs/PROTOCOL.md §25.3): a transfer's offer, chunks and controls
//! go through the outbox like messages — the ratchet state that encrypted them durable
//! before they leave, retried, renewed, receipted — under `FILE_SEQ`; the window of chunks in
//! flight moves with the receipts. The offer and controls are stored in the outbox; the
//! chunks in flight are kept only in the outbox's memory (the record keeps how far the
//! transfer got and which chunks were acknowledged): after a restart the ones not
//! acknowledged are encrypted again from the vault, so the sender's store never holds (and
//! seals, and writes) a second copy of the file. What is slow (reading, cleaning and sealing a file,
//! checking or writing out a received one) runs as jobs in the shell (`jobs.rs`).
//!
//! - `commands.rs`: the user's commands and the jobs' outcomes;
//! - `inbound.rs`: an offer, a chunk or a control from a contact;
//! - `runs.rs`: chunks of one file that arrived together, stored and receipted as one;
//! - here: the state kept, loading it, the window (`pump`), receipts, renewal, expiry.

use super::*;
use crate::content::FileAction;
use crate::files::record::FileRecord;
use crate::files::transfer::{
    chunk_id, ChunkSet, Meter, Outgoing, Stage, BULK_SPAN, DIRECT_WINDOW, SPAN, WINDOW,
};
use crate::files::vault::{self, Slot, Vault};
use crate::store::{FileWrite, FILE_SEQ};
use cairn_crypto::file::CHUNK_LEN;
use sha2::{Digest, Sha256};
use std::sync::Arc;

mod bulk;
mod commands;
mod inbound;
pub mod jobs;
mod runs;

pub(in crate::node) use bulk::{is_bulk, BulkRun};
pub(in crate::node) use runs::{Chunk, ChunkRun, Joined};

/// Files larger than this move only while both sides are online: through a mailbox (whose
/// quota per recipient is 32 MiB, `relay::mailbox::MAX_BYTES_PER_TAG`) a window at a time
/// they would take hours and crowd out the messages waiting beside them.
pub const MAILBOX_FILE_LIMIT: u64 = 16 << 20;

/// A control's message id (its receipt names it): derived, so that renewals keep it.
pub(crate) fn control_id(file: &[u8; 16], action: FileAction) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"cairn/v1 file control id");
    h.update(file);
    h.update([action as u8]);
    let d = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
    id
}

/// What an outbox entry of a file carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Offer,
    Chunk(u64),
    Control(FileAction),
}

/// Who a file is sent to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Contact(ContactId),
    /// Every member of a group that can be reached: one transfer each, all of them reading
    /// the same sealed slot (it is deleted once none needs it).
    Group(crate::group::GroupId),
}

/// What a running job was started for.
pub(crate) enum Job {
    Import {
        to: Target,
        slot: vault::Slot,
        key: [u8; 32],
        client_ref: Option<ClientRef>,
    },
    Inspect(String),
    Verify([u8; 16]),
    Export([u8; 16], String),
}

/// The runtime's files.
pub(crate) struct Files {
    pub(super) vault: Arc<dyn Vault>,
    /// Every transfer, by file id.
    pub(super) records: BTreeMap<[u8; 16], FileRecord>,
    /// Outgoing transfers: chunks whose receipt came.
    pub(super) acked: BTreeMap<[u8; 16], ChunkSet>,
    /// Outbox entries that carry part of a file.
    pub(super) parts: BTreeMap<MessageId, ([u8; 16], Part)>,
    pub(super) meters: BTreeMap<[u8; 16], Meter>,
    pub(super) jobs: BTreeMap<u64, Job>,
    pub(super) next_job: u64,
    /// Transfers whose user was told they wait for a direct connection.
    pub(super) told_waiting: BTreeSet<[u8; 16]>,
    /// Incoming transfers: chunks received again since this node started.
    pub(super) again: BTreeMap<[u8; 16], u64>,
    /// Outgoing transfers: chunks that were in flight when the node stopped (kept only in
    /// memory), to send again.
    pub(super) lost: BTreeMap<[u8; 16], Vec<u64>>,
    /// Outgoing transfers whose recipient takes bulk chunks, with the span it takes
    /// (`bulk.rs`; a restart forgets, and the rest goes through the ratchet).
    pub(super) bulk: BTreeMap<[u8; 16], u64>,
    /// Outgoing transfers accepted in the batch being read: their first chunks leave once
    /// the whole batch is read (`pump_accepted`).
    pub(super) accepted: BTreeSet<[u8; 16]>,
    /// Incoming transfers: chunks stored that came as bulk chunks since this node started.
    pub(super) bulk_in: BTreeMap<[u8; 16], u64>,
    /// Incoming transfers: their chunks hashed as they arrived in order (memory only).
    pub(super) hashed: BTreeMap<[u8; 16], vault::Hashed>,
    /// Slots written since the last flush began (the next one syncs them first).
    pub(crate) unsynced: BTreeSet<Slot>,
    /// Slots the running flush syncs (written again into `unsynced` if it fails).
    pub(crate) syncing: Vec<Slot>,
}

impl Files {
    pub(crate) fn new(vault: Arc<dyn Vault>) -> Self {
        Self {
            vault,
            records: BTreeMap::new(),
            acked: BTreeMap::new(),
            parts: BTreeMap::new(),
            meters: BTreeMap::new(),
            jobs: BTreeMap::new(),
            next_job: 0,
            told_waiting: BTreeSet::new(),
            again: BTreeMap::new(),
            lost: BTreeMap::new(),
            bulk: BTreeMap::new(),
            accepted: BTreeSet::new(),
            hashed: BTreeMap::new(),
            bulk_in: BTreeMap::new(),
            unsynced: BTreeSet::new(),
            syncing: Vec::new(),
        }
    }

    /// Where outbox entry `id` stands among its file's parts: a chunk's index (0 for
    /// anything else), so that chunks leave in order.
    pub(super) fn place(&self, id: &MessageId) -> u64 {
        match self.parts.get(id) {
            Some((_, Part::Chunk(i))) => *i,
            _ => 0,
        }
    }
}

/// Takes the plaintext of chunk `index` of incoming `file`, just opened, into the file's
/// hash in `hashed` if it is the next one. The hash is kept from the file's first chunk on
/// (after a restart, the check at the end opens what came before).
fn hash_arrival(
    hashed: &mut BTreeMap<[u8; 16], vault::Hashed>,
    file: [u8; 16],
    index: u64,
    plain: zeroize::Zeroizing<Vec<u8>>,
) {
    match hashed.get_mut(&file) {
        Some(h) => h.take(index, plain),
        None if index == 0 => hashed.entry(file).or_default().take(index, plain),
        None => {}
    }
}

fn entry(contact: ContactId, id: [u8; 16], envelope: Vec<u8>, seq: u64, now: u64) -> OutboxEntry {
    OutboxEntry {
        message_id: MessageId(id),
        contact,
        seq,
        envelope,
        attempts: 0,
        next_attempt_at_ms: now,
        created_at_ms: now,
    }
}

impl<S: Shell> Runtime<S> {
    /// Loads the transfers (after the outbox mirror): which entries carry which part, and
    /// which chunks were acknowledged (those below `next` no longer in the outbox).
    pub(super) fn load_files(&mut self) -> Result<(), String> {
        let listing = self.profile.store.files().map_err(|e| e.to_string())?;
        for d in &listing.damaged {
            tracing::warn!(?d, "damaged file record skipped");
        }
        for stored in listing.items {
            let r = match FileRecord::decode(&stored) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable file record skipped");
                    continue;
                }
            };
            let id = r.id();
            let mut parts = vec![(r.offer, Part::Offer)];
            for a in [FileAction::Accept, FileAction::Decline, FileAction::Cancel] {
                parts.push((control_id(&id, a), Part::Control(a)));
            }
            if r.outgoing {
                // Version 3: the record says which chunks were acknowledged; one neither
                // acknowledged nor in the outbox (a chunk written before version 3) was in
                // flight in memory, and is sent again.
                let mut acked = if r.chunks_in_store {
                    ChunkSet::default()
                } else {
                    r.have.clone()
                };
                let mut lost = Vec::new();
                for i in 0..r.next {
                    let c = chunk_id(&id, i);
                    if self.outbox.contains_key(&MessageId(c)) {
                        parts.push((c, Part::Chunk(i)));
                    } else if r.chunks_in_store {
                        acked.insert(i);
                    } else if !acked.contains(i) {
                        lost.push(i);
                    }
                }
                self.files.acked.insert(id, acked);
                if !lost.is_empty() {
                    self.files.lost.insert(id, lost);
                }
            }
            for (m, p) in parts {
                if self.outbox.contains_key(&MessageId(m)) {
                    self.files.parts.insert(MessageId(m), (id, p));
                }
            }
            let mut r = r;
            self.check_last_span(&mut r);
            self.files.records.insert(id, r);
        }
        self.sweep_slots();
        let moving: Vec<[u8; 16]> = self.files.records.keys().copied().collect();
        for id in moving {
            self.pump(id);
            self.verify_if_whole(id);
        }
        Ok(())
    }

    /// An incoming transfer that moves: takes out of `have` the chunks of its last span that
    /// do not open from the vault. The vault is synced before any receipt names a chunk,
    /// but the store's record of a run may reach the disk before the run's chunks do (the
    /// kernel writes back when it likes): a crash of the machine then leaves a chunk held
    /// but absent. It can only be one the sender still has to send again — no receipt
    /// named it — and so within the span past the first chunk not receipted.
    fn check_last_span(&self, r: &mut FileRecord) {
        if r.outgoing || r.stage != Stage::Moving {
            return;
        }
        let (Some(last), Ok(cipher)) = (r.have.last(), r.descriptor.cipher()) else {
            return;
        };
        let vault = self.files.vault.as_ref();
        let lost: Vec<u64> = (last.saturating_sub(BULK_SPAN - 1)..=last)
            .filter(|i| r.have.contains(*i))
            .filter(|i| {
                vault::read_sealed(vault, r.slot, &cipher, *i)
                    .ok()
                    .and_then(|s| cipher.open(*i, &s).ok())
                    .is_none()
            })
            .collect();
        if !lost.is_empty() {
            tracing::warn!(
                chunks = lost.len(),
                "received chunks lost in a crash, fetched again"
            );
        }
        for i in lost {
            r.have.remove(i);
        }
    }

    /// Stores a step of a transfer with `cid`: the record (if it changed), the session after
    /// what was encrypted, the entries to send; memory follows only once it is staged.
    pub(super) fn write_file(
        &mut self,
        cid: ContactId,
        record: Option<FileRecord>,
        session: Option<Session>,
        outbox: Vec<(OutboxEntry, Option<Part>)>,
        dedup: Vec<MessageId>,
    ) -> bool {
        let stored = match record.as_ref().map(FileRecord::encode).transpose() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "a file record could not be encoded");
                return false;
            }
        };
        let w = FileWrite {
            record: stored,
            session_after: session
                .as_ref()
                .map(|s| SecretBytes::from_slice(&s.to_bytes())),
            // Chunks only in memory (see the module's documentation).
            outbox: outbox
                .iter()
                .filter(|(_, p)| !matches!(p, Some(Part::Chunk(_))))
                .map(|(e, _)| e.clone())
                .collect(),
            dedup,
            ..FileWrite::default()
        };
        let now = self.now_ms();
        if let Err(e) = self
            .profile
            .store
            .write_file(&cid, &w, now)
            .map(Staged::after_next_flush)
        {
            self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
            return false;
        }
        self.dirty = true;
        if let (Some(s), Some(c)) = (session, self.contacts.get_mut(&cid)) {
            c.session = Some(s);
        }
        let id = record.as_ref().map(FileRecord::id);
        for (e, part) in outbox {
            if let (Some(p), Some(id)) = (part, id) {
                self.files.parts.insert(e.message_id, (id, p));
            }
            self.defer_mirror(cid, e.message_id, e.seq, e.envelope, now);
        }
        if let (Some(r), Some(id)) = (record, id) {
            self.files.records.insert(id, r);
        }
        true
    }

    /// Encrypts `content` under `session` into an outbox entry with id `id`.
    pub(super) fn seal_part(
        &mut self,
        session: &mut Session,
        cid: ContactId,
        id: [u8; 16],
        content: &Content,
        seq: u64,
    ) -> Option<OutboxEntry> {
        let now = self.now_ms();
        let plain = content.encode().ok()?;
        let env = session.encrypt(&plain, now / 1000, &mut self.rng).ok()?;
        Some(entry(cid, id, env.encode(), seq, now))
    }

    /// A receipt for `ids` under `session`, as an outbox entry (a control: never receipted).
    pub(super) fn receipt_part(
        &mut self,
        session: &mut Session,
        cid: ContactId,
        ids: Vec<[u8; 16]>,
    ) -> Option<OutboxEntry> {
        let mut rid = [0u8; 16];
        self.rng.fill_bytes(&mut rid);
        self.seal_part(session, cid, rid, &Content::Receipt(ids), CONTROL_SEQ)
    }

    /// Puts the chunks the window allows into the outbox (an outgoing transfer that moves).
    pub(super) fn pump(&mut self, id: [u8; 16]) {
        let Some(r) = self.files.records.get(&id).cloned() else {
            return;
        };
        if !r.outgoing || r.stage != Stage::Moving {
            return;
        }
        let acked = self.files.acked.get(&id).cloned().unwrap_or_default();
        let mut out = Outgoing {
            chunks: r.chunks(),
            next: r.next,
            acked: acked.clone(),
            stage: Stage::Moving,
            window: if r.direct_only { DIRECT_WINDOW } else { WINDOW },
            span: SPAN,
        };
        if let Some(span) = self.files.bulk.get(&id).filter(|_| self.sends_bulk(&r)) {
            // The recipient's span for bulk chunks, all of it in flight.
            (out.window, out.span) = (*span, *span);
        }
        // The chunks lost from memory by a restart first (they count in the window).
        let again = self.files.lost.get(&id).cloned().unwrap_or_default();
        let due: Vec<u64> = again.into_iter().chain(out.refill()).collect();
        if due.is_empty() {
            return;
        }
        if self.sends_bulk(&r) {
            let mut record = r;
            record.next = out.next;
            record.have = acked;
            return self.pump_bulk(record, due);
        }
        let Some(mut session) = self
            .contacts
            .get(&r.contact)
            .and_then(|c| c.session.clone())
        else {
            return;
        };
        let Ok(cipher) = r.descriptor.cipher() else {
            return;
        };
        let mut parts = Vec::new();
        for i in due {
            let sealed = match vault::read_sealed(self.files.vault.as_ref(), r.slot, &cipher, i) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "a file's chunk could not be read");
                    return;
                }
            };
            let content = Content::Chunk {
                file: id,
                index: i,
                sealed,
            };
            let Some(e) = self.seal_part(
                &mut session,
                r.contact,
                chunk_id(&id, i),
                &content,
                FILE_SEQ,
            ) else {
                return;
            };
            parts.push((e, Some(Part::Chunk(i))));
        }
        let mut record = r;
        record.next = out.next;
        record.have = acked;
        record.chunks_in_store = false;
        if self.write_file(
            record.contact,
            Some(record),
            Some(session),
            parts,
            Vec::new(),
        ) {
            self.files.lost.remove(&id);
        }
    }

    /// A receipt named `mid`: true if it was part of a file (then no `delivered` for it).
    /// The caller pumps the contact's transfers afterwards ([`Runtime::pump_contact`]).
    pub(super) fn file_part_delivered(&mut self, mid: &MessageId) -> bool {
        let Some((id, part)) = self.files.parts.remove(mid) else {
            return false;
        };
        if let Part::Chunk(i) = part {
            let Some(r) = self.files.records.get(&id).cloned() else {
                return true;
            };
            let acked = self.files.acked.entry(id).or_default();
            if !acked.insert(i) {
                return true;
            }
            let done = acked.len();
            let whole = (done == r.chunks()).then(|| acked.clone());
            let bytes = (done * CHUNK_LEN as u64).min(r.descriptor.size);
            self.progress(id, true, bytes, r.descriptor.size);
            if let (Some(acked), Stage::Moving) = (whole, r.stage) {
                self.files.bulk.remove(&id);
                let mut record = r;
                record.stage = Stage::Complete;
                record.have = acked;
                if self.write_file(record.contact, Some(record), None, Vec::new(), Vec::new()) {
                    self.deferred.push(Deferred::Emit(Event::FileState {
                        file: api::FileId::of(&id),
                        state: api::FileStateName::Complete,
                        by_contact: false,
                    }));
                }
            }
        }
        true
    }

    /// Pumps every moving outgoing transfer to `cid` (after a receipt moved its windows).
    /// Puts the first chunks of the transfers accepted in the batch just read in flight.
    pub(in crate::node) fn pump_accepted(&mut self) {
        for file in std::mem::take(&mut self.files.accepted) {
            self.pump(file);
        }
    }

    pub(super) fn pump_contact(&mut self, cid: ContactId) {
        let ids: Vec<[u8; 16]> = self
            .files
            .records
            .values()
            .filter(|r| r.contact == cid && r.outgoing && r.stage == Stage::Moving)
            .map(FileRecord::id)
            .collect();
        for id in ids {
            self.pump(id);
        }
    }

    /// Reports progress, at most every half second per transfer (deferred: what it counts
    /// is durable at the next flush).
    pub(super) fn progress(&mut self, id: [u8; 16], outgoing: bool, bytes: u64, total: u64) {
        let now = self.now_ms();
        let Some(p) = self
            .files
            .meters
            .entry(id)
            .or_default()
            .update(now, bytes, total)
        else {
            return;
        };
        self.deferred.push(Deferred::Emit(Event::FileProgress {
            file: api::FileId::of(&id),
            direction: if outgoing {
                MessageDirection::Out
            } else {
                MessageDirection::In
            },
            bytes: p.bytes,
            total: p.total,
            rate: p.rate,
            eta_secs: p.eta_secs,
        }));
    }

    /// `entry` (part of a file) encrypted again under `next`, from the file's record and
    /// vault; `None` if the file is gone (the entry is then resent as it was).
    pub(super) fn file_encrypt_again(
        &mut self,
        entry: &OutboxEntry,
        next: &mut Session,
    ) -> Option<OutboxEntry> {
        let (id, part) = *self.files.parts.get(&entry.message_id)?;
        let r = self.files.records.get(&id)?.clone();
        let content = match part {
            Part::Offer => Content::File {
                id: r.offer,
                sent_at_ms: r.sent_at_ms,
                group: r.group,
                descriptor: r.descriptor.clone(),
            },
            Part::Chunk(i) => {
                let cipher = r.descriptor.cipher().ok()?;
                Content::Chunk {
                    file: id,
                    index: i,
                    sealed: vault::read_sealed(self.files.vault.as_ref(), r.slot, &cipher, i)
                        .ok()?,
                }
            }
            Part::Control(action) => Content::FileControl { file: id, action },
        };
        let mut e = self.seal_part(next, entry.contact, entry.message_id.0, &content, FILE_SEQ)?;
        e.attempts = entry.attempts;
        Some(e)
    }

    /// True if `id` is part of a file too large for the mailbox: it waits for a direct
    /// connection (the user is told once).
    pub(super) fn direct_only(&mut self, mid: &MessageId) -> bool {
        let Some((id, _)) = self.files.parts.get(mid).copied() else {
            return false;
        };
        let only = self.files.records.get(&id).is_some_and(|r| r.direct_only);
        if only && self.files.told_waiting.insert(id) {
            self.emit(Event::FileWaiting {
                file: api::FileId::of(&id),
            });
        }
        only
    }

    /// Ends a transfer (declined, cancelled, failed, expired): its chunks still in the
    /// outbox are taken out, its sealed content deleted. The record stays (the user's list
    /// shows what happened) unless `forget`.
    pub(super) fn stop_file(&mut self, id: [u8; 16], stage: Stage, forget: bool) {
        let Some(mut r) = self.files.records.get(&id).cloned() else {
            return;
        };
        let retire: Vec<MessageId> = self
            .files
            .parts
            .iter()
            .filter(|(_, (f, p))| *f == id && matches!(p, Part::Chunk(_)))
            .map(|(m, _)| *m)
            .collect();
        r.stage = stage;
        let w = FileWrite {
            record: if forget { None } else { r.encode().ok() },
            remove: forget.then_some(id),
            retire: retire.clone(),
            ..FileWrite::default()
        };
        let now = self.now_ms();
        if let Err(e) = self
            .profile
            .store
            .write_file(&r.contact, &w, now)
            .map(Staged::after_next_flush)
        {
            self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
            return;
        }
        for m in retire {
            self.files.parts.remove(&m);
            self.outbox.remove(&m);
            self.in_flight.remove(&m);
            self.backoff.remove(&m);
            self.renewed.remove(&m);
        }
        if !self.slot_shared(id, r.slot) {
            if let Err(e) = self.files.vault.remove(r.slot) {
                tracing::warn!(error = %e, "a file's content could not be deleted");
            }
        }
        self.files.meters.remove(&id);
        self.files.acked.remove(&id);
        self.files.lost.remove(&id);
        self.files.bulk.remove(&id);
        self.files.hashed.remove(&id);
        if forget {
            self.files.records.remove(&id);
        } else {
            self.files.records.insert(id, r);
        }
    }

    /// True if a transfer other than `id` still needs the content in `slot` (a file sent to
    /// a group: one slot for every member's transfer).
    pub(super) fn slot_shared(&self, id: [u8; 16], slot: vault::Slot) -> bool {
        self.files
            .records
            .iter()
            .any(|(other, r)| *other != id && r.slot == slot && r.outgoing && r.held_whole())
    }

    /// Deletes the slots no transfer needs: left by a crash between sealing a file and
    /// storing its offer (their keys were never stored: noise, but a profile keeps only
    /// what it needs), or by a deletion that failed.
    fn sweep_slots(&self) {
        let named: BTreeSet<vault::Slot> = self
            .files
            .records
            .values()
            .filter(|r| r.held_whole() || (!r.outgoing && r.stage == Stage::Moving))
            .map(|r| r.slot)
            .collect();
        let held = match self.files.vault.slots() {
            Ok(h) => h,
            Err(e) => return tracing::warn!(error = %e, "the file vault could not be listed"),
        };
        for slot in held.into_iter().filter(|s| !named.contains(s)) {
            if let Err(e) = self.files.vault.remove(slot) {
                tracing::warn!(error = %e, "an unnamed file slot could not be deleted");
            }
        }
    }

    /// Removes every transfer with `cid`, content and all (the contact is deleted with
    /// its history).
    pub(super) fn forget_files_of(&mut self, cid: ContactId) {
        let ids: Vec<[u8; 16]> = self
            .files
            .records
            .values()
            .filter(|r| r.contact == cid)
            .map(FileRecord::id)
            .collect();
        for id in ids {
            self.stop_file(id, Stage::Cancelled, true);
        }
    }

    /// Removes the transfers whose disappearing timer ran out, content and all.
    pub(super) fn sweep_files(&mut self, now: u64) {
        let expired: Vec<[u8; 16]> = self
            .files
            .records
            .values()
            .filter(|r| r.expires_at_ms.is_some_and(|t| t <= now))
            .map(FileRecord::id)
            .collect();
        for id in expired {
            self.stop_file(id, Stage::Cancelled, true);
        }
    }

    /// Starts checking an incoming file whose every chunk is stored.
    pub(super) fn verify_if_whole(&mut self, id: [u8; 16]) {
        let Some(r) = self.files.records.get(&id) else {
            return;
        };
        if r.outgoing || r.stage != Stage::Moving || r.have.len() < r.chunks() {
            return;
        }
        let job = jobs::FileJob::Verify {
            vault: Arc::clone(&self.files.vault),
            slot: r.slot,
            descriptor: r.descriptor.clone(),
            from: self.files.hashed.remove(&id).unwrap_or_default(),
        };
        self.start_job(Job::Verify(id), job);
    }

    pub(super) fn start_job(&mut self, what: Job, job: jobs::FileJob) {
        let n = self.files.next_job;
        self.files.next_job += 1;
        self.files.jobs.insert(n, what);
        self.shell.start_job(n, job);
    }

    /// When the conversation's disappearing timer would remove a file made now.
    /// (A group's file: its group's conversation, not the contact's.)
    pub(super) fn file_expiry(
        &self,
        cid: &ContactId,
        group: Option<crate::group::GroupId>,
    ) -> Option<u64> {
        let conversation = match group {
            Some(g) => self.profile.store.group_conversation(&g.0),
            None => *cid,
        };
        let after = self
            .profile
            .store
            .conversation(&conversation)
            .ok()?
            .disappear_after_ms?;
        Some(self.now_ms().saturating_add(after))
    }
}
