//! Groups (docs/PROTOCOL.md §24): each group's membership log, its conversation, and the
//! copies of its messages and changes that go to each member over the 1:1 sessions — each
//! written in one transaction with the sessions that encrypted them, like a 1:1 message.

use super::*;
use crate::store::model::MAX_GROUP_COPIES;
use std::collections::BTreeMap;

/// One member's copy of what a group send carries, encrypted under the member's session.
#[derive(Clone, Debug)]
pub struct CopyOut {
    /// The member.
    pub contact: ContactId,
    /// The member's session after encrypting the copy.
    pub session_after: SecretBytes,
    /// The copy's id (inside the content; the member's receipt names it).
    pub id: MessageId,
    /// The encoded content, kept to encrypt it again (renewal, session reset).
    pub content: Vec<u8>,
    /// The envelope to deliver.
    pub envelope: Vec<u8>,
    /// The stored group message it carries, by sequence number in the group's
    /// conversation (a member that could not be sent it at first, sent it once a session
    /// exists): the copy joins that message's list. A copy of the send's own
    /// [`GroupSend::message`] leaves this `None`.
    pub origin: Option<u64>,
}

/// Most copies one group send writes (a 100-member group's creation: a welcome and up to
/// four copies of introductions for each member).
pub const MAX_SEND_COPIES: usize = 1024;

/// What one group send writes, in one transaction.
#[derive(Clone, Debug)]
pub struct GroupSend {
    /// The group's record after the change, if its log changed.
    pub group: Option<GroupRecord>,
    /// The message for the group's conversation, if this is a message (its `group` part is
    /// a [`GroupPart::Message`], whose copies the store fills in).
    pub message: Option<NewMessage>,
    /// The copies: one per member sent to, or several for one member (in order; each
    /// encrypted after the one before under that member's session).
    pub copies: Vec<CopyOut>,
}

/// What [`Store::record_group_send`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSent {
    /// The message's sequence number in the group's conversation, if there is a message.
    pub seq: Option<u64>,
    /// Each copy: its member, id and sequence number in the member's conversation (grouped
    /// by member).
    pub copies: Vec<GroupCopy>,
}

/// What one received group content writes, in one transaction.
#[derive(Clone, Debug)]
pub struct GroupIncoming {
    /// The member it came from.
    pub contact: ContactId,
    /// The session after decrypting it and encrypting the receipt.
    pub session_after: SecretBytes,
    /// The copy's id (deduplicated).
    pub copy: MessageId,
    /// The group's record after applying it, if its log changed.
    pub group: Option<GroupRecord>,
    /// The message for the group's conversation, if it is one, and whether it is shown
    /// (a `group_message` event owed: [`crate::store::Report::GroupMessage`]).
    pub message: Option<(NewMessage, bool)>,
    /// A setting to write with it (name, value): a pending introduction.
    pub setting: Option<(String, Vec<u8>)>,
    /// The receipt's outbox id and envelope.
    pub receipt: (MessageId, Vec<u8>),
}

impl Store {
    /// The conversation that holds a group's messages: a keyed hash of the group's id, so
    /// nothing on disk names the group.
    pub fn group_conversation(&self, group: &[u8; 16]) -> ContactId {
        ContactId(self.keys.blind(purpose::GROUP_CONVERSATION, group))
    }

    fn group_key(&self, group: &[u8; 16]) -> Vec<u8> {
        self.keys.blind(purpose::GROUP, group).to_vec()
    }

    /// Every group this profile knows, and any damaged record.
    pub fn groups(&self) -> Result<Listing<GroupRecord>, StoreError> {
        let raw = self.scan_records(TreeName::Groups, &[])?;
        let mut out = Listing {
            items: Vec::with_capacity(raw.items.len()),
            damaged: raw.damaged,
        };
        for (k, r) in raw.items {
            match r {
                Record::Group(g) if self.group_key(&g.id) == k => out.items.push(g),
                _ => out.damaged.push(damaged(
                    TreeName::Groups,
                    &k,
                    DamageKind::Malformed(DecodeError::WrongRecordType {
                        tree: TreeName::Groups,
                        tag: 0,
                    }),
                )),
            }
        }
        Ok(out)
    }

    /// One group.
    pub fn group(&self, id: &[u8; 16]) -> Result<Option<GroupRecord>, StoreError> {
        let key = self.group_key(id);
        match self.get_record(TreeName::Groups, &key)? {
            None => Ok(None),
            Some(Record::Group(g)) => Ok(Some(g)),
            Some(_) => Err(Self::wrong_type(TreeName::Groups, &key)),
        }
    }

