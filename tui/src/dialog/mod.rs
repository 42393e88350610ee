//! Dialogs over the main screen. Each is one module holding its state, its keys and its
//! drawing — a component, as in gitui or helix: [`Dialog::update`] takes a key as the
//! keymap names it ([`Key`]), answers whether the dialog used it ([`Handled`]) and queues
//! what it asks of the app ([`Request`]: close, a command to the node, a notice…), which
//! the app carries out; [`Dialog::draw`] draws it. A dialog reads no app state: what it
//! shows arrives in its own fields (the invite code, the safety number) from the app.

mod accept;
mod attach;
mod expire;
mod exposure;
mod files;
mod forward;
mod help;
mod hidden;
mod introduction;
mod invite;
mod lan;
mod members;
mod new_key;
mod verify;
mod wipe;

pub use accept::Accept;
pub use attach::{Attach, Preview};
pub use expire::Expire;
pub use exposure::Exposure;
pub use files::{size as files_size, Files};
pub use forward::{Forward, Received};
pub use help::{help_lines, Help};
pub use hidden::Hidden;
pub use introduction::Introduction;
pub use invite::{reveals, Invite};
pub use lan::Lan;
pub use members::Members;
pub use new_key::NewKey;
pub use verify::Verify;
pub use wipe::Wipe;

use crate::input::TextField;
use crate::keymap::{KeyAction, Keymap};
use cairn_node::api::Command;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;

/// A key as forms and dialogs see it: what the keymap's action means there, or a typed
/// character. Every key goes through the keymap: rebinding `send` rebinds confirming a
/// dialog, rebinding `cancel` closing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// `send` (Enter): confirm.
    Confirm,
    /// `cancel` (Esc): close, or clear.
    Cancel,
    /// `cursor_up` (Up): the previous choice or field.
    Up,
    /// `cursor_down` (Down): the next choice or field.
    Down,
    /// `scroll_up` (PgUp): a page up.
    PageUp,
    /// `scroll_down` (PgDn): a page down.
    PageDown,
    /// `next_contact` (Tab): the next field.
    NextField,
    /// `prev_contact` (Shift-Tab): the previous field.
    PrevField,
    /// Another action of the keymap (editing a text field: cursor, delete, kill).
    Action(KeyAction),
    /// A typed character (no Ctrl or Alt), bound to no action.
    Char(char),
    /// Anything else.
    Other,
}

impl Key {
    /// What the key event `ev`, bound to `action` by the keymap, means in a form.
    pub fn of(action: Option<KeyAction>, ev: &KeyEvent) -> Self {
        match action {
            Some(KeyAction::Send) => Key::Confirm,
            Some(KeyAction::Cancel) => Key::Cancel,
            Some(KeyAction::CursorUp) => Key::Up,
            Some(KeyAction::CursorDown) => Key::Down,
            Some(KeyAction::ScrollUp) => Key::PageUp,
            Some(KeyAction::ScrollDown) => Key::PageDown,
            Some(KeyAction::NextContact) => Key::NextField,
            Some(KeyAction::PrevContact) => Key::PrevField,
            Some(a) => Key::Action(a),
            None => match ev.code {
                KeyCode::Char(c)
                    if !ev
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                {
                    Key::Char(c)
                }
                _ => Key::Other,
            },
        }
    }

    /// The typed letter, either case.
    fn is_letter(self, lower: char) -> bool {
        matches!(self, Key::Char(c) if c.to_ascii_lowercase() == lower)
    }
}

/// Whether a dialog used a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// The key was the dialog's.
    Consumed,
    /// Not a key this dialog uses.
    Ignored,
}

/// What a dialog asks of the app, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Close the dialog.
    Close,
    /// Send a command to the node.
    Node(Command),
    /// Put this on the clipboard.
    Copy(String),
    /// Show a notice.
    Notify(String),
    /// Restart the node with LAN mode on or off.
    RestartNode {
        /// mDNS on.
        lan: bool,
    },
    /// Open the safety-number dialog for this contact.
    OpenVerify(cairn_node::api::Alias),
    /// Close this introduction unanswered, keeping it for `/introductions`.
    Later(Box<Introduction>),
    /// List this directory (for completing a path).
    ListDir(String),
    /// Send or forward a file (the app labels it, to know which conversation it is in,
    /// and sends it to a group when the conversation or the name given is one).
    File(Command),
    /// Forward the received message `id` to the contact or group named `to` (`# name`
    /// for a group).
    ForwardMessage {
        /// The node's id of the message.
        id: String,
        /// The contact's alias, or `# name` of a group.
        to: String,
    },
}

