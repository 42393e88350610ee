//! The invariants a simulation checks at every step and at the end.

use crate::api::{Event, MessageId};
use std::collections::{BTreeMap, BTreeSet};

/// A message the workload asked a node to send.
#[derive(Debug, Clone)]
struct Sent {
    from: usize,
    to: usize,
    /// Its id, once the sender reported it `queued` (stored durably).
    id: Option<MessageId>,
    /// When the recipient showed it (simulated ms).
    shown_at: Option<u64>,
    /// How many times the recipient had crashed when it showed it: a report repeated
    /// after a later crash is allowed (at-least-once, `store::Report`), one without
    /// a crash in between is a message shown twice.
    shown_crashes: u32,
    delivered: bool,
    /// The sender crashed after being asked and before it reported the message queued:
    /// the message may have become durable all the same (the store's flush finished, its
    /// completion never handled), and is then sent after the restart and shown without
    /// ever having been reported queued.
    unreported: bool,
}

/// What the oracle knows.
#[derive(Debug, Default)]
pub(crate) struct Oracle {
    names: Vec<String>,
    sent: BTreeMap<String, Sent>,
    by_id: BTreeMap<MessageId, String>,
    /// Resets the workload asked for: (from, to, when).
    resets: Vec<(usize, usize, u64)>,
    /// Resets each machine reported: (machine, contact's name, when).
    reported: Vec<(usize, String, u64)>,
    /// (machine, contact) pairs the machine marked verified (sim/verify.rs).
    verified: BTreeSet<(usize, usize)>,
    /// Machines whose contact list was checked.
    listed: BTreeSet<usize>,
    /// The contacts each machine announced (`contact_added`).
    announced: BTreeMap<usize, BTreeSet<String>>,
    /// How many times each machine crashed.
    crashes: BTreeMap<usize, u32>,
    /// Forwards asked for: the ref each carries → the text it forwards (its key in `sent`).
    forwards: BTreeMap<String, String>,
}

impl Oracle {
    pub(crate) fn new(names: Vec<String>) -> Self {
        Self {
            names,
            ..Self::default()
        }
    }

    /// The workload asks `from` to send `text` to `to`.
    pub(crate) fn send(&mut self, text: &str, from: usize, to: usize) {
        self.sent.insert(
            text.to_owned(),
            Sent {
                from,
                to,
                id: None,
                shown_at: None,
                shown_crashes: 0,
                delivered: false,
                unreported: false,
            },
        );
    }

    /// A script asks `from` to forward a message it received, `text`, to `to`: expected
    /// shown to `to` as `from`'s own, like a text `from` sent. The ref the forward carries
    /// (a group's text cannot be its own ref: the group oracle would take it).
    pub(crate) fn forward(&mut self, text: &str, from: usize, to: usize) -> String {
        self.send(text, from, to);
        let r = format!("forward {}", self.forwards.len());
        self.forwards.insert(r.clone(), text.to_owned());
        r
    }

    /// Machine `i` crashed: what it was asked to send and had not reported queued may
    /// or may not have been stored.
    pub(crate) fn crashed(&mut self, i: usize) {
        *self.crashes.entry(i).or_default() += 1;
        for m in self.sent.values_mut() {
            if m.from == i && m.id.is_none() {
                m.unreported = true;
            }
        }
    }

    /// The workload asks `from` to reset its session with `to` at `now`.
    pub(crate) fn reset(&mut self, from: usize, to: usize, now: u64) {
        self.resets.push((from, to, now));
    }

