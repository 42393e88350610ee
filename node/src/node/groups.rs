//! Groups (docs/PROTOCOL.md §24) in the node: the group commands, the fan-out of a group's
//! messages and membership changes to each member over the 1:1 session with it (each copy
//! an ordinary message of that session: outbox, retries, mailbox, receipts, renewals and
//! session resets as for any), and what members send. The rules themselves are pure
//! (`crate::group`); this file applies them to the store and the outbox.

use super::*;
use crate::api::{
    Alias, GroupChange, GroupInfo, GroupMessageInfo, GroupRef, MemberInfo, MemberName,
};
use crate::group::membership::MAX_MEMBERS;
use crate::group::wire::{GroupBody, MAX_OPS_PER_PART};
use crate::group::{Change, ChangeError, GroupId, Inserted, Log, MemberKey, Op, Stamp};
use crate::store::{
    CopyOut, GroupCopy, GroupIncoming, GroupPart, GroupRecord, GroupSend, StoredMessage,
};

/// What an outbox entry that is a group copy carries, for its receipt.
#[derive(Clone, Copy, Debug)]
pub(super) struct CopyOf {
    pub(super) group: GroupId,
    /// The group message it carries and that message's place in the group's conversation
    /// (none for membership changes).
    pub(super) message: Option<(MessageId, u64)>,
}

/// What one copy carries.
pub(super) enum Carry {
    /// A group's message or changes.
    Body(GroupBody),
    /// Introductions (introductions.rs).
    Intro(Vec<crate::intro::Introduction>),
}

/// One copy to send: what it carries, and the stored group message it carries if that
/// message is not the send's own (a late copy, see [`crate::store::CopyOut::origin`]).
pub(super) struct Out {
    pub(super) carry: Carry,
    pub(super) origin: Option<u64>,
}

impl Out {
    pub(super) fn body(b: GroupBody) -> Self {
        Out {
            carry: Carry::Body(b),
            origin: None,
        }
    }
}

/// Each member's copies of a send, in order.
pub(super) type Fan = Vec<(MemberKey, Vec<Out>)>;

fn group_ref(g: &GroupId) -> GroupRef {
    hex(&g.0).into()
}

/// The welcome a new member gets: the whole log, in parts of at most [`MAX_OPS_PER_PART`]
/// ops, each ending with the op that added it (so that each part, whatever order they
/// arrive in, shows the recipient that the sender added it: the condition for taking ops
/// the sender did not write, see `inbound_group`).
fn welcome(log: &Log, added: &Op) -> Vec<Out> {
    let ops: Vec<Op> = log.ops().filter(|o| o.stamp != added.stamp).collect();
    let mut parts: Vec<Out> = ops
        .chunks(MAX_OPS_PER_PART - 1)
        .map(|c| {
            let mut part = c.to_vec();
            part.push(added.clone());
            part.sort_by_key(|o| o.stamp);
            Out::body(GroupBody::Ops(part))
        })
        .collect();
    if parts.is_empty() {
        parts.push(Out::body(GroupBody::Ops(vec![added.clone()])));
    }
    parts
}

fn change_code(e: ChangeError) -> ErrorCode {
    match e {
        ChangeError::NotMember | ChangeError::NoSuchMember => ErrorCode::NotMember,
        ChangeError::NotAdmin => ErrorCode::NotAdmin,
        _ => ErrorCode::GroupRefused,
    }
}

impl<S: Shell> Runtime<S> {
    fn me(&self) -> MemberKey {
        MemberKey(*self.profile.identity.public().as_bytes())
    }

