//! The workload of the chaos phase: bursts of messages, group messages and session resets
//! (one side, or both at once), at random times.

use super::{Item, World};
use crate::api::Command;
use rand::Rng;

impl World {
    pub(super) fn workload(&mut self) -> Result<(), String> {
        if !self.chaos || self.sent >= self.config.messages {
            return Ok(());
        }
        let pairs: Vec<(usize, usize)> = self
            .established
            .iter()
            .copied()
            .filter(|(a, _)| self.up(*a))
            .collect();
        let pick = if pairs.is_empty() {
            None
        } else {
            pairs.get(self.rng.gen_range(0..pairs.len())).copied()
        };
        if self.config.groups && self.rng.gen_bool(0.4) && self.group_send()? {
            let t = self.now + self.rng.gen_range(50..=3_000);
            self.at(t, Item::Workload);
            return Ok(());
        }
        let reset = self.rng.gen_bool(self.config.resets.clamp(0.0, 1.0));
        if let (Some((from, to)), true) = (pick, reset) {
            self.reset(from, to)?;
            // Both sides at once: the contact's reset crosses ours. (No draw when the
            // configuration has none, so that other configurations replay as before.)
            let crossing = self.config.crossing_resets.clamp(0.0, 1.0);
            if crossing > 0.0 && self.up(to) && self.rng.gen_bool(crossing) {
                self.reset(to, from)?;
            }
        } else if let Some((from, to)) = pick {
            let burst = self
                .rng
                .gen_range(1..=6)
                .min(self.config.messages - self.sent);
            for _ in 0..burst {
                self.send(from, to, "m")?;
            }
        }
        let t = self.now + self.rng.gen_range(50..=3_000);
        self.at(t, Item::Workload);
        Ok(())
    }

    /// `from` resets its session with `to`.
    fn reset(&mut self, from: usize, to: usize) -> Result<(), String> {
        self.report.resets += 1;
        self.oracle.reset(from, to, self.now);
        self.note(format!("n{from} resets its session with n{to}"));
        self.input(from, |n| {
            n.command(Command::Reset {
                alias: format!("n{to}").into(),
                code: None,
            })
        })
    }
}
