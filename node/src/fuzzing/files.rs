//! Files (docs/PROTOCOL.md §25.3) in the fuzz targets: seeds for the file contents in
//! `content` (an offer, chunks of several lengths, each control), and the transfer record
//! inside a store record of the files tree in `store_record` (decoded, it must encode back
//! to the same bytes).

use crate::content::{Content, FileAction};
use crate::files::record::FileRecord;
use crate::files::transfer::{ChunkSet, Stage};
use crate::files::vault::Slot;
use crate::store::codec::Record;
use crate::store::{ContactId, TreeName};
use cairn_crypto::file::{FileDescriptor, FileKey, CHUNK_TAG_LEN, SEALED_CHUNK_LEN};

/// Invariant of a file record found in a store record: if it decodes, it encodes back to
/// the same bytes — or, a record of an older version, to one of the current version that
/// reads back as the same record.
pub(super) fn file_record_round_trips(record: &Record) {
    let Record::File(stored) = record else {
        return;
    };
    if let Ok(r) = FileRecord::decode(stored) {
        let again = match r.encode() {
            Ok(a) => a,
            Err(e) => panic!("a decoded file record does not encode: {e}"),
        };
        if r.chunks_in_store {
            let back = match FileRecord::decode(&again) {
                Ok(b) => b,
                Err(e) => panic!("a re-encoded file record does not decode: {e}"),
            };
            let current = FileRecord {
                chunks_in_store: false,
                ..r
            };
            assert_eq!(
                back, current,
                "an older file record changed when written again"
            );
        } else {
            assert_eq!(
                again.body.expose_secret(),
                stored.body.expose_secret(),
                "file record does not round-trip"
            );
        }
    }
}

/// Store records of the files tree: transfers both ways, at several stages.
pub(super) fn file_records() -> Vec<(TreeName, Record)> {
    let mut out = Vec::new();
    for (outgoing, stage, have) in [
        (true, Stage::Offered, vec![]),
        (false, Stage::Moving, vec![0, 1, 4, 9]),
        (
            false,
            Stage::Complete,
            vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        ),
    ] {
        let mut set = ChunkSet::default();
        for i in have {
            set.insert(i);
        }
        let r = FileRecord {
            contact: ContactId([30; 32]),
            outgoing,
            stage,
            slot: Slot([31; 16]),
            offer: [32; 16],
            sent_at_ms: 1_800_000_000_000,
            next: if outgoing { 5 } else { 0 },
            have: set,
            direct_only: outgoing,
            expires_at_ms: outgoing.then_some(1_800_000_600_000),
            group: outgoing.then_some(crate::group::GroupId([36; 16])),
            descriptor: FileDescriptor {
                id: [33; 16],
                name: "minutes.odt".into(),
                media_type: "application/vnd.oasis.opendocument.text".into(),
                size: 11 * 64_512 - 5,
                sha256: [34; 32],
                key: FileKey::from_key_bytes([35; 32]),
            },
            chunks_in_store: false,
        };
        if let Ok(stored) = r.encode() {
            out.push((TreeName::Files, Record::File(stored)));
        }
    }
    out
}

/// File offers, chunks and controls, each valid.
pub(super) fn file_contents() -> Vec<Content> {
    let mut out = vec![Content::File {
        id: [20; 16],
        sent_at_ms: 1_800_000_000_000,
        group: Some(crate::group::GroupId([24; 16])),
        descriptor: FileDescriptor {
            id: [21; 16],
            name: "scan of the order.pdf".into(),
            media_type: "application/pdf".into(),
            size: 200_000,
            sha256: [22; 32],
            key: FileKey::from_key_bytes([23; 32]),
        },
    }];
    for (index, len) in [(0, CHUNK_TAG_LEN), (1, 1_000), (3, SEALED_CHUNK_LEN)] {
        out.push(Content::Chunk {
            file: [21; 16],
            index,
            sealed: vec![24; len],
        });
    }
    for action in [FileAction::Accept, FileAction::Decline, FileAction::Cancel] {
        out.push(Content::FileControl {
            file: [21; 16],
            action,
        });
    }
    out.push(Content::TakesBulk {
        file: [21; 16],
        span: Some(128),
    });
    out
}