    /// Loads the groups, and which outbox entries are group copies.
    pub(super) fn load_groups(&mut self) -> Result<(), String> {
        let store = &self.profile.store;
        let listing = store.groups().map_err(|e| e.to_string())?;
        for d in &listing.damaged {
            tracing::warn!(?d, "damaged group record skipped");
        }
        for g in listing.items {
            match Log::from_bytes(&g.log, g.clock) {
                Ok(log) => {
                    self.groups.insert(GroupId(g.id), log);
                }
                Err(e) => tracing::warn!(error = %e, "damaged group log skipped"),
            }
        }
        if self.groups.is_empty() {
            return Ok(());
        }
        let entries: Vec<(MessageId, ContactId, u64)> = self
            .outbox
            .values()
            .filter(|e| e.seq != CONTROL_SEQ)
            .map(|e| (e.message_id, e.contact, e.seq))
            .collect();
        for (id, cid, seq) in entries {
            let Ok(Some(m)) = self.profile.store.message(&cid, seq) else {
                continue;
            };
            let Some(GroupPart::Copy { content, origin }) = m.group else {
                continue;
            };
            if let Ok(Content::Group { group, body, .. }) = Content::decode(&content) {
                let message = match (body, origin) {
                    (GroupBody::Text { id: mid, .. }, Some((_, s))) => Some((MessageId(mid), s)),
                    _ => None,
                };
                self.copy_of.insert(id, CopyOf { group, message });
            }
        }
        Ok(())
    }

    /// The contact a member is, if it is one.
    pub(super) fn member_contact(&self, m: &MemberKey) -> Option<ContactId> {
        let cid = self.profile.store.contact_id(&m.0);
        self.contacts.contains_key(&cid).then_some(cid)
    }

    pub(super) fn member_of_contact(&self, cid: &ContactId) -> Option<MemberKey> {
        let c = self.contacts.get(cid)?;
        <[u8; 32]>::try_from(c.contact.identity_key.as_slice())
            .ok()
            .map(MemberKey)
    }

    /// How the user sees a member: "you", the contact's alias, or `~` and 8 hex digits of
    /// its key.
    pub(super) fn member_name(&self, m: &MemberKey) -> MemberName {
        if *m == self.me() {
            return "you".into();
        }
        match self.member_contact(m).and_then(|c| self.contacts.get(&c)) {
            Some(c) => c.contact.alias.as_str().into(),
            None => format!("~{}", hex(m.0.get(..4).unwrap_or_default())).into(),
        }
    }

    fn group_info(&self, gid: &GroupId, log: &Log) -> GroupInfo {
        let me = self.me();
        let state = log.state();
        let members = state
            .members
            .iter()
            .map(|(k, m)| {
                let contact = self
                    .member_contact(k)
                    .and_then(|c| self.contacts.get(&c).map(|s| (c, s)));
                MemberInfo {
                    name: self.member_name(k),
                    you: *k == me,
                    admin: m.admin,
                    contact: contact.is_some_and(|(c, _)| !self.group_only.contains(&c)),
                    verified: contact.is_some_and(|(_, s)| s.contact.verified),
                    reachable: *k == me
                        || contact.is_some_and(|(c, s)| {
                            s.session.is_some() && !self.blocked.contains(&c)
                        }),
                }
            })
            .collect();
        GroupInfo {
            id: group_ref(gid),
            name: state.name.clone(),
            members,
            member: state.is_member(&me),
            admin: state.is_admin(&me),
        }
    }

    fn group_change(&self, op: &Op) -> GroupChange {
        let by = self.member_name(&op.stamp.author);
        match &op.change {
            Change::Create { .. } => GroupChange::Created { by },
            Change::Add(m) => GroupChange::Added {
                by,
                member: self.member_name(m),
            },
            Change::Remove(m) => GroupChange::Removed {
                by,
                member: self.member_name(m),
            },
            Change::Promote(m) => GroupChange::Promoted {
                by,
                member: self.member_name(m),
            },
            Change::Demote(m) => GroupChange::Demoted {
                by,
                member: self.member_name(m),
            },
            Change::Leave => GroupChange::Left { by },
            Change::Rename(name) => GroupChange::Renamed {
                by,
                name: name.clone(),
            },
        }
    }

