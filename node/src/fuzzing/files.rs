//! Seeds for the file contents (docs/PROTOCOL.md §25.3) in the `content` target: an offer,
//! chunks of several lengths, and each control.

use crate::content::{Content, FileAction};
use cairn_crypto::file::{FileDescriptor, FileKey, CHUNK_TAG_LEN, SEALED_CHUNK_LEN};

/// File offers, chunks and controls, each valid.
pub(super) fn file_contents() -> Vec<Content> {
    let mut out = vec![Content::File {
        id: [20; 16],
        sent_at_ms: 1_800_000_000_000,
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
    out
}
