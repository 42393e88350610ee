//! Record encodings: what is inside each sealed value, and the shape of record keys.
//!
//! Everything read from disk is untrusted (a damaged disk, or a thief who edits files and hands
//! the laptop back). Every decoder returns a typed [`DecodeError`], checks every length against
//! a named limit before allocating, and never panics. [`decode_record`] is the entry point a
//! fuzz target calls.
//!
//! Encoding: `tag (u8) || version (u8) || fields`. Integers are big-endian; byte strings and
//! text are `u32 length || bytes`; options are `0` or `1 || value`; booleans are `0`/`1`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use super::backend::TreeName;
use super::error::{DecodeError, StoreError};
use super::model::{
    Contact, ContactId, Conversation, DedupEntry, DeliveryState, Direction, GroupCopy, GroupPart,
    GroupRecord, Invite, MessageId, Meta, OutboxEntry, Report, StoredFile, UsedInvite,
    MAX_DELIVERED_RANGES, MAX_GROUP_COPIES, MAX_REPORTS,
};
use super::secret::SecretBytes;
use cairn_crypto::wire::{self, Writer as _};

/// Longest record (plaintext) the decoder accepts. Bounds memory per record; well above the
/// largest legitimate record (a message at [`MAX_TEXT_LEN`] or a blob at [`MAX_BLOB_LEN`]).
pub const MAX_RECORD_LEN: usize = 2 * 1024 * 1024;
/// Longest message text. Longer texts must be split by the caller; the limit keeps one record
/// from holding the whole cache.
pub const MAX_TEXT_LEN: usize = 256 * 1024;
/// Longest opaque blob (identity secret, ratchet state, envelope, setting, invite payload).
/// Ratchet state grows with skipped keys, which the crypto crate bounds far below this.
pub const MAX_BLOB_LEN: usize = 1024 * 1024;
/// Longest alias, address, mailbox or safety number.
pub const MAX_SHORT_TEXT_LEN: usize = 1024;
/// Longest identity key or PeerId.
pub const MAX_KEY_BYTES: usize = 256;
/// Most addresses per contact.
pub const MAX_ADDRESSES: usize = 32;

/// Record type tags.
mod tag {
    pub const META: u8 = 1;
    pub const IDENTITY: u8 = 2;
    pub const PROFILE_CARD: u8 = 3;
    pub const CONTACT: u8 = 4;
    pub const PEER_INDEX: u8 = 5;
    pub const SESSION: u8 = 6;
    pub const CONVERSATION: u8 = 7;
    pub const MESSAGE: u8 = 8;
    pub const OUTBOX: u8 = 9;
    pub const DEDUP: u8 = 10;
    pub const INVITE: u8 = 11;
    pub const SETTING: u8 = 12;
    pub const ROUTING_TAG: u8 = 13;
    pub const OUTBOX_BATCH: u8 = 14;
    pub const USED_INVITE: u8 = 15;
    pub const GROUP: u8 = 16;
    /// A message with its group part ([`super::MessageBody::group`]).
    pub const GROUP_MESSAGE: u8 = 17;
    pub const FILE: u8 = 18;
    pub const UNREPORTED: u8 = 19;
}

/// Longest file record (`crate::files::record`: a descriptor and the transfer's state).
pub const MAX_FILE_RECORD_LEN: usize = 4096;

/// Most envelopes in one outbox batch record ([`Record::OutboxBatch`]).
pub const MAX_OUTBOX_BATCH: usize = 256;
/// Most envelope bytes in one outbox batch record (a writer starts a new record beyond this).
pub const MAX_OUTBOX_BATCH_BYTES: usize = 1024 * 1024;

const VERSION: u8 = 1;

/// The body of a message record (the contact and sequence number are in the key).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MessageBody {
    /// Message id.
    pub id: MessageId,
    /// Direction.
    pub direction: Direction,
    /// Text.
    pub text: String,
    /// Created.
    pub created_at_ms: u64,
    /// Received.
    pub received_at_ms: Option<u64>,
    /// Sent.
    pub sent_at_ms: Option<u64>,
    /// Delivered.
    pub delivered_at_ms: Option<u64>,
    /// State.
    pub state: DeliveryState,
    /// Expiry.
    pub expires_at_ms: Option<u64>,
    /// How the message belongs to a group: set in a `GROUP_MESSAGE` record (after the
    /// other fields), never in a `MESSAGE` one.
    pub group: Option<GroupPart>,
}

