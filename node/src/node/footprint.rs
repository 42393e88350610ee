//! What a runtime holds in memory (feature `sim`): the simulator checks at every step that
//! it stays within the node's own caps, and at the end, once every message is delivered,
//! that nothing is left behind — an entry kept for a message that left the outbox, or for a
//! request that was answered, is memory that grows for as long as the node runs.

use super::{Runtime, Shell, MAX_DEFERRED, MAX_FETCH_REQUESTS, MAX_IN_FLIGHT};
use super::{MAX_BULK_REQUESTS_PER_CONTACT, MAX_MAILBOX_REQUESTS};

/// Entries a runtime holds, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Contacts (what the other caps scale with).
    pub contacts: usize,
    /// The outbox's mirror.
    pub outbox: usize,
    /// Requests waiting for their answer.
    pub requests: usize,
    /// Messages in a delivery request.
    pub in_flight: usize,
    /// Work waiting for a flush (and for the one running).
    pub deferred: usize,
    /// Entries kept per message besides the outbox (renewed, backoff, batch index, parked).
    pub per_message: usize,
    /// Stored-`Sent` marks waiting for the next tick.
    pub sent_marks: usize,
    /// Fetches queued and keys of the collection under way (the last collection's keys
    /// are kept until the next one: bounded, not counted once it is done).
    pub fetching: usize,
    /// Strangers kept as connected that are not (any more).
    pub gone_strangers: usize,
}

impl Footprint {
    /// What breaks the runtime's own caps, if anything.
    pub fn over_caps(&self) -> Option<String> {
        // Any contact may be one we send bulk chunks to (or was, with requests still out).
        let requests = self.contacts * (MAX_BULK_REQUESTS_PER_CONTACT + 2)
            + MAX_MAILBOX_REQUESTS
            + MAX_FETCH_REQUESTS;
        if self.requests > requests {
            return Some(format!(
                "{} requests in flight (cap {requests})",
                self.requests
            ));
        }
        if self.in_flight > MAX_IN_FLIGHT {
            return Some(format!("{} messages in flight", self.in_flight));
        }
        // A flush is started once MAX_DEFERRED wait; one input can add a batch's worth.
        if self.deferred > 2 * MAX_DEFERRED + MAX_IN_FLIGHT {
            return Some(format!("{} deferred", self.deferred));
        }
        if self.per_message > 4 * self.outbox {
            return Some(format!(
                "{} entries for {} outbox messages",
                self.per_message, self.outbox
            ));
        }
        None
    }

    /// What is left once everything was delivered and the node is idle, if anything.
    pub fn left_behind(&self) -> Option<String> {
        let left = [
            ("outbox", self.outbox),
            ("requests", self.requests),
            ("in flight", self.in_flight),
            ("deferred", self.deferred),
            ("per message", self.per_message),
            ("sent marks", self.sent_marks),
            ("fetching", self.fetching),
            ("strangers no longer connected", self.gone_strangers),
        ];
        let left: Vec<String> = left
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        (!left.is_empty()).then(|| left.join(", "))
    }
}

impl<S: Shell> Runtime<S> {
    /// The outbox entries and per-message marks left (for a violation's report).
    pub fn left_detail(&self) -> String {
        let mut out = Vec::new();
        for e in self.outbox.values() {
            let kind = match e.seq {
                crate::store::CONTROL_SEQ => "control".to_owned(),
                crate::store::FILE_SEQ => "file".to_owned(),
                n => format!("message {n}"),
            };
            let alias = self
                .contacts
                .get(&e.contact)
                .map(|c| c.contact.alias.clone())
                .unwrap_or_default();
            out.push(format!(
                "{kind} to {alias} attempts {} next {} renewed {} backoff {:?} refusals {:?} answer {} in_flight {}",
                e.attempts,
                e.next_attempt_at_ms,
                self.renewed.contains(&e.message_id),
                self.backoff.get(&e.message_id),
                self.refusals.get(&e.message_id),
                self.answers.get(&e.contact) == Some(&e.message_id),
                self.in_flight.contains(&e.message_id),
            ));
        }
        for c in self.contacts.values() {
            out.push(format!(
                "contact {}: resetting {} answer {} candidate {} reset_at {:?} session {}",
                c.contact.alias,
                self.resetting.contains(&c.id),
                self.answers.contains_key(&c.id),
                self.candidates.contains_key(&c.id),
                self.reset_at.get(&c.id),
                c.session.is_some()
            ));
        }
        out.push(format!(
            "renewed {} backoff {} refusals {} batch_of {} parked {}",
            self.renewed.len(),
            self.backoff.len(),
            self.refusals.len(),
            self.batch_of.len(),
            self.parked.values().map(Vec::len).sum::<usize>()
        ));
        out.join("; ")
    }

    /// What this runtime holds in memory.
    pub fn footprint(&self) -> Footprint {
        let collecting = self.collecting();
        Footprint {
            contacts: self.contacts.len(),
            outbox: self.outbox.len(),
            requests: self.pending.len(),
            in_flight: self.in_flight.len(),
            deferred: self.deferred.len()
                + self
                    .flushing
                    .as_ref()
                    .map_or(0, |(_, waiting)| waiting.len()),
            per_message: self.renewed.len()
                + self.backoff.len()
                + self.refusals.len()
                + self.batch_of.len()
                + self.parked.values().map(Vec::len).sum::<usize>(),
            sent_marks: self.sent_marks.len(),
            // The keys of the last collection stay until the next one replaces them.
            fetching: self.fetch_queue.len() + if collecting { self.fetch_keys.len() } else { 0 },
            gone_strangers: self
                .strangers
                .keys()
                .filter(|p| !self.shell.is_connected(p))
                .count(),
        }
    }
}
