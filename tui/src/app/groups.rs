//! Groups and introductions as the UI takes them: a group is an entry of the conversation
//! list (keyed by [`group_key`], shown as `# name`), its messages carry their author, and
//! an outgoing one shows "delivered k/n".

use super::*;
use crate::dialog::{Introduction, Members};
use crate::model::{group_key, GroupEntry};
use cairn_node::api::{GroupChange, GroupInfo, GroupMessageInfo, GroupRef, IntroId};

/// A `group` event (or one entry of `groups`): the list entry made or updated, its history
/// asked for once, the change told.
pub(super) fn group(
    app: &mut App,
    info: GroupInfo,
    change: Option<GroupChange>,
    fx: &mut Vec<Effect>,
) {
    let key = group_key(&info.id);
    let entry = GroupEntry {
        id: info.id.clone(),
        name: info.name.clone(),
        members: info.members,
        member: info.member,
        admin: info.admin,
    };
    match app.contact_mut(&key) {
        Some(c) => c.group = Some(entry.clone()),
        None => {
            let now = app.now_ms;
            app.contacts.push(Contact {
                alias: key.clone(),
                verified: false,
                online: false,
                established: true,
                protocol: None,
                unread: 0,
                last_at: now,
                group: Some(entry.clone()),
            });
            if change.is_none() {
                app.notify(format!("You were added to the group “{}”.", entry.name));
            }
        }
    }
    // An open members dialog follows the group.
    if let Some(Dialog::Members(d)) = &mut app.dialog {
        if d.group == info.id {
            d.members.clone_from(&entry.members);
            d.admin = entry.admin;
            d.choice = d.choice.min(d.members.len().saturating_sub(1));
        }
    }
    let conv = app.convs.entry(key.clone()).or_default();
    if !conv.history_requested {
        conv.history_requested = true;
        fx.push(Effect::Node(Command::GroupHistory {
            group: info.id,
            limit: Some(HISTORY_LIMIT),
        }));
    }
    if app.selected.is_none() {
        app.select(Some(key));
    }
    if let Some(c) = change {
        let name = &entry.name;
        let text = match c {
            GroupChange::Created { .. } => format!("Group “{name}” created."),
            GroupChange::Added { by, member } => format!("{by} added {member} to “{name}”."),
            GroupChange::Removed { by, member } => format!("{by} removed {member} from “{name}”."),
            GroupChange::Promoted { by, member } => {
                format!("{by} made {member} an admin of “{name}”.")
            }
            GroupChange::Demoted { by, member } => {
                format!("{by} made {member} a plain member of “{name}”.")
            }
            GroupChange::Left { by } => format!("{by} left “{name}”."),
            GroupChange::Renamed { by, name } => format!("{by} renamed the group to “{name}”."),
        };
        app.notify(text);
    }
}

/// A group message's delivery: `delivered` of `of` members have it.
pub(super) fn delivered(app: &mut App, id: &str, delivered: usize, of: usize) {
    let Some(key) = app.id_index.get(id).cloned() else {
        return;
    };
    if let Some(m) = app
        .convs
        .get_mut(&key)
        .and_then(|c| c.messages.iter_mut().rev().find(|m| m.id == id))
    {
        m.reach = Some((delivered, of));
        m.state = if delivered >= of {
            Delivery::Delivered
        } else {
            Delivery::Sent
        };
    }
}

/// A group's history from the node, in the group's order.
pub(super) fn history(app: &mut App, group: &GroupRef, messages: Vec<GroupMessageInfo>) {
    let now = app.now_ms;
    let list = messages
        .into_iter()
        .map(|m| {
            let outgoing = m.direction == MessageDirection::Out;
            let mut msg = Message::plain(
                m.id.into_string(),
                outgoing,
                m.text,
                m.sent_at,
                m.sent_at.min(now.max(m.sent_at)),
            );
            if outgoing {
                msg.reach = m.delivered.zip(m.of);
                msg.state = match msg.reach {
                    Some((k, n)) if k >= n => Delivery::Delivered,
                    Some(_) => Delivery::Sent,
                    None => Delivery::Queued,
                };
            } else {
                msg.from = Some(m.from.into_string());
            }
            msg
        })
        .collect();
    merge_history(app, group_key(group), list);
}

/// An introduction to answer: shown at once unless another dialog is open (then it waits
/// in the list `/introductions` opens).
pub(super) fn introduction(
    app: &mut App,
    id: IntroId,
    by: Alias,
    group: Option<GroupRef>,
    group_name: Option<String>,
) {
    let d = Introduction {
        id,
        by,
        group: group.map(|g| group_name.unwrap_or_else(|| format!("#{}", &g[..8.min(g.len())]))),
    };
    if app.dialog.is_none() {
        app.dialog = Some(Dialog::Introduction(d));
    } else {
        app.notify("You have an introduction to answer: /introductions.");
        app.intros.push(d);
    }
}

/// An introduction was answered.
pub(super) fn answered(app: &mut App, accepted: bool, alias: Option<Alias>) {
    if accepted {
        app.notify(match alias {
            Some(a) => format!("Introduction accepted: setting up a session with {a}…"),
            None => "Introduction accepted: setting up the session…".to_owned(),
        });
    } else {
        app.notify("Introduction refused: nothing was sent.");
    }
    if app.dialog.is_none() {
        if let Some(next) = app.intros.pop() {
            app.dialog = Some(Dialog::Introduction(next));
        }
    }
}

/// The members dialog of the selected group.
pub(super) fn open_members(app: &mut App) {
    let Some(g) = selected_group(app) else {
        return app.warn("Select a group first (groups are marked # in the list).");
    };
    let addable = app
        .contacts
        .iter()
        .filter(|c| c.group.is_none() && c.established)
        .filter(|c| {
            !g.members
                .iter()
                .any(|m| m.name.as_str() == c.alias.as_str())
        })
        .map(|c| c.alias.clone())
        .collect();
    app.dialog = Some(Dialog::Members(Members {
        group: g.id.clone(),
        name: g.name.clone(),
        members: g.members.clone(),
        admin: g.admin,
        addable,
        choice: 0,
        adding: false,
    }));
}

/// The selected conversation's group, if it is one.
pub(super) fn selected_group(app: &App) -> Option<GroupEntry> {
    let key = app.selected.as_ref()?;
    app.contact(key)?.group.clone()
}
