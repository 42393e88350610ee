//! What members send: group contents as they arrive, and receipts for our copies.

use super::*;

impl<S: Shell> Runtime<S> {
    /// A receipt confirmed the outbox entry `id`: a group copy reports its message's
    /// delivery to k of n (a copy of a membership change, nothing). Returns false if `id`
    /// is not a group copy.
    /// Reports again a group message stored before a crash (`store::Report`), if it is
    /// still in the group's conversation.
    pub(in crate::node) fn repeat_group_message(&mut self, gid: GroupId, seq: u64) {
        let conv = self.profile.store.group_conversation(&gid.0);
        let Ok(Some(m)) = self.profile.store.message(&conv, seq) else {
            return;
        };
        if let Some(GroupPart::Message { author, .. }) = m.group {
            self.emit(Event::GroupMessage {
                group: group_ref(&gid),
                from: self.member_name(&MemberKey(author)),
                id: api::MessageId::of(&m.id),
                text: m.text,
                sent_at: m.created_at_ms,
            });
        }
    }

    pub(in crate::node) fn group_copy_delivered(&mut self, id: &MessageId) -> bool {
        let Some(c) = self.copy_of.remove(id) else {
            return false;
        };
        let Some((mid, seq)) = c.message else {
            return true;
        };
        // Counted in memory: reading every copy's state at each receipt would cost the
        // sender n reads per receipt, n² per message. After a restart the count starts
        // from the store (which already holds this receipt).
        let reach = match self.reach.get_mut(&mid) {
            Some(r) => {
                r.0 = (r.0 + 1).min(r.1);
                Some(*r)
            }
            None => {
                let store = &self.profile.store;
                let conv = store.group_conversation(&c.group.0);
                match store.message(&conv, seq) {
                    Ok(Some(m)) => match m.group {
                        Some(GroupPart::Message { copies, .. }) => {
                            let r = (store.copies_delivered(&copies).unwrap_or(0), copies.len());
                            self.reach.insert(mid, r);
                            Some(r)
                        }
                        _ => None,
                    },
                    _ => None,
                }
            }
        };
        if let Some((delivered, of)) = reach {
            if delivered >= of {
                self.reach.remove(&mid);
            }
            self.deferred.push(Deferred::Emit(Event::GroupDelivered {
                group: group_ref(&c.group),
                id: api::MessageId::of(&mid),
                delivered,
                of,
            }));
        }
        true
    }

    /// Whether an outbox entry is a group copy (its `sent` is not reported: the client knows
    /// the group message, not its copies).
    pub(in crate::node) fn is_group_copy(&self, id: &MessageId) -> bool {
        self.copy_of.contains_key(id) || self.copies_sent.contains_key(id)
    }

    /// A group content from contact `cid`, decrypted into `next`. Ops are taken from their
    /// author; ops by others only as a welcome (from the member that adds us, with its `Add`
    /// of us in the same part). A text is shown if its author was a member just before its
    /// stamp. Content that may become readable (a group whose welcome has not arrived, a
    /// text whose author's addition has not) is left unacknowledged for its sender to send
    /// again; the rest is stored with its receipt in one transaction.
    pub(in crate::node) fn inbound_group(
        &mut self,
        cid: ContactId,
        next: Session,
        copy: [u8; 16],
        gid: GroupId,
        body: GroupBody,
    ) -> Inbound {
        let Some(sender) = self.member_of_contact(&cid) else {
            return Inbound::Dropped;
        };
        let me = self.me();
        let now = self.now_ms();
        let known = self.groups.get(&gid).cloned();
        let was_known = known.is_some();
        let mut log = known.unwrap_or_default();
        let mut applied: Vec<Op> = Vec::new();
        let mut message = None;
        // A text is kept either way; shown only if its author was a member (Held: the
        // change that added it may be on its way, and it is shown once that arrives).
        let mut shown = false;
        let before_log = log.clone();
        match &body {
            GroupBody::Ops(ops) => {
                let adds_us = ops
                    .iter()
                    .any(|o| o.stamp.author == sender && o.change == Change::Add(me));
                if !was_known && !adds_us {
                    // Changes to a group we have not been welcomed into yet: its welcome
                    // is on the way (or this is not for us to read): not yet.
                    return Inbound::Kept;
                }
                // A welcome's history ends with its Add of us: it sets how far its clocks go.
                let seen = ops
                    .iter()
                    .filter(|o| adds_us && o.change == Change::Add(me))
                    .map(|o| o.stamp.clock)
                    .fold(log.clock(), u64::max);
                for op in ops {
                    if op.stamp.author != sender && !adds_us {
                        tracing::info!("a group change relayed outside a welcome ignored");
                        continue;
                    }
                    if !crate::group::plausible_clock(seen, op.stamp.clock) {
                        tracing::info!("a group change stamped far ahead ignored");
                        continue;
                    }
                    if let Ok(Inserted::New) = log.insert(op.clone()) {
                        applied.push(op.clone());
                    }
                }
            }
            GroupBody::Text {
                clock,
                id,
                sent_at_ms,
                text,
            } => {
                if !was_known {
                    return Inbound::Kept;
                }
                if !crate::group::plausible_clock(log.clock(), *clock) {
                    // Refused: shown or observed, it would use up the group's clock.
                    return self.hostile("a group message stamped far ahead");
                }
                let stamp = Stamp {
                    clock: *clock,
                    author: sender,
                };
                let seen = visibility(&log, stamp, &me);
                if seen == Visibility::NotForUs {
                    // Not for us as our log stands: a removal of ours its sender has not
                    // heard of (it stops sending once it has), or a return of ours whose
                    // welcome has not arrived. Not acknowledged: it may become readable.
                    return Inbound::Kept;
                }
                shown = seen == Visibility::Shown;
                {
                    log.observe(*clock);
                    message = Some(NewMessage {
                        id: MessageId(*id),
                        direction: Direction::Incoming,
                        text: text.clone(),
                        created_at_ms: *sent_at_ms,
                        received_at_ms: Some(now),
                        state: DeliveryState::Received,
                        group: Some(GroupPart::Message {
                            clock: *clock,
                            author: sender.0,
                            copies: Vec::new(),
                        }),
                    });
                }
            }
        }
        let record = GroupRecord {
            id: gid.0,
            clock: log.clock(),
            log: log.to_bytes(),
        };
        let stored = message.clone().map(|m| (m, shown));
        let Some(fresh) = self.take_copy(cid, next, copy, Some(record), stored, None) else {
            return Inbound::TryLater;
        };
        if !fresh {
            return Inbound::Processed;
        }
        let mut events = Vec::new();
        if !was_known {
            events.push(Event::Group {
                group: Box::new(self.group_info(&gid, &log)),
                change: None,
            });
        } else {
            for op in &applied {
                // Reported only if the rule took it at its place in the order.
                let took = log
                    .state_before(op.stamp)
                    .check(&op.stamp.author, &op.change)
                    .is_ok();
                if took {
                    events.push(Event::Group {
                        group: Box::new(self.group_info(&gid, &log)),
                        change: Some(self.group_change(op)),
                    });
                }
            }
        }
        if let Some(m) = message.filter(|_| shown) {
            events.push(Event::GroupMessage {
                group: group_ref(&gid),
                from: self.member_name(&sender),
                id: api::MessageId::of(&m.id),
                text: m.text,
                sent_at: m.created_at_ms,
            });
        }
        self.groups.insert(gid, log);
        if !applied.is_empty() {
            self.group_log_changed(&gid, &before_log, &applied);
        }
        for e in events {
            self.deferred.push(Deferred::Emit(e));
        }
        Inbound::Processed
    }
}
