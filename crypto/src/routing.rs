//! Rotating routing tags for ratchet messages.
//!
//! Each direction of a session has its own 32-byte tag key from the handshake. The
//! tag for a message sent at time `t` is
//! `HMAC-SHA256(tag_key, "cairn/v1 routing tag" | epoch_u64_be)[..16]` with
//! `epoch = t / ROUTING_EPOCH_SECS`. A relay sees one tag per direction per epoch: it
//! can link the messages of one epoch, not those of different epochs, and never
//! learns an identity. The recipient computes the tags of recent epochs to collect
//! its mail.

use crate::envelope::{RoutingTag, ROUTING_TAG_LEN};
use crate::kdf::{hmac, label};
use crate::secret::secret_key_type;

/// Length of one routing epoch, in seconds (6 hours). Shorter epochs link fewer
/// messages together but make an offline recipient ask its mailbox for more tags
/// (56 per contact for the 14-day default mailbox retention).
pub const ROUTING_EPOCH_SECS: u64 = 6 * 60 * 60;

secret_key_type!(
    /// Key for one direction's routing tags.
    TagKey
);

impl TagKey {
    /// The tag for Unix time `now`.
    pub fn tag_at(&self, now: u64) -> RoutingTag {
        self.tag_for_epoch(now / ROUTING_EPOCH_SECS)
    }

    /// The tag for an epoch number.
    pub fn tag_for_epoch(&self, epoch: u64) -> RoutingTag {
        let mac = hmac(self.expose(), &[label::ROUTING_TAG, &epoch.to_be_bytes()]);
        RoutingTag(crate::kdf::truncate::<ROUTING_TAG_LEN>(mac.as_ref()))
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
}
