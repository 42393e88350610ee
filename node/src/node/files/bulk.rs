//! Bulk chunks (docs/PROTOCOL.md §25.5): the chunks of a file that moves only directly,
//! sent outside the ratchet. A chunk is sealed under the file's key when the file is taken
//! in, and sealing it again under the ratchet bought nothing but two more passes over every
//! byte and, worse, a durable write of the ratchet state on the sender before every window
//! could leave. A bulk chunk is the sealed chunk as it lies in the vault, in an envelope of
//! its own kind, sent only over a direct connection to the contact's node (whose key the
//! transport authenticates); the contact's answer to the request, sent once the chunk is on
//! its disk, is its receipt. Nothing of the session changes on either side.
//!
//! Only a recipient that says so ([`Content::TakesBulk`], sent with its acceptance) gets
//! them: an older build never does, and a sender that restarted sends the rest through the
//! ratchet (both kinds of chunk fill the same transfer).

use super::*;
use crate::files::transfer::BULK_SPAN;
use crate::node::inbound::set;
use cairn_crypto::envelope::{RoutingTag, BULK_BODY_LEN};
use cairn_crypto::file::CHUNK_TAG_LEN;

/// Bulk chunks of one file in a row of a request, stored together (like a run of chunks
/// through the ratchet, without the session).
pub(in crate::node) struct BulkRun {
    cid: ContactId,
    run: ChunkRun,
}

/// Whether this side takes the chunks of `r` as bulk chunks (and says so when it accepts):
/// an incoming file that moves only directly.
pub(super) fn takes_bulk(r: &FileRecord) -> bool {
    !r.outgoing && r.descriptor.size > MAILBOX_FILE_LIMIT
}

/// Whether an outbox entry is a bulk chunk (its envelope's kind byte).
pub(in crate::node) fn is_bulk(envelope: &[u8]) -> bool {
    envelope.get(1) == Some(&(EnvelopeKind::BulkChunk as u8))
}

/// The envelope of chunk `index` of `r`, sealed as `sealed`.
fn bulk_envelope(r: &FileRecord, index: u64, sealed: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(BULK_BODY_LEN);
    body.extend_from_slice(&index.to_be_bytes());
    body.extend_from_slice(sealed);
    body.resize(BULK_BODY_LEN, 0);
    Envelope {
        kind: EnvelopeKind::BulkChunk,
        tag: RoutingTag(r.descriptor.bulk_tag()),
        body,
    }
    .encode()
}

impl<S: Shell> Runtime<S> {
    /// Whether the transfer `r` sends bulk chunks: it moves only directly and its
    /// recipient said it takes them.
    pub(super) fn sends_bulk(&self, r: &FileRecord) -> bool {
        r.outgoing && r.direct_only && self.files.bulk.contains_key(&r.id())
    }

    /// The contacts we send bulk chunks to now (each gets more requests in flight).
    pub(in crate::node) fn bulk_contacts(&self) -> BTreeSet<ContactId> {
        self.files
            .bulk
            .keys()
            .filter_map(|id| self.files.records.get(id))
            .filter(|r| r.outgoing && r.stage == Stage::Moving)
            .map(|r| r.contact)
            .collect()
    }

