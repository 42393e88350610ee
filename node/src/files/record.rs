//! A file's transfer as a profile stores it (sealed, in the store's `files` tree): which
//! contact, which way, the descriptor with the file's key, where its sealed chunks are, and
//! how far it got.
//!
//! ```text
//! record = version u8 (=3) | contact [32] | outgoing u8 | stage u8 | slot [16] | offer [16]
//!        | sent_at_ms u64 | next u64 | have_below u64 | count u16 (<= BULK_SPAN) | have u64 * count
//!        | direct_only u8 | expires 0 | 1 u64 | group 0 | 1 [16] | len u16 | descriptor
//! ```
//!
//! Version 1 (before groups could be sent files) had no group field; it is still read.
//! Version 2 kept an outgoing transfer's chunks in flight in the store's outbox and no
//! `have` for it (the chunks acknowledged were those below `next` no longer in the outbox);
//! from version 3 the chunks in flight are kept only in memory (encrypted again from the vault
//! after a restart) and `have` holds, for an outgoing transfer, the chunks acknowledged as of
//! the record's last write. Versions 1 and 2 are still read ([`FileRecord::chunks_in_store`]).
//! The records of one file sent to a group (one per member) share its slot.

use cairn_crypto::file::{FileDescriptor, FileError, MAX_DESCRIPTOR_LEN};
use cairn_crypto::wire::{Reader, WireError, Writer};
use thiserror::Error;
use zeroize::Zeroizing;

use super::transfer::{ChunkSet, Stage, BULK_SPAN};
use super::vault::Slot;
use crate::store::{ContactId, SecretBytes, StoredFile};

const VERSION: u8 = 3;

/// A transfer, either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// The contact it is with.
    pub contact: ContactId,
    /// True if we send it.
    pub outgoing: bool,
    /// Where it stands.
    pub stage: Stage,
    /// Where its sealed chunks are kept.
    pub slot: Slot,
    /// The offer's message id (its receipt names it).
    pub offer: [u8; 16],
    /// The sender's clock when it offered the file, Unix ms.
    pub sent_at_ms: u64,
    /// Outgoing: chunks put in the outbox so far.
    pub next: u64,
    /// Incoming: chunks stored. Outgoing: chunks acknowledged (as of the last write).
    pub have: ChunkSet,
    /// Outgoing: too large for the contact's mailbox, so it moves only directly.
    pub direct_only: bool,
    /// When the conversation's disappearing timer removes it, if it has one.
    pub expires_at_ms: Option<u64>,
    /// The group it was sent to, if it was (listed in that group's conversation).
    pub group: Option<crate::group::GroupId>,
    /// What the recipient needs (name, size, type, hash, key).
    pub descriptor: FileDescriptor,
    /// Read from a record of version 1 or 2: an outgoing transfer's chunks in flight are
    /// in the store's outbox and `have` says nothing of it. Not written (a record is
    /// always written in the current version).
    pub chunks_in_store: bool,
}

