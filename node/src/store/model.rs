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
}

/// Per-conversation state.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Conversation {
    /// Sequence number the next message gets.
    pub next_seq: u64,
    /// Disappearing-message timer: messages expire this long after they are stored.
    pub disappear_after_ms: Option<u64>,
    /// True once any message was stored with an expiry (the sweeper scans these).
    pub has_expiring: bool,
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
