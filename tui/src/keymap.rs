//! Key bindings are data: an [`Action`] per key chord, readline-like defaults in code,
//! overridable from the `[keys]` table of the config file (see docs/TUI.md).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::HashMap;
use std::fmt;

/// What a key does. The names (snake_case) are the config file's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAction {
    /// Leave Cairn.
    Quit,
    /// The help overlay.
    Help,
    /// Send the message (or run the slash command) in the input.
    Send,
    /// A line break inside the message.
    Newline,
    /// Next conversation.
    NextContact,
    /// Previous conversation.
    PrevContact,
    /// Scroll the conversation up by half a screen.
    ScrollUp,
    /// Scroll the conversation down by half a screen.
    ScrollDown,
    /// Jump to the newest message.
    ScrollBottom,
    /// Create an invite.
    Invite,
    /// Accept an invite.
    Accept,
    /// Compare safety numbers with the current contact.
    Verify,
    /// Disappearing messages for the current conversation.
    Expire,
    /// LAN mode on/off.
    ToggleLan,
    /// Panic wipe (asks for confirmation).
    Wipe,
    /// Sort contacts by unread or by recent activity.
    ToggleSort,
    /// Close a dialog / clear the input.
    Cancel,
    /// Cursor one character left.
    CursorLeft,
    /// Cursor one character right.
    CursorRight,
    /// Cursor one word left.
    WordLeft,
    /// Cursor one word right.
    WordRight,
    /// Cursor up a line in a multi-line message.
    CursorUp,
    /// Cursor down a line in a multi-line message.
    CursorDown,
    /// Start of line.
    LineStart,
    /// End of line.
    LineEnd,
    /// Delete the character before the cursor.
    DeleteBack,
    /// Delete the character under the cursor.
    DeleteForward,
    /// Delete the word before the cursor.
    DeleteWordBack,
    /// Delete to the end of the line.
    KillToEnd,
    /// Delete to the start of the line.
    KillToStart,
}

