//! Used invites: their keys are kept until the invite would have expired, so a second use
//! (someone else holding the code) raises `invite_used` and junk under the tag does not.

use super::*;

impl<S: Shell> Runtime<S> {
    /// The used invites whose keys are kept (to authenticate a second use), with expiry.
    pub(super) fn used_invite_index(&self) -> Vec<([u8; 16], u64)> {
        let bytes = self
            .profile
            .store
            .setting(USED_INVITE_INDEX)
            .ok()
            .flatten()
            .unwrap_or_default();
        bytes
            .chunks_exact(24)
            .filter_map(|c| {
                let tag = <[u8; 16]>::try_from(c.get(..16)?).ok()?;
                let exp = u64::from_be_bytes(c.get(16..)?.try_into().ok()?);
                Some((tag, exp))
            })
            .collect()
    }

    pub(super) fn store_used_invite_index(&self, index: &[([u8; 16], u64)]) {
        let bytes: Vec<u8> = index
            .iter()
            .flat_map(|(t, e)| t.iter().copied().chain(e.to_be_bytes()))
            .collect();
        if let Err(e) = self.profile.store.set_setting(USED_INVITE_INDEX, &bytes) {
            tracing::warn!(error = %e, "could not store the used-invite index");
        }
    }

    /// Keeps the keys of a just used invite until it would have expired, so that a second
    /// use can be told from junk under its tag (`handshake_for_used_invite`).
    pub(super) fn keep_used_invite_keys(&mut self, keys: &InviteKeys, expires_at_ms: u64) {
        let name = used_invite_setting(&keys.init_tag);
        if self
            .profile
            .store
            .set_setting(&name, &keys.to_bytes())
            .is_err()
        {
            return;
        }
        let mut index = self.used_invite_index();
        index.push((keys.init_tag, expires_at_ms));
        self.store_used_invite_index(&index);
    }

    /// Forgets the kept keys of used invites that have expired.
    pub(super) fn sweep_used_invite_keys(&mut self, now: u64) {
        let index = self.used_invite_index();
        if index.iter().all(|(_, e)| *e > now) {
            return;
        }
        let (live, gone): (Vec<_>, Vec<_>) = index.into_iter().partition(|(_, e)| *e > now);
        for (tag, _) in gone {
            let _ = self
                .profile
                .store
                .remove_setting(&used_invite_setting(&tag));
        }
        self.store_used_invite_index(&live);
    }

    /// A handshake message 1 for no pending invite: the invite may have been used. The same
    /// message again is its acceptor, who has not received our answer yet: send the answer
    /// we keep now rather than at its next scheduled resend. Any other is someone using the
    /// invite a second time: refused, with an event (there is no one to answer). Anything
    /// else is a stranger's and dropped without a reply.
    pub(super) fn handshake_for_used_invite(&mut self, env: &Envelope) -> Inbound {
        match self
            .profile
            .store
            .check_used_invite(&env.tag.0, &env.encode())
        {
            InviteError::Used {
                same_acceptor: Some(cid),
            } => {
                if let Some(id) = self.answers.get(&cid).copied() {
                    let now = self.now_ms();
                    if let Some(e) = self.outbox.get_mut(&id) {
                        e.next_attempt_at_ms = e.next_attempt_at_ms.min(now);
                    }
                    self.backoff.remove(&id);
                    self.process_outbox(now);
                }
                Inbound::Processed
            }
            InviteError::Used {
                same_acceptor: None,
            } => {
                // Raise the alarm only for a message 1 that authenticates under the
                // invite's keys (someone holds the invite code); anything else under the tag
                // is junk and gets no event.
                let keys = self
                    .profile
                    .store
                    .setting(&used_invite_setting(&env.tag.0))
                    .ok()
                    .flatten()
                    .and_then(|b| InviteKeys::from_bytes(&b).ok());
                let card = self.card();
                let authentic = keys.is_some_and(|k| {
                    handshake::respond(&self.profile.identity, &k, &card, env, &mut self.rng)
                        .is_ok()
                });
                if authentic {
                    self.emit(Event::error(
                        ErrorCode::InviteUsed,
                        "someone used an invite that was already used; it was refused",
                    ));
                }
                self.hostile("handshake for a used invite")
            }
            // The store could not tell: ask the sender to try again later.
            InviteError::Store(_) => Inbound::TryLater,
            _ => self.hostile("handshake for no pending invite"),
        }
    }
}

/// The setting listing used invites whose keys are kept (init tag, expiry; 24 bytes each).
const USED_INVITE_INDEX: &str = "used-invite-index";

/// The setting holding a used invite's keys until it would have expired.
fn used_invite_setting(init_tag: &[u8; 16]) -> String {
    format!("used-invite-keys/{}", hex(init_tag))
}