    fn group_by_ref(&self, r: &str, client_ref: Option<ClientRef>) -> Option<GroupId> {
        let id = ::hex::decode(r)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(GroupId)
            .filter(|g| self.groups.contains_key(g));
        if id.is_none() {
            self.emit(Event::error_for(
                ErrorCode::UnknownGroup,
                format!("no group with id {r:?}"),
                client_ref,
            ));
        }
        id
    }

    /// A contact that group commands may add: established and not blocked.
    fn addable(&self, alias: &str) -> Option<MemberKey> {
        let Some(cid) = self.by_alias(alias) else {
            self.unknown_contact(alias);
            return None;
        };
        let state = self.contacts.get(&cid)?;
        if self.blocked.contains(&cid) {
            self.emit(Event::error(
                ErrorCode::Blocked,
                format!("{alias:?} is blocked; unblock them to add them"),
            ));
            return None;
        }
        if state.session.is_none() {
            self.emit(Event::error(
                ErrorCode::NotEstablished,
                format!("the handshake with {alias:?} has not finished yet"),
            ));
            return None;
        }
        self.member_of_contact(&cid)
    }

    /// Encrypts each member's bodies (in order) under its session and stores them with the
    /// group's record (and `message`, for a text) in one transaction; the copies are
    /// mirrored into the outbox, and `events` emitted, once durable. Members this node has no
    /// session with (or blocked) get nothing: their names are returned.
    pub(super) fn fan_out(
        &mut self,
        gid: Option<GroupId>,
        log: Option<&Log>,
        fan: Fan,
        message: Option<NewMessage>,
        events: Vec<Event>,
    ) -> Result<Vec<MemberName>, String> {
        let now = self.now_ms();
        let me = self.me();
        let mut copies = Vec::new();
        let mut sessions: BTreeMap<ContactId, Session> = BTreeMap::new();
        let mut unreachable = Vec::new();
        for (member, bodies) in fan {
            if member == me {
                continue;
            }
            let session = self
                .member_contact(&member)
                .filter(|c| !self.blocked.contains(c))
                .and_then(|c| Some((c, self.contacts.get(&c)?.session.clone()?)));
            let Some((cid, mut next)) = session else {
                unreachable.push(self.member_name(&member));
                continue;
            };
            for out in bodies {
                let mut copy = [0u8; 16];
                self.rng.fill_bytes(&mut copy);
                let content = match (out.carry, gid) {
                    (Carry::Body(body), Some(group)) => Content::Group { copy, group, body },
                    (Carry::Intro(intros), _) => Content::Introduction { copy, intros },
                    (Carry::Body(_), None) => return Err("a group body without its group".into()),
                }
                .encode()
                .map_err(|e| e.to_string())?;
                let env = next
                    .encrypt(&content, now / 1000, &mut self.rng)
                    .map_err(|e| e.to_string())?;
                copies.push(CopyOut {
                    contact: cid,
                    session_after: SecretBytes::from_slice(&next.to_bytes()),
                    id: MessageId(copy),
                    content,
                    envelope: env.encode(),
                    origin: out.origin,
                });
            }
            sessions.insert(cid, next);
        }
        let message_id = message.as_ref().map(|m| m.id);
        let send = GroupSend {
            group: gid.zip(log).map(|(g, log)| GroupRecord {
                id: g.0,
                clock: log.clock(),
                log: log.to_bytes(),
            }),
            message,
            copies,
        };
        let sent = self
            .profile
            .store
            .record_group_send(gid.as_ref().map(|g| &g.0), &send, now)
            .map(Staged::after_next_flush)
            .map_err(|e| e.to_string())?;
        self.dirty = true;
        for (cid, next) in sessions {
            if let Some(s) = self.contacts.get_mut(&cid) {
                s.session = Some(next);
            }
        }
        for c in &sent.copies {
            let Some(out) = send.copies.iter().find(|o| o.id == c.id) else {
                continue;
            };
            if let Some(group) = gid {
                let message = match out.origin {
                    // A late copy: its message's id is in its content.
                    Some(s) => match Content::decode(&out.content) {
                        Ok(Content::Group {
                            body: GroupBody::Text { id, .. },
                            ..
                        }) => Some((MessageId(id), s)),
                        _ => None,
                    },
                    None => message_id.zip(sent.seq),
                };
                self.copy_of.insert(c.id, CopyOf { group, message });
            }
            self.defer_mirror(c.contact, c.id, c.seq, out.envelope.clone(), now);
        }
        for e in events {
            self.deferred.push(Deferred::Emit(e));
        }
        Ok(unreachable)
    }