impl KeyAction {
    /// Every action, in help order.
    pub const ALL: &'static [KeyAction] = &[
        KeyAction::Send,
        KeyAction::Newline,
        KeyAction::NextContact,
        KeyAction::PrevContact,
        KeyAction::ScrollUp,
        KeyAction::ScrollDown,
        KeyAction::ScrollBottom,
        KeyAction::Invite,
        KeyAction::Accept,
        KeyAction::Verify,
        KeyAction::Expire,
        KeyAction::ToggleLan,
        KeyAction::ToggleSort,
        KeyAction::Wipe,
        KeyAction::Help,
        KeyAction::Cancel,
        KeyAction::Quit,
        KeyAction::CursorLeft,
        KeyAction::CursorRight,
        KeyAction::WordLeft,
        KeyAction::WordRight,
        KeyAction::CursorUp,
        KeyAction::CursorDown,
        KeyAction::LineStart,
        KeyAction::LineEnd,
        KeyAction::DeleteBack,
        KeyAction::DeleteForward,
        KeyAction::DeleteWordBack,
        KeyAction::KillToEnd,
        KeyAction::KillToStart,
    ];

    /// The readline editing actions (the help lists them apart).
    pub const EDITING: &'static [KeyAction] = &[
        KeyAction::CursorLeft,
        KeyAction::CursorRight,
        KeyAction::WordLeft,
        KeyAction::WordRight,
        KeyAction::CursorUp,
        KeyAction::CursorDown,
        KeyAction::LineStart,
        KeyAction::LineEnd,
        KeyAction::DeleteBack,
        KeyAction::DeleteForward,
        KeyAction::DeleteWordBack,
        KeyAction::KillToEnd,
        KeyAction::KillToStart,
    ];

    /// The config-file name.
    pub fn name(self) -> &'static str {
        match self {
            KeyAction::Quit => "quit",
            KeyAction::Help => "help",
            KeyAction::Send => "send",
            KeyAction::Newline => "newline",
            KeyAction::NextContact => "next_contact",
            KeyAction::PrevContact => "prev_contact",
            KeyAction::ScrollUp => "scroll_up",
            KeyAction::ScrollDown => "scroll_down",
            KeyAction::ScrollBottom => "scroll_bottom",
            KeyAction::Invite => "invite",
            KeyAction::Accept => "accept",
            KeyAction::Verify => "verify",
            KeyAction::Expire => "expire",
            KeyAction::ToggleLan => "toggle_lan",
            KeyAction::Wipe => "wipe",
            KeyAction::ToggleSort => "toggle_sort",
            KeyAction::Cancel => "cancel",
            KeyAction::CursorLeft => "cursor_left",
            KeyAction::CursorRight => "cursor_right",
            KeyAction::WordLeft => "word_left",
            KeyAction::WordRight => "word_right",
            KeyAction::CursorUp => "cursor_up",
            KeyAction::CursorDown => "cursor_down",
            KeyAction::LineStart => "line_start",
            KeyAction::LineEnd => "line_end",
            KeyAction::DeleteBack => "delete_back",
            KeyAction::DeleteForward => "delete_forward",
            KeyAction::DeleteWordBack => "delete_word_back",
            KeyAction::KillToEnd => "kill_to_end",
            KeyAction::KillToStart => "kill_to_start",
        }
    }

    /// A short description for the help overlay.
    pub fn describe(self) -> &'static str {
        match self {
            KeyAction::Quit => "quit",
            KeyAction::Help => "this help",
            KeyAction::Send => "send message / run command",
            KeyAction::Newline => "new line in a message",
            KeyAction::NextContact => "next conversation",
            KeyAction::PrevContact => "previous conversation",
            KeyAction::ScrollUp => "scroll up",
            KeyAction::ScrollDown => "scroll down",
            KeyAction::ScrollBottom => "newest messages",
            KeyAction::Invite => "invite someone",
            KeyAction::Accept => "accept an invite",
            KeyAction::Verify => "verify contact",
            KeyAction::Expire => "disappearing messages",
            KeyAction::ToggleLan => "LAN mode on/off",
            KeyAction::Wipe => "panic wipe (asks first)",
            KeyAction::ToggleSort => "sort: unread/recent",
            KeyAction::Cancel => "close dialog / clear input",
            KeyAction::CursorLeft => "cursor left",
            KeyAction::CursorRight => "cursor right",
            KeyAction::WordLeft => "word left",
            KeyAction::WordRight => "word right",
            KeyAction::CursorUp => "line up (in message)",
            KeyAction::CursorDown => "line down (in message)",
            KeyAction::LineStart => "start of line",
            KeyAction::LineEnd => "end of line",
            KeyAction::DeleteBack => "delete before cursor",
            KeyAction::DeleteForward => "delete under cursor",
            KeyAction::DeleteWordBack => "delete word before",
            KeyAction::KillToEnd => "delete to end of line",
            KeyAction::KillToStart => "delete to start of line",
        }
    }

    fn from_name(name: &str) -> Option<KeyAction> {
        KeyAction::ALL.iter().copied().find(|a| a.name() == name)
    }
}

/// A key with its modifiers (Shift is folded into the character).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyChord {
    /// The key.
    pub code: KeyCode,
    /// Ctrl / Alt (Shift only for non-character keys).
    pub mods: KeyModifiers,
}

impl KeyChord {
    /// A chord from a terminal key event, normalised so that `Ctrl-A`, `ctrl-a` and a
    /// shifted letter compare as the user means them.
    pub fn from_event(ev: &KeyEvent) -> Self {
        Self::new(ev.code, ev.modifiers)
    }