    /// Puts chunks `due` of `r` into the outbox as bulk chunks, at once: nothing of the
    /// session is used, so nothing must be durable before they leave. The record (how far
    /// the window went, what was receipted) is written for a restart, which sends again
    /// whatever was in flight.
    pub(super) fn pump_bulk(&mut self, mut record: FileRecord, due: Vec<u64>) {
        let id = record.id();
        let Ok(cipher) = record.descriptor.cipher() else {
            return;
        };
        let now = self.now_ms();
        let mut entries = Vec::with_capacity(due.len());
        for i in due {
            let sealed =
                match vault::read_sealed(self.files.vault.as_ref(), record.slot, &cipher, i) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "a file's chunk could not be read");
                        return;
                    }
                };
            let e = entry(
                record.contact,
                chunk_id(&id, i),
                bulk_envelope(&record, i, &sealed),
                FILE_SEQ,
                now,
            );
            entries.push((e, i));
        }
        record.chunks_in_store = false;
        if !self.write_file(record.contact, Some(record), None, Vec::new(), Vec::new()) {
            return;
        }
        self.files.lost.remove(&id);
        for (e, i) in entries {
            self.files.parts.insert(e.message_id, (id, Part::Chunk(i)));
            self.outbox.insert(e.message_id, e);
        }
    }

    /// The contact took these bulk chunks (its node answered once they were on its disk):
    /// they are receipted.
    pub(in crate::node) fn bulk_delivered(&mut self, ids: Vec<MessageId>) {
        let mut contacts = BTreeSet::new();
        for id in ids {
            if let Some(e) = self.entry_done(&id) {
                contacts.insert(e.contact);
            }
            self.file_part_delivered(&id);
        }
        for cid in contacts {
            self.pump_contact(cid);
        }
    }

    /// The contact `cid` takes the chunks of `file` as bulk chunks.
    pub(in crate::node) fn inbound_takes_bulk(
        &mut self,
        cid: ContactId,
        next: Session,
        file: [u8; 16],
        span: Option<u16>,
    ) -> Inbound {
        if !self.session_moves_on(cid, next) {
            return Inbound::TryLater;
        }
        let ours = self
            .files
            .records
            .get(&file)
            .is_some_and(|r| r.contact == cid && r.outgoing);
        if !ours {
            return self.hostile("bulk chunks asked for another's file");
        }
        // Never more in flight than it takes, nor than this build keeps.
        self.files
            .bulk
            .insert(file, span.map_or(SPAN, u64::from).clamp(1, BULK_SPAN));
        Inbound::Processed
    }

    /// Tells the sender of `r` (an incoming file that moves only directly, just accepted)
    /// that we take its chunks as bulk chunks.
    pub(super) fn say_takes_bulk(&mut self, r: &FileRecord) {
        if !takes_bulk(r) {
            return;
        }
        let takes = Content::TakesBulk {
            file: r.id(),
            span: Some(BULK_SPAN as u16),
        };
        if let Ok(plain) = takes.encode() {
            self.send_control(&r.contact, &plain);
        }
    }

    /// A bulk chunk, item `item` of a request: joins `bulk`, the run of its file (a run of
    /// another file is stored first). Refused (dropped, nothing changes) unless it came
    /// straight from the node of the contact whose transfer its tag names, fits that
    /// transfer and opens under its key.
    pub(in crate::node) fn join_bulk(
        &mut self,
        env: &Envelope,
        item: usize,
        bulk: &mut Option<BulkRun>,
        out: &mut [Inbound],
    ) {
        let Some(peer) = self.direct_from.map(|p| p.to_bytes()) else {
            return set(
                out,
                item,
                self.hostile("bulk chunk not from a contact's node"),
            );
        };
        let (Some(index), Some(body)) = (
            env.body.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()),
            env.body.get(8..),
        ) else {
            return set(out, item, self.hostile("malformed bulk chunk"));
        };
        let index = u64::from_be_bytes(index);
        let file = self
            .files
            .records
            .values()
            .filter(|r| !r.outgoing && r.stage == Stage::Moving)
            .filter(|r| !self.blocked.contains(&r.contact))
            .filter(|r| {
                self.contacts
                    .get(&r.contact)
                    .is_some_and(|c| c.contact.peer_id == peer)
            })
            .find(|r| r.descriptor.bulk_tag() == env.tag.0)
            .map(|r| (r.id(), r.contact));
        let Some((file, cid)) = file else {
            return set(out, item, self.hostile("bulk chunk of no transfer"));
        };
        if bulk.as_ref().is_some_and(|b| b.run.file() != file) {
            self.finish_bulk(bulk.take(), out);
        }
        let record = match bulk.as_ref() {
            Some(b) => b.run.record(),
            None => match self.files.records.get(&file) {
                Some(r) => r,
                None => return set(out, item, Inbound::Dropped),
            },
        };
        let sealed = match bulk_sealed(record, index, body) {
            Ok(s) => s,
            Err(why) => return set(out, item, self.hostile(why)),
        };
        let sealed = match super::runs::fits(Some(record), cid, index, sealed) {
            Ok(Some(plain)) => {
                hash_arrival(&mut self.files.hashed, file, index, plain);
                Some(sealed.to_vec())
            }
            Ok(None) => None,
            Err(why) => return set(out, item, self.hostile(why)),
        };
        match bulk {
            Some(b) => b.run.push(item, index, sealed),
            None => {
                let mut run = ChunkRun::new(record.clone());
                run.push(item, index, sealed);
                *bulk = Some(BulkRun { cid, run });
            }
        }
    }

    /// Stores a run of bulk chunks (see `join_bulk`); true if there was none or it stored.
    pub(in crate::node) fn finish_bulk(
        &mut self,
        bulk: Option<BulkRun>,
        out: &mut [Inbound],
    ) -> bool {
        match bulk {
            Some(b) => self.finish_chunk_run(b.cid, None, b.run, out),
            None => true,
        }
    }
}

/// The sealed chunk in a bulk chunk's body (after the index): exactly as long as chunk
/// `index` of the file seals to, the rest zeros.
fn bulk_sealed<'a>(r: &FileRecord, index: u64, body: &'a [u8]) -> Result<&'a [u8], &'static str> {
    let len = r
        .descriptor
        .cipher()
        .and_then(|c| c.chunk_len(index))
        .map_err(|_| "bulk chunk past the file's end")?
        + CHUNK_TAG_LEN;
    let (sealed, fill) = body.split_at_checked(len).ok_or("malformed bulk chunk")?;
    if fill.iter().any(|&b| b != 0) {
        return Err("malformed bulk chunk");
    }
    Ok(sealed)
}