    /// Checks one event of machine `at`.
    pub(crate) fn observe(&mut self, at: usize, ev: &Event, now: u64) -> Result<(), String> {
        if let Event::SessionReset {
            alias,
            protocol,
            identity_changed,
        } = ev
        {
            // No simulated machine changes its identity key, and all speak the latest
            // protocol: a reset that says otherwise took a wrong road (a re-key's).
            if *identity_changed || *protocol != cairn_crypto::Protocol::LATEST.as_u8() {
                return Err(format!(
                    "{} reported a reset with {alias} as protocol {protocol}, identity changed: {identity_changed}",
                    self.name(at)
                ));
            }
            self.reported.push((at, alias.to_string(), now));
        }
        if let Event::ContactAdded { alias } = ev {
            self.announced
                .entry(at)
                .or_default()
                .insert(alias.to_string());
        }
        if let Event::Contacts { contacts } = ev {
            // The list a front end asks for and the contacts it was told of agree: no
            // contact it was never told of, none announced that is not there (a group-only
            // peer is neither).
            let listed: BTreeSet<String> = contacts.iter().map(|c| c.alias.to_string()).collect();
            let announced = self.announced.get(&at).cloned().unwrap_or_default();
            if listed != announced {
                return Err(format!(
                    "{} lists contacts {listed:?} but announced {announced:?}",
                    self.name(at)
                ));
            }
            for c in contacts {
                let Some(j) = self.names.iter().position(|n| *n == c.alias) else {
                    continue;
                };
                if c.verified != self.verified.contains(&(at, j)) {
                    return Err(format!(
                        "{} lists {} as verified: {} (it was marked: {})",
                        self.name(at),
                        c.alias,
                        c.verified,
                        !c.verified
                    ));
                }
            }
            self.listed.insert(at);
        }
        match ev {
            Event::Queued {
                id,
                client_ref: Some(text),
            } if !text.starts_with(super::groups::GROUP_PREFIX) => {
                // A forward's ref names the text it forwards.
                let text =
                    (self.forwards.get(text.as_str()).cloned()).unwrap_or_else(|| text.to_string());
                let Some(m) = self.sent.get_mut(text.as_str()) else {
                    return Err(format!(
                        "{} queued a message never asked for",
                        self.name(at)
                    ));
                };
                if m.from != at {
                    return Err(format!("{} queued another node's message", self.name(at)));
                }
                m.id = Some(id.clone());
                self.by_id.insert(id.clone(), text);
            }
            Event::Message { from, id, text, .. } => {
                let names = self.names.clone();
                let name = |i: usize| names.get(i).cloned().unwrap_or_default();
                let Some(m) = self.sent.get_mut(text.as_str()) else {
                    return Err(format!(
                        "{} showed a message nobody sent (altered?): {text:?}",
                        self.names.get(at).cloned().unwrap_or_default()
                    ));
                };
                let (sender, recipient) = (m.from, m.to);
                if recipient != at {
                    return Err(format!("{text:?} shown to {} instead", name(at)));
                }
                if *from != name(sender) {
                    return Err(format!("{text:?} shown as from {from}"));
                }
                if m.id.as_ref().is_some_and(|i| i != id) {
                    return Err(format!("{text:?} shown under another id"));
                }
                let crashes = self.crashes.get(&at).copied().unwrap_or(0);
                if m.shown_at.is_some() {
                    if crashes > m.shown_crashes {
                        // Shown again after a crash: its report was not marked made.
                        m.shown_crashes = crashes;
                        return Ok(());
                    }
                    return Err(format!("{text:?} shown twice"));
                }
                // Sent only once durable, and reported queued at that moment: shown
                // without that report only if the sender crashed in between.
                if m.id.is_none() && !m.unreported {
                    return Err(format!(
                        "{text:?} shown before its sender reported it queued"
                    ));
                }
                m.shown_at = Some(now);
                m.shown_crashes = crashes;
            }
            Event::Delivered { id } => {
                // Receipts for messages of the workload only (control messages have none).
                if let Some(text) = self.by_id.get(id) {
                    let Some(m) = self.sent.get_mut(text.as_str()) else {
                        return Err("delivered an unknown message".into());
                    };
                    if m.from != at {
                        return Err(format!(
                            "{} told delivered of another's message",
                            self.name(at)
                        ));
                    }
                    if m.shown_at.is_none() {
                        return Err(format!("{text:?} reported delivered before it was shown"));
                    }
                    m.delivered = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// At the end, once the network healed: every queued message shown exactly once and
    /// reported delivered, and every reset asked for carried out: both sides reported a
    /// session reset with each other after it was asked for (the one that went on, if two
    /// crossed).
    pub(crate) fn check_end(&self) -> Result<(), String> {
        for (from, to, at) in &self.resets {
            // A request made while the requester's reset was pending is that same reset
            // (`cmd_reset` sends it again): the contact may have answered it before this
            // request, but not before the first request since the requester last reported
            // a reset with it.
            let (from_name, to_name) = (self.name(*from), self.name(*to));
            let last = self
                .reported
                .iter()
                .filter(|(m, alias, t)| *m == *from && *alias == to_name && t < at)
                .map(|(_, _, t)| *t)
                .max();
            let first = self
                .resets
                .iter()
                .filter(|(f, o, t)| f == from && o == to && last.is_none_or(|l| *t > l))
                .map(|(_, _, t)| *t)
                .min()
                .unwrap_or(*at);
            for (side, other, since) in [(*from, &to_name, *at), (*to, &from_name, first)] {
                if !self
                    .reported
                    .iter()
                    .any(|(m, alias, t)| *m == side && alias == other && *t >= since)
                {
                    return Err(format!(
                        "{} asked at {at} ms to reset with {}: {} never reported it",
                        self.name(*from),
                        self.name(*to),
                        self.name(side)
                    ));
                }
            }
        }
        for (text, m) in &self.sent {
            if m.id.is_some() && m.shown_at.is_none() {
                return Err(format!("{text:?} was queued but never shown"));
            }
            if m.id.is_some() && !m.delivered {
                return Err(format!("{text:?} was shown but never reported delivered"));
            }
        }
        Ok(())
    }

    /// `at` marked `contact` verified.
    pub(crate) fn mark_verified(&mut self, at: usize, contact: usize) {
        self.verified.insert((at, contact));
    }

    /// Every one of `machines` answered with its contact list (checked as it came).
    pub(crate) fn contacts_listed(&self, machines: usize) -> Result<(), String> {
        match (0..machines).find(|i| !self.listed.contains(i)) {
            Some(i) => Err(format!("{} did not list its contacts", self.name(i))),
            None => Ok(()),
        }
    }

    /// Messages queued, shown, and shown though their sender crashed before reporting
    /// them queued.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        let queued = self.sent.values().filter(|m| m.id.is_some()).count();
        let shown = self.sent.values().filter(|m| m.shown_at.is_some()).count();
        let unreported = self
            .sent
            .values()
            .filter(|m| m.id.is_none() && m.shown_at.is_some())
            .count();
        (queued, shown, unreported)
    }

    fn name(&self, i: usize) -> String {
        self.names.get(i).cloned().unwrap_or_default()
    }
}