/// What drawing a dialog may read beyond its own state.
pub struct DrawCx<'a> {
    /// The key bindings (the help lists them).
    pub keymap: &'a Keymap,
}

/// Dialogs over the main screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dialog {
    /// Keys and commands.
    Help(Help),
    /// A new invite (its code arrives from the node).
    Invite(Invite),
    /// Accept an invite.
    Accept(Accept),
    /// Compare safety numbers.
    Verify(Verify),
    /// Disappearing messages.
    Expire(Expire),
    /// LAN mode on or off.
    Lan(Lan),
    /// Hidden mode on or off, or a new onion address.
    Hidden(Hidden),
    /// Panic wipe: type the word.
    Wipe(Wipe),
    /// A contact appeared with a new key under a familiar name.
    NewKey(NewKey),
    /// A group's members (admins change them here).
    Members(Members),
    /// An introduction to accept or refuse.
    Introduction(Introduction),
    /// Send a file: its path and what will be removed.
    Attach(Attach),
    /// A conversation's files.
    Files(Files),
    /// Forward a received message.
    Forward(Forward),
    /// Who can learn what about the user (the exposure report).
    Exposure(Exposure),
}

impl Dialog {
    /// Handles a key; what the dialog asks of the app goes to `out`.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match self {
            Dialog::Help(d) => d.update(key, out),
            Dialog::Invite(d) => d.update(key, out),
            Dialog::Accept(d) => d.update(key, out),
            Dialog::Verify(d) => d.update(key, out),
            Dialog::Expire(d) => d.update(key, out),
            Dialog::Lan(d) => d.update(key, out),
            Dialog::Hidden(d) => d.update(key, out),
            Dialog::Wipe(d) => d.update(key, out),
            Dialog::NewKey(d) => d.update(key, out),
            Dialog::Members(d) => d.update(key, out),
            Dialog::Introduction(d) => d.update(key, out),
            Dialog::Attach(d) => d.update(key, out),
            Dialog::Files(d) => d.update(key, out),
            Dialog::Forward(d) => d.update(key, out),
            Dialog::Exposure(d) => d.update(key, out),
        }
    }

    /// Takes pasted text (only the invite dialog's fields do; the wipe word must be typed).
    pub fn paste(&mut self, text: &str) -> Handled {
        match self {
            Dialog::Accept(d) => d.paste(text),
            _ => Handled::Ignored,
        }
    }

    /// Draws the dialog over the whole frame.
    pub fn draw(&self, f: &mut Frame, cx: &DrawCx) {
        match self {
            Dialog::Help(d) => d.draw(f, cx),
            Dialog::Invite(d) => d.draw(f),
            Dialog::Accept(d) => d.draw(f),
            Dialog::Verify(d) => d.draw(f),
            Dialog::Expire(d) => d.draw(f),
            Dialog::Lan(d) => d.draw(f),
            Dialog::Hidden(d) => d.draw(f),
            Dialog::Wipe(d) => d.draw(f),
            Dialog::NewKey(d) => d.draw(f),
            Dialog::Members(d) => d.draw(f),
            Dialog::Introduction(d) => d.draw(f),
            Dialog::Attach(d) => d.draw(f),
            Dialog::Files(d) => d.draw(f),
            Dialog::Forward(d) => d.draw(f),
            Dialog::Exposure(d) => d.draw(f),
        }
    }
}

/// Edits a text field with a form key: true if the key was an editing one.
pub fn edit_field(f: &mut TextField, key: Key) -> bool {
    match key {
        Key::Action(KeyAction::CursorLeft) => f.left(),
        Key::Action(KeyAction::CursorRight) => f.right(),
        Key::Action(KeyAction::WordLeft) => f.word_left(),
        Key::Action(KeyAction::WordRight) => f.word_right(),
        Key::Action(KeyAction::LineStart) => f.home(),
        Key::Action(KeyAction::LineEnd) => f.end(),
        Key::Action(KeyAction::DeleteBack) => f.backspace(),
        Key::Action(KeyAction::DeleteForward) => f.delete(),
        Key::Action(KeyAction::DeleteWordBack) => f.delete_word_back(),
        Key::Action(KeyAction::KillToEnd) => f.kill_to_end(),
        Key::Action(KeyAction::KillToStart) => f.kill_to_start(),
        Key::Up => return f.up(),
        Key::Down => return f.down(),
        _ => return false,
    }
    true
}
