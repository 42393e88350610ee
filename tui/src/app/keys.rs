//! Keys: the setup and unlock screens, the main screen, dialogs, and pasting.

use super::*;

pub(super) fn key(app: &mut App, k: KeyEvent, fx: &mut Vec<Effect>) {
    let action = app.settings.keymap.lookup(&k);
    if action == Some(KeyAction::Quit) {
        return quit(app, fx);
    }
    match &mut app.screen {
        Screen::Setup(form) => {
            let mut change = ScreenChange { to: None };
            setup_key(form, k, action, fx, &mut change);
            if let Some(s) = change.to {
                app.screen = s;
            }
            return;
        }
        Screen::Unlock(form) => {
            match Key::of(action, &k) {
                Key::Confirm => {
                    if form.pass.is_empty() {
                        form.error = Some("Type your passphrase, then Enter.".into());
                        return;
                    }
                    let pass = form.pass.take();
                    fx.push(Effect::Open(pass));
                    app.screen = Screen::Busy {
                        text: "Unlocking… deriving the key from your passphrase".into(),
                        retry: Retry::Unlock,
                    };
                }
                Key::Action(KeyAction::DeleteBack) => form.pass.pop(),
                Key::Cancel | Key::Action(KeyAction::KillToStart) => form.pass.clear(),
                Key::Char(c) => form.pass.push(c),
                _ => {}
            }
            return;
        }
        Screen::Busy { .. } => return,
        Screen::Wiped => return quit(app, fx),
        Screen::Main => {}
    }
    if app.dialog.is_some() {
        return dialog_key(app, k, action, fx);
    }
    main_key(app, k, action, fx);
}

/// Screen transitions requested from inside a form handler.
pub(super) struct ScreenChange {
    to: Option<Screen>,
}

pub(super) fn setup_key(
    form: &mut SetupForm,
    k: KeyEvent,
    action: Option<KeyAction>,
    fx: &mut Vec<Effect>,
    change: &mut ScreenChange,
) {
    let key = Key::of(action, &k);
    match key {
        Key::NextField | Key::Down => form.focus = (form.focus + 1) % 4,
        Key::PrevField | Key::Up => form.focus = (form.focus + 3) % 4,
        // The connection: Space, ←/→, or its initial.
        Key::Char(' ') | Key::Action(KeyAction::CursorLeft | KeyAction::CursorRight)
            if form.focus == 3 =>
        {
            form.hidden = !form.hidden
        }
        Key::Char('h' | 'H') if form.focus == 3 => form.hidden = true,
        Key::Char('d' | 'D') if form.focus == 3 => form.hidden = false,
        Key::Confirm => {
            if form.focus < 2 {
                form.focus += 1;
                return;
            }
            let name = form.name.text().trim().to_owned();
            let problem = if name.is_empty() || name.len() > 64 {
                Some((0, "Choose a display name (1 to 64 bytes)."))
            } else if form.pass1.char_len() < MIN_PASSPHRASE_CHARS {
                Some((
                    1,
                    "Use a passphrase of at least 8 characters; several words are best.",
                ))
            } else if !form.pass1.same_as(&form.pass2) {
                Some((1, "The two passphrases differ. Type them again."))
            } else {
                None
            };
            if let Some((focus, text)) = problem {
                form.error = Some(text.into());
                form.focus = focus;
                if focus == 1 {
                    form.pass1.clear();
                    form.pass2.clear();
                }
                return;
            }
            let passphrase = form.pass1.take();
            form.pass2.clear();
            fx.push(Effect::Create {
                name: name.clone(),
                passphrase,
                hidden: form.hidden,
            });
            change.to = Some(Screen::Busy {
                text: "Creating your profile… deriving a key from your passphrase".into(),
                retry: Retry::Setup(name),
            });
        }
        Key::Action(KeyAction::DeleteBack) => match form.focus {
            0 => form.name.backspace(),
            1 => form.pass1.pop(),
            2 => form.pass2.pop(),
            _ => {}
        },
        Key::Char(c) => match form.focus {
            0 => form.name.insert_char(c),
            1 => form.pass1.push(c),
            2 => form.pass2.push(c),
            _ => {}
        },
        other => {
            if form.focus == 0 {
                edit_field(&mut form.name, other);
            }
        }
    }
}

