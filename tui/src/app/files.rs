//! Files in the TUI: sending one (labelled, so its events find the conversation), and the
//! node's file events kept in [`App::files`] and shown in the files dialog; forwarding a
//! file or a received message.

use super::*;
use crate::dialog::{Attach, Files, Forward, Preview, Received};
use crate::model::FileView;
use crate::model::{group_key, Contact};
use cairn_node::api::{FileStateName, GroupRef};

/// Sends the file the attach dialog chose, or forwards one from the files dialog,
/// labelled with a `ref` so that `file_queued` names the conversation; to a group when the
/// conversation is one (or the name typed is `# name` of one).
pub(super) fn send(app: &mut App, cmd: Command, fx: &mut Vec<Effect>) {
    app.next_local += 1;
    let label = format!("file-{}", app.next_local);
    let client_ref = Some(label.clone().into());
    let out = match cmd {
        Command::SendFile {
            to: Some(conv),
            path,
            original,
            ..
        } => {
            let (to, group) = target(app, &conv);
            let name = app.contact(&conv).map_or(conv.to_string(), Contact::label);
            app.notify(format!("Preparing {path} for {name}…"));
            app.file_refs.insert(label, conv);
            Command::SendFile {
                to,
                group,
                path,
                original,
                client_ref,
            }
        }
        Command::Forward {
            file: Some(file),
            to: Some(name),
            original,
            ..
        } => {
            let conv = conversation_named(app, &name);
            let (to, group) = target(app, &conv);
            app.file_refs.insert(label, conv);
            Command::Forward {
                message: None,
                file: Some(file),
                to,
                group,
                original,
                client_ref,
            }
        }
        _ => return,
    };
    fx.push(Effect::Node(out));
}

/// Whom a file for conversation `conv` goes to: the contact, or the group.
fn target(app: &App, conv: &Alias) -> (Option<Alias>, Option<GroupRef>) {
    match app.contact(conv).and_then(|c| c.group.as_ref()) {
        Some(g) => (None, Some(g.id.clone())),
        None => (Some(conv.clone()), None),
    }
}

/// The conversation a typed name means: `# name` (or `#name`) is the group of that name, anything
/// else a contact's alias.
fn conversation_named(app: &App, name: &str) -> Alias {
    if let Some(g) = name.strip_prefix('#').map(str::trim) {
        let found = app
            .contacts
            .iter()
            .find(|c| c.group.as_ref().is_some_and(|e| e.member && e.name == g));
        if let Some(c) = found {
            return c.alias.clone();
        }
    }
    name.into()
}

/// Opens the attach dialog for the selected conversation (`path` typed so far).
pub(super) fn open_attach(app: &mut App, path: &str) {
    let Some(alias) = app.selected.clone() else {
        return app.warn("Select a conversation first.");
    };
    match app.contact(&alias) {
        Some(c) if c.group.as_ref().is_some_and(|g| !g.member) => {
            app.warn("You are no longer a member of this group.")
        }
        Some(c) => {
            let mut d = Attach::new(alias.clone(), path);
            d.label = c.label();
            app.dialog = Some(Dialog::Attach(d));
        }
        None => app.warn("Select a conversation first."),
    }
}

/// Opens the forward dialog over the selected conversation's received messages.
pub(super) fn open_forward(app: &mut App) {
    let Some(alias) = app.selected.clone() else {
        return app.warn("Select a conversation first.");
    };
    let messages = app.convs.get(&alias).map_or_else(Vec::new, |c| {
        c.messages
            .iter()
            .filter(|m| !m.outgoing)
            .map(|m| Received {
                id: m.id.clone(),
                from: m.from.clone(),
                text: m.text.clone(),
            })
            .collect()
    });
    let label = app
        .contact(&alias)
        .map_or(alias.to_string(), Contact::label);
    app.dialog = Some(Dialog::Forward(Forward::new(label, messages)));
}

/// Forwards the received message `id` to the conversation named `to` (`# name`: a group):
/// its text shows there at once as the user's own message, and the node sends it as a new
/// message (the text only: PROTOCOL's forwarding names no first sender), labelled with a
/// `ref` so that `queued` finds it. A name that is no conversation is said, the dialog left
/// open to correct it.
pub(super) fn forward_message(app: &mut App, id: String, to: &str, fx: &mut Vec<Effect>) {
    let text = app
        .convs
        .values()
        .flat_map(|c| c.messages.iter())
        .find(|m| !m.outgoing && m.id == id)
        .map(|m| m.text.clone());
    let Some(text) = text else {
        app.dialog = None;
        return app.warn("That message is gone (its disappearing timer ran out).");
    };
    let conv = conversation_named(app, to);
    let Some(contact) = app.contact(&conv) else {
        return app.warn(format!("No contact or group named {to}."));
    };
    let label = contact.label();
    let group = contact.group.clone();
    if group.as_ref().is_some_and(|g| !g.member) {
        return app.warn("You are no longer a member of this group.");
    }
    if !app.status.running || app.status.restarting {
        return app.warn("The node is not running right now; forward it again in a moment.");
    }
    app.dialog = None;
    app.next_local += 1;
    let local = format!("local-{}", app.next_local);
    let now = app.now_ms;
    app.add_message(&conv, Message::plain(local.clone(), true, text, now, now));
    let (to, group) = match group {
        Some(g) => (None, Some(g.id)),
        None => (Some(conv), None),
    };
    fx.push(Effect::Node(Command::Forward {
        message: Some(id.into()),
        file: None,
        to,
        group,
        original: false,
        client_ref: Some(local.into()),
    }));
    app.notify(format!(
        "Forwarded to {label} as your own message: nothing says who sent it to you."
    ));
}

