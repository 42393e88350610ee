//! Moving a conversation to the newest session protocol (docs/PROTOCOL.md §3.1).
//!
//! Sessions made before protocol v2 stay protocol v1 and keep working with a contact on
//! an older build. Over such a session each side says once which protocol it speaks
//! (content kind 5, which an older build drops as unreadable); when both speak a newer
//! one, the side with the lower identity key starts a session reset under it, so the
//! conversation moves to the newer protocol with its history, alias and verification.

use super::*;

impl<S: Shell> Runtime<S> {
    /// Tells every contact whose session is older than [`cairn_crypto::Protocol::LATEST`]
    /// which protocol we speak, once per contact and protocol: at start, and after a new
    /// such session is first heard from (so both sides have it).
    pub(super) fn announce_protocol(&mut self) {
        let latest = cairn_crypto::Protocol::LATEST.as_u8();
        let Ok(plain) = Content::Protocol(latest).encode() else {
            return;
        };
        let due: Vec<ContactId> = self
            .contacts
            .values()
            .filter(|c| !self.blocked.contains(&c.id) && !self.announced.contains(&c.id))
            .filter(|c| {
                c.session
                    .as_ref()
                    .is_some_and(|s| s.protocol() < cairn_crypto::Protocol::LATEST)
            })
            .map(|c| c.id)
            .collect();
        for cid in due {
            let name = announced_setting(&cid);
            if self.profile.store.setting(&name).ok().flatten().as_deref() == Some(&[latest][..]) {
                self.announced.insert(cid);
                continue;
            }
            if self.send_control(&cid, &plain).is_some() {
                let _ = self.profile.store.set_setting(&name, &[latest]);
                self.announced.insert(cid);
            }
        }
    }

    /// A contact told us the newest protocol it speaks (`newest`), over the session
    /// `next` has moved on: stores both, and if the session is older than what both
    /// speak and our identity key is the lower one, starts the reset that upgrades it.
    pub(super) fn inbound_protocol(
        &mut self,
        cid: ContactId,
        next: Session,
        newest: u8,
    ) -> Inbound {
        let bytes = SecretBytes::from_slice(&next.to_bytes());
        let stored = self
            .profile
            .store
            .set_setting(&spoken_setting(&cid), &[newest])
            .and_then(|_| self.profile.store.put_session(&cid, &bytes));
        if stored.is_err() {
            return Inbound::TryLater;
        }
        let current = next.protocol();
        let Some(state) = self.contacts.get_mut(&cid) else {
            return Inbound::Dropped;
        };
        state.session = Some(next);
        let lower = state.contact.identity_key.as_slice().gt(self
            .profile
            .identity
            .public()
            .as_bytes()
            .as_slice());
        if self.reset_protocol(&cid) > current && lower && !self.resetting.contains(&cid) {
            tracing::info!("upgrading a session to a newer protocol");
            self.start_reset(cid);
        }
        Inbound::Processed
    }

    /// The protocol a reset with `cid` uses: the newest both speak, as far as we know
    /// (the current session's, or what the contact told us it speaks).
    pub(super) fn reset_protocol(&self, cid: &ContactId) -> cairn_crypto::Protocol {
        let current = self
            .contacts
            .get(cid)
            .and_then(|c| c.session.as_ref())
            .map_or(cairn_crypto::Protocol::V1, Session::protocol);
        let spoken = self
            .profile
            .store
            .setting(&spoken_setting(cid))
            .ok()
            .flatten()
            .and_then(|v| v.first().copied())
            .and_then(|p| {
                cairn_crypto::Protocol::from_u8(p.min(cairn_crypto::Protocol::LATEST.as_u8()))
            })
            .unwrap_or(cairn_crypto::Protocol::V1);
        current.max(spoken)
    }

    /// Forgets what was recorded about `cid`'s protocol (the contact was deleted).
    pub(super) fn forget_protocol(&mut self, cid: &ContactId) {
        let _ = self.profile.store.remove_setting(&spoken_setting(cid));
        let _ = self.profile.store.remove_setting(&announced_setting(cid));
    }
}

/// The setting holding the newest protocol `cid` told us it speaks.
fn spoken_setting(cid: &ContactId) -> String {
    format!("protocol-spoken/{}", hex(&cid.0))
}

/// The setting holding the protocol we last told `cid` we speak.
fn announced_setting(cid: &ContactId) -> String {
    format!("protocol-announced/{}", hex(&cid.0))
}
