//! Who is who on the wire: the routing tags each contact's mail may arrive under, the
//! peers let past the connection limits (contacts and the node's relay), and idle
//! strangers.

use super::*;

impl<S: Shell> Runtime<S> {
    pub(super) fn refresh_tags(&mut self, force: bool) {
        let now = self.now_secs();
        let epoch = now / cairn_crypto::routing::ROUTING_EPOCH_SECS;
        if !force && epoch == self.tags_epoch {
            return;
        }
        if force {
            // The set of contacts may have changed: so may the tags they reset under, and
            // the peers that connection limits never refuse.
            self.refresh_reset_keys();
            self.refresh_bypass();
        }
        self.tags_epoch = epoch;
        self.tags.clear();
        self.tags_steps.clear();
        let ahead = now + TAGS_AHEAD_SECS;
        self.refresh_candidate_tags(ahead, MAILBOX_LOOKBACK_SECS + TAGS_AHEAD_SECS);
        for c in self.contacts.values() {
            if let Some(s) = &c.session {
                self.tags_steps.insert(c.id, s.receive_steps());
                for t in s.receive_tags(ahead, MAILBOX_LOOKBACK_SECS + TAGS_AHEAD_SECS) {
                    self.tags.insert(t, c.id);
                }
            }
        }
    }

    /// Contacts (not blocked) and the node's own relay bypass the connection limits: a
    /// flood of strangers never keeps them out.
    pub(super) fn refresh_bypass(&mut self) {
        let mut wanted: BTreeSet<PeerId> = self
            .contacts
            .values()
            .filter(|c| !self.blocked.contains(&c.id))
            .filter_map(|c| PeerId::from_bytes(&c.contact.peer_id).ok())
            .collect();
        if let Some((relay, _)) = &self.relay {
            wanted.insert(*relay);
        }
        // Hole punching and LAN discovery only with contacts (a stranger could make us
        // dial addresses of its choosing).
        let mut contacts = wanted.clone();
        if let Some((relay, _)) = &self.relay {
            contacts.remove(relay);
        }
        self.shell.set_contacts(contacts);
        for p in self.bypassed.difference(&wanted) {
            self.shell.bypass(*p, false);
        }
        for p in wanted.difference(&self.bypassed) {
            self.shell.bypass(*p, true);
        }
        self.bypassed = wanted;
    }

    /// Disconnects peers that are neither contacts nor our relay once they have been
    /// connected for [`NodeConfig::stranger_idle`] (a handshake with a newcomer takes a
    /// round trip; the newcomer is then a contact and stays).
    pub(super) fn drop_idle_strangers(&mut self, now: u64) {
        let limit = u64::try_from(self.config.stranger_idle.as_millis()).unwrap_or(u64::MAX);
        let bypassed = &self.bypassed;
        self.strangers.retain(|p, _| !bypassed.contains(p));
        let due: Vec<PeerId> = self
            .strangers
            .iter()
            .filter(|(_, since)| now.saturating_sub(**since) >= limit)
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            self.strangers.remove(&peer);
            tracing::debug!("closing an idle connection from a stranger");
            self.shell.disconnect(&peer);
        }
    }

    /// The contact `peer` is, if a session reset with it is under way or ended less than
    /// [`RESET_GRACE_MS`] ago.
    pub(super) fn resetting_contact_of(&self, peer: Option<PeerId>) -> Option<ContactId> {
        let peer = peer?.to_bytes();
        let now = self.now_ms();
        self.contacts
            .values()
            .find(|c| c.contact.peer_id == peer)
            .map(|c| c.id)
            .filter(|cid| {
                self.resetting.contains(cid)
                    || self.answers.contains_key(cid)
                    || self.candidates.contains_key(cid)
                    || self
                        .reset_at
                        .get(cid)
                        .is_some_and(|t| now < t.saturating_add(RESET_GRACE_MS))
            })
    }

    /// The contact whose session receives under `tag`. A protocol v2 session's tags move
    /// with its ratchet: on a miss, the index is rebuilt if any session has stepped
    /// since it was built (junk under random tags costs one comparison per contact).
    pub(super) fn contact_for_tag(&mut self, tag: &RoutingTag) -> Option<ContactId> {
        if let Some(cid) = self.tags.get(tag) {
            return Some(*cid);
        }
        let stale = self.contacts.values().any(|c| {
            c.session
                .as_ref()
                .is_some_and(|s| self.tags_steps.get(&c.id) != Some(&s.receive_steps()))
        });
        if !stale {
            return None;
        }
        self.tags_epoch = u64::MAX;
        self.refresh_tags(false);
        self.tags.get(tag).copied()
    }
}
