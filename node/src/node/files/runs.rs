//! Chunks of one file that arrive together (a `DeliverBatch`, a mailbox fetch), taken as a
//! run: written to the vault, marked held in the file's record and named in one receipt, in
//! one transaction with the ratchet state after the last of them — where one at a time cost
//! a store write and an encrypted receipt each (and the sender a receipt to decrypt and
//! apply for each). The vault is synced by the next flush, with every other run's writes
//! and before the store's (`shell::Flush`): the loop never waits for a disk, and the
//! receipt, which waits for that flush, never names a chunk that is not on disk. A chunk the transfer refuses is not part of a run:
//! the chunks before it are stored first, and it is refused alone (the session moves on,
//! nothing else changes). A single chunk is a run of one.

use super::*;
use crate::files::transfer::{Arrival, Incoming, BULK_SPAN};
use crate::node::inbound::{set, TextGroup};
use zeroize::Zeroizing;

/// A decrypted chunk, item `item` of its batch.
pub(in crate::node) struct Chunk {
    pub(in crate::node) item: usize,
    pub(in crate::node) file: [u8; 16],
    pub(in crate::node) index: u64,
    pub(in crate::node) sealed: Vec<u8>,
}

/// The chunks of a run so far.
pub(in crate::node) struct ChunkRun {
    /// The file's record, its new chunks marked held.
    record: FileRecord,
    /// Item in the batch, chunk index, and its sealed bytes if it is new (a chunk held
    /// before is only receipted again).
    pub(in crate::node) items: Vec<(usize, u64, Option<Vec<u8>>)>,
}

impl ChunkRun {
    pub(super) fn new(record: FileRecord) -> Self {
        Self {
            record,
            items: Vec::new(),
        }
    }

    pub(in crate::node) fn file(&self) -> [u8; 16] {
        self.record.id()
    }

    /// The file's record, with the run's chunks so far marked held.
    pub(super) fn record(&self) -> &FileRecord {
        &self.record
    }

    /// Adds chunk `index`, item `item` of its batch: `sealed` if it is new (marked held),
    /// `None` if it was held before (receipted again).
    pub(super) fn push(&mut self, item: usize, index: u64, sealed: Option<Vec<u8>>) {
        if sealed.is_some() {
            self.record.have.insert(index);
        }
        self.items.push((item, index, sealed));
    }
}

/// What became of a chunk offered to a run.
pub(in crate::node) enum Joined {
    /// It joined the run, or its outcome is set.
    Yes,
    /// What was grouped before it is stored: decrypt it again, on top of that.
    Again,
}

/// Whether `r` takes chunk `index` from `cid`: `Ok(Some(plaintext))` new (it opens under
/// the file's key), `Ok(None)` held before (receipted again), or why it is refused.
pub(super) fn fits(
    r: Option<&FileRecord>,
    cid: ContactId,
    index: u64,
    sealed: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, &'static str> {
    let r = r.ok_or("chunk of no file")?;
    if r.contact != cid || r.outgoing {
        return Err("chunk of another's file");
    }
    let incoming = Incoming {
        chunks: r.chunks(),
        have: r.have.clone(),
        stage: r.stage,
        span: if super::bulk::takes_bulk(r) {
            BULK_SPAN
        } else {
            SPAN
        },
    };
    match incoming.arrival(index) {
        Err(_) => Err("chunk the transfer refuses"),
        Ok(Arrival::Again) => Ok(None),
        Ok(Arrival::New) => r
            .descriptor
            .cipher()
            .and_then(|c| c.open(index, sealed))
            .map(Some)
            .map_err(|_| "chunk that does not open"),
    }
}

impl<S: Shell> Runtime<S> {
    /// Adds chunk `c`, decrypted into `next`, to `group`'s run of its file (starting one).
    pub(in crate::node) fn join_chunk_run(
        &mut self,
        group: &mut Option<TextGroup>,
        cid: ContactId,
        next: Session,
        c: Chunk,
        out: &mut [Inbound],
    ) -> Joined {
        let run_file = group.as_ref().map(|g| g.run.as_ref().map(ChunkRun::file));
        if run_file.is_some_and(|f| f != Some(c.file)) {
            // Texts, or another file's chunks, before it: stored first.
            return self.store_group_first(group, c.item, out);
        }
        // The run's record (with its chunks so far), or the transfer's for a new run.
        let run = group.as_ref().and_then(|g| g.run.as_ref());
        let record = run.map_or_else(|| self.files.records.get(&c.file), |r| Some(&r.record));
        let new = match fits(record, cid, c.index, &c.sealed) {
            Ok(Some(plain)) => {
                hash_arrival(&mut self.files.hashed, c.file, c.index, plain);
                true
            }
            Ok(None) => false,
            Err(_) if group.is_some() => return self.store_group_first(group, c.item, out),
            Err(why) => {
                set(out, c.item, self.file_refused(cid, next, why));
                return Joined::Yes;
            }
        };
        let g = match group {
            Some(g) => g,
            None => {
                let Some(record) = self.files.records.get(&c.file).cloned() else {
                    return Joined::Yes; // `fits` found it
                };
                group.insert(TextGroup {
                    cid,
                    session: next.clone(),
                    indices: Vec::new(),
                    messages: Vec::new(),
                    run: Some(ChunkRun::new(record)),
                })
            }
        };
        g.session = next;
        if let Some(run) = g.run.as_mut() {
            run.push(c.item, c.index, new.then_some(c.sealed));
        }
        Joined::Yes
    }