/// Opens the files dialog for the selected conversation and asks the node for its list.
pub(super) fn open_files(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(alias) = app.selected.clone() else {
        return app.warn("Select a conversation first.");
    };
    let files = of(app, &alias);
    let mut d = Files::new(alias.clone(), files);
    if let Some(c) = app.contact(&alias) {
        d.label = c.label();
    }
    app.dialog = Some(Dialog::Files(d));
    let (with, group) = target(app, &alias);
    fx.push(Effect::Node(Command::Files { with, group }));
}

fn of(app: &App, alias: &Alias) -> Vec<FileView> {
    app.files
        .iter()
        .filter(|f| &f.alias == alias)
        .cloned()
        .collect()
}

/// Shows the files dialog's list again after a change.
fn refresh(app: &mut App) {
    let Some(Dialog::Files(d)) = &app.dialog else {
        return;
    };
    let list = of(app, &d.alias);
    if let Some(Dialog::Files(d)) = app.dialog.as_mut() {
        d.files = list;
        d.selected = d.selected.min(d.files.len().saturating_sub(1));
    }
}

fn file_mut<'a>(app: &'a mut App, file: &cairn_node::api::FileId) -> Option<&'a mut FileView> {
    app.files.iter_mut().find(|f| &f.file == file)
}

/// A file event from the node.
pub(super) fn event(app: &mut App, ev: Event) {
    match ev {
        Event::FileInspected {
            removed,
            cleanable,
            note,
            ..
        } => {
            if let Some(Dialog::Attach(d)) = app.dialog.as_mut() {
                d.inspected(Preview {
                    removed,
                    cleanable,
                    note,
                });
            }
        }
        Event::FileQueued {
            file,
            to,
            group,
            name,
            size,
            removed,
            client_ref,
        } => {
            // A group's file is queued once per member: the label stays for the others.
            let Some(alias) = client_ref.and_then(|r| app.file_refs.get(r.as_str()).cloned())
            else {
                return;
            };
            let said = if removed.is_empty() {
                String::new()
            } else {
                format!(" (removed: {})", removed.join(", "))
            };
            app.notify(format!("Offered {name} to {to}{said}."));
            app.files.push(FileView {
                file,
                alias,
                member: group.is_some().then_some(to),
                outgoing: true,
                name,
                size,
                state: FileStateName::Offered,
                bytes: 0,
                rate: 0,
                eta_secs: None,
                waiting: false,
            });
        }
        Event::FileOffered {
            from,
            group,
            file,
            name,
            size,
            ..
        } => {
            let (alias, member, place) = match group {
                Some(g) => {
                    let alias = group_key(g.as_str());
                    let place = app
                        .contact(&alias)
                        .map_or(String::new(), |c| format!(" in {}", c.label()));
                    (alias, Some(from.clone()), place)
                }
                None => (from.clone(), None, String::new()),
            };
            app.notify(format!(
                "{from} offers a file{place}: {name} ({}). /files to accept or decline; nothing is fetched before.",
                crate::dialog::files_size(size)
            ));
            app.files.push(FileView {
                file,
                alias,
                member,
                outgoing: false,
                name,
                size,
                state: FileStateName::Offered,
                bytes: 0,
                rate: 0,
                eta_secs: None,
                waiting: false,
            });
        }
        Event::FileProgress {
            file,
            bytes,
            rate,
            eta_secs,
            ..
        } => {
            if let Some(f) = file_mut(app, &file) {
                f.bytes = bytes;
                f.rate = rate;
                f.eta_secs = eta_secs;
                if f.state == FileStateName::Offered {
                    f.state = FileStateName::Moving;
                }
            }
        }
        Event::FileState {
            file,
            state,
            by_contact,
        } => {
            let Some(f) = file_mut(app, &file) else {
                return;
            };
            f.state = state;
            if state == FileStateName::Complete {
                f.bytes = f.size;
                f.eta_secs = None;
            }
            let name = f.name.clone();
            let alias = f.member.clone().unwrap_or_else(|| f.alias.clone());
            let text = match (state, by_contact) {
                (FileStateName::Complete, _) => {
                    Some(format!("{name}: complete. /files to save it."))
                }
                (FileStateName::Declined, true) => Some(format!("{alias} declined {name}.")),
                (FileStateName::Cancelled, true) => Some(format!("{alias} cancelled {name}.")),
                (FileStateName::Failed, _) => {
                    Some(format!("{name} arrived altered and was deleted."))
                }
                _ => None,
            };
            if let Some(t) = text {
                app.notify(t);
            }
        }
        Event::FileWaiting { file } => {
            if let Some(f) = file_mut(app, &file) {
                f.waiting = true;
            }
        }
        Event::FileExported { path, .. } => app.notify(format!("Saved to {path}.")),
        Event::Files { with, group, files } => {
            let Some(conv) = with.or_else(|| group.as_ref().map(|g| group_key(g.as_str()))) else {
                return;
            };
            app.files.retain(|f| f.alias != conv);
            for i in files {
                app.files.push(FileView {
                    file: i.file,
                    alias: conv.clone(),
                    member: group.is_some().then_some(i.contact),
                    outgoing: i.direction == MessageDirection::Out,
                    name: i.name,
                    size: i.size,
                    state: i.state,
                    bytes: i.bytes,
                    rate: 0,
                    eta_secs: None,
                    waiting: false,
                });
            }
        }
        _ => return,
    }
    refresh(app);
}
