//! The group commands: create, change, send, list, history.

use super::*;

impl<S: Shell> Runtime<S> {
    pub(in crate::node) fn cmd_group_create(&mut self, name: &str, members: &[Alias]) {
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
    pub(in crate::node) fn cmd_group_change(&mut self, group: &str, change: Result<Change, ()>) {
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
                let before_log = self.groups.insert(gid, log).unwrap_or_default();
                self.group_log_changed(&gid, &before_log, std::slice::from_ref(&op));
                self.warn_unreachable(&unreachable);
            }
            Err(e) => self.emit(Event::error(ErrorCode::StoreFailed, e)),
        }
    }

    /// The member a group command names (an error event if none).
    pub(in crate::node) fn group_member(&self, group: &str, name: &str) -> Result<MemberKey, ()> {
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

    pub(in crate::node) fn cmd_group_add(&mut self, group: &str, alias: &str) {
        if self.group_by_ref(group, None).is_none() {
            return;
        }
        let Some(k) = self.addable(alias) else {
            return;
        };
        self.cmd_group_change(group, Ok(Change::Add(k)));
    }

    pub(in crate::node) fn cmd_group_send(
        &mut self,
        group: &str,
        text: String,
        r: Option<ClientRef>,
    ) {
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

    pub(in crate::node) fn cmd_groups(&self) {
        let groups = self
            .groups
            .iter()
            .map(|(g, log)| self.group_info(g, log))
            .collect();
        self.emit(Event::Groups { groups });
    }

    pub(in crate::node) fn cmd_group_history(&self, group: &str, limit: usize) {
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
        // Only what the group's order shows (a message held for its author's addition is
        // not, yet).
        let me = self.me();
        if let Some(log) = self.groups.get(&gid) {
            let mut states: BTreeMap<Stamp, Membership> = BTreeMap::new();
            items.retain(|(stamp, _, _, _)| {
                let before = states
                    .entry(*stamp)
                    .or_insert_with(|| log.state_before(*stamp));
                visibility_in(before, *stamp, &me) == Visibility::Shown
            });
        }
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
}
