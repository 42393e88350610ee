//! The node's events as the UI takes them: history, contacts, and everything else.

use super::*;

pub(super) fn history(app: &mut App, with: Alias, messages: Vec<MessageInfo>) {
    let now = app.now_ms;
    let list: Vec<Message> = messages
        .into_iter()
        .map(|m| Message {
            outgoing: m.direction == MessageDirection::Out,
            state: Delivery::from(m.state),
            seen_ms: m.sent_at.min(now.max(m.sent_at)),
            at_ms: m.sent_at,
            text: m.text,
            id: m.id.into_string(),
            from: None,
            reach: None,
        })
        .collect();
    merge_history(app, with, list);
}

/// Puts a conversation's history from the node in place, keeping what arrived (or was
/// typed) after the node read it.
pub(super) fn merge_history(app: &mut App, with: Alias, mut list: Vec<Message>) {
    let conv = app.convs.entry(with.clone()).or_default();
    let known: std::collections::HashSet<String> = list.iter().map(|m| m.id.clone()).collect();
    // Keep what arrived (or was typed) after the node read the history.
    for m in conv.messages.drain(..) {
        if !known.contains(&m.id) {
            list.push(m);
        }
    }
    conv.messages = list;
    conv.scroll = None;
    conv.divider = None;
    let last = conv.messages.last().map_or(0, |m| m.at_ms);
    let ids: Vec<String> = conv.messages.iter().map(|m| m.id.clone()).collect();
    for id in ids {
        if !id.starts_with("local-") {
            app.id_index.insert(id, with.clone());
        }
    }
    if let Some(c) = app.contact_mut(&with) {
        c.last_at = c.last_at.max(last);
    }
}

pub(super) fn contacts(app: &mut App, list: Vec<ContactInfo>, fx: &mut Vec<Effect>) {
    // Groups stay: they come with `group` events, not in this list.
    let mut next: Vec<Contact> = app
        .contacts
        .iter()
        .filter(|c| c.group.is_some())
        .cloned()
        .collect();
    for info in list {
        let old = app.contact(&info.alias).cloned();
        next.push(Contact {
            verified: info.verified,
            online: info.online,
            established: info.established,
            protocol: info.protocol,
            unread: old.as_ref().map_or(0, |o| o.unread),
            last_at: old.as_ref().map_or(0, |o| o.last_at),
            alias: info.alias,
            group: None,
        });
    }
    app.contacts = next;
    for c in app
        .contacts
        .clone()
        .into_iter()
        .filter(|c| c.group.is_none())
    {
        let conv = app.convs.entry(c.alias.clone()).or_default();
        if !conv.history_requested {
            conv.history_requested = true;
            fx.push(Effect::Node(Command::History {
                with: c.alias.clone(),
                limit: Some(HISTORY_LIMIT),
            }));
            fx.push(Effect::Node(Command::ExpireStatus {
                alias: c.alias.clone(),
            }));
        }
    }
    if app
        .selected
        .as_ref()
        .is_none_or(|s| app.contact(s).is_none())
    {
        app.selected = None;
        let first = app
            .sorted()
            .first()
            .and_then(|&i| app.alias_at(i))
            .map(Alias::from);
        app.select(first);
    }
}

/// A message arrived in conversation `from` (a contact's alias, or a group's key): added,
/// counted unread unless on screen, the bell rung if configured.
pub(super) fn received(app: &mut App, from: Alias, m: Message, fx: &mut Vec<Effect>) {
    if !app.add_message(&from, m) {
        return;
    }

    if app.selected.is_none() {
        app.select(Some(from.clone()));
    }
    let visible = app.selected.as_deref() == Some(from.as_str())
        && app.focused
        && app.convs.get(&from).is_some_and(|c| c.scroll.is_none());
    if !visible {
        let len = app.convs.get(&from).map_or(0, |c| c.messages.len());
        if let Some(conv) = app.convs.get_mut(&from) {
            if conv.divider.is_none() {
                conv.divider = Some(len - 1);
            }
        }
        if let Some(c) = app.contact_mut(&from) {
            c.unread += 1;
        }
    }
    let here = app.selected.as_deref() == Some(from.as_str()) && app.focused;
    if app.settings.bell && !here {
        fx.push(Effect::Bell);
    }
}

pub(super) const ACCEPT_ERRORS: &[ErrorCode] = &[
    ErrorCode::InvalidInvite,
    ErrorCode::InviteExpired,
    ErrorCode::InvalidAlias,
    ErrorCode::AliasTaken,
    ErrorCode::OwnInvite,
    ErrorCode::AlreadyContact,
    ErrorCode::HandshakeFailed,
    ErrorCode::Blocked,
];

