//! The records a profile holds. All timestamps are Unix milliseconds supplied by the caller
//! (the store reads no clock).

use std::fmt;

use super::secret::SecretBytes;

/// A contact's id in the store: a keyed hash of its identity public key, so it reveals nothing
/// on disk. Stable for the life of the profile.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContactId(pub [u8; 32]);

impl fmt::Debug for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContactId(")?;
        for b in self.0.iter().take(4) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// A message id (random, carried inside the end-to-end ciphertext).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct MessageId(pub [u8; 16]);

/// A contact. Stored sealed under a blinded key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Contact {
    /// The local name the user gave this contact.
    pub alias: String,
    /// The contact's identity public key (serialised by cairn-crypto).
    pub identity_key: Vec<u8>,
    /// The contact's libp2p PeerId, as bytes.
    pub peer_id: Vec<u8>,
    /// Known network addresses (multiaddrs as text).
    pub addresses: Vec<String>,
    /// Mailbox (relay) the contact receives through, if any.
    pub mailbox: Option<String>,
    /// True once the user compared safety numbers.
    pub verified: bool,
    /// The safety number shown for verification.
    pub safety_number: String,
    /// When the contact was added.
    pub added_at_ms: u64,
}

/// Which way a message went.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    /// From the contact to us.
    Incoming,
    /// From us to the contact.
    Outgoing,
}

/// Delivery state of a message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeliveryState {
    /// Outgoing, waiting in the outbox.
    Queued,
    /// Outgoing, handed to the peer or a mailbox at least once; no receipt yet.
    Sent,
    /// Outgoing, end-to-end receipt received.
    Delivered,
    /// Outgoing, delivery given up.
    Failed,
    /// Incoming, received.
    Received,
}

/// A message to store.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewMessage {
    /// Message id.
    pub id: MessageId,
    /// Direction.
    pub direction: Direction,
    /// Plain text.
    pub text: String,
    /// When it was written (outgoing) or sent by the peer (incoming).
    pub created_at_ms: u64,
    /// When it was received (incoming only).
    pub received_at_ms: Option<u64>,
    /// Initial delivery state.
    pub state: DeliveryState,
    /// How it belongs to a group, if it does.
    pub group: Option<GroupPart>,
}

/// A stored message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredMessage {
    /// Conversation (contact).
    pub contact: ContactId,
    /// Position in the conversation.
    pub seq: u64,
    /// Message id.
    pub id: MessageId,
    /// Direction.
    pub direction: Direction,
    /// Plain text.
    pub text: String,
    /// Written / sent-by-peer time.
    pub created_at_ms: u64,
    /// Received time (incoming).
    pub received_at_ms: Option<u64>,
    /// Last time it was handed to the network (outgoing).
    pub sent_at_ms: Option<u64>,
    /// When the delivery receipt arrived (outgoing).
    pub delivered_at_ms: Option<u64>,
    /// Delivery state.
    pub state: DeliveryState,
    /// When the disappearing-message sweeper removes it, if the conversation had a timer.
    pub expires_at_ms: Option<u64>,
    /// How it belongs to a group, if it does.
    pub group: Option<GroupPart>,
}

/// How a message record belongs to a group (docs/PROTOCOL.md §24).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum GroupPart {
    /// A message of a group's conversation, kept under the group's conversation id
    /// ([`super::Store::group_conversation`]).
    Message {
        /// Its stamp's Lamport clock.
        clock: u64,
        /// Its author's identity key (its stamp's author).
        author: [u8; 32],
        /// For an outgoing message: the copy sent to each member (at most
        /// [`MAX_GROUP_COPIES`]).
        copies: Vec<GroupCopy>,
    },
    /// One member's copy of a group's message or membership change, in that member's 1:1
    /// conversation, where it is not shown: it is delivered (and encrypted again after a
    /// renewal or a session reset) like any message of the conversation.
    Copy {
        /// The encoded content (`crate::content::Content::Group`) it carries.
        content: Vec<u8>,
        /// The group conversation's message it carries (conversation, sequence number), if
        /// it carries one (a membership change does not).
        origin: Option<(ContactId, u64)>,
    },
}

