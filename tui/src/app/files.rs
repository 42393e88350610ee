//! Files in the TUI: sending one (labelled, so its events find the conversation), and the
//! node's file events kept in [`App::files`] and shown in the files dialog.

use super::*;
use crate::dialog::{Attach, Files, Preview};
use crate::model::FileView;
use cairn_node::api::FileStateName;

/// Sends the file the attach dialog chose, labelled with a `ref` so that `file_queued`
/// names the conversation.
pub(super) fn send(app: &mut App, cmd: Command, fx: &mut Vec<Effect>) {
    let Command::SendFile {
        to, path, original, ..
    } = cmd
    else {
        return;
    };
    app.next_local += 1;
    let label = format!("file-{}", app.next_local);
    app.file_refs.insert(label.clone(), to.clone());
    app.notify(format!("Preparing {path} for {to}…"));
    fx.push(Effect::Node(Command::SendFile {
        to,
        path,
        original,
        client_ref: Some(label.into()),
    }));
}

/// Opens the attach dialog for the selected conversation (`path` typed so far).
pub(super) fn open_attach(app: &mut App, path: &str) {
    match app.selected.clone() {
        Some(alias) if app.contact(&alias).is_some_and(|c| c.group.is_none()) => {
            app.dialog = Some(Dialog::Attach(Attach::new(alias, path)));
        }
        Some(_) => app.warn("Files cannot be sent to groups yet."),
        None => app.warn("Select a conversation first."),
    }
}

/// Opens the files dialog for the selected conversation and asks the node for its list.
pub(super) fn open_files(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(alias) = app.selected.clone() else {
        return app.warn("Select a conversation first.");
    };
    let files = of(app, &alias);
    app.dialog = Some(Dialog::Files(Files::new(alias.clone(), files)));
    fx.push(Effect::Node(Command::Files { with: alias }));
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
            name,
            size,
            removed,
            client_ref,
        } => {
            let Some(alias) = client_ref.and_then(|r| app.file_refs.remove(r.as_str())) else {
                return;
            };
            let said = if removed.is_empty() {
                String::new()
            } else {
                format!(" (removed: {})", removed.join(", "))
            };
            app.notify(format!("Offered {name} to {alias}{said}."));
            app.files.push(FileView {
                file,
                alias,
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
            file,
            name,
            size,
            ..
        } => {
            app.notify(format!(
                "{from} offers a file: {name} ({}). /files to accept or decline; nothing is fetched before.",
                crate::dialog::files_size(size)
            ));
            app.files.push(FileView {
                file,
                alias: from,
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
            let (name, alias) = (f.name.clone(), f.alias.clone());
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
        Event::Files { with, files } => {
            app.files.retain(|f| f.alias != with);
            for i in files {
                app.files.push(FileView {
                    file: i.file,
                    alias: with.clone(),
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