    fn stage_group(&self, b: &mut WriteBatch, g: &GroupRecord) -> Result<(), StoreError> {
        self.put(
            b,
            TreeName::Groups,
            self.group_key(&g.id),
            &Record::Group(g.clone()),
        )
    }

    /// Records a group send: the group's new log, the message in the group's conversation
    /// (with where each copy is), and each member's copy with its envelope and the session
    /// that encrypted it, in one atomic batch. Staged: nothing may be shown as queued, nor
    /// leave, before it is durable.
    pub fn record_group_send(
        &self,
        group_id: Option<&[u8; 16]>,
        send: &GroupSend,
        now_ms: u64,
    ) -> Result<Staged<GroupSent>, StoreError> {
        let needs_group = send.message.is_some() || send.copies.iter().any(|c| c.origin.is_some());
        let conv = match group_id {
            Some(g) => self.group_conversation(g),
            // Never used: nothing in the send is a group message.
            None if !needs_group => ContactId([0; 32]),
            None => return Err(StoreError::Invalid("a group message without its group")),
        };
        if send.copies.len() > MAX_SEND_COPIES {
            return Err(StoreError::TooLarge {
                field: "group copies",
                len: send.copies.len(),
                max: MAX_SEND_COPIES,
            });
        }
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        if let Some(g) = &send.group {
            self.stage_group(&mut b, g)?;
        }
        let seq = match &send.message {
            Some(_) => Some(self.conversation(&conv)?.next_seq),
            None => None,
        };
        // A member's copies (a welcome in several parts) go into its conversation together,
        // in order; its session is the one after the last.
        let mut members: Vec<ContactId> = Vec::new();
        for c in &send.copies {
            if !members.contains(&c.contact) {
                members.push(c.contact);
            }
        }
        let mut copies = Vec::with_capacity(send.copies.len());
        let mut late: BTreeMap<u64, Vec<GroupCopy>> = BTreeMap::new();
        for member in members {
            let mine: Vec<&CopyOut> = send.copies.iter().filter(|c| c.contact == member).collect();
            let messages: Vec<NewMessage> = mine
                .iter()
                .map(|c| NewMessage {
                    id: c.id,
                    direction: Direction::Outgoing,
                    text: String::new(),
                    created_at_ms: now_ms,
                    received_at_ms: None,
                    state: DeliveryState::Queued,
                    group: Some(GroupPart::Copy {
                        content: c.content.clone(),
                        origin: c.origin.or(seq).map(|s| (conv, s)),
                    }),
                })
                .collect();
            let first = self.stage_messages(&mut b, &member, &messages, now_ms)?;
            if let Some(last) = mine.last() {
                self.stage_session(&mut b, &member, &last.session_after)?;
            }
            for (i, c) in mine.into_iter().enumerate() {
                let copy_seq = first + i as u64;
                let entry = OutboxEntry {
                    message_id: c.id,
                    contact: c.contact,
                    seq: copy_seq,
                    envelope: c.envelope.clone(),
                    attempts: 0,
                    next_attempt_at_ms: now_ms,
                    created_at_ms: now_ms,
                };
                self.put(
                    &mut b,
                    TreeName::Outbox,
                    self.keys.blind(purpose::OUTBOX, &c.id.0).to_vec(),
                    &Record::Outbox(entry),
                )?;
                let copy = GroupCopy {
                    contact: c.contact,
                    seq: copy_seq,
                    id: c.id,
                };
                match c.origin {
                    Some(s) => late.entry(s).or_default().push(copy),
                    None => copies.push(copy),
                }
            }
        }
        // Copies of messages stored before: each message's list grows.
        for (s, extra) in late {
            let key = message_key(&conv, s);
            match self.get_record(TreeName::Messages, &key)? {
                Some(Record::Message(mut m)) => {
                    if let Some(GroupPart::Message { copies: c, .. }) = &mut m.group {
                        c.extend(extra.iter().copied());
                        c.truncate(MAX_GROUP_COPIES);
                    }
                    self.put(
                        &mut b,
                        TreeName::Messages,
                        key.to_vec(),
                        &Record::Message(m),
                    )?;
                }
                // Gone (expired) meanwhile: the copies carry it all the same.
                None => {}
                Some(_) => return Err(Self::wrong_type(TreeName::Messages, &key)),
            }
            copies.extend(extra);
        }
        if let Some(m) = &send.message {
            let mut m = m.clone();
            match &mut m.group {
                Some(GroupPart::Message { copies: c, .. }) => c.clone_from(&copies),
                _ => return Err(StoreError::Invalid("a group message without its stamp")),
            }
            self.stage_messages(&mut b, &conv, &[m], now_ms)?;
        }
        self.backend.apply(&b)?;
        Ok(Staged::new(GroupSent { seq, copies }))
    }

