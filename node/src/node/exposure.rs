//! The exposure report's facts, gathered from the runtime's settings and state
//! (`crate::exposure` computes the report from them).

use super::*;
use crate::exposure::{self, ContactFacts, Facts};

impl<S: Shell> Runtime<S> {
    /// What the report is computed from, as the node stands now.
    pub(crate) fn exposure_facts(&self) -> Facts {
        let store = &self.profile.store;
        let now = self.now_ms();
        let contacts = self
            .contacts
            .values()
            .filter(|c| !self.group_only.contains(&c.id))
            .map(|c| ContactFacts {
                alias: c.contact.alias.clone(),
                mailbox: c.contact.mailbox.clone(),
                timer_secs: store
                    .conversation(&c.id)
                    .ok()
                    .and_then(|conv| conv.disappear_after_ms)
                    .map(|ms| ms / 1000),
                messages: store.messages(&c.id).map_or(0, |l| l.items.len()),
            })
            .collect();
        let open: Vec<u64> = self
            .invites
            .values()
            .map(|(_, until)| *until)
            .filter(|until| *until > now)
            .collect();
        Facts {
            lan: self.config.lan,
            private_addresses: self.config.private_addresses,
            hidden: self.config.hidden.is_some(),
            relay: self.relay.as_ref().map(|(_, a)| a.to_string()),
            listening: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
            shared: addr_strings(&self.card().addrs),
            contacts,
            groups: self.groups.len(),
            group_strangers: self.group_only.len(),
            invites: open.len(),
            invites_left_secs: open.iter().max().map(|until| (until - now) / 1000),
            files: self.files.records.len(),
        }
    }

    pub(super) fn cmd_exposure(&self) {
        self.emit(Event::Exposure {
            parties: exposure::report(&self.exposure_facts()),
        });
    }
}
