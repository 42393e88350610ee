//! Groups (docs/PROTOCOL.md §24) in the node: the group commands, the fan-out of a group's
//! messages and membership changes to each member over the 1:1 session with it (each copy
//! an ordinary message of that session: outbox, retries, mailbox, receipts, renewals and
//! session resets as for any), and what members send. The rules themselves are pure
//! (`crate::group`); this file applies them to the store and the outbox.

use super::*;

mod commands;
mod inbound;
mod reconcile;
#[cfg(feature = "sim")]
mod sim_hooks;
use crate::api::{
    Alias, GroupChange, GroupInfo, GroupMessageInfo, GroupRef, MemberInfo, MemberName,
};
use crate::group::membership::MAX_MEMBERS;
use crate::group::wire::{GroupBody, MAX_OPS_PER_PART};
use crate::group::{
    visibility, visibility_in, Change, ChangeError, GroupId, Inserted, Log, MemberKey, Membership,
    Op, Stamp, Visibility,
};
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

pub(in crate::node) fn group_ref(g: &GroupId) -> GroupRef {
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
        // Which pending outbox entries are copies (of a group's content, or introductions):
        // one read of each pending message at start.
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
            self.copies_sent.insert(id, (cid, seq));
            if let Ok(Content::Group { group, body, .. }) = Content::decode(&content) {
                let message = match (body, origin) {
                    (GroupBody::Text { id: mid, .. }, Some((_, s))) => Some((MessageId(mid), s)),
                    _ => None,
                };
                self.copy_of.insert(id, CopyOf { group, message });
            }
        }
        // A removal whose clean-up a crash interrupted is finished now.
        let me = self.me();
        let gone: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, l)| !l.state().is_member(&me))
            .map(|(g, _)| *g)
            .collect();
        for g in gone {
            if let Some(log) = self.groups.get(&g).cloned() {
                self.group_log_changed(&g, &log, &[]);
            }
        }
        Ok(())
    }

    /// Takes a copy (group content or introductions) from contact `cid`, decrypted into
    /// `next`: stores what it changes — the group's record, a message for the group's
    /// conversation, a setting — with its id (deduplicated), the session and the receipt
    /// for it, in one transaction; then the session moves on and the receipt is queued.
    /// Some(false) for a copy taken before (only the session and a new receipt are
    /// written); None if it could not be stored (the sender sends it again).
    pub(super) fn take_copy(
        &mut self,
        cid: ContactId,
        mut next: Session,
        copy: [u8; 16],
        group: Option<GroupRecord>,
        message: Option<(NewMessage, bool)>,
        setting: Option<(String, Vec<u8>)>,
    ) -> Option<bool> {
        let now = self.now_ms();
        let receipt = Content::Receipt(vec![copy])
            .encode()
            .ok()
            .and_then(|r| next.encrypt(&r, now / 1000, &mut self.rng).ok())?;
        let mut rid = [0u8; 16];
        self.rng.fill_bytes(&mut rid);
        let receipt_wire = receipt.encode();
        let group_id = group.as_ref().map(|g| g.id);
        let inc = GroupIncoming {
            contact: cid,
            session_after: SecretBytes::from_slice(&next.to_bytes()),
            copy: MessageId(copy),
            group,
            message,
            setting,
            receipt: (MessageId(rid), receipt_wire.clone()),
        };
        let fresh = match self
            .profile
            .store
            .record_group_incoming(group_id.as_ref(), &inc, now)
            .map(Staged::after_next_flush)
        {
            Ok((fresh, reports)) => {
                // Forgotten in the flush after the one that releases the caller's
                // events (`Deferred::Reported`).
                self.deferred.push(Deferred::Reported(reports));
                fresh
            }
            Err(e) => {
                self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
                return None;
            }
        };
        self.dirty = true;
        if let Some(s) = self.contacts.get_mut(&cid) {
            s.session = Some(next);
        }
        self.defer_mirror(cid, MessageId(rid), CONTROL_SEQ, receipt_wire, now);
        Some(fresh)
    }

    /// A receipt confirmed our copy `id`: its record (the content, an introduction's pair
    /// secret included) is not kept once delivered. The conversation's delivered ranges
    /// still count it for "delivered k of n". Ids that are not copies are passed over.
    pub(super) fn forget_delivered_copies(&mut self, ids: &[MessageId]) {
        let done: Vec<(ContactId, u64)> = ids
            .iter()
            .filter_map(|id| self.copies_sent.remove(id))
            .collect();
        if done.is_empty() {
            return;
        }
        if let Err(e) = self
            .profile
            .store
            .remove_messages(&done)
            .map(Staged::relaxed)
        {
            tracing::warn!(error = %e, "delivered copies not removed");
        }
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

    pub(in crate::node) fn group_by_ref(
        &self,
        r: &str,
        client_ref: Option<ClientRef>,
    ) -> Option<GroupId> {
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

    /// Where a file sent to `gid` goes: each other member that is a contact with a
    /// session and not blocked (one transfer each), and the names of the members it
    /// cannot reach yet.
    pub(in crate::node) fn file_recipients(
        &self,
        gid: &GroupId,
    ) -> (Vec<ContactId>, Vec<MemberName>) {
        let me = self.me();
        let mut to = Vec::new();
        let mut not = Vec::new();
        let Some(log) = self.groups.get(gid) else {
            return (to, not);
        };
        for m in log.state().members.keys().filter(|m| **m != me) {
            let reachable = self
                .member_contact(m)
                .filter(|c| !self.blocked.contains(c))
                .filter(|c| self.contacts.get(c).is_some_and(|s| s.session.is_some()));
            match reachable {
                Some(c) => to.push(c),
                None => not.push(self.member_name(m)),
            }
        }
        (to, not)
    }

    /// Whether contact `cid` and we are both members of `gid` as our log stands; `None`
    /// if we do not know the group (its welcome may be on the way).
    pub(in crate::node) fn shares_group(&self, cid: &ContactId, gid: &GroupId) -> Option<bool> {
        let log = self.groups.get(gid)?;
        let members = &log.state().members;
        let sender = self.member_of_contact(cid);
        Some(sender.is_some_and(|k| members.contains_key(&k)) && members.contains_key(&self.me()))
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
                    // A late copy: its message's id is in its content, and one more member
                    // counts towards its delivery.
                    Some(s) => match Content::decode(&out.content) {
                        Ok(Content::Group {
                            body: GroupBody::Text { id, .. },
                            ..
                        }) => {
                            if let Some(r) = self.reach.get_mut(&MessageId(id)) {
                                r.1 += 1;
                            }
                            Some((MessageId(id), s))
                        }
                        _ => None,
                    },
                    None => message_id.zip(sent.seq),
                };
                self.copy_of.insert(c.id, CopyOf { group, message });
            }
            self.copies_sent.insert(c.id, (c.contact, c.seq));
            self.defer_mirror(c.contact, c.id, c.seq, out.envelope.clone(), now);
        }
        if let Some(mid) = message_id {
            let n = sent.copies.len();
            if n > 0 {
                self.reach.insert(mid, (0, n));
            }
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
}