pub(super) fn node_event(app: &mut App, ev: Event, fx: &mut Vec<Effect>) {
    match ev {
        Event::Ready { .. } => app.status.listening = true,
        Event::Invite {
            code,
            addresses,
            relay,
        } => match &mut app.dialog {
            Some(Dialog::Invite(d)) => {
                d.code = Some(code);
                d.reveals = Some(reveals(&addresses, relay.as_deref()));
            }
            // Closed before the code came: show it, but never over another dialog.
            None => {
                app.dialog = Some(Dialog::Invite(Invite {
                    code: Some(code),
                    reveals: Some(reveals(&addresses, relay.as_deref())),
                }))
            }
            Some(_) => {
                app.notify("An invite was created but not shown (another dialog was open); create a new one to see it.")
            }
        },
        Event::ModeSwitched {
            hidden, not_told, ..
        } => {
            let mode = if hidden { "hidden" } else { "direct" };
            let waiting = if not_told.is_empty() {
                String::new()
            } else {
                format!(" ({} contacts told once they can be reached)", not_told.len())
            };
            app.status.restarting = true;
            app.notify(format!("Restarting in {mode} mode…{waiting}"));
            fx.push(Effect::RestartNode {
                lan: app.status.lan,
            });
        }
        Event::Exposure { parties } => {
            if let Some(Dialog::Exposure(d)) = &mut app.dialog {
                d.lines = Some(cairn_node::api::exposure_lines(&parties));
            }
        }
        Event::ContactAdded { alias } => {
            fx.push(Effect::Node(Command::Contacts));
            let was_accepting = matches!(&app.dialog, Some(Dialog::Accept(a)) if a.waiting);
            if was_accepting {
                app.dialog = None;
                app.notify(format!(
                    "Added {alias}. Setting up the encrypted session… (verify with /verify)"
                ));
            } else {
                app.notify(format!("New contact: {alias}."));
            }
            if app.contact(&alias).is_none() {
                app.contacts.push(Contact {
                    alias: alias.clone(),
                    verified: false,
                    online: false,
                    established: false,
                    protocol: None,
                    unread: 0,
                    last_at: app.now_ms,
                    group: None,
                });
            } else {
                let now = app.now_ms;
                if let Some(c) = app.contact_mut(&alias) {
                    c.last_at = c.last_at.max(now);
                }
            }
            if let Some(like) = app.new_key_for(&alias) {
                app.dialog = Some(Dialog::NewKey(NewKey {
                    alias: alias.clone(),
                    like,
                }));
            }
            if was_accepting || app.selected.is_none() {
                app.select(Some(alias));
            }
        }
        Event::ContactRenamed { alias, to } => {
            if let Some(c) = app.contact_mut(&alias) {
                c.alias = to.clone();
            }
            if let Some(conv) = app.convs.remove(&alias) {
                app.convs.insert(to.clone(), conv);
            }
            for v in app.id_index.values_mut() {
                if *v == alias {
                    *v = to.clone();
                }
            }
            if app.selected.as_deref() == Some(alias.as_str()) {
                app.selected = Some(to.clone());
            }
            app.notify(format!("{alias} is now called {to} (on this device only)."));
        }
        Event::SessionReset {
            alias,
            identity_changed,
            protocol,
        } => {
            if let Some(c) = app.contact_mut(&alias) {
                c.established = true;
                c.protocol = Some(protocol);
                if identity_changed {
                    c.verified = false;
                }
            }
            if identity_changed {
                app.warn(format!(
                    "{alias}'s identity key CHANGED (a new device). History is kept, but \"verified\" was dropped: compare safety numbers again (/verify) before trusting this conversation."
                ));
            } else {
                app.notify(format!(
                    "New encrypted session with {alias} (reset). Messages that waited are sent again; history and verification are kept."
                ));
            }
        }
        Event::ContactBlocked { alias, blocked } => {
            app.notify(if blocked {
                format!("Blocked {alias}: nothing from them is shown or answered, nothing is sent to them. /unblock to undo.")
            } else {
                format!("Unblocked {alias}.")
            });
        }
        Event::ContactDeleted {
            alias,
            kept_history,
        } => {
            app.contacts.retain(|c| c.alias != alias);
            app.convs.remove(&alias);
            app.id_index.retain(|_, a| *a != alias);
            if app.selected.as_deref() == Some(alias.as_str()) {
                app.select(None);
            }
            app.notify(if kept_history {
                format!("Deleted {alias}; the history stays on this device.")
            } else {
                format!("Deleted {alias} and your history with them.")
            });
        }
        Event::SessionEstablished { alias } => {
            if let Some(c) = app.contact_mut(&alias) {
                c.established = true;
            }
            app.notify(format!(
                "End-to-end encrypted session with {alias} is ready."
            ));
        }
        Event::Queued { id, client_ref } => {
            // Paired by the ref the send carried (its local id), never by order.
            if let Some((alias, m)) = client_ref.and_then(|local| app.local_message(&local)) {
                m.id = id.to_string();
                app.id_index.insert(id.into_string(), alias);
            }
        }
        Event::Sent { id } => app.set_state(id.as_str(), Delivery::Sent),
        Event::Delivered { id } => app.set_state(id.as_str(), Delivery::Delivered),
        Event::Message {
            from,
            id,
            text,
            sent_at,
        } => {
            let now = app.now_ms;
            let m = Message::plain(id.into_string(), false, text, sent_at, now);
            received(app, from, m, fx);
        }
        Event::Contacts { contacts: list } => contacts(app, list, fx),
        Event::History { with, messages } => history(app, with, messages),
        Event::SafetyNumber {
            alias,
            digits,
            qr,
            verified,
        } => {
            let was = app.contact(&alias).is_some_and(|c| c.verified);
            if let Some(c) = app.contact_mut(&alias) {
                c.verified = verified;
            }
            if let Some(Dialog::Verify(d)) = &mut app.dialog {
                if d.alias == alias {
                    d.digits = Some(digits);
                    d.qr = Some(qr);
                    d.verified = verified;
                }
            }
            if verified && !was {
                app.notify(format!("{alias} is marked as verified."));
            }
        }
        Event::ExpireSet {
            alias,
            seconds,
            by_contact,
        } => {
            let conv = app.convs.entry(alias.clone()).or_default();
            let changed = conv.expire.is_some() && conv.expire != Some(seconds);
            let asked = conv.expire.is_none();
            conv.expire = Some(seconds);
            if by_contact {
                // Said plainly: the contact decided how long this conversation lives.
                app.notify(match seconds {
                    Some(s) => format!(
                        "{alias} set disappearing messages: new messages disappear after {} (for both of you).",
                        describe_duration(s)
                    ),
                    None => format!("{alias} turned disappearing messages off (for both of you)."),
                });
            } else if changed || !asked {
                app.notify(match seconds {
                    Some(s) => format!(
                        "New messages with {alias} disappear after {}.",
                        describe_duration(s)
                    ),
                    None => format!("Messages with {alias} no longer disappear."),
                });
            }
        }
        Event::PeerOnline { alias } => {
            if let Some(c) = app.contact_mut(&alias) {
                c.online = true;
            }
        }
        Event::PeerOffline { alias } => {
            if let Some(c) = app.contact_mut(&alias) {
                c.online = false;
            }
        }
        Event::Relay { state, .. } => {
            app.status.relay_reserved = matches!(state, RelayState::Reserved | RelayState::Mailbox)
        }
        Event::Status {
            peers, relay, lan, ..
        } => {
            app.status.peers = peers;
            app.status.relay_reserved = relay;
            app.status.lan = lan;
        }
        Event::Wiped => {
            app.dialog = None;
            app.screen = Screen::Wiped;
            app.contacts.clear();
            app.convs.clear();
            app.input.clear();
            app.selected = None;
        }
        Event::Error {
            code,
            message,
            client_ref,
        } => {
            if let Some(local) = client_ref {
                if let Some((_, m)) = app.local_message(&local) {
                    m.state = Delivery::Failed;
                }
                let text = if code == ErrorCode::NotEstablished {
                    "Not sent: the encrypted session is not ready yet. Try again in a moment."
                        .to_owned()
                } else {
                    format!("Not sent: {message}")
                };
                return app.warn(text);
            }
            if let Some(Dialog::Attach(d)) = app.dialog.as_mut() {
                d.inspecting = false;
            }
            if ACCEPT_ERRORS.contains(&code) {
                if let Some(Dialog::Accept(d)) = &mut app.dialog {
                    d.waiting = false;
                    d.error = Some(message);
                    return;
                }
            }
            app.warn(message);
        }
        Event::Stopped => {}
        Event::Group { group, change } => super::groups::group(app, *group, change, fx),
        Event::Groups { groups } => {
            for g in groups {
                super::groups::group(app, g, None, fx);
            }
        }
        Event::GroupMessage {
            group,
            from,
            id,
            text,
            sent_at,
        } => {
            let now = app.now_ms;
            let mut m = Message::plain(id.into_string(), false, text, sent_at, now);
            m.from = Some(from.into_string());
            received(app, crate::model::group_key(&group), m, fx);
        }
        Event::GroupDelivered {
            id, delivered, of, ..
        } => super::groups::delivered(app, id.as_str(), delivered, of),
        Event::GroupHistory { group, messages } => super::groups::history(app, &group, messages),
        Event::Introduction {
            id,
            by,
            group,
            group_name,
        } => super::groups::introduction(app, id, by, group, group_name),
        Event::IntroductionAnswered { accepted, alias, .. } => {
            super::groups::answered(app, accepted, alias)
        }
        ev @ (Event::FileOffered { .. }
        | Event::FileInspected { .. }
        | Event::FileQueued { .. }
        | Event::FileProgress { .. }
        | Event::FileState { .. }
        | Event::FileWaiting { .. }
        | Event::FileExported { .. }
        | Event::Files { .. }) => super::files::event(app, ev),
    }
}
