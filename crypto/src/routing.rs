//! Rotating routing tags and the mailbox keys behind them.
//!
//! Each direction of a session has its own 32-byte tag key from the handshake. For an
//! epoch `e = t / ROUTING_EPOCH_SECS` (6 hours):
//!
//! ```text
//! mailbox_key(e) = HMAC-SHA256(tag_key, "cairn/v1 mailbox key" | e as u64 big-endian)
//! routing_tag(e) = SHA-256("cairn/v1 routing tag" | mailbox_key(e))[..16]
//! ```
//!
//! Envelopes carry the routing tag. A mailbox stores envelopes under their tag and
//! hands them out (and deletes them) only to whoever presents the mailbox key, whose
//! hash is the tag: the recipient (and the sender, who already has the messages).
//! A relay or anyone who saw a tag cannot fetch or delete that mail.
//!
//! A relay sees one tag per direction per epoch: it can link the messages of one
//! epoch, not those of different epochs, and never learns an identity.

use crate::envelope::{RoutingTag, ROUTING_TAG_LEN};
use crate::kdf::{hmac, label, truncate};
use crate::secret::secret_key_type;
use sha2::{Digest, Sha256};

/// Length of one routing epoch, in seconds (6 hours). Shorter epochs link fewer
/// messages together but make an offline recipient ask its mailbox for more tags
/// (57 per contact for the 14-day default mailbox retention).
pub const ROUTING_EPOCH_SECS: u64 = 6 * 60 * 60;

secret_key_type!(
    /// Key for one direction's routing tags.
    TagKey
);

secret_key_type!(
    /// The key that opens one mailbox slot: its hash is the routing tag.
    MailboxKey
);

impl MailboxKey {
    /// Wraps 32 bytes received in a mailbox request.
    pub fn from_array(bytes: [u8; 32]) -> Self {
        Self::from_bytes(bytes)
    }

    /// The 32 bytes, for a mailbox request.
    pub fn to_array(&self) -> [u8; 32] {
        *self.expose()
    }

    /// The routing tag this key opens.
    pub fn tag(&self) -> RoutingTag {
        let mut h = Sha256::new();
        h.update(label::ROUTING_TAG);
        h.update(self.expose());
        RoutingTag(truncate::<ROUTING_TAG_LEN>(&h.finalize()))
    }
}

impl TagKey {
    /// The tag for Unix time `now`.
    pub fn tag_at(&self, now: u64) -> RoutingTag {
        self.mailbox_key(now / ROUTING_EPOCH_SECS).tag()
    }

    /// The tag for an epoch number.
    pub fn tag_for_epoch(&self, epoch: u64) -> RoutingTag {
        self.mailbox_key(epoch).tag()
    }

    /// The mailbox key for an epoch number.
    pub fn mailbox_key(&self, epoch: u64) -> MailboxKey {
        let mac = hmac(self.expose(), &[label::MAILBOX_KEY, &epoch.to_be_bytes()]);
        MailboxKey::from_bytes(*mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches tags that do not rotate, or that differ within one epoch.
    #[test]
    fn rotates_per_epoch() {
        let k = TagKey::from_bytes([5; 32]);
        assert_eq!(k.tag_at(0), k.tag_at(ROUTING_EPOCH_SECS - 1));
        assert_ne!(k.tag_at(0), k.tag_at(ROUTING_EPOCH_SECS));
        assert_ne!(k.tag_at(0), TagKey::from_bytes([6; 32]).tag_at(0));
    }

    /// Catches a tag that is not bound to its mailbox key.
    #[test]
    fn tag_is_hash_of_mailbox_key() {
        let k = TagKey::from_bytes([5; 32]);
        let mk = k.mailbox_key(7);
        assert_eq!(mk.tag(), k.tag_for_epoch(7));
        assert_eq!(MailboxKey::from_array(mk.to_array()).tag(), mk.tag());
        assert_ne!(mk.tag().0[..], mk.to_array()[..16]);
    }
}
