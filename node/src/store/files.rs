//! Files (docs/PROTOCOL.md §25.3): each transfer's record, and the outbox entries of its
//! offer, chunks and controls, written in one transaction with the ratchet state that
//! encrypted them — as a message is. The content itself is in the profile's vault
//! (`crate::files::vault`), sealed under the file's key, which only these records hold.

use super::*;

/// The `seq` of an outbox entry that carries part of a file (its offer, a chunk, an accept,
/// decline or cancel): receipted like a message and encrypted again from the file's record
/// and vault, but in no conversation's sequence (no message record is marked by it).
pub const FILE_SEQ: u64 = u64::MAX - 1;

/// What one step of a transfer writes, in one transaction.
#[derive(Debug, Default)]
pub struct FileWrite {
    /// The file's record after the step (`None`: unchanged).
    pub record: Option<StoredFile>,
    /// The file's record removed (it was cancelled, declined or has expired).
    pub remove: Option<[u8; 16]>,
    /// The ratchet state after encrypting `outbox` (and decrypting what led to the step).
    pub session_after: Option<SecretBytes>,
    /// Envelopes to deliver: parts of the file (`FILE_SEQ`) or receipts (`CONTROL_SEQ`).
    pub outbox: Vec<OutboxEntry>,
    /// Outbox entries taken out (a cancelled file's chunks).
    pub retire: Vec<MessageId>,
    /// Message ids to remember as received (a file offer: shown once).
    pub dedup: Vec<MessageId>,
}

impl Store {
    fn file_key(&self, id: &[u8; 16]) -> Vec<u8> {
        self.keys.blind(purpose::FILE, id).to_vec()
    }

    /// Writes one step of a transfer for `contact`, staged: what it sends may leave, and
    /// what it acknowledges may be acknowledged, only once it is durable.
    pub fn write_file(
        &self,
        contact: &ContactId,
        w: &FileWrite,
        now_ms: u64,
    ) -> Result<Staged<()>, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        if let Some(s) = &w.session_after {
            self.stage_session(&mut b, contact, s)?;
        }
        if let Some(f) = &w.record {
            self.put(
                &mut b,
                TreeName::Files,
                self.file_key(&f.id),
                &Record::File(f.clone()),
            )?;
        }
        if let Some(id) = &w.remove {
            b.remove(TreeName::Files, self.file_key(id));
        }
        for e in &w.outbox {
            let mut e = e.clone();
            e.contact = *contact;
            self.put(
                &mut b,
                TreeName::Outbox,
                self.keys.blind(purpose::OUTBOX, &e.message_id.0).to_vec(),
                &Record::Outbox(e),
            )?;
        }
        for id in &w.retire {
            b.remove(
                TreeName::Outbox,
                self.keys.blind(purpose::OUTBOX, &id.0).to_vec(),
            );
        }
        for id in &w.dedup {
            self.put(
                &mut b,
                TreeName::Dedup,
                self.keys.blind(purpose::DEDUP, &id.0).to_vec(),
                &Record::Dedup(DedupEntry {
                    received_at_ms: now_ms,
                    contact: *contact,
                    seq: FILE_SEQ,
                }),
            )?;
        }
        self.backend.apply(&b)?;
        Ok(Staged::new(()))
    }

    /// Every file record, in key order (blinded: no order of ids or times).
    pub fn files(&self) -> Result<Listing<StoredFile>, StoreError> {
        let raw = self.scan_records(TreeName::Files, &[])?;
        let mut out = Listing {
            items: Vec::with_capacity(raw.items.len()),
            damaged: raw.damaged,
        };
        for (k, r) in raw.items {
            match r {
                Record::File(f) if self.file_key(&f.id) == k => out.items.push(f),
                _ => out.damaged.push(damaged(
                    TreeName::Files,
                    &k,
                    DamageKind::Malformed(DecodeError::WrongRecordType {
                        tree: TreeName::Files,
                        tag: 0,
                    }),
                )),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Would catch a record, entry, removal or dedup id left out of the step's write, or a
    /// record read back under another file's id.
    #[test]
    fn a_step_writes_record_session_entries_and_removals_together() {
        let disk = MemDisk::default();
        let store = Store::in_memory(&disk, [9; 32]).unwrap();
        let c = ContactId([1; 32]);
        let entry = |id: u8| OutboxEntry {
            message_id: MessageId([id; 16]),
            contact: ContactId([0; 32]),
            seq: FILE_SEQ,
            envelope: vec![id; 40],
            attempts: 0,
            next_attempt_at_ms: 5,
            created_at_ms: 5,
        };
        let record = StoredFile {
            id: [3; 16],
            body: SecretBytes::from_slice(b"record"),
        };
        store
            .write_file(
                &c,
                &FileWrite {
                    record: Some(record.clone()),
                    session_after: Some(SecretBytes::from_slice(b"session")),
                    outbox: vec![entry(1), entry(2)],
                    dedup: vec![MessageId([4; 16])],
                    ..FileWrite::default()
                },
                5,
            )
            .unwrap()
            .durable(&store)
            .unwrap();
        assert_eq!(store.files().unwrap().items, vec![record]);
        let out = store.outbox().unwrap().items;
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|e| e.contact == c && e.seq == FILE_SEQ));
        assert!(store.is_duplicate(&MessageId([4; 16])).unwrap());
        store
            .write_file(
                &c,
                &FileWrite {
                    remove: Some([3; 16]),
                    retire: vec![MessageId([1; 16])],
                    ..FileWrite::default()
                },
                6,
            )
            .unwrap()
            .durable(&store)
            .unwrap();
        assert!(store.files().unwrap().items.is_empty());
        assert_eq!(store.outbox().unwrap().items.len(), 1);
    }
}