pub(super) fn main_key(
    app: &mut App,
    k: KeyEvent,
    action: Option<KeyAction>,
    fx: &mut Vec<Effect>,
) {
    let half = (app.layout().message_rows() / 2).max(1);
    match action {
        Some(KeyAction::Send) => submit(app, fx),
        Some(KeyAction::Newline) => app.input.insert_char('\n'),
        Some(KeyAction::NextContact) | Some(KeyAction::PrevContact) => {
            let order = app.sorted();
            if order.is_empty() {
                return;
            }
            let cur = app.selected.as_ref().and_then(|s| {
                order
                    .iter()
                    .position(|&i| app.alias_at(i) == Some(s.as_str()))
            });
            let n = order.len();
            let next = match (cur, action == Some(KeyAction::NextContact)) {
                (None, _) => 0,
                (Some(c), true) => (c + 1) % n,
                (Some(c), false) => (c + n - 1) % n,
            };
            let alias = order
                .get(next)
                .and_then(|&i| app.alias_at(i))
                .map(Alias::from);
            app.select(alias);
        }
        Some(KeyAction::ScrollUp) => app.scroll_up(half),
        Some(KeyAction::ScrollDown) => app.scroll_down(half),
        Some(KeyAction::ScrollBottom) => {
            if let Some(c) = app.selected.clone().and_then(|a| app.convs.get_mut(&a)) {
                c.scroll = None;
            }
            app.mark_read();
        }
        Some(KeyAction::ToggleSort) => {
            app.sort = match app.sort {
                Sort::Unread => Sort::Recent,
                Sort::Recent => Sort::Unread,
            };
            app.notify(match app.sort {
                Sort::Unread => "Contacts: unread first",
                Sort::Recent => "Contacts: most recent first",
            });
        }
        Some(KeyAction::Cancel) => app.input.clear(),
        Some(
            a @ (KeyAction::Help
            | KeyAction::Invite
            | KeyAction::Accept
            | KeyAction::Verify
            | KeyAction::Expire
            | KeyAction::ToggleLan
            | KeyAction::Wipe),
        ) => open_dialog(app, a, fx),
        Some(KeyAction::CursorUp) => {
            if !app.input.up() {
                app.scroll_up(1);
            }
        }
        Some(KeyAction::CursorDown) => {
            if !app.input.down() {
                app.scroll_down(1);
            }
        }
        other => match Key::of(other, &k) {
            Key::Char(c) => app.input.insert_char(c),
            key => {
                edit_field(&mut app.input, key);
            }
        },
    }
}

pub(super) fn paste(app: &mut App, text: &str) {
    match &mut app.screen {
        Screen::Setup(f) => match f.focus {
            0 => f.name.insert_str(text),
            1 => f.pass1.push_str(text),
            _ => f.pass2.push_str(text),
        },
        Screen::Unlock(f) => f.pass.push_str(text),
        Screen::Main => match &mut app.dialog {
            Some(d) => {
                d.paste(text);
            }
            None => app.input.insert_str(text),
        },
        _ => {}
    }
}

pub(super) fn dialog_key(
    app: &mut App,
    k: KeyEvent,
    action: Option<KeyAction>,
    fx: &mut Vec<Effect>,
) {
    let mut asked = Vec::new();
    if let Some(dialog) = app.dialog.as_mut() {
        dialog.update(Key::of(action, &k), &mut asked);
    }
    for request in asked {
        carry_out(app, request, fx);
    }
}

/// Does what a dialog asked.
fn carry_out(app: &mut App, request: Request, fx: &mut Vec<Effect>) {
    match request {
        Request::Close => app.dialog = None,
        Request::Node(cmd) => fx.push(Effect::Node(cmd)),
        Request::Copy(text) => fx.push(Effect::Copy(text)),
        Request::Notify(text) => app.notify(text),
        Request::RestartNode { lan } => {
            app.status.restarting = true;
            fx.push(Effect::RestartNode { lan });
            app.notify(if lan {
                "Restarting the node with LAN mode on…"
            } else {
                "Restarting the node with LAN mode off…"
            });
        }
        Request::OpenVerify(alias) => open_verify(app, alias, fx),
        Request::Later(intro) => {
            app.dialog = None;
            app.intros.insert(0, *intro);
            app.notify("Introduction left for later: /introductions shows it again.");
        }
        Request::ListDir(dir) => fx.push(Effect::ListDir(dir)),
        Request::File(cmd) => super::files::send(app, cmd, fx),
        Request::ForwardMessage { id, to } => super::files::forward_message(app, id, &to, fx),
    }
}