    fn new(code: KeyCode, mods: KeyModifiers) -> Self {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                if mods.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            other => other,
        };
        Self { code, mods }
    }

    /// Parses `ctrl-a`, `alt-enter`, `f1`, `pageup`, `shift-tab`, `x`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        let mut mods = KeyModifiers::NONE;
        let mut rest = lower.as_str();
        loop {
            let (m, r) = if let Some(r) = rest.strip_prefix("ctrl-") {
                (KeyModifiers::CONTROL, r)
            } else if let Some(r) = rest.strip_prefix("c-") {
                (KeyModifiers::CONTROL, r)
            } else if let Some(r) = rest.strip_prefix("alt-") {
                (KeyModifiers::ALT, r)
            } else if let Some(r) = rest.strip_prefix("m-") {
                (KeyModifiers::ALT, r)
            } else if let Some(r) = rest.strip_prefix("shift-") {
                (KeyModifiers::SHIFT, r)
            } else {
                break;
            };
            if r.is_empty() {
                break;
            }
            mods |= m;
            rest = r;
        }
        let code = match rest {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" => KeyCode::Insert,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "space" => KeyCode::Char(' '),
            f if f.len() > 1
                && f.starts_with('f')
                && f[1..].chars().all(|c| c.is_ascii_digit()) =>
            {
                let n: u8 = f[1..].parse().map_err(|_| format!("bad key {text:?}"))?;
                if n == 0 || n > 24 {
                    return Err(format!("bad key {text:?}"));
                }
                KeyCode::F(n)
            }
            s => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return Err(format!("unknown key {text:?}")),
                }
            }
        };
        Ok(Self::new(code, mods))
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) if self.mods.is_empty() => write!(f, "{c}"),
            KeyCode::Char(c) => write!(f, "{}", c.to_ascii_uppercase()),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("BackTab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Del"),
            KeyCode::Insert => f.write_str("Ins"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Up => f.write_str("Up"),
            KeyCode::Down => f.write_str("Down"),
            KeyCode::Left => f.write_str("Left"),
            KeyCode::Right => f.write_str("Right"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The default bindings: readline editing keys, function keys for dialogs.
pub const DEFAULTS: &[(KeyAction, &[&str])] = &[
    (KeyAction::Quit, &["ctrl-q", "ctrl-c"]),
    (KeyAction::Help, &["f1"]),
    (KeyAction::Send, &["enter"]),
    (KeyAction::Newline, &["alt-enter", "ctrl-j"]),
    (KeyAction::NextContact, &["ctrl-n", "alt-down", "tab"]),
    (KeyAction::PrevContact, &["ctrl-p", "alt-up", "backtab"]),
    (KeyAction::ScrollUp, &["pageup"]),
    (KeyAction::ScrollDown, &["pagedown"]),
    (KeyAction::ScrollBottom, &["ctrl-end", "alt-g"]),
    (KeyAction::Invite, &["f2"]),
    (KeyAction::Accept, &["f3"]),
    (KeyAction::Verify, &["f4"]),
    (KeyAction::Expire, &["f5"]),
    (KeyAction::ToggleLan, &["f6"]),
    (KeyAction::ToggleSort, &["f7"]),
    (KeyAction::Wipe, &["f12"]),
    (KeyAction::Cancel, &["esc"]),
    (KeyAction::CursorLeft, &["left", "ctrl-b"]),
    (KeyAction::CursorRight, &["right", "ctrl-f"]),
    (KeyAction::WordLeft, &["alt-b", "ctrl-left"]),
    (KeyAction::WordRight, &["alt-f", "ctrl-right"]),
    (KeyAction::CursorUp, &["up"]),
    (KeyAction::CursorDown, &["down"]),
    (KeyAction::LineStart, &["home", "ctrl-a"]),
    (KeyAction::LineEnd, &["end", "ctrl-e"]),
    (KeyAction::DeleteBack, &["backspace", "ctrl-h"]),
    (KeyAction::DeleteForward, &["delete", "ctrl-d"]),
    (KeyAction::DeleteWordBack, &["ctrl-w", "alt-backspace"]),
    (KeyAction::KillToEnd, &["ctrl-k"]),
    (KeyAction::KillToStart, &["ctrl-u"]),
];

/// Key chord → action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keymap {
    map: HashMap<KeyChord, KeyAction>,
}

impl Default for Keymap {
    fn default() -> Self {
        Self::defaults()
    }
}

impl Keymap {
    /// The built-in bindings.
    pub fn defaults() -> Self {
        let mut map = HashMap::new();
        for (action, keys) in DEFAULTS {
            for k in *keys {
                if let Ok(chord) = KeyChord::parse(k) {
                    map.insert(chord, *action);
                }
            }
        }
        Self { map }
    }

    /// The action bound to a key event.
    pub fn lookup(&self, ev: &KeyEvent) -> Option<KeyAction> {
        self.map.get(&KeyChord::from_event(ev)).copied()
    }

    /// The keys bound to `action`, in a stable order.
    pub fn keys_for(&self, action: KeyAction) -> Vec<KeyChord> {
        let mut keys: Vec<KeyChord> = self
            .map
            .iter()
            .filter(|(_, a)| **a == action)
            .map(|(k, _)| *k)
            .collect();
        keys.sort_by_key(|k| (k.mods.bits(), k.to_string()));
        keys
    }

    /// The first key for `action`, as text ("F2"), or "" if unbound.
    pub fn key_label(&self, action: KeyAction) -> String {
        self.keys_for(action)
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// Replaces the keys of the actions named in `overrides` (action name → key list).
    /// Unknown names and keys are reported, not fatal.
    pub fn apply(&mut self, overrides: &HashMap<String, Vec<String>>) -> Vec<String> {
        let mut problems = Vec::new();
        let mut names: Vec<&String> = overrides.keys().collect();
        names.sort();
        for name in names {
            let Some(action) = KeyAction::from_name(name) else {
                problems.push(format!("unknown action {name:?} in [keys]"));
                continue;
            };
            let mut chords = Vec::new();
            for k in &overrides[name] {
                match KeyChord::parse(k) {
                    Ok(c) => chords.push(c),
                    Err(e) => problems.push(e),
                }
            }
            self.map.retain(|_, a| *a != action);
            for c in chords {
                self.map.insert(c, action);
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a parser that mis-reads modifiers or names, which would silently break a
    /// user's config file.
    #[test]
    fn parses_chords() {
        let c = KeyChord::parse("Ctrl-A").unwrap();
        assert_eq!(c.code, KeyCode::Char('a'));
        assert_eq!(c.mods, KeyModifiers::CONTROL);
        assert_eq!(c.to_string(), "Ctrl-A");
        assert_eq!(
            KeyChord::parse("alt-enter").unwrap().to_string(),
            "Alt-Enter"
        );
        assert_eq!(KeyChord::parse("f12").unwrap().code, KeyCode::F(12));
        assert_eq!(KeyChord::parse("pgup").unwrap().code, KeyCode::PageUp);
        assert!(KeyChord::parse("ctrl-nope").is_err());
        assert!(KeyChord::parse("f99").is_err());
    }

    /// Catches events that do not match their binding because of Shift or case.
    #[test]
    fn events_match_bindings() {
        let km = Keymap::defaults();
        let ev = KeyEvent::new(
            KeyCode::Char('A'),
            KeyModifiers::CONTROL | KeyModifiers::SHIFT,
        );
        assert_eq!(km.lookup(&ev), Some(KeyAction::LineStart));
        let ev = KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT);
        assert_eq!(km.lookup(&ev), Some(KeyAction::Newline));
        let ev = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
        assert_eq!(km.lookup(&ev), None);
    }

    /// Catches overrides that keep the old key or accept unknown names silently.
    #[test]
    fn overrides_replace_defaults() {
        let mut km = Keymap::defaults();
        let mut o = HashMap::new();
        o.insert("invite".to_owned(), vec!["ctrl-o".to_owned()]);
        o.insert("frobnicate".to_owned(), vec!["x".to_owned()]);
        let problems = km.apply(&o);
        assert_eq!(problems.len(), 1);
        assert_eq!(km.key_label(KeyAction::Invite), "Ctrl-O");
        let f2 = KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE);
        assert_eq!(km.lookup(&f2), None);
    }
}