    /// Hashes the stored chunks of incoming `file` that came ahead of the ones just stored
    /// (at most a span of them at once, so the loop never reads much). A failure only leaves
    /// them to the check at the end.
    fn catch_up_hash(&mut self, file: [u8; 16]) {
        let (Some(r), Some(h)) = (
            self.files.records.get(&file),
            self.files.hashed.get_mut(&file),
        ) else {
            return;
        };
        let Ok(cipher) = r.descriptor.cipher() else {
            return;
        };
        let vault = self.files.vault.as_ref();
        if let Err(e) = h.catch_up(vault, r.slot, &cipher, |i| r.have.contains(i), SPAN) {
            tracing::debug!(error = %e, "chunks to hash again at the end");
        }
    }

    fn store_group_first(
        &mut self,
        group: &mut Option<TextGroup>,
        item: usize,
        out: &mut [Inbound],
    ) -> Joined {
        if self.finish_group(group.take(), out) {
            Joined::Again
        } else {
            set(out, item, Inbound::TryLater);
            Joined::Yes
        }
    }

    /// Stores a run: the new chunks' content first (synced by the next flush), then, in one
    /// transaction, the record that says they are held, the ratchet state and one receipt
    /// for every chunk of the run. Sets their outcomes; false if it could not (the sender
    /// sends them again; the ratchet state in memory is unchanged).
    ///
    /// Bulk chunks (`bulk.rs`) come with no `session`: nothing of it changes, and the answer
    /// to their request, sent once the run is durable, is their receipt.
    pub(in crate::node) fn finish_chunk_run(
        &mut self,
        cid: ContactId,
        session: Option<Session>,
        run: ChunkRun,
        out: &mut [Inbound],
    ) -> bool {
        let ChunkRun { record, items } = run;
        let file = record.id();
        let fail = |out: &mut [Inbound]| {
            for (item, _, _) in &items {
                set(out, *item, Inbound::TryLater);
            }
            false
        };
        let vault = Arc::clone(&self.files.vault);
        let mut written = false;
        let mut stored = Ok(());
        for (_, index, sealed) in &items {
            if let Some(s) = sealed {
                stored = stored.and_then(|()| vault.write(record.slot, *index, s));
                written = true;
            }
        }
        if written {
            // Synced by the next flush, before the store's writes and before the receipt
            // below leaves (it waits for that flush).
            self.files.unsynced.insert(record.slot);
        }
        if let Err(e) = stored {
            tracing::warn!(error = %e, "received chunks could not be stored");
            return fail(out);
        }
        let mut receipts = Vec::new();
        let bulk = session.is_none();
        let session = match session {
            Some(mut session) => {
                let ids = items.iter().map(|(_, i, _)| chunk_id(&file, *i)).collect();
                let Some(receipt) = self.receipt_part(&mut session, cid, ids) else {
                    return fail(out);
                };
                receipts.push((receipt, None));
                Some(session)
            }
            None => None,
        };
        let (bytes, total) = (
            (record.have.len() * CHUNK_LEN as u64).min(record.descriptor.size),
            record.descriptor.size,
        );
        if !self.write_file(cid, Some(record), session, receipts, Vec::new()) {
            return fail(out);
        }
        let again = items.iter().filter(|(_, _, s)| s.is_none()).count() as u64;
        if again > 0 {
            *self.files.again.entry(file).or_default() += again;
        }
        if bulk {
            *self.files.bulk_in.entry(file).or_default() += items.len() as u64 - again;
        }
        for (item, _, _) in &items {
            set(out, *item, Inbound::Processed);
        }
        if written {
            self.catch_up_hash(file);
            self.progress(file, false, bytes, total);
            self.verify_if_whole(file);
        }
        true
    }
}