    /// Adds to `fan` an introduction of each pair (for `gid`), several to a copy. A pair
    /// this node cannot introduce (not a contact of both) is left out.
    fn add_intros(&mut self, fan: &mut Fan, pairs: &[(MemberKey, MemberKey)], gid: GroupId) {
        let mut halves: BTreeMap<MemberKey, Vec<crate::intro::Introduction>> = BTreeMap::new();
        for (a, b) in pairs {
            if let Some(pair) = self.intro_pair(*a, *b, Some(gid)) {
                for (k, half) in pair {
                    halves.entry(k).or_default().push(half);
                }
            }
        }
        for (k, hs) in halves {
            let outs = hs.chunks(crate::intro::MAX_INTROS_PER_COPY).map(|c| Out {
                carry: Carry::Intro(c.to_vec()),
                origin: None,
            });
            match fan.iter_mut().find(|(m, _)| *m == k) {
                Some((_, v)) => v.extend(outs),
                None => fan.push((k, outs.collect())),
            }
        }
    }

    fn warn_unreachable(&self, unreachable: &[MemberName]) {
        if unreachable.is_empty() {
            return;
        }
        // Not an error: they are sent it once a session exists (an introduction
        // accepted: `group_catch_up`); the member list shows who is not reachable yet.
        tracing::debug!(
            members = unreachable.len(),
            "group members without a session yet"
        );
    }