/// A decoded record.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Record {
    /// Profile marker.
    Meta(Meta),
    /// Own identity secret (opaque, serialised by cairn-crypto).
    Identity(SecretBytes),
    /// Own profile card (opaque).
    ProfileCard(Vec<u8>),
    /// A contact.
    Contact(Contact),
    /// PeerId index entry.
    PeerIndex(ContactId),
    /// Routing tag index entry.
    RoutingTag(ContactId),
    /// Ratchet state (opaque, `Session::to_bytes`).
    Session(SecretBytes),
    /// Conversation state.
    Conversation(Conversation),
    /// A message.
    Message(MessageBody),
    /// Outbox entry.
    Outbox(OutboxEntry),
    /// Envelopes of several messages to one contact queued together (1 to
    /// [`MAX_OUTBOX_BATCH`], sequence numbers increasing, never attempted): one record instead
    /// of one per message. An entry is pending while its message is not delivered and no
    /// [`Record::Outbox`] with its id replaces it.
    OutboxBatch(Vec<OutboxEntry>),
    /// Dedup entry.
    Dedup(DedupEntry),
    /// Pending invite.
    Invite(Invite),
    /// An invite that was used, in its place until it would have expired.
    UsedInvite(UsedInvite),
    /// A setting value.
    Setting(Vec<u8>),
    /// A group and its membership log.
    Group(GroupRecord),
    /// A file's transfer (its record opaque to the store: `crate::files::record`).
    File(StoredFile),
    /// Events not reported yet (1 to [`MAX_REPORTS`]), kept in the settings tree.
    Unreported(Vec<Report>),
}

impl Record {
    fn tag(&self) -> u8 {
        match self {
            Record::Meta(_) => tag::META,
            Record::Identity(_) => tag::IDENTITY,
            Record::ProfileCard(_) => tag::PROFILE_CARD,
            Record::Contact(_) => tag::CONTACT,
            Record::PeerIndex(_) => tag::PEER_INDEX,
            Record::RoutingTag(_) => tag::ROUTING_TAG,
            Record::Session(_) => tag::SESSION,
            Record::Conversation(_) => tag::CONVERSATION,
            Record::Message(m) if m.group.is_some() => tag::GROUP_MESSAGE,
            Record::Message(_) => tag::MESSAGE,
            Record::Outbox(_) => tag::OUTBOX,
            Record::OutboxBatch(_) => tag::OUTBOX_BATCH,
            Record::Dedup(_) => tag::DEDUP,
            Record::Invite(_) => tag::INVITE,
            Record::UsedInvite(_) => tag::USED_INVITE,
            Record::Setting(_) => tag::SETTING,
            Record::Group(_) => tag::GROUP,
            Record::File(_) => tag::FILE,
            Record::Unreported(_) => tag::UNREPORTED,
        }
    }
}

fn allowed(tree: TreeName, t: u8) -> bool {
    matches!(
        (tree, t),
        (TreeName::Meta, tag::META)
            | (TreeName::Identity, tag::IDENTITY)
            | (TreeName::Identity, tag::PROFILE_CARD)
            | (TreeName::Contacts, tag::CONTACT)
            | (TreeName::PeerIndex, tag::PEER_INDEX)
            | (TreeName::TagIndex, tag::ROUTING_TAG)
            | (TreeName::Sessions, tag::SESSION)
            | (TreeName::Conversations, tag::CONVERSATION)
            | (TreeName::Messages, tag::MESSAGE)
            | (TreeName::Messages, tag::GROUP_MESSAGE)
            | (TreeName::Outbox, tag::OUTBOX)
            | (TreeName::Outbox, tag::OUTBOX_BATCH)
            | (TreeName::Dedup, tag::DEDUP)
            | (TreeName::Invites, tag::INVITE)
            | (TreeName::Invites, tag::USED_INVITE)
            | (TreeName::Settings, tag::SETTING)
            | (TreeName::Settings, tag::UNREPORTED)
            | (TreeName::Groups, tag::GROUP)
            | (TreeName::Files, tag::FILE)
    )
}

