//! What goes inside the end-to-end encryption: the plaintext of a ratchet message.
//!
//! ```text
//! content = version u8 (=1) | kind u8 | body
//! kind 1 Text    : id [16] | sent_at_ms u64 | len u32 | UTF-8 text
//! kind 2 Receipt : count u16 (1..=MAX_RECEIPT_IDS) | id [16] * count
//! kind 3 Card    : profile card (cairn-crypto encoding)
//! kind 4 Timer   : set_at_ms u64 | 0 (off) or 1 | seconds u64
//! kind 5 Protocol: newest session protocol the sender speaks, u8 (>= 2)
//! kind 6 Group   : copy id [16] | group id [16] | group body (crate::group::wire)
//! kind 7 Intro   : copy id [16] | count u8 (1..=MAX_INTROS_PER_COPY) | introduction * count
//! kind 8 File    : id [16] | sent_at_ms u64 | group 0 | 1 [16] | file descriptor
//!                   (cairn_crypto::file)
//! kind 9 Chunk   : file id [16] | index u64 | len u32 | sealed chunk | zeros to CHUNK_CONTENT_LEN
//! kind 10 FileCtl: file id [16] | 1 accept, 2 decline or 3 cancel
//! kind 11 Bulk   : file id [16]   (its recipient takes the file's chunks as bulk chunks)
//! ```
//!
//! The message id lives here, inside the ciphertext: relays never see it.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use crate::group::wire::{BodyError, GroupBody};
use crate::group::GroupId;
use crate::intro::Introduction;
use cairn_crypto::file::{FileDescriptor, FILE_ID_LEN, SEALED_CHUNK_LEN};
use cairn_crypto::wire::{self, Reader, WireError, Writer};
use cairn_crypto::ProfileCard;
use thiserror::Error;

/// Content format version.
pub const CONTENT_VERSION: u8 = 1;
/// Longest text, in bytes: what fits one envelope with the framing.
pub const MAX_TEXT_LEN: usize = cairn_crypto::padding::MAX_PLAINTEXT_LEN - 64;
/// Most ids in one receipt.
pub const MAX_RECEIPT_IDS: usize = 256;

/// Length of every chunk's content, whatever the chunk's own length: above half the largest
/// padding bucket, so that every chunk of every file is one 64 KiB envelope on the wire
/// (docs/PROTOCOL.md §25.3).
pub const CHUNK_CONTENT_LEN: usize = 2 + FILE_ID_LEN + 8 + 4 + SEALED_CHUNK_LEN;
const _: () = assert!(CHUNK_CONTENT_LEN > cairn_crypto::padding::MAX_PLAINTEXT_LEN / 2);
const _: () = assert!(CHUNK_CONTENT_LEN <= MAX_CONTENT_LEN);
// Every content fits a session of every protocol (protocol 4 frames its post-quantum
// fragment with two bytes of the largest bucket).
const _: () = assert!(MAX_CONTENT_LEN <= cairn_crypto::ratchet::MAX_SESSION_PLAINTEXT_LEN);

/// What one side of a file transfer tells the other.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileAction {
    /// The recipient takes the file: send its chunks.
    Accept,
    /// The recipient does not want it.
    Decline,
    /// Either side stops the transfer.
    Cancel,
}