/// Where one member's copy of an outgoing group message is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GroupCopy {
    /// The member's conversation.
    pub contact: ContactId,
    /// The copy's sequence number there.
    pub seq: u64,
    /// The copy's id (what the member's receipt names).
    pub id: MessageId,
}

/// Most copies one group message lists (one per member other than its author).
pub const MAX_GROUP_COPIES: usize = 128;

/// A group as the store keeps it: its id and its membership log (opaque to the store; the
/// ops as `crate::group` encodes them).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GroupRecord {
    /// The group's id.
    pub id: [u8; 16],
    /// The highest Lamport clock this member has seen or used in the group (its next
    /// message or change is stamped one more).
    pub clock: u64,
    /// Its membership log, encoded.
    pub log: Vec<u8>,
}

/// A file's transfer as the store keeps it: its id and its record, opaque to the store
/// (`crate::files::record` encodes it; it holds the file's key, so it is secret).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredFile {
    /// The file's id.
    pub id: [u8; 16],
    /// The encoded record.
    pub body: SecretBytes,
}

/// Per-conversation state.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Conversation {
    /// Sequence number the next message gets.
    pub next_seq: u64,
    /// Disappearing-message timer: messages expire this long after they are stored.
    pub disappear_after_ms: Option<u64>,
    /// True once any message was stored with an expiry (the sweeper scans these).
    pub has_expiring: bool,
    /// Sequence numbers of outgoing messages whose receipt came, as sorted, disjoint,
    /// non-adjacent half-open ranges `[start, end)`, at most [`MAX_DELIVERED_RANGES`]. Such a
    /// message reads as `Delivered` whatever its own record says: a receipt then costs one
    /// small write per conversation instead of rewriting every message it confirms.
    pub delivered: Vec<(u64, u64)>,
}

/// Most delivered ranges a conversation keeps; a receipt that would need more marks its
/// messages in their own records instead.
pub const MAX_DELIVERED_RANGES: usize = 1024;

impl Conversation {
    /// True if message `seq`'s receipt is recorded in [`Conversation::delivered`].
    pub fn is_delivered(&self, seq: u64) -> bool {
        let i = self.delivered.partition_point(|&(start, _)| start <= seq);
        i > 0 && self.delivered.get(i - 1).is_some_and(|&(_, end)| seq < end)
    }

    /// Records message `seq` as delivered. False (and nothing changed) if that would take
    /// more than [`MAX_DELIVERED_RANGES`] ranges.
    pub fn mark_delivered(&mut self, seq: u64) -> bool {
        if self.is_delivered(seq) {
            return true;
        }
        let Some(after) = seq.checked_add(1) else {
            return false;
        };
        let i = self.delivered.partition_point(|&(start, _)| start <= seq);
        let joins_before = i > 0 && self.delivered.get(i - 1).is_some_and(|r| r.1 == seq);
        let joins_after = self.delivered.get(i).is_some_and(|r| r.0 == after);
        match (joins_before, joins_after) {
            (true, true) => {
                let end = self.delivered.get(i).map_or(after, |r| r.1);
                if let Some(r) = self.delivered.get_mut(i - 1) {
                    r.1 = end;
                }
                self.delivered.remove(i);
            }
            (true, false) => {
                if let Some(r) = self.delivered.get_mut(i - 1) {
                    r.1 = after;
                }
            }
            (false, true) => {
                if let Some(r) = self.delivered.get_mut(i) {
                    r.0 = seq;
                }
            }
            (false, false) => {
                if self.delivered.len() >= MAX_DELIVERED_RANGES {
                    return false;
                }
                self.delivered.insert(i, (seq, after));
            }
        }
        true
    }
}

/// An envelope waiting for delivery.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutboxEntry {
    /// The message it carries.
    pub message_id: MessageId,
    /// Recipient.
    pub contact: ContactId,
    /// The message's position in the conversation.
    pub seq: u64,
    /// The padded, encrypted envelope to send (opaque).
    pub envelope: Vec<u8>,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Earliest time for the next attempt.
    pub next_attempt_at_ms: u64,
    /// When it was queued.
    pub created_at_ms: u64,
}

/// An envelope to queue with an outgoing message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewOutbox {
    /// The padded, encrypted envelope (opaque).
    pub envelope: Vec<u8>,
    /// Earliest time for the first attempt.
    pub next_attempt_at_ms: u64,
}