// ---------------------------------------------------------------------------------------------
// Writing

struct Writer(Vec<u8>);

fn too_large(field: &'static str, len: usize, max: usize) -> StoreError {
    StoreError::TooLarge { field, len, max }
}

impl Writer {
    fn new(t: u8, capacity: usize) -> Self {
        let mut v = Vec::with_capacity(capacity + 2);
        v.push(t);
        v.push(VERSION);
        Self(v)
    }
    fn u8(&mut self, v: u8) {
        self.0.put_u8(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.put_u32(v);
    }
    fn u64(&mut self, v: u64) {
        self.0.put_u64(v);
    }
    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.u64(x);
            }
        }
    }
    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    fn raw(&mut self, v: &[u8]) {
        self.0.put(v);
    }
    fn bytes(&mut self, field: &'static str, v: &[u8], max: usize) -> Result<(), StoreError> {
        if v.len() > max {
            return Err(too_large(field, v.len(), max));
        }
        // max <= MAX_BLOB_LEN < u32::MAX
        self.u32(v.len() as u32);
        self.raw(v);
        Ok(())
    }
    fn str(&mut self, field: &'static str, v: &str, max: usize) -> Result<(), StoreError> {
        self.bytes(field, v.as_bytes(), max)
    }
}

fn direction_tag(d: Direction) -> u8 {
    match d {
        Direction::Incoming => 0,
        Direction::Outgoing => 1,
    }
}

fn state_tag(s: DeliveryState) -> u8 {
    match s {
        DeliveryState::Queued => 0,
        DeliveryState::Sent => 1,
        DeliveryState::Delivered => 2,
        DeliveryState::Failed => 3,
        DeliveryState::Received => 4,
    }
}

/// Encodes a record. Fails (writing nothing) if a field exceeds its limit, so the store never
/// writes what it could not read back.
/// Room the encoding of `record` needs at most (beyond tag and version): records that hold
/// secrets are written into a buffer allocated once at this size, so no reallocation leaves a
/// copy of a key in freed memory (the caller zeroizes the buffer itself).
fn capacity_hint(record: &Record) -> usize {
    match record {
        Record::Identity(s) | Record::Session(s) => 4 + s.expose_secret().len(),
        Record::Setting(b) | Record::ProfileCard(b) => 4 + b.len(),
        Record::Invite(i) => 64 + i.payload.expose_secret().len(),
        Record::File(f) => 24 + f.body.expose_secret().len(),
        _ => 64,
    }
}