/// Decoded content.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Content {
    /// A text message.
    Text {
        /// Message id (random, for dedup and receipts).
        id: [u8; 16],
        /// Sender's clock when written, Unix ms.
        sent_at_ms: u64,
        /// The text.
        text: String,
    },
    /// End-to-end delivery receipt for these message ids.
    Receipt(Vec<[u8; 16]>),
    /// The sender's updated profile card (new addresses or mailbox).
    Card(ProfileCard),
    /// The sender set the conversation's disappearing-messages timer: both sides delete
    /// messages this long after they were sent (`None`: messages stay).
    Timer {
        /// Sender's clock when it was set, Unix ms (the later setting wins).
        set_at_ms: u64,
        /// Seconds, at most [`MAX_TIMER_SECS`].
        seconds: Option<u64>,
    },
    /// The newest session protocol the sender speaks ([`cairn_crypto::Protocol`]). Sent
    /// over a session of an older protocol, so the two can move to the newer one with a
    /// session reset (a build before it drops this as unreadable, and nothing changes).
    Protocol(u8),
    /// One member's copy of a group's message or membership changes (docs/PROTOCOL.md
    /// §24.5), sent over the pairwise session with that member.
    Group {
        /// This copy's id: its receipt names it, and the recipient deduplicates by it.
        copy: [u8; 16],
        /// Which group.
        group: GroupId,
        /// What it carries.
        body: GroupBody,
    },
    /// Introductions to people who are not contacts (crate::intro), for a group or as a
    /// contact introduction: a group's new member gets one for each member, several to a
    /// copy.
    Introduction {
        /// This copy's id (receipt and deduplication, as for a group copy).
        copy: [u8; 16],
        /// The introductions (1 to [`crate::intro::MAX_INTROS_PER_COPY`]).
        intros: Vec<Introduction>,
    },
    /// A file offered: shown in the conversation like a message, receipted like one.
    File {
        /// Message id (dedup and receipt).
        id: [u8; 16],
        /// Sender's clock when sent, Unix ms.
        sent_at_ms: u64,
        /// The group it was sent to (each member gets its own offer under its own id).
        group: Option<GroupId>,
        /// What the recipient needs to take and open the file (its key among it).
        descriptor: FileDescriptor,
    },
    /// One sealed chunk of a file (`cairn_crypto::file`): receipted under its chunk id
    /// (`crate::files::transfer::chunk_id`).
    Chunk {
        /// The file.
        file: [u8; FILE_ID_LEN],
        /// Its place in the file.
        index: u64,
        /// The chunk sealed under the file's key (16 to `SEALED_CHUNK_LEN` bytes).
        sealed: Vec<u8>,
    },
    /// A file's transfer accepted, declined or cancelled.
    FileControl {
        /// The file.
        file: [u8; FILE_ID_LEN],
        /// What is asked.
        action: FileAction,
    },
    /// The recipient of a file that moves only directly takes its chunks outside the
    /// ratchet, as bulk chunks (docs/PROTOCOL.md §25.5). An older build drops it unread
    /// and sends on as before.
    TakesBulk {
        /// The file.
        file: [u8; FILE_ID_LEN],
        /// How many chunks past the first one missing the recipient takes (its span,
        /// `files::transfer::BULK_SPAN` on this build). Absent as an older build sends it,
        /// which means 64 (`SPAN`). A sender never keeps more in flight.
        span: Option<u16>,
    },
}

/// Longest disappearing-messages timer a contact may set: one year.
pub const MAX_TIMER_SECS: u64 = 366 * 24 * 3600;

/// Content decoding failures.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentError {
    /// Unknown version or kind.
    #[error("unsupported content")]
    Unsupported,
    /// Truncated, trailing bytes or a bad field.
    #[error("malformed content")]
    Malformed,
    /// Text longer than [`MAX_TEXT_LEN`].
    #[error("text too long")]
    TooLong,
}

/// Longest encoded content: a text at its limit with its framing (longer than any receipt,
/// card, timer or protocol announcement).
pub const MAX_CONTENT_LEN: usize = 2 + 16 + 8 + 4 + MAX_TEXT_LEN;

// A file offer fits too.
const _: () = assert!(2 + 16 + 8 + cairn_crypto::file::MAX_DESCRIPTOR_LEN <= MAX_CONTENT_LEN);

// A group content at its longest fits too.
const _: () = assert!(2 + 16 + 16 + crate::group::wire::MAX_BODY_LEN <= MAX_CONTENT_LEN);
const _: () = assert!(
    2 + 16 + 1 + crate::intro::MAX_INTROS_PER_COPY * crate::intro::MAX_INTRO_LEN <= MAX_CONTENT_LEN
);
const _: () = assert!(
    2 + 16 + 16 + 1 + 8 + 16 + 8 + 4 + crate::group::wire::MAX_GROUP_TEXT_LEN <= MAX_CONTENT_LEN
);

impl From<BodyError> for ContentError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLong => ContentError::TooLong,
            BodyError::UnknownKind => ContentError::Unsupported,
            _ => ContentError::Malformed,
        }
    }
}

impl From<WireError> for ContentError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::TooLong => ContentError::TooLong,
            _ => ContentError::Malformed,
        }
    }
}