    /// Records a received group content: the group's new log and the message for its
    /// conversation (unless the copy was received before), the copy's id for deduplication,
    /// the session and the receipt, in one atomic batch. Returns false for a copy received
    /// before (only the session and the receipt are written). Staged: acknowledge and show
    /// only once durable.
    pub fn record_group_incoming(
        &self,
        group_id: Option<&[u8; 16]>,
        inc: &GroupIncoming,
        now_ms: u64,
    ) -> Result<Staged<(bool, ReportKeys)>, StoreError> {
        if inc.message.is_some() && group_id.is_none() {
            return Err(StoreError::Invalid("a group message without its group"));
        }
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        self.stage_session(&mut b, &inc.contact, &inc.session_after)?;
        let dedup_key = self.keys.blind(purpose::DEDUP, &inc.copy.0);
        let fresh = self.backend.get(TreeName::Dedup, &dedup_key)?.is_none();
        let mut keys = ReportKeys::default();
        if fresh {
            if let Some(g) = &inc.group {
                self.stage_group(&mut b, g)?;
            }
            if let Some((name, value)) = &inc.setting {
                self.stage_setting(&mut b, name, value)?;
            }
            let conv = group_id.map_or(inc.contact, |g| self.group_conversation(g));
            let seq = match &inc.message {
                Some((m, _)) => {
                    self.stage_messages(&mut b, &conv, std::slice::from_ref(m), now_ms)?
                }
                None => CONTROL_SEQ,
            };
            if let (Some((_, true)), Some(group)) = (&inc.message, group_id) {
                let owed = [Report::GroupMessage { group: *group, seq }];
                keys = self.stage_reports(&mut b, &inc.copy.0, &owed)?;
            }
            self.put(
                &mut b,
                TreeName::Dedup,
                dedup_key.to_vec(),
                &Record::Dedup(DedupEntry {
                    received_at_ms: now_ms,
                    contact: conv,
                    seq,
                }),
            )?;
        }
        self.stage_control(&mut b, &inc.contact, inc.receipt.0, &inc.receipt.1, now_ms)?;
        self.backend.apply(&b)?;
        Ok(Staged::new((fresh, keys)))
    }

    /// Removes messages of a group's conversation (by sequence number), durably: those the
    /// group's final order says should not be shown (their author, or this member, was not
    /// a member at their stamp). Their dedup ids stay, so they are not shown again.
    pub fn remove_group_messages(
        &self,
        group_id: &[u8; 16],
        seqs: &[u64],
    ) -> Result<(), StoreError> {
        let conv = self.group_conversation(group_id);
        let mut b = WriteBatch::new();
        for s in seqs {
            b.remove(TreeName::Messages, message_key(&conv, *s).to_vec());
        }
        self.commit(&b)
    }

    /// Removes delivered copies' records (member's conversation, sequence number): what
    /// they carried is not kept once the member has it. Staged: a removal lost in a crash
    /// leaves a delivered copy on disk, sealed, as before.
    pub fn remove_messages(&self, at: &[(ContactId, u64)]) -> Result<Staged<()>, StoreError> {
        let mut b = WriteBatch::new();
        for (c, s) in at {
            b.remove(TreeName::Messages, message_key(c, *s).to_vec());
        }
        let _w = lock_ignoring_poison(&self.writer);
        self.backend.apply(&b)?;
        Ok(Staged::new(()))
    }

    /// How many of an outgoing group message's copies are delivered: the copy's message is
    /// `Delivered` (in its conversation's ranges or its own record). A copy gone with its
    /// member's conversation does not count.
    pub fn copies_delivered(&self, copies: &[GroupCopy]) -> Result<usize, StoreError> {
        let mut convs: HashMap<ContactId, Option<Conversation>> = HashMap::new();
        let mut n = 0;
        for c in copies {
            let conv = match convs.get(&c.contact) {
                Some(conv) => conv,
                None => {
                    let conv = self.conversation(&c.contact).ok();
                    convs.entry(c.contact).or_insert(conv)
                }
            };
            if conv.as_ref().is_some_and(|cv| cv.is_delivered(c.seq)) {
                n += 1;
                continue;
            }
            let key = message_key(&c.contact, c.seq);
            if let Ok(Some(Record::Message(m))) = self.get_record(TreeName::Messages, &key) {
                if m.state == DeliveryState::Delivered {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}