pub fn encode_record(record: &Record) -> Result<Vec<u8>, StoreError> {
    let mut w = Writer::new(record.tag(), capacity_hint(record));
    match record {
        Record::Meta(m) => {
            w.u32(m.format);
        }
        Record::Identity(s) | Record::Session(s) => {
            w.bytes("secret", s.expose_secret(), MAX_BLOB_LEN)?;
        }
        Record::ProfileCard(b) | Record::Setting(b) => w.bytes("blob", b, MAX_BLOB_LEN)?,
        Record::Contact(c) => {
            w.str("alias", &c.alias, MAX_SHORT_TEXT_LEN)?;
            w.bytes("identity_key", &c.identity_key, MAX_KEY_BYTES)?;
            w.bytes("peer_id", &c.peer_id, MAX_KEY_BYTES)?;
            if c.addresses.len() > MAX_ADDRESSES {
                return Err(too_large("addresses", c.addresses.len(), MAX_ADDRESSES));
            }
            w.u32(c.addresses.len() as u32);
            for a in &c.addresses {
                w.str("address", a, MAX_SHORT_TEXT_LEN)?;
            }
            match &c.mailbox {
                None => w.u8(0),
                Some(m) => {
                    w.u8(1);
                    w.str("mailbox", m, MAX_SHORT_TEXT_LEN)?;
                }
            }
            w.bool(c.verified);
            w.str("safety_number", &c.safety_number, MAX_SHORT_TEXT_LEN)?;
            w.u64(c.added_at_ms);
        }
        Record::PeerIndex(id) | Record::RoutingTag(id) => w.raw(&id.0),
        Record::Conversation(c) => {
            w.u64(c.next_seq);
            w.opt_u64(c.disappear_after_ms);
            w.bool(c.has_expiring);
            if c.delivered.len() > MAX_DELIVERED_RANGES {
                return Err(StoreError::TooLarge {
                    field: "delivered",
                    len: c.delivered.len(),
                    max: MAX_DELIVERED_RANGES,
                });
            }
            w.u32(c.delivered.len() as u32);
            for (start, end) in &c.delivered {
                w.u64(*start);
                w.u64(*end);
            }
        }
        Record::Message(m) => {
            w.raw(&m.id.0);
            w.u8(direction_tag(m.direction));
            w.str("text", &m.text, MAX_TEXT_LEN)?;
            w.u64(m.created_at_ms);
            w.opt_u64(m.received_at_ms);
            w.opt_u64(m.sent_at_ms);
            w.opt_u64(m.delivered_at_ms);
            w.u8(state_tag(m.state));
            w.opt_u64(m.expires_at_ms);
            if let Some(g) = &m.group {
                group::write_group_part(&mut w, g)?;
            }
        }
        Record::Outbox(o) => {
            w.raw(&o.message_id.0);
            w.raw(&o.contact.0);
            w.u64(o.seq);
            w.bytes("envelope", &o.envelope, MAX_BLOB_LEN)?;
            w.u32(o.attempts);
            w.u64(o.next_attempt_at_ms);
            w.u64(o.created_at_ms);
        }
        Record::OutboxBatch(entries) => {
            let Some(first) = entries.first() else {
                return Err(StoreError::Invalid("an outbox batch without envelopes"));
            };
            if entries.len() > MAX_OUTBOX_BATCH {
                return Err(too_large("outbox batch", entries.len(), MAX_OUTBOX_BATCH));
            }
            let bytes: usize = entries.iter().map(|e| e.envelope.len()).sum();
            if bytes > MAX_OUTBOX_BATCH_BYTES {
                return Err(too_large(
                    "outbox batch bytes",
                    bytes,
                    MAX_OUTBOX_BATCH_BYTES,
                ));
            }
            let canonical = entries
                .iter()
                .zip(entries.iter().skip(1))
                .all(|(a, b)| a.seq < b.seq)
                && entries
                    .iter()
                    .all(|e| e.contact == first.contact && e.attempts == 0);
            if !canonical {
                return Err(StoreError::Invalid(
                    "an outbox batch of several contacts, attempted entries or out of order",
                ));
            }
            w.raw(&first.contact.0);
            w.u32(u32::try_from(entries.len()).unwrap_or(u32::MAX));
            for e in entries {
                w.raw(&e.message_id.0);
                w.u64(e.seq);
                w.bytes("envelope", &e.envelope, MAX_BLOB_LEN)?;
                w.u64(e.next_attempt_at_ms);
                w.u64(e.created_at_ms);
            }
        }
        Record::Dedup(d) => {
            w.u64(d.received_at_ms);
            w.raw(&d.contact.0);
            w.u64(d.seq);
        }
        Record::Invite(i) => {
            w.u64(i.created_at_ms);
            w.u64(i.expires_at_ms);
            w.bytes("payload", i.payload.expose_secret(), MAX_BLOB_LEN)?;
        }
        Record::UsedInvite(u) => {
            w.u64(u.expires_at_ms);
            w.raw(&u.first_message);
            w.raw(&u.contact.0);
        }
        Record::Group(g) => {
            w.raw(&g.id);
            w.u64(g.clock);
            w.bytes("group log", &g.log, MAX_BLOB_LEN)?;
        }
        Record::File(f) => {
            w.raw(&f.id);
            w.bytes("file", f.body.expose_secret(), MAX_FILE_RECORD_LEN)?;
        }
        Record::Unreported(reports) => {
            if reports.is_empty() || reports.len() > MAX_REPORTS {
                return Err(too_large("reports", reports.len(), MAX_REPORTS));
            }
            w.u32(reports.len() as u32);
            for r in reports {
                match r {
                    Report::Message { contact, seq } => {
                        w.u8(1);
                        w.raw(&contact.0);
                        w.u64(*seq);
                    }
                    Report::Delivered(id) => {
                        w.u8(2);
                        w.raw(&id.0);
                    }
                    Report::GroupMessage { group, seq } => {
                        w.u8(3);
                        w.raw(group);
                        w.u64(*seq);
                    }
                }
            }
        }
    }
    Ok(w.0)
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The shared bounds-checked reader (`cairn_crypto::wire`), with the store's errors, which
/// name the field that failed.
struct Reader<'a> {
    r: wire::Reader<'a>,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            r: wire::Reader::new(bytes),
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.r.take(n).map_err(|_| DecodeError::Truncated)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.r.array().map_err(|_| DecodeError::Truncated)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.r.u8().map_err(|_| DecodeError::Truncated)
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.r.u32().map_err(|_| DecodeError::Truncated)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.r.u64().map_err(|_| DecodeError::Truncated)
    }
    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::UnknownTag { field, value }),
        }
    }
    fn opt_u64(&mut self, field: &'static str) -> Result<Option<u64>, DecodeError> {
        if self.bool(field)? {
            Ok(Some(self.u64()?))
        } else {
            Ok(None)
        }
    }
    fn len(&mut self, field: &'static str, max: usize) -> Result<usize, DecodeError> {
        let len = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        if len > max {
            return Err(DecodeError::TooLong { field, len, max });
        }
        if len > self.r.remaining() {
            return Err(DecodeError::Truncated);
        }
        Ok(len)
    }
    fn bytes(&mut self, field: &'static str, max: usize) -> Result<Vec<u8>, DecodeError> {
        let len = self.len(field, max)?;
        Ok(self.take(len)?.to_vec())
    }
    fn string(&mut self, field: &'static str, max: usize) -> Result<String, DecodeError> {
        let len = self.len(field, max)?;
        let raw = self.take(len)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8(field))
    }
    fn finish(self) -> Result<(), DecodeError> {
        match self.r.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

fn direction(v: u8) -> Result<Direction, DecodeError> {
    match v {
        0 => Ok(Direction::Incoming),
        1 => Ok(Direction::Outgoing),
        value => Err(DecodeError::UnknownTag {
            field: "direction",
            value,
        }),
    }
}

fn state(v: u8) -> Result<DeliveryState, DecodeError> {
    match v {
        0 => Ok(DeliveryState::Queued),
        1 => Ok(DeliveryState::Sent),
        2 => Ok(DeliveryState::Delivered),
        3 => Ok(DeliveryState::Failed),
        4 => Ok(DeliveryState::Received),
        value => Err(DecodeError::UnknownTag {
            field: "state",
            value,
        }),
    }
}

/// A conversation's delivered ranges: at most [`MAX_DELIVERED_RANGES`], each non-empty, in
/// order, neither overlapping nor touching (the one way the store writes them).
fn delivered_ranges(r: &mut Reader<'_>) -> Result<Vec<(u64, u64)>, DecodeError> {
    let n = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
    if n > MAX_DELIVERED_RANGES {
        return Err(DecodeError::TooLong {
            field: "delivered",
            len: n,
            max: MAX_DELIVERED_RANGES,
        });
    }
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(n);
    for _ in 0..n {
        let (start, end) = (r.u64()?, r.u64()?);
        let after_previous = out.last().is_none_or(|&(_, prev_end)| prev_end < start);
        if start >= end || !after_previous {
            return Err(DecodeError::UnknownTag {
                field: "delivered range",
                value: 0,
            });
        }
        out.push((start, end));
    }
    Ok(out)
}

/// An outbox batch: 1 to [`MAX_OUTBOX_BATCH`] entries of one contact, sequence numbers strictly
/// increasing, at most [`MAX_OUTBOX_BATCH_BYTES`] of envelopes (the one way the store writes it).
fn reports(r: &mut Reader<'_>) -> Result<Vec<Report>, DecodeError> {
    let n = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
    if n == 0 || n > MAX_REPORTS {
        return Err(DecodeError::TooLong {
            field: "reports",
            len: n,
            max: MAX_REPORTS,
        });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(match r.u8()? {
            1 => Report::Message {
                contact: ContactId(r.array()?),
                seq: r.u64()?,
            },
            2 => Report::Delivered(MessageId(r.array()?)),
            3 => Report::GroupMessage {
                group: r.array()?,
                seq: r.u64()?,
            },
            value => {
                return Err(DecodeError::UnknownTag {
                    field: "report",
                    value,
                })
            }
        });
    }
    Ok(out)
}

fn outbox_batch(r: &mut Reader<'_>) -> Result<Vec<OutboxEntry>, DecodeError> {
    let contact = ContactId(r.array()?);
    let n = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
    if n == 0 || n > MAX_OUTBOX_BATCH {
        return Err(DecodeError::TooLong {
            field: "outbox batch",
            len: n,
            max: MAX_OUTBOX_BATCH,
        });
    }
    let mut out: Vec<OutboxEntry> = Vec::with_capacity(n);
    let mut bytes = 0usize;
    for _ in 0..n {
        let message_id = MessageId(r.array()?);
        let seq = r.u64()?;
        let envelope = r.bytes("envelope", MAX_BLOB_LEN)?;
        bytes = bytes.saturating_add(envelope.len());
        if bytes > MAX_OUTBOX_BATCH_BYTES {
            return Err(DecodeError::TooLong {
                field: "outbox batch bytes",
                len: bytes,
                max: MAX_OUTBOX_BATCH_BYTES,
            });
        }
        if out.last().is_some_and(|prev| prev.seq >= seq) {
            return Err(DecodeError::UnknownTag {
                field: "outbox batch order",
                value: 0,
            });
        }
        out.push(OutboxEntry {
            message_id,
            contact,
            seq,
            envelope,
            attempts: 0,
            next_attempt_at_ms: r.u64()?,
            created_at_ms: r.u64()?,
        });
    }
    Ok(out)
}

/// Decodes the plaintext of a record read from `tree`. Untrusted input: never panics, bounded
/// allocation, typed errors. This is the fuzz target's entry point.
pub fn decode_record(tree: TreeName, bytes: &[u8]) -> Result<Record, DecodeError> {
    if bytes.len() > MAX_RECORD_LEN {
        return Err(DecodeError::TooLong {
            field: "record",
            len: bytes.len(),
            max: MAX_RECORD_LEN,
        });
    }
    let mut r = Reader::new(bytes);
    let t = r.u8()?;
    if !allowed(tree, t) {
        return Err(DecodeError::WrongRecordType { tree, tag: t });
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let record = match t {
        tag::META => Record::Meta(Meta { format: r.u32()? }),
        tag::IDENTITY => Record::Identity(SecretBytes::new(r.bytes("secret", MAX_BLOB_LEN)?)),
        tag::SESSION => Record::Session(SecretBytes::new(r.bytes("secret", MAX_BLOB_LEN)?)),
        tag::PROFILE_CARD => Record::ProfileCard(r.bytes("blob", MAX_BLOB_LEN)?),
        tag::SETTING => Record::Setting(r.bytes("blob", MAX_BLOB_LEN)?),
        tag::GROUP => Record::Group(GroupRecord {
            id: r.array()?,
            clock: r.u64()?,
            log: r.bytes("group log", MAX_BLOB_LEN)?,
        }),
        tag::FILE => Record::File(StoredFile {
            id: r.array()?,
            body: SecretBytes::new(r.bytes("file", MAX_FILE_RECORD_LEN)?),
        }),
        tag::CONTACT => {
            let alias = r.string("alias", MAX_SHORT_TEXT_LEN)?;
            let identity_key = r.bytes("identity_key", MAX_KEY_BYTES)?;
            let peer_id = r.bytes("peer_id", MAX_KEY_BYTES)?;
            let n = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
            if n > MAX_ADDRESSES {
                return Err(DecodeError::TooLong {
                    field: "addresses",
                    len: n,
                    max: MAX_ADDRESSES,
                });
            }
            let mut addresses = Vec::with_capacity(n);
            for _ in 0..n {
                addresses.push(r.string("address", MAX_SHORT_TEXT_LEN)?);
            }
            let mailbox = if r.bool("mailbox")? {
                Some(r.string("mailbox", MAX_SHORT_TEXT_LEN)?)
            } else {
                None
            };
            Record::Contact(Contact {
                alias,
                identity_key,
                peer_id,
                addresses,
                mailbox,
                verified: r.bool("verified")?,
                safety_number: r.string("safety_number", MAX_SHORT_TEXT_LEN)?,
                added_at_ms: r.u64()?,
            })
        }
        tag::PEER_INDEX => Record::PeerIndex(ContactId(r.array()?)),
        tag::ROUTING_TAG => Record::RoutingTag(ContactId(r.array()?)),
        tag::CONVERSATION => Record::Conversation(Conversation {
            next_seq: r.u64()?,
            disappear_after_ms: r.opt_u64("disappear_after")?,
            has_expiring: r.bool("has_expiring")?,
            delivered: delivered_ranges(&mut r)?,
        }),
        tag::MESSAGE | tag::GROUP_MESSAGE => Record::Message(MessageBody {
            id: MessageId(r.array()?),
            direction: direction(r.u8()?)?,
            text: r.string("text", MAX_TEXT_LEN)?,
            created_at_ms: r.u64()?,
            received_at_ms: r.opt_u64("received_at")?,
            sent_at_ms: r.opt_u64("sent_at")?,
            delivered_at_ms: r.opt_u64("delivered_at")?,
            state: state(r.u8()?)?,
            expires_at_ms: r.opt_u64("expires_at")?,
            group: if t == tag::GROUP_MESSAGE {
                Some(group::read_group_part(&mut r)?)
            } else {
                None
            },
        }),
        tag::OUTBOX => Record::Outbox(OutboxEntry {
            message_id: MessageId(r.array()?),
            contact: ContactId(r.array()?),
            seq: r.u64()?,
            envelope: r.bytes("envelope", MAX_BLOB_LEN)?,
            attempts: r.u32()?,
            next_attempt_at_ms: r.u64()?,
            created_at_ms: r.u64()?,
        }),
        tag::OUTBOX_BATCH => Record::OutboxBatch(outbox_batch(&mut r)?),
        tag::UNREPORTED => Record::Unreported(reports(&mut r)?),
        tag::DEDUP => Record::Dedup(DedupEntry {
            received_at_ms: r.u64()?,
            contact: ContactId(r.array()?),
            seq: r.u64()?,
        }),
        tag::INVITE => Record::Invite(Invite {
            created_at_ms: r.u64()?,
            expires_at_ms: r.u64()?,
            payload: SecretBytes::new(r.bytes("payload", MAX_BLOB_LEN)?),
        }),
        tag::USED_INVITE => Record::UsedInvite(UsedInvite {
            expires_at_ms: r.u64()?,
            first_message: r.array()?,
            contact: ContactId(r.array()?),
        }),
        other => return Err(DecodeError::WrongRecordType { tree, tag: other }),
    };
    r.finish()?;
    Ok(record)
}

/// Length of a message key: contact id (32) || sequence number (8, big-endian so keys sort in
/// conversation order).
pub const MESSAGE_KEY_LEN: usize = 40;

/// Builds a message key.
pub fn message_key(contact: &ContactId, seq: u64) -> [u8; MESSAGE_KEY_LEN] {
    let mut k = [0u8; MESSAGE_KEY_LEN];
    let (a, b) = k.split_at_mut(32);
    a.copy_from_slice(&contact.0);
    b.copy_from_slice(&seq.to_be_bytes());
    k
}

/// Parses a message key read from disk.
pub fn parse_message_key(key: &[u8]) -> Result<(ContactId, u64), DecodeError> {
    let bad = DecodeError::BadKey {
        tree: TreeName::Messages,
        len: key.len(),
    };
    if key.len() != MESSAGE_KEY_LEN {
        return Err(bad);
    }
    let mut r = Reader::new(key);
    let contact = ContactId(r.array()?);
    let seq = r.u64()?;
    Ok((contact, seq))
}

mod group;
#[cfg(test)]
mod tests;