impl Content {
    /// Encodes.
    pub fn encode(&self) -> Result<Vec<u8>, ContentError> {
        let mut v = vec![CONTENT_VERSION];
        match self {
            Content::Text {
                id,
                sent_at_ms,
                text,
            } => {
                if text.len() > MAX_TEXT_LEN {
                    return Err(ContentError::TooLong);
                }
                v.put_u8(1);
                v.put(id);
                v.put_u64(*sent_at_ms);
                v.put_bytes_u32(text.as_bytes());
            }
            Content::Receipt(ids) => {
                if ids.is_empty() || ids.len() > MAX_RECEIPT_IDS {
                    return Err(ContentError::Malformed);
                }
                v.put_u8(2);
                v.put_u16(u16::try_from(ids.len()).map_err(|_| ContentError::Malformed)?);
                for id in ids {
                    v.put(id);
                }
            }
            Content::Card(card) => {
                v.put_u8(3);
                v.put(&card.to_bytes().map_err(|_| ContentError::Malformed)?);
            }
            Content::Timer { set_at_ms, seconds } => {
                v.put_u8(4);
                v.put_u64(*set_at_ms);
                match seconds {
                    None => v.put_u8(0),
                    Some(s) if *s <= MAX_TIMER_SECS => {
                        v.put_u8(1);
                        v.put_u64(*s);
                    }
                    Some(_) => return Err(ContentError::Malformed),
                }
            }
            Content::Protocol(p) => {
                if *p < 2 {
                    return Err(ContentError::Malformed);
                }
                v.put_u8(5);
                v.put_u8(*p);
            }
            Content::Group { copy, group, body } => {
                v.put_u8(6);
                v.put(copy);
                v.put(&group.0);
                body.write(&mut v)?;
            }
            Content::Introduction { copy, intros } => {
                if intros.is_empty() || intros.len() > crate::intro::MAX_INTROS_PER_COPY {
                    return Err(ContentError::Malformed);
                }
                v.put_u8(7);
                v.put(copy);
                v.put_u8(u8::try_from(intros.len()).map_err(|_| ContentError::Malformed)?);
                for i in intros {
                    i.write(&mut v)?;
                }
            }
            Content::File {
                id,
                sent_at_ms,
                group,
                descriptor,
            } => {
                v.put_u8(8);
                v.put(id);
                v.put_u64(*sent_at_ms);
                match group {
                    None => v.put_u8(0),
                    Some(g) => {
                        v.put_u8(1);
                        v.put(&g.0);
                    }
                }
                v.put(&descriptor.to_bytes().map_err(|_| ContentError::Malformed)?);
            }
            Content::Chunk {
                file,
                index,
                sealed,
            } => {
                if sealed.len() < cairn_crypto::file::CHUNK_TAG_LEN
                    || sealed.len() > SEALED_CHUNK_LEN
                {
                    return Err(ContentError::Malformed);
                }
                v.put_u8(9);
                v.put(file);
                v.put_u64(*index);
                v.put_bytes_u32(sealed);
                v.resize(CHUNK_CONTENT_LEN, 0);
            }
            Content::FileControl { file, action } => {
                v.put_u8(10);
                v.put(file);
                v.put_u8(match action {
                    FileAction::Accept => 1,
                    FileAction::Decline => 2,
                    FileAction::Cancel => 3,
                });
            }
            Content::TakesBulk { file, span } => {
                v.put_u8(11);
                v.put(file);
                if let Some(span) = span {
                    v.put_u16(*span);
                }
            }
        }
        Ok(v)
    }