    pub(super) fn cmd_group_create(&mut self, name: &str, members: &[Alias]) {
        let me = self.me();
        let mut keys: Vec<MemberKey> = Vec::new();
        for alias in members {
            let Some(k) = self.addable(alias) else {
                return;
            };
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        if keys.len() >= MAX_MEMBERS {
            return self.emit(Event::error(
                ErrorCode::GroupRefused,
                ChangeError::GroupFull.to_string(),
            ));
        }
        let mut gid = [0u8; 16];
        self.rng.fill_bytes(&mut gid);
        let gid = GroupId(gid);
        let mut log = Log::new();
        let mut adds = Vec::new();
        let made = log
            .propose(
                me,
                Change::Create {
                    name: name.to_owned(),
                },
            )
            .and_then(|_| {
                for k in &keys {
                    adds.push(log.propose(me, Change::Add(*k))?);
                }
                Ok(())
            });
        if let Err(e) = made {
            return self.emit(Event::error(change_code(e), e.to_string()));
        }
        let mut fan: Fan = adds
            .iter()
            .filter_map(|op| match op.change {
                Change::Add(k) => Some((k, welcome(&log, op))),
                _ => None,
            })
            .collect();
        // Members who are not contacts of each other are introduced.
        let pairs: Vec<(MemberKey, MemberKey)> = keys
            .iter()
            .enumerate()
            .flat_map(|(i, a)| keys.iter().skip(i + 1).map(move |b| (*a, *b)))
            .collect();
        self.add_intros(&mut fan, &pairs, gid);
        let event = Event::Group {
            group: Box::new(self.group_info(&gid, &log)),
            change: Some(GroupChange::Created {
                by: self.member_name(&me),
            }),
        };
        match self.fan_out(Some(gid), Some(&log), fan, None, vec![event]) {
            Ok(unreachable) => {
                self.groups.insert(gid, log);
                self.warn_unreachable(&unreachable);
            }
            Err(e) => self.emit(Event::error(ErrorCode::StoreFailed, e)),
        }
    }

    /// A membership change by us: proposed on a copy of the log, sent to every member (the
    /// one it adds gets the whole log; the one it removes is told too), kept once stored.
    pub(super) fn cmd_group_change(&mut self, group: &str, change: Result<Change, ()>) {
        let Some(gid) = self.group_by_ref(group, None) else {
            return;
        };
        let Ok(change) = change else {
            return;
        };
        let me = self.me();
        let Some(mut log) = self.groups.get(&gid).cloned() else {
            return;
        };
        let before: Vec<MemberKey> = log.state().members.keys().copied().collect();
        let op = match log.propose(me, change) {
            Ok(op) => op,
            Err(e) => return self.emit(Event::error(change_code(e), e.to_string())),
        };
        let mut fan: Fan = before
            .iter()
            .map(|k| (*k, vec![Out::body(GroupBody::Ops(vec![op.clone()]))]))
            .collect();
        if let Change::Add(k) = op.change {
            fan.push((k, welcome(&log, &op)));
            let pairs: Vec<(MemberKey, MemberKey)> = before
                .iter()
                .filter(|m| **m != me)
                .map(|m| (k, *m))
                .collect();
            self.add_intros(&mut fan, &pairs, gid);
        }
        let event = Event::Group {
            group: Box::new(self.group_info(&gid, &log)),
            change: Some(self.group_change(&op)),
        };
        match self.fan_out(Some(gid), Some(&log), fan, None, vec![event]) {
            Ok(unreachable) => {
                self.groups.insert(gid, log);
                self.warn_unreachable(&unreachable);
            }
            Err(e) => self.emit(Event::error(ErrorCode::StoreFailed, e)),
        }
    }

    /// The member a group command names (an error event if none).
    pub(super) fn group_member(&self, group: &str, name: &str) -> Result<MemberKey, ()> {
        let gid = ::hex::decode(group)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(GroupId);
        let Some(log) = gid.and_then(|g| self.groups.get(&g)) else {
            // Reported by `group_by_ref`.
            return Err(());
        };
        let found = log
            .state()
            .members
            .keys()
            .copied()
            .find(|k| self.member_name(k).as_str() == name);
        found.ok_or_else(|| {
            self.emit(Event::error(
                ErrorCode::NotMember,
                format!("no member {name:?} in that group"),
            ))
        })
    }

    pub(super) fn cmd_group_add(&mut self, group: &str, alias: &str) {
        if self.group_by_ref(group, None).is_none() {
            return;
        }
        let Some(k) = self.addable(alias) else {
            return;
        };
        self.cmd_group_change(group, Ok(Change::Add(k)));
    }

    pub(super) fn cmd_group_send(&mut self, group: &str, text: String, r: Option<ClientRef>) {
        let Some(gid) = self.group_by_ref(group, r.clone()) else {
            return;
        };
        let me = self.me();
        let Some(mut log) = self.groups.get(&gid).cloned() else {
            return;
        };
        if !log.state().is_member(&me) {
            return self.emit(Event::error_for(
                ErrorCode::NotMember,
                "you are no longer a member of that group",
                r,
            ));
        }
        if text.len() > crate::group::wire::MAX_GROUP_TEXT_LEN {
            return self.emit(Event::error_for(
                ErrorCode::TooLong,
                "text too long for a group message",
                r,
            ));
        }
        let stamp = log.next_stamp(me);
        log.observe(stamp.clock);
        let mut id = [0u8; 16];
        self.rng.fill_bytes(&mut id);
        let now = self.now_ms().max(self.last_sent_ms + 1);
        self.last_sent_ms = now;
        let body = GroupBody::Text {
            clock: stamp.clock,
            id,
            sent_at_ms: now,
            text: text.clone(),
        };
        let fan: Fan = log
            .state()
            .members
            .keys()
            .map(|k| (*k, vec![Out::body(body.clone())]))
            .collect();
        let message = NewMessage {
            id: MessageId(id),
            direction: Direction::Outgoing,
            text,
            created_at_ms: now,
            received_at_ms: None,
            state: DeliveryState::Queued,
            group: Some(GroupPart::Message {
                clock: stamp.clock,
                author: me.0,
                copies: Vec::new(),
            }),
        };
        let event = Event::Queued {
            id: api::MessageId::of(&MessageId(id)),
            client_ref: r.clone(),
        };
        match self.fan_out(Some(gid), Some(&log), fan, Some(message), vec![event]) {
            Ok(unreachable) => {
                self.groups.insert(gid, log);
                self.warn_unreachable(&unreachable);
            }
            Err(e) => self.emit(Event::error_for(ErrorCode::StoreFailed, e, r)),
        }
    }

    pub(super) fn cmd_groups(&self) {
        let groups = self
            .groups
            .iter()
            .map(|(g, log)| self.group_info(g, log))
            .collect();
        self.emit(Event::Groups { groups });
    }

    pub(super) fn cmd_group_history(&self, group: &str, limit: usize) {
        let Some(gid) = self.group_by_ref(group, None) else {
            return;
        };
        let store = &self.profile.store;
        let conv = store.group_conversation(&gid.0);
        let listing = match store.messages(&conv) {
            Ok(l) => l,
            Err(e) => return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string())),
        };
        // The group's order: (clock, author), then the message id.
        let mut items: Vec<(Stamp, [u8; 16], StoredMessage, Vec<GroupCopy>)> = listing
            .items
            .into_iter()
            .filter_map(|m| match m.group.clone() {
                Some(GroupPart::Message {
                    clock,
                    author,
                    copies,
                }) => Some((
                    Stamp {
                        clock,
                        author: MemberKey(author),
                    },
                    m.id.0,
                    m,
                    copies,
                )),
                _ => None,
            })
            .collect();
        items.sort_by_key(|(stamp, id, _, _)| (*stamp, *id));
        let skip = items.len().saturating_sub(limit);
        let messages = items
            .into_iter()
            .skip(skip)
            .map(|(stamp, _, m, copies)| {
                let outgoing = m.direction == Direction::Outgoing;
                GroupMessageInfo {
                    id: api::MessageId::of(&m.id),
                    from: self.member_name(&stamp.author),
                    direction: if outgoing {
                        MessageDirection::Out
                    } else {
                        MessageDirection::In
                    },
                    text: m.text,
                    sent_at: m.created_at_ms,
                    delivered: outgoing.then(|| store.copies_delivered(&copies).unwrap_or(0)),
                    of: outgoing.then_some(copies.len()),
                }
            })
            .collect();
        self.emit(Event::GroupHistory {
            group: group_ref(&gid),
            messages,
        });
    }

    /// A session with contact `cid` is new (a handshake after an introduction, or any new
    /// contact): in every group both are in, it is sent what it missed for want of one —
    /// this node's membership changes, and this node's messages written since it joined.
    pub(super) fn group_catch_up(&mut self, cid: &ContactId) {
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
            let Some(since) = log.state().members.get(&member).map(|m| m.since) else {
                continue;
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
                    if stamp.author == me
                        && stamp > since
                        && !copies.iter().any(|c| c.contact == *cid)
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
                if let Err(e) = self.fan_out(Some(gid), Some(&log), fan, None, Vec::new()) {
                    tracing::warn!(error = %e, "a new member's catch-up failed");
                    break;
                }
            }
        }
    }

    /// A receipt confirmed the outbox entry `id`: a group copy reports its message's
    /// delivery to k of n (a copy of a membership change, nothing). Returns false if `id`
    /// is not a group copy.
    pub(super) fn group_copy_delivered(&mut self, id: &MessageId) -> bool {
        let Some(c) = self.copy_of.remove(id) else {
            return false;
        };
        if let Some((mid, seq)) = c.message {
            let store = &self.profile.store;
            let conv = store.group_conversation(&c.group.0);
            if let Ok(Some(m)) = store.message(&conv, seq) {
                if let Some(GroupPart::Message { copies, .. }) = m.group {
                    let delivered = store.copies_delivered(&copies).unwrap_or(0);
                    self.deferred.push(Deferred::Emit(Event::GroupDelivered {
                        group: group_ref(&c.group),
                        id: api::MessageId::of(&mid),
                        delivered,
                        of: copies.len(),
                    }));
                }
            }
        }
        true
    }

    /// Whether an outbox entry is a group copy (its `sent` is not reported: the client knows
    /// the group message, not its copies).
    pub(super) fn is_group_copy(&self, id: &MessageId) -> bool {
        self.copy_of.contains_key(id)
    }

    /// A group content from contact `cid`, decrypted into `next`. Ops are taken from their
    /// author; ops by others only as a welcome (from the member that adds us, with its `Add`
    /// of us in the same part). A text is shown if its author was a member just before its
    /// stamp. Content that may become readable (a group whose welcome has not arrived, a
    /// text whose author's addition has not) is left unacknowledged for its sender to send
    /// again; the rest is stored with its receipt in one transaction.
    pub(super) fn inbound_group(
        &mut self,
        cid: ContactId,
        mut next: Session,
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
                for op in ops {
                    if op.stamp.author != sender && !adds_us {
                        tracing::info!("a group change relayed outside a welcome ignored");
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
                let stamp = Stamp {
                    clock: *clock,
                    author: sender,
                };
                let before = log.state_before(stamp);
                if before.is_member(&sender) && before.is_member(&me) {
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
                } else {
                    // Taken (acknowledged) but not shown when its author or we had left or
                    // been removed before it; otherwise the author's addition has not
                    // reached us yet.
                    let gone = |who: MemberKey| {
                        log.ops().any(|o| {
                            o.stamp < stamp
                                && (o.change == Change::Remove(who)
                                    || (o.change == Change::Leave && o.stamp.author == who))
                        })
                    };
                    if !gone(sender) && !gone(me) {
                        return Inbound::Kept;
                    }
                    tracing::info!("a group message from outside the group ignored");
                }
            }
        }
        let receipt = Content::Receipt(vec![copy])
            .encode()
            .ok()
            .and_then(|r| next.encrypt(&r, now / 1000, &mut self.rng).ok());
        let Some(receipt) = receipt else {
            return Inbound::TryLater;
        };
        let mut rid = [0u8; 16];
        self.rng.fill_bytes(&mut rid);
        let receipt_wire = receipt.encode();
        let inc = GroupIncoming {
            contact: cid,
            session_after: SecretBytes::from_slice(&next.to_bytes()),
            copy: MessageId(copy),
            group: Some(GroupRecord {
                id: gid.0,
                clock: log.clock(),
                log: log.to_bytes(),
            }),
            message: message.clone(),
            setting: None,
            receipt: (MessageId(rid), receipt_wire.clone()),
        };
        let fresh = match self
            .profile
            .store
            .record_group_incoming(Some(&gid.0), &inc, now)
            .map(Staged::after_next_flush)
        {
            Ok(f) => f,
            Err(e) => {
                self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
                return Inbound::TryLater;
            }
        };
        self.dirty = true;
        if let Some(s) = self.contacts.get_mut(&cid) {
            s.session = Some(next);
        }
        self.defer_mirror(cid, MessageId(rid), CONTROL_SEQ, receipt_wire, now);
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
        if let Some(m) = message {
            events.push(Event::GroupMessage {
                group: group_ref(&gid),
                from: self.member_name(&sender),
                id: api::MessageId::of(&m.id),
                text: m.text,
                sent_at: m.created_at_ms,
            });
        }
        self.groups.insert(gid, log);
        for e in events {
            self.deferred.push(Deferred::Emit(e));
        }
        Inbound::Processed
    }
}
