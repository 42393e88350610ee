//! Verification marks through resets: after the setup, the first machine of each pair marks
//! the other verified and the second does not; at the end every machine lists its contacts
//! and the oracle checks that each mark is as it was set. A reset keeps "verified" (the
//! identity key is the one compared) and never sets it; only a re-key with a new identity key
//! drops it, and the simulated machines never change keys — so a reset reported as an
//! identity change, or a mark lost or gained, is a bug.

use super::World;
use crate::api::Command;

impl World {
    /// The first machine of each pair marks the second verified.
    pub(super) fn mark_verified(&mut self) -> Result<(), String> {
        for (a, b) in self.pairs() {
            let Some(alias) = self.machines.get(b).map(|m| m.name.clone()) else {
                continue;
            };
            self.input(a, |n| {
                n.command(Command::Verify {
                    alias: alias.into(),
                    confirm: true,
                })
            })?;
            self.oracle.mark_verified(a, b);
        }
        Ok(())
    }

    /// Every machine lists its contacts (the oracle checks the marks in the answer).
    pub(super) fn list_contacts(&mut self) -> Result<(), String> {
        for i in 0..self.machines.len() {
            self.input(i, |n| n.command(Command::Contacts))?;
        }
        self.oracle.contacts_listed(self.machines.len())
    }
}