    /// Decodes. Untrusted input (after decryption, from an authenticated contact).
    pub fn decode(b: &[u8]) -> Result<Self, ContentError> {
        let mut r = Reader::new(b);
        if r.u8()? != CONTENT_VERSION {
            return Err(ContentError::Unsupported);
        }
        let content = match r.u8()? {
            1 => {
                let id = r.array()?;
                let sent_at_ms = r.u64()?;
                let text = std::str::from_utf8(r.bytes_u32(MAX_TEXT_LEN)?)
                    .map_err(|_| ContentError::Malformed)?
                    .to_owned();
                Content::Text {
                    id,
                    sent_at_ms,
                    text,
                }
            }
            2 => {
                let n = usize::from(r.u16()?);
                if n == 0 || n > MAX_RECEIPT_IDS {
                    return Err(ContentError::Malformed);
                }
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(r.array()?);
                }
                Content::Receipt(ids)
            }
            3 => Content::Card(
                ProfileCard::from_bytes(r.rest()).map_err(|_| ContentError::Malformed)?,
            ),
            4 => {
                let set_at_ms = r.u64()?;
                let seconds = if r.bool()? {
                    let s = r.u64()?;
                    if s > MAX_TIMER_SECS {
                        return Err(ContentError::Malformed);
                    }
                    Some(s)
                } else {
                    None
                };
                Content::Timer { set_at_ms, seconds }
            }
            5 => match r.u8()? {
                p if p >= 2 => Content::Protocol(p),
                _ => return Err(ContentError::Malformed),
            },
            6 => Content::Group {
                copy: r.array()?,
                group: GroupId(r.array()?),
                body: GroupBody::read(&mut r)?,
            },
            7 => {
                let copy = r.array()?;
                let n = usize::from(r.u8()?);
                if n == 0 || n > crate::intro::MAX_INTROS_PER_COPY {
                    return Err(ContentError::Malformed);
                }
                let mut intros = Vec::with_capacity(n);
                for _ in 0..n {
                    intros.push(Introduction::read(&mut r)?);
                }
                Content::Introduction { copy, intros }
            }
            8 => Content::File {
                id: r.array()?,
                sent_at_ms: r.u64()?,
                group: match r.u8()? {
                    0 => None,
                    1 => Some(GroupId(r.array()?)),
                    _ => return Err(ContentError::Malformed),
                },
                descriptor: FileDescriptor::from_bytes(r.rest())
                    .map_err(|_| ContentError::Malformed)?,
            },
            9 => {
                if b.len() != CHUNK_CONTENT_LEN {
                    return Err(ContentError::Malformed);
                }
                let file = r.array()?;
                let index = r.u64()?;
                let sealed = r.bytes_u32(SEALED_CHUNK_LEN)?;
                if sealed.len() < cairn_crypto::file::CHUNK_TAG_LEN {
                    return Err(ContentError::Malformed);
                }
                let sealed = sealed.to_vec();
                // The filler is zeros, so that nothing else can ride along.
                if r.rest().iter().any(|&z| z != 0) {
                    return Err(ContentError::Malformed);
                }
                Content::Chunk {
                    file,
                    index,
                    sealed,
                }
            }
            10 => Content::FileControl {
                file: r.array()?,
                action: match r.u8()? {
                    1 => FileAction::Accept,
                    2 => FileAction::Decline,
                    3 => FileAction::Cancel,
                    _ => return Err(ContentError::Malformed),
                },
            },
            11 => Content::TakesBulk {
                file: r.array()?,
                span: if r.remaining() == 0 {
                    None
                } else {
                    Some(r.u16()?)
                },
            },
            _ => return Err(ContentError::Unsupported),
        };
        r.finish()?;
        Ok(content)
    }
}

