//! Keeping members in step: a new session or a new member gets what it missed, and every
//! change to a group's log has its stored messages and outgoing copies judged again.

use super::*;

impl<S: Shell> Runtime<S> {
    /// A session with contact `cid` is new (a handshake after an introduction, or any new
    /// contact): in every group both are in, it is sent what it missed for want of one —
    /// this node's membership changes, and this node's messages written since it joined.
    pub(in crate::node) fn group_catch_up(&mut self, cid: &ContactId) {
        let Some(member) = self.member_of_contact(cid) else {
            return;
        };
        let me = self.me();
        let shared: Vec<(GroupId, Log)> = self
            .groups
            .iter()
            .filter(|(_, l)| l.state().is_member(&me) && l.state().is_member(&member))
            .map(|(g, l)| (*g, l.clone()))
            .collect();
        for (gid, log) in shared {
            self.catch_up(&gid, &log, member, cid);
        }
    }

    /// Sends `member` (contact `cid`) what it may lack of ours in `gid`: our membership
    /// changes, and our messages stamped after it joined that it was not sent (we had no
    /// session with it, or learned of its addition after we wrote).
    fn catch_up(&mut self, gid: &GroupId, log: &Log, member: MemberKey, cid: &ContactId) {
        let me = self.me();
        if !log.state().is_member(&me) || self.contacts.get(cid).is_none_or(|c| c.session.is_none())
        {
            return;
        }
        let Some(since) = log.state().members.get(&member).map(|m| m.since) else {
            return;
        };
        let mine: Vec<Op> = log.ops().filter(|o| o.stamp.author == me).collect();
        let mut outs: Vec<Out> = mine
            .chunks(MAX_OPS_PER_PART)
            .map(|c| Out::body(GroupBody::Ops(c.to_vec())))
            .collect();
        let conv = self.profile.store.group_conversation(&gid.0);
        if let Ok(listing) = self.profile.store.messages(&conv) {
            for m in listing.items {
                let Some(GroupPart::Message {
                    clock,
                    author,
                    copies,
                }) = &m.group
                else {
                    continue;
                };
                let stamp = Stamp {
                    clock: *clock,
                    author: MemberKey(*author),
                };
                if stamp.author == me && stamp > since && !copies.iter().any(|c| c.contact == *cid)
                {
                    outs.push(Out {
                        carry: Carry::Body(GroupBody::Text {
                            clock: *clock,
                            id: m.id.0,
                            sent_at_ms: m.created_at_ms,
                            text: m.text.clone(),
                        }),
                        origin: Some(m.seq),
                    });
                }
            }
        }
        // At most MAX_GROUP_COPIES copies per transaction.
        while !outs.is_empty() {
            let rest = outs.split_off(outs.len().min(crate::store::MAX_GROUP_COPIES));
            let fan = vec![(member, std::mem::replace(&mut outs, rest))];
            if let Err(e) = self.fan_out(Some(*gid), Some(log), fan, None, Vec::new()) {
                tracing::warn!(error = %e, "a member's catch-up failed");
                break;
            }
        }
    }

    /// The group's log changed from `before` (by `applied`): every stored message is judged
    /// again (PROTOCOL §24.3) — one from a time this member was not a member is deleted (a
    /// removed member keeps nothing sent after its removal that reached it before it knew),
    /// one held for its author's addition and now shown is reported; copies of ours that
    /// the new log says are not for their member (or our own messages from after our
    /// removal) stop being sent; and a member added gets our messages since it joined.
    pub(in crate::node) fn group_log_changed(
        &mut self,
        gid: &GroupId,
        before: &Log,
        applied: &[Op],
    ) {
        let Some(log) = self.groups.get(gid).cloned() else {
            return;
        };
        let me = self.me();
        let store = &self.profile.store;
        let conv = store.group_conversation(&gid.0);
        let Ok(listing) = store.messages(&conv) else {
            return;
        };
        let mut states: BTreeMap<Stamp, (Membership, Membership)> = BTreeMap::new();
        let mut doomed = Vec::new();
        let mut events = Vec::new();
        for m in &listing.items {
            let Some(GroupPart::Message { clock, author, .. }) = &m.group else {
                continue;
            };
            let stamp = Stamp {
                clock: *clock,
                author: MemberKey(*author),
            };
            let (old, new) = states
                .entry(stamp)
                .or_insert_with(|| (before.state_before(stamp), log.state_before(stamp)));
            match (
                visibility_in(old, stamp, &me),
                visibility_in(new, stamp, &me),
            ) {
                (_, Visibility::NotForUs) => doomed.push(m.seq),
                (Visibility::Held, Visibility::Shown) => events.push(Event::GroupMessage {
                    group: group_ref(gid),
                    from: self.member_name(&stamp.author),
                    id: api::MessageId::of(&m.id),
                    text: m.text.clone(),
                    sent_at: m.created_at_ms,
                }),
                _ => {}
            }
        }
        if !doomed.is_empty() {
            match store.remove_group_messages(&gid.0, &doomed) {
                Ok(()) => tracing::info!(
                    removed = doomed.len(),
                    "group messages from before this member's return or after its removal removed"
                ),
                Err(e) => tracing::warn!(error = %e, "removing group messages failed"),
            }
        }
        for e in events {
            self.deferred.push(Deferred::Emit(e));
        }
        self.abandon_copies(gid, &log);
        self.end_group_files(gid);
        for op in applied {
            // An addition of ours came with its welcome; one by another admin may have come
            // after we wrote for the new member.
            if let Change::Add(k) = op.change {
                if k != me && op.stamp.author != me {
                    if let Some(cid) = self.member_contact(&k) {
                        self.catch_up(gid, &log, k, &cid);
                    }
                }
            }
        }
    }

    /// Stops sending copies of our messages in `gid` that its log says are not for their
    /// member (removed before the message was written), or that we wrote after our own
    /// removal: nobody would show them.
    fn abandon_copies(&mut self, gid: &GroupId, log: &Log) {
        let me = self.me();
        let conv = self.profile.store.group_conversation(&gid.0);
        let mine: Vec<(MessageId, u64)> = self
            .copy_of
            .iter()
            .filter(|(_, c)| c.group == *gid)
            .filter_map(|(id, c)| c.message.map(|(_, seq)| (*id, seq)))
            .collect();
        let now = self.now_ms();
        for (id, seq) in mine {
            let Some(target) = self
                .outbox
                .get(&id)
                .and_then(|e| self.member_of_contact(&e.contact))
            else {
                continue;
            };
            let Ok(Some(m)) = self.profile.store.message(&conv, seq) else {
                continue;
            };
            let Some(GroupPart::Message { clock, author, .. }) = m.group else {
                continue;
            };
            let stamp = Stamp {
                clock,
                author: MemberKey(author),
            };
            let before = log.state_before(stamp);
            if before.is_member(&target) && before.is_member(&me) {
                continue;
            }
            self.copy_of.remove(&id);
            if let Err(e) = self.outbox_done(&id, now) {
                tracing::warn!(error = %e, "an abandoned group copy stays queued");
            }
        }
    }
}