/// A stored record that does not decode.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Of a version this code does not know.
    #[error("unknown file record version {0}")]
    Version(u8),
    /// A field out of range.
    #[error("malformed file record: {0}")]
    Field(&'static str),
    /// Truncated or trailing bytes.
    #[error("malformed file record: {0}")]
    Wire(#[from] WireError),
    /// The descriptor inside.
    #[error("file record's descriptor: {0}")]
    Descriptor(#[from] FileError),
}

fn stage_tag(s: Stage) -> u8 {
    match s {
        Stage::Offered => 0,
        Stage::Moving => 1,
        Stage::Complete => 2,
        Stage::Declined => 3,
        Stage::Cancelled => 4,
        Stage::Failed => 5,
    }
}

fn stage_of(t: u8) -> Result<Stage, RecordError> {
    Ok(match t {
        0 => Stage::Offered,
        1 => Stage::Moving,
        2 => Stage::Complete,
        3 => Stage::Declined,
        4 => Stage::Cancelled,
        5 => Stage::Failed,
        _ => return Err(RecordError::Field("stage")),
    })
}

impl FileRecord {
    /// The file's id.
    pub fn id(&self) -> [u8; 16] {
        self.descriptor.id
    }

    /// True if the vault holds the whole file: a received one once checked against its
    /// hash, a sent one until its transfer ended badly (its content is then deleted).
    pub fn held_whole(&self) -> bool {
        if self.outgoing {
            matches!(self.stage, Stage::Offered | Stage::Moving | Stage::Complete)
        } else {
            self.stage == Stage::Complete
        }
    }

    /// Chunks in the file.
    pub fn chunks(&self) -> u64 {
        cairn_crypto::file::chunk_count(self.descriptor.size)
    }

    /// Encodes, for the store (secret: it holds the file's key).
    pub fn encode(&self) -> Result<StoredFile, RecordError> {
        if self.have.above.len() > BULK_SPAN as usize {
            return Err(RecordError::Field("have"));
        }
        let d = self.descriptor.to_bytes()?;
        let mut v = Zeroizing::new(Vec::with_capacity(200 + d.len() + 8 * BULK_SPAN as usize));
        v.put_u8(VERSION);
        v.put(&self.contact.0);
        v.put_u8(u8::from(self.outgoing));
        v.put_u8(stage_tag(self.stage));
        v.put(&self.slot.0);
        v.put(&self.offer);
        v.put_u64(self.sent_at_ms);
        v.put_u64(self.next);
        v.put_u64(self.have.below);
        v.put_u16(self.have.above.len() as u16);
        for i in &self.have.above {
            v.put_u64(*i);
        }
        v.put_u8(u8::from(self.direct_only));
        match self.expires_at_ms {
            None => v.put_u8(0),
            Some(t) => {
                v.put_u8(1);
                v.put_u64(t);
            }
        }
        match &self.group {
            None => v.put_u8(0),
            Some(g) => {
                v.put_u8(1);
                v.put(&g.0);
            }
        }
        v.put_u16(d.len() as u16);
        v.put(&d);
        Ok(StoredFile {
            id: self.id(),
            body: SecretBytes::from_slice(&v),
        })
    }

    /// Decodes a stored record (untrusted: a profile's files can be altered), checking that
    /// it is the record of the file it is stored under.
    pub fn decode(stored: &StoredFile) -> Result<Self, RecordError> {
        let mut r = Reader::new(stored.body.expose_secret());
        let version = r.u8()?;
        if !(1..=VERSION).contains(&version) {
            return Err(RecordError::Version(version));
        }
        let contact = ContactId(r.array()?);
        let outgoing = r.bool()?;
        let stage = stage_of(r.u8()?)?;
        let slot = Slot(r.array()?);
        let offer = r.array()?;
        let sent_at_ms = r.u64()?;
        let next = r.u64()?;
        let below = r.u64()?;
        let n = r.u16()?;
        if u64::from(n) > BULK_SPAN {
            return Err(RecordError::Field("have"));
        }
        let mut have = ChunkSet {
            below,
            above: Default::default(),
        };
        for _ in 0..n {
            let i = r.u64()?;
            if i <= below || !have.above.insert(i) {
                return Err(RecordError::Field("have"));
            }
        }
        let direct_only = r.bool()?;
        let expires_at_ms = if r.bool()? { Some(r.u64()?) } else { None };
        let group = if version > 1 && r.bool()? {
            Some(crate::group::GroupId(r.array()?))
        } else {
            None
        };
        let len = usize::from(r.u16()?);
        if len > MAX_DESCRIPTOR_LEN {
            return Err(RecordError::Field("descriptor"));
        }
        let descriptor = FileDescriptor::from_bytes(r.take(len)?)?;
        r.finish()?;
        let record = Self {
            contact,
            outgoing,
            stage,
            slot,
            offer,
            sent_at_ms,
            next,
            have,
            direct_only,
            expires_at_ms,
            group,
            descriptor,
            chunks_in_store: version < 3,
        };
        let chunks = record.chunks();
        if record.id() != stored.id || record.next > chunks || record.have.len() > chunks {
            return Err(RecordError::Field("chunks"));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_crypto::file::FileKey;

    fn record() -> FileRecord {
        let mut have = ChunkSet::default();
        for i in [0, 1, 3, 7] {
            have.insert(i);
        }
        FileRecord {
            contact: ContactId([1; 32]),
            outgoing: false,
            stage: Stage::Moving,
            slot: Slot([2; 16]),
            offer: [3; 16],
            sent_at_ms: 4,
            next: 0,
            have,
            direct_only: true,
            expires_at_ms: Some(99),
            group: Some(crate::group::GroupId([8; 16])),
            descriptor: FileDescriptor {
                id: [5; 16],
                name: "notes.txt".into(),
                media_type: "text/plain".into(),
                size: 10 * 64_512,
                sha256: [6; 32],
                key: FileKey::from_key_bytes([7; 32]),
            },
            chunks_in_store: false,
        }
    }

    /// Would catch a field not written or read back, or a record accepted under another
    /// file's id, with more chunks than its file has, or a malformed set of chunks.
    #[test]
    fn round_trips_and_refuses_what_the_encoder_never_writes() {
        let r = record();
        let stored = r.encode().unwrap();
        assert_eq!(FileRecord::decode(&stored).unwrap(), r);
        let mut other = stored.clone();
        other.id = [9; 16];
        assert_eq!(
            FileRecord::decode(&other),
            Err(RecordError::Field("chunks"))
        );
        let mut far = r.clone();
        far.next = 11;
        assert_eq!(
            FileRecord::decode(&far.encode().unwrap()),
            Err(RecordError::Field("chunks"))
        );
        let bytes = stored.body.expose_secret().to_vec();
        for cut in [0, 1, 40, bytes.len() - 1] {
            let s = StoredFile {
                id: stored.id,
                body: SecretBytes::from_slice(&bytes[..cut]),
            };
            assert!(FileRecord::decode(&s).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let s = StoredFile {
            id: stored.id,
            body: SecretBytes::from_slice(&longer),
        };
        assert!(FileRecord::decode(&s).is_err());
        // A chunk of the set written below `below` (offset of the first listed index).
        let mut bad = bytes.clone();
        let at = 1 + 32 + 1 + 1 + 16 + 16 + 8 + 8 + 8 + 2;
        bad[at..at + 8].copy_from_slice(&0u64.to_be_bytes());
        let s = StoredFile {
            id: stored.id,
            body: SecretBytes::from_slice(&bad),
        };
        assert_eq!(FileRecord::decode(&s), Err(RecordError::Field("have")));
        let mut bad = bytes;
        bad[34] = 9;
        let s = StoredFile {
            id: stored.id,
            body: SecretBytes::from_slice(&bad),
        };
        assert_eq!(FileRecord::decode(&s), Err(RecordError::Field("stage")));
    }

    /// Would catch a version-1 record (no group field) no longer read, or read with a
    /// group taken from its descriptor's bytes, and records of versions 1 and 2 not known
    /// as keeping their chunks in flight in the store.
    #[test]
    fn reads_records_of_versions_one_and_two() {
        let mut r = record();
        let mut v2 = r.encode().unwrap().body.expose_secret().to_vec();
        v2[0] = 2;
        let s = StoredFile {
            id: r.id(),
            body: SecretBytes::from_slice(&v2),
        };
        let read = FileRecord::decode(&s).unwrap();
        assert!(read.chunks_in_store);
        assert_eq!(
            FileRecord {
                chunks_in_store: false,
                ..read
            },
            r
        );
        r.group = None;
        let stored = r.encode().unwrap();
        let mut v1 = stored.body.expose_secret().to_vec();
        v1[0] = 1;
        // The group flag (0) sits just before the descriptor's length.
        let d = r.descriptor.to_bytes().unwrap().len();
        let flag = v1.len() - d - 2 - 1;
        assert_eq!(v1.remove(flag), 0);
        let s = StoredFile {
            id: stored.id,
            body: SecretBytes::from_slice(&v1),
        };
        assert_eq!(
            FileRecord::decode(&s).unwrap(),
            FileRecord {
                chunks_in_store: true,
                ..r
            }
        );
        let mut v4 = stored.body.expose_secret().to_vec();
        v4[0] = 4;
        let s = StoredFile {
            id: stored.id,
            body: SecretBytes::from_slice(&v4),
        };
        assert_eq!(FileRecord::decode(&s), Err(RecordError::Version(4)));
    }
}