impl wire::Codec for Content {
    type Error = ContentError;
    const MAX_LEN: usize = MAX_CONTENT_LEN;
    fn to_wire(&self) -> Result<Vec<u8>, ContentError> {
        self.encode()
    }
    fn from_wire(bytes: &[u8]) -> Result<Self, ContentError> {
        Self::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches encode/decode mismatches and lax decoding.
    #[test]
    fn round_trip_and_rejects() {
        let t = Content::Text {
            id: [1; 16],
            sent_at_ms: 42,
            text: "héllo".into(),
        };
        assert_eq!(Content::decode(&t.encode().unwrap()).unwrap(), t);
        let r = Content::Receipt(vec![[2; 16], [3; 16]]);
        assert_eq!(Content::decode(&r.encode().unwrap()).unwrap(), r);
        let mut bad = t.encode().unwrap();
        bad.push(0);
        assert_eq!(Content::decode(&bad), Err(ContentError::Malformed));
        assert_eq!(Content::decode(&[2, 1]), Err(ContentError::Unsupported));
        assert_eq!(Content::decode(&[]), Err(ContentError::Malformed));
        assert!(Content::Receipt(vec![]).encode().is_err());
        for seconds in [None, Some(3600), Some(MAX_TIMER_SECS)] {
            let t = Content::Timer {
                set_at_ms: 7,
                seconds,
            };
            assert_eq!(Content::decode(&t.encode().unwrap()).unwrap(), t);
        }
        let too_long = Content::Timer {
            set_at_ms: 7,
            seconds: Some(MAX_TIMER_SECS + 1),
        };
        assert!(too_long.encode().is_err());
        let mut bad = Content::Timer {
            set_at_ms: 7,
            seconds: Some(60),
        }
        .encode()
        .unwrap();
        bad.push(0);
        assert_eq!(Content::decode(&bad), Err(ContentError::Malformed));
        bad[10] = 2;
        assert_eq!(Content::decode(&bad), Err(ContentError::Malformed));
        let p = Content::Protocol(2);
        assert_eq!(Content::decode(&p.encode().unwrap()).unwrap(), p);
        assert_eq!(Content::decode(&[1, 5, 1]), Err(ContentError::Malformed));
        assert_eq!(Content::decode(&[1, 5, 2, 0]), Err(ContentError::Malformed));
        assert_eq!(Content::decode(&[1, 5]), Err(ContentError::Malformed));
        assert!(Content::Protocol(1).encode().is_err());
    }

    /// Would catch a file offer, chunk or control that does not round-trip, a chunk whose
    /// wire length depends on its own (the last chunk of a file would show), filler that
    /// can carry anything, or a control action out of range taken.
    #[test]
    fn file_contents_round_trip_and_every_chunk_is_one_size() {
        use cairn_crypto::file::{FileKey, CHUNK_TAG_LEN};
        let f = Content::File {
            id: [4; 16],
            sent_at_ms: 9,
            group: None,
            descriptor: FileDescriptor {
                id: [5; 16],
                name: "a.pdf".into(),
                media_type: "application/pdf".into(),
                size: 70_000,
                sha256: [6; 32],
                key: FileKey::from_key_bytes([7; 32]),
            },
        };
        assert_eq!(Content::decode(&f.encode().unwrap()).unwrap(), f);
        let Content::File { descriptor, .. } = f else {
            unreachable!()
        };
        let g = Content::File {
            id: [4; 16],
            sent_at_ms: 9,
            group: Some(GroupId([8; 16])),
            descriptor,
        };
        let mut bytes = g.encode().unwrap();
        assert_eq!(Content::decode(&bytes).unwrap(), g);
        // After version, kind, id and time, the group flag: 0 or 1, anything else refused.
        let flag = 2 + 16 + 8;
        assert_eq!(bytes.get(flag), Some(&1));
        bytes[flag] = 2;
        assert_eq!(Content::decode(&bytes), Err(ContentError::Malformed));
        for len in [CHUNK_TAG_LEN, CHUNK_TAG_LEN + 1, SEALED_CHUNK_LEN] {
            let c = Content::Chunk {
                file: [1; 16],
                index: 3,
                sealed: vec![0xab; len],
            };
            let bytes = c.encode().unwrap();
            assert_eq!(bytes.len(), CHUNK_CONTENT_LEN);
            assert_eq!(
                cairn_crypto::padding::pad(&bytes).unwrap().len(),
                65_536,
                "every chunk in the largest bucket"
            );
            assert_eq!(Content::decode(&bytes).unwrap(), c);
            let mut filler = bytes.clone();
            if len < SEALED_CHUNK_LEN {
                *filler.last_mut().unwrap() = 1;
                assert_eq!(Content::decode(&filler), Err(ContentError::Malformed));
            }
            assert_eq!(
                Content::decode(&bytes[..bytes.len() - 1]),
                Err(ContentError::Malformed)
            );
        }
        for len in [0, CHUNK_TAG_LEN - 1, SEALED_CHUNK_LEN + 1] {
            let c = Content::Chunk {
                file: [1; 16],
                index: 0,
                sealed: vec![0; len],
            };
            assert!(c.encode().is_err(), "{len}");
        }
        for action in [FileAction::Accept, FileAction::Decline, FileAction::Cancel] {
            let c = Content::FileControl {
                file: [2; 16],
                action,
            };
            assert_eq!(Content::decode(&c.encode().unwrap()).unwrap(), c);
        }
        let mut bad = Content::FileControl {
            file: [2; 16],
            action: FileAction::Cancel,
        }
        .encode()
        .unwrap();
        *bad.last_mut().unwrap() = 4;
        assert_eq!(Content::decode(&bad), Err(ContentError::Malformed));
        let bulk = Content::TakesBulk {
            file: [3; 16],
            span: Some(128),
        };
        let wire = bulk.encode().unwrap();
        assert_eq!(wire, [&[1u8, 11][..], &[3; 16], &[0, 128]].concat());
        assert_eq!(Content::decode(&wire).unwrap(), bulk);
        // As an older build sends it: no span, which means 64.
        assert_eq!(
            Content::decode(&wire[..wire.len() - 2]).unwrap(),
            Content::TakesBulk {
                file: [3; 16],
                span: None
            }
        );
        assert_eq!(
            Content::decode(&wire[..wire.len() - 1]),
            Err(ContentError::Malformed)
        );
        assert_eq!(
            Content::decode(&[&wire[..], &[0]].concat()),
            Err(ContentError::Malformed)
        );
    }
}
