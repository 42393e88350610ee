//! Memory and stored state stay bounded (docs/SIMULATION.md): after every input each
//! runtime is within its own caps ([`crate::node::Footprint`]), and once everything was
//! delivered nothing is left behind in any node's memory or outbox, nor in the relay's
//! mailbox past its retention.

use super::*;

/// Machine `i`'s runtime is within its own caps.
pub(super) fn within_caps(i: usize, node: &Runtime<SimShell>) -> Result<(), String> {
    match node.footprint().over_caps() {
        Some(over) => Err(format!("n{i} holds too much: {over}")),
        None => Ok(()),
    }
}

impl World {
    /// Once everything was delivered: no node keeps anything in memory for work that is
    /// done, no outbox record is left on any disk, and the relay keeps no mail past its
    /// retention.
    pub(super) fn check_nothing_left(&mut self) -> Result<(), String> {
        for (i, m) in self.machines.iter().enumerate() {
            if let Some(left) = m.node.as_ref().and_then(|n| n.footprint().left_behind()) {
                let detail: Vec<String> = self
                    .machines
                    .iter()
                    .enumerate()
                    .map(|(j, m)| {
                        format!(
                            "n{j}: {}",
                            m.node.as_ref().map(|n| n.left_detail()).unwrap_or_default()
                        )
                    })
                    .collect();
                let detail = detail.join(" || ");
                return Err(format!(
                    "n{i} keeps in memory after delivering everything: {left} [{detail}]"
                ));
            }
            let stored = m.disk.records(crate::store::TreeName::Outbox);
            if stored > 0 {
                return Err(format!(
                    "n{i} keeps {stored} outbox records after delivering everything"
                ));
            }
        }
        // Every node collected the mail it can: nothing is left under the tags its
        // sessions' keys open (a node that stopped fetching, or never acknowledged what it
        // read, would leave it for the retention sweep).
        for i in 0..self.machines.len() {
            let keys = self
                .machines
                .get(i)
                .and_then(|m| m.node.as_ref())
                .map(|n| n.collected_mailbox_keys())
                .unwrap_or_default();
            if let Some(relay) = self.relay.as_mut() {
                let held = relay.holds_for(&keys)?;
                if held > 0 {
                    return Err(format!(
                        "n{i} left {held} envelopes in its mailbox it could collect"
                    ));
                }
            }
        }
        // Mail nobody collects (a copy of a message that came directly, under a chain the
        // recipient has since retired) is kept until the retention ends, and not longer:
        // swept a day after that, the mailbox holds nothing and counts nothing.
        let later = START_CLOCK_MS
            + self.now
            + u64::try_from(crate::relay::DEFAULT_RETENTION.as_millis()).unwrap_or(u64::MAX)
            + 86_400_000;
        if let Some(relay) = self.relay.as_mut() {
            let (held, bytes) = relay.swept_at(later)?;
            if held > 0 || bytes > 0 {
                return Err(format!(
                    "the relay keeps {held} envelopes ({bytes} bytes counted) past their retention"
                ));
            }
        }
        Ok(())
    }
}
