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
            match k.code {
                KeyCode::Enter => {
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
                KeyCode::Backspace => form.pass.pop(),
                KeyCode::Esc => form.pass.clear(),
                _ => {
                    if let Some(c) = plain_char(&k) {
                        form.pass.push(c);
                    } else if action == Some(KeyAction::KillToStart) {
                        form.pass.clear();
                    }
                }
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
    match k.code {
        KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % 3,
        KeyCode::BackTab | KeyCode::Up => form.focus = (form.focus + 2) % 3,
        KeyCode::Enter => {
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
            });
            change.to = Some(Screen::Busy {
                text: "Creating your profile… deriving a key from your passphrase".into(),
                retry: Retry::Setup(name),
            });
        }
        KeyCode::Backspace => match form.focus {
            0 => form.name.backspace(),
            1 => form.pass1.pop(),
            _ => form.pass2.pop(),
        },
        _ => {
            if let Some(c) = plain_char(&k) {
                match form.focus {
                    0 => form.name.insert_char(c),
                    1 => form.pass1.push(c),
                    _ => form.pass2.push(c),
                }
            } else if form.focus == 0 {
                edit_field(&mut form.name, action);
            }
        }
    }
}

pub(super) fn edit_field(f: &mut TextField, action: Option<KeyAction>) -> bool {
    match action {
        Some(KeyAction::CursorLeft) => f.left(),
        Some(KeyAction::CursorRight) => f.right(),
        Some(KeyAction::WordLeft) => f.word_left(),
        Some(KeyAction::WordRight) => f.word_right(),
        Some(KeyAction::LineStart) => f.home(),
        Some(KeyAction::LineEnd) => f.end(),
        Some(KeyAction::DeleteBack) => f.backspace(),
        Some(KeyAction::DeleteForward) => f.delete(),
        Some(KeyAction::DeleteWordBack) => f.delete_word_back(),
        Some(KeyAction::KillToEnd) => f.kill_to_end(),
        Some(KeyAction::KillToStart) => f.kill_to_start(),
        Some(KeyAction::CursorUp) => return f.up(),
        Some(KeyAction::CursorDown) => return f.down(),
        _ => return false,
    }
    true
}

pub(super) fn main_key(
    app: &mut App,
    k: KeyEvent,
    action: Option<KeyAction>,
    fx: &mut Vec<Effect>,
) {
    let half = (crate::view::message_area_height(app) / 2).max(1);
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
                .map(str::to_owned);
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
        other => {
            if !edit_field(&mut app.input, other) {
                if let Some(c) = plain_char(&k) {
                    app.input.insert_char(c);
                }
            }
        }
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
            Some(Dialog::Accept {
                code, alias, focus, ..
            }) => {
                if *focus == 0 {
                    // Codes may arrive wrapped over several lines: keep only the code.
                    let joined: String = text.split_whitespace().collect();
                    code.insert_str(&joined);
                } else {
                    alias.insert_str(text);
                }
            }
            Some(Dialog::Wipe { .. }) => {} // the word must be typed
            Some(_) => {}
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
    let Some(dialog) = app.dialog.as_mut() else {
        return;
    };
    let esc = k.code == KeyCode::Esc || action == Some(KeyAction::Cancel);
    match dialog {
        Dialog::Help { scroll } => match k.code {
            KeyCode::Down | KeyCode::PageDown => {
                *scroll = scroll
                    .saturating_add(if k.code == KeyCode::Down { 1 } else { 8 })
                    .min(60)
            }
            KeyCode::Up | KeyCode::PageUp => {
                *scroll = scroll.saturating_sub(if k.code == KeyCode::Up { 1 } else { 8 })
            }
            _ => app.dialog = None,
        },
        Dialog::Invite { code } => {
            if esc || k.code == KeyCode::Enter {
                app.dialog = None;
            } else if plain_char(&k) == Some('c') {
                if let Some(code) = code.clone() {
                    fx.push(Effect::Copy(code));
                    app.notify("Invite code copied to the clipboard (if your terminal allows it)");
                }
            }
        }
        Dialog::Accept {
            code,
            alias,
            focus,
            waiting,
            ..
        } => {
            if esc {
                app.dialog = None;
                return;
            }
            if *waiting {
                return;
            }
            match k.code {
                KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
                    *focus = 1 - *focus
                }
                KeyCode::Enter => {
                    if *focus == 0 && alias.is_empty() {
                        *focus = 1;
                    } else {
                        accept_submit(app, fx);
                    }
                }
                _ => {
                    let f = if *focus == 0 { code } else { alias };
                    if !edit_field(f, action) {
                        if let Some(c) = plain_char(&k) {
                            f.insert_char(c);
                        }
                    }
                }
            }
        }
        Dialog::Verify {
            alias,
            verified,
            digits,
            ..
        } => {
            if esc || k.code == KeyCode::Enter {
                app.dialog = None;
            } else if matches!(plain_char(&k), Some('v') | Some('V'))
                && !*verified
                && digits.is_some()
            {
                // Only once the numbers are on screen: nothing to compare before that.
                fx.push(Effect::Node(Command::Verify {
                    alias: alias.clone(),
                    confirm: true,
                }));
            }
        }
        Dialog::Expire { alias, choice } => match k.code {
            KeyCode::Up => *choice = choice.saturating_sub(1),
            KeyCode::Down => *choice = (*choice + 1).min(EXPIRE_CHOICES.len() - 1),
            KeyCode::Enter => {
                let alias = alias.clone();
                let secs = EXPIRE_CHOICES.get(*choice).and_then(|c| c.0);
                app.dialog = None;
                set_expire(alias, secs, fx);
            }
            _ if esc => app.dialog = None,
            _ => {}
        },
        Dialog::Lan { enable } => match k.code {
            KeyCode::Enter => {
                let lan = *enable;
                app.dialog = None;
                app.status.restarting = true;
                fx.push(Effect::RestartNode { lan });
                app.notify(if lan {
                    "Restarting the node with LAN mode on…"
                } else {
                    "Restarting the node with LAN mode off…"
                });
            }
            _ if esc => app.dialog = None,
            _ => {}
        },
        Dialog::Wipe { typed, error } => {
            if esc {
                app.dialog = None;
                return;
            }
            if k.code == KeyCode::Enter {
                if typed.text() == "WIPE" {
                    fx.push(Effect::Node(Command::Wipe {
                        confirm: "WIPE".into(),
                    }));
                    *error = None;
                    app.notify("Wiping…");
                } else {
                    *error = Some("Type WIPE in capital letters, or Esc to cancel.".into());
                    typed.clear();
                }
                return;
            }
            if !edit_field(typed, action) {
                if let Some(c) = plain_char(&k) {
                    if typed.text().len() < 16 {
                        typed.insert_char(c);
                    }
                }
            }
        }
        Dialog::NewKey { alias, .. } => {
            if plain_char(&k) == Some('v') || plain_char(&k) == Some('V') {
                let alias = alias.clone();
                open_verify(app, alias, fx);
            } else if esc || k.code == KeyCode::Enter {
                app.dialog = None;
            }
        }
    }
}