/// An event the node owes its front end for something a write stored: kept in that same
/// write and removed once reported, so a crash between the write becoming durable and the
/// report (which waits for the flush's completion) repeats the report at the next start
/// instead of losing it (at-least-once; a front end deduplicates by message id).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Report {
    /// A received message (`message` event), where it was stored.
    Message {
        /// Its conversation.
        contact: ContactId,
        /// Its sequence number.
        seq: u64,
    },
    /// An own message a receipt confirmed (`delivered` event).
    Delivered(MessageId),
    /// A message received in a group (`group_message` event), where it was stored in the
    /// group's conversation.
    GroupMessage {
        /// The group's id.
        group: [u8; 16],
        /// Its sequence number in the group's conversation.
        seq: u64,
    },
}

/// Most reports in one record ([`Report`]); a write with more stores several records.
pub const MAX_REPORTS: usize = 512;

/// A received message id kept for deduplication.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DedupEntry {
    /// When it was first received.
    pub received_at_ms: u64,
    /// Where it was stored.
    pub contact: ContactId,
    /// Its sequence number.
    pub seq: u64,
}

/// A pending invite. Stored under a keyed hash of its secret; single use.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Invite {
    /// When it was issued.
    pub created_at_ms: u64,
    /// After this it can no longer be used.
    pub expires_at_ms: u64,
    /// Material the node needs to complete the handshake (e.g. the PSK), opaque.
    pub payload: SecretBytes,
}

/// An invite that was used: kept in its place until it would have expired, so that its next
/// use is recognised (and refused with a clear event) rather than taken for a stranger's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UsedInvite {
    /// When the invite would have expired; the record goes then.
    pub expires_at_ms: u64,
    /// Keyed hash of the handshake message that used it: the same message again is its
    /// acceptor retransmitting, anything else someone else using the invite.
    pub first_message: [u8; 32],
    /// The contact it made.
    pub contact: ContactId,
}

/// The profile marker record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Meta {
    /// Store format version.
    pub format: u32,
}

/// What one call to [`super::Store::sweep`] removed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SweepReport {
    /// Expired disappearing messages removed.
    pub messages_removed: usize,
    /// Expired invites removed.
    pub invites_removed: usize,
    /// Dedup ids older than the retention limit removed.
    pub dedup_removed: usize,
    /// Records that could not be read during the sweep (see `Store::check`).
    pub damaged: usize,
}

/// Outcome of storing an incoming message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Incoming {
    /// New message, stored at this sequence number.
    Stored {
        /// Sequence number.
        seq: u64,
    },
    /// Already received (same message id); the session state was still saved.
    Duplicate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Catches delivered ranges that lose or invent a sequence number, or stop being
        /// sorted, disjoint and non-adjacent (what the decoder requires), for any order of
        /// receipts.
        #[test]
        fn delivered_ranges_match_a_set(seqs in proptest::collection::vec(0u64..200, 0..300)) {
            let mut c = Conversation::default();
            let mut set = std::collections::BTreeSet::new();
            for s in seqs {
                prop_assert!(c.mark_delivered(s));
                set.insert(s);
                for w in c.delivered.windows(2) {
                    prop_assert!(w[0].0 < w[0].1 && w[0].1 < w[1].0, "{:?}", c.delivered);
                }
            }
            for s in 0..201 {
                prop_assert_eq!(c.is_delivered(s), set.contains(&s), "seq {}", s);
            }
        }
    }

    /// Catches a conversation that grows past its range limit instead of refusing.
    #[test]
    fn delivered_ranges_are_bounded() {
        let mut c = Conversation::default();
        for i in 0..MAX_DELIVERED_RANGES as u64 {
            assert!(c.mark_delivered(2 * i));
        }
        let full = c.clone();
        assert!(!c.mark_delivered(u64::MAX - 5));
        assert_eq!(c, full, "a refused mark changes nothing");
        // Filling a hole merges two ranges and is still accepted.
        assert!(c.mark_delivered(1));
        assert_eq!(c.delivered.len(), MAX_DELIVERED_RANGES - 1);
        assert!(
            !c.mark_delivered(u64::MAX),
            "the last sequence number has no end"
        );
    }
}
