//! The TUI's state and its one place of change: `update(state, action) -> effects`.
//!
//! Everything here is pure: no terminal, no node, no clock (time arrives in
//! [`Action::Tick`]). The runner (`runner.rs`) turns terminal input, node events and
//! ticks into actions and carries out the returned [`Effect`]s.

use crate::config::{Settings, Sort};
pub use crate::dialog::Dialog;
use crate::dialog::{
    edit_field, reveals, Accept, Expire, Exposure, Help, Hidden, Introduction, Invite, Key, Lan,
    NewKey, Request, Verify, Wipe,
};
use crate::input::{SecretField, TextField};
use crate::keymap::KeyAction;
pub use crate::model::{
    describe_duration, group_key, parse_duration, Contact, Conversation, Delivery, GroupEntry,
    Message, NodeStatus, ScrollPos, EXPIRE_CHOICES,
};
use crate::slash::SlashCmd;
use cairn_node::api::{
    Alias, Command, ContactInfo, ErrorCode, Event, MessageDirection, MessageInfo, RelayState,
};
use ratatui::crossterm::event::{KeyEvent, KeyEventKind};
use std::collections::HashMap;
use zeroize::Zeroizing;

/// How many of a conversation's most recent messages are loaded at start.
pub const HISTORY_LIMIT: usize = 10_000;
/// Ask the node for its status every this many ticks (one tick a second).
pub const STATUS_EVERY_TICKS: u64 = 3;
/// How long a notice stays in the status line.
pub const NOTICE_MS: u64 = 8_000;
/// Shortest passphrase accepted for a new profile.
pub const MIN_PASSPHRASE_CHARS: usize = 8;
/// First-run form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupForm {
    /// Display name.
    pub name: TextField,
    /// Passphrase.
    pub pass1: SecretField,
    /// Passphrase again.
    pub pass2: SecretField,
    /// 0 name, 1 passphrase, 2 repeat, 3 connection (mode).
    pub focus: usize,
    /// Hidden mode chosen (else direct, the default).
    pub hidden: bool,
    /// Validation or creation error.
    pub error: Option<String>,
}

/// Unlock form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnlockForm {
    /// Passphrase.
    pub pass: SecretField,
    /// Last error.
    pub error: Option<String>,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// What a busy screen goes back to if the work fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The unlock prompt.
    Unlock,
    /// The first-run form, with this name filled in.
    Setup(String),
}

/// Screens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    /// First run.
    Setup(SetupForm),
    /// Passphrase prompt.
    Unlock(UnlockForm),
    /// Key derivation or node start running.
    Busy {
        /// What is happening.
        text: String,
        /// Where to go if it fails.
        retry: Retry,
    },
    /// Contacts, conversation, input, status.
    Main,
    /// The profile was wiped.
    Wiped,
}

/// A one-line message in the status area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Text (never message content).
    pub text: String,
    /// Show as a warning.
    pub warn: bool,
    /// Shown until (Unix ms).
    pub until_ms: u64,
}

/// Inputs to [`update`].
#[derive(Clone, PartialEq, Eq)]
pub enum Action {
    /// A key press.
    Key(KeyEvent),
    /// Bracketed paste.
    Paste(String),
    /// Terminal resized.
    Resize(u16, u16),
    /// Terminal focus gained (true) or lost.
    Focus(bool),
    /// Clock tick, Unix ms.
    Tick(u64),
    /// The process got SIGTERM or SIGHUP: quit cleanly, whatever the key bindings.
    Terminate,
    /// An event from the node.
    Node(Event),
    /// The profile is open and the node runs.
    NodeStarted {
        /// Status-bar profile label.
        profile: String,
        /// mDNS on.
        lan: bool,
        /// A relay is configured.
        relay: bool,
        /// Hidden mode (through Tor).
        hidden: bool,
    },
    /// The node is on its way (said on the busy screen, or as a notice in a restart).
    Starting(String),
    /// Opening or creating the profile failed.
    OpenFailed {
        /// Because the passphrase was wrong.
        wrong_passphrase: bool,
        /// Explanation.
        message: String,
    },
    /// The node task ended.
    NodeStopped {
        /// Why, if it was not asked to.
        error: Option<String>,
    },
    /// The names in a directory (for completing a path): directories end in `/`.
    Listing {
        /// The directory, as asked.
        dir: String,
        /// Its entries.
        names: Vec<String>,
    },
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys can be passphrase characters and events carry text: print kinds only.
        let s = match self {
            Action::Key(_) => "Key",
            Action::Paste(_) => "Paste",
            Action::Resize(..) => "Resize",
            Action::Focus(_) => "Focus",
            Action::Tick(_) => "Tick",
            Action::Terminate => "Terminate",
            Action::Node(_) => "Node",
            Action::NodeStarted { .. } => "NodeStarted",
            Action::Starting(_) => "Starting",
            Action::OpenFailed { .. } => "OpenFailed",
            Action::NodeStopped { .. } => "NodeStopped",
            Action::Listing { .. } => "Listing",
        };
        f.write_str(s)
    }
}

/// What the runner must do.
#[derive(Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a command to the node.
    Node(Command),
    /// Open the profile with this passphrase, then start the node.
    Open(Zeroizing<String>),
    /// Create the profile, then start the node.
    Create {
        /// Display name.
        name: String,
        /// Passphrase.
        passphrase: Zeroizing<String>,
        /// Hidden mode chosen.
        hidden: bool,
    },
    /// Stop the node and start it again with LAN mode `lan`.
    RestartNode {
        /// mDNS on.
        lan: bool,
    },
    /// Ring the terminal bell.
    Bell,
    /// Put text on the clipboard (OSC 52).
    Copy(String),
    /// List a directory (answered with [`Action::Listing`]).
    ListDir(String),
    /// Stop the node and leave.
    Quit,
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Node(c) => {
                // Variant name only: commands carry message text and invite codes.
                let name = format!("{c:?}");
                let name = name.split([' ', '{', '(']).next().unwrap_or("");
                write!(f, "Node({name})")
            }
            Effect::Open(_) => f.write_str("Open(..)"),
            Effect::Create { .. } => f.write_str("Create(..)"),
            Effect::RestartNode { lan } => write!(f, "RestartNode {{ lan: {lan} }}"),
            Effect::Bell => f.write_str("Bell"),
            Effect::Copy(_) => f.write_str("Copy(..)"),
            Effect::ListDir(_) => f.write_str("ListDir(..)"),
            Effect::Quit => f.write_str("Quit"),
        }
    }
}

/// The whole UI state.
#[derive(Clone, Debug)]
pub struct App {
    /// Current screen.
    pub screen: Screen,
    /// Dialog over the main screen.
    pub dialog: Option<Dialog>,
    /// Contacts (unsorted; see [`App::sorted`]).
    pub contacts: Vec<Contact>,
    /// Selected conversation.
    pub selected: Option<Alias>,
    /// Conversations by alias.
    pub convs: HashMap<Alias, Conversation>,
    /// The message editor.
    pub input: TextField,
    /// Node status.
    pub status: NodeStatus,
    /// Status-line notice.
    pub notice: Option<Notice>,
    /// Settings and key bindings.
    pub settings: Settings,
    /// Contact order in use.
    pub sort: Sort,
    /// Profile label for the status bar.
    pub profile: String,
    /// Current time, Unix ms.
    pub now_ms: u64,
    /// Local time zone offset, seconds east of UTC.
    pub utc_offset_secs: i32,
    /// Terminal size.
    pub size: (u16, u16),
    /// The terminal has focus.
    pub focused: bool,
    /// Set once the user asked to quit.
    pub quitting: bool,
    /// Introductions waiting for an answer (shown one at a time).
    pub intros: Vec<Introduction>,
    /// Files of every conversation, oldest first.
    pub files: Vec<crate::model::FileView>,
    /// Files sent, by the `ref` of their `send_file`, until the node names them.
    pub file_refs: HashMap<String, Alias>,

    id_index: HashMap<String, Alias>,
    next_local: u64,
    ticks: u64,
}

impl App {
    /// A new state at `screen`.
    pub fn new(screen: Screen, settings: Settings, size: (u16, u16)) -> Self {
        let sort = settings.sort;
        let mut app = Self {
            screen,
            dialog: None,
            contacts: Vec::new(),
            selected: None,
            convs: HashMap::new(),
            input: TextField::multi(),
            status: NodeStatus::default(),
            notice: None,
            settings,
            sort,
            profile: String::new(),
            now_ms: 0,
            utc_offset_secs: 0,
            size,
            focused: true,
            quitting: false,
            intros: Vec::new(),
            files: Vec::new(),
            file_refs: HashMap::new(),

            id_index: HashMap::new(),
            next_local: 0,
            ticks: 0,
        };
        if !app.settings.problems.is_empty() {
            let text = app.settings.problems.join("; ");
            app.warn(text);
        }
        app
    }

    /// Contact indices in display order.
    pub fn sorted(&self) -> Vec<usize> {
        let mut idx: Vec<(usize, &Contact)> = self.contacts.iter().enumerate().collect();
        match self.sort {
            Sort::Unread => idx.sort_by(|(_, a), (_, b)| {
                (b.unread > 0)
                    .cmp(&(a.unread > 0))
                    .then(b.last_at.cmp(&a.last_at))
                    .then(a.alias.cmp(&b.alias))
            }),
            Sort::Recent => {
                idx.sort_by(|(_, a), (_, b)| b.last_at.cmp(&a.last_at).then(a.alias.cmp(&b.alias)))
            }
        }
        idx.into_iter().map(|(i, _)| i).collect()
    }

    /// The alias of the contact at index `i` (from [`App::sorted`]).
    pub fn alias_at(&self, i: usize) -> Option<&str> {
        self.contacts.get(i).map(|c| c.alias.as_str())
    }

    /// The outgoing message still known by its local id (not yet `queued`), with its
    /// conversation's alias.
    fn local_message(&mut self, local: &str) -> Option<(Alias, &mut Message)> {
        self.convs.iter_mut().find_map(|(alias, c)| {
            c.messages
                .iter_mut()
                .rev()
                .find(|m| m.outgoing && m.id == local)
                .map(|m| (alias.clone(), m))
        })
    }

    /// The contact named `alias`.
    pub fn contact(&self, alias: &str) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.alias == alias)
    }

    fn contact_mut(&mut self, alias: &str) -> Option<&mut Contact> {
        self.contacts.iter_mut().find(|c| c.alias == alias)
    }

    /// The selected conversation.
    pub fn conversation(&self) -> Option<&Conversation> {
        self.selected.as_ref().and_then(|a| self.convs.get(a))
    }

    /// Total unread over all conversations.
    pub fn total_unread(&self) -> usize {
        self.contacts.iter().map(|c| c.unread).sum()
    }

    /// The existing contact whose name `alias` looks like a renamed duplicate of
    /// (`alice-2` → `alice`): the node names a new key under a taken name that way.
    pub fn new_key_for(&self, alias: &str) -> Option<Alias> {
        let (base, n) = alias.rsplit_once('-')?;
        if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        self.contact(base).map(|c| c.alias.clone())
    }

    fn notify(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            warn: false,
            until_ms: self.now_ms + NOTICE_MS,
        });
    }

    fn warn(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            warn: true,
            until_ms: self.now_ms + NOTICE_MS,
        });
    }

    fn select(&mut self, alias: Option<Alias>) {
        if self.selected == alias {
            return;
        }
        // Leaving a conversation: its "new messages" divider has served.
        if let Some(old) = self.selected.take() {
            if let Some(c) = self.convs.get_mut(&old) {
                c.divider = None;
                c.scroll = None;
            }
        }
        self.selected = alias;
        self.mark_read();
    }

    /// The selected conversation is on screen at its newest message: clear unread.
    fn mark_read(&mut self) {
        let Some(alias) = self.selected.clone() else {
            return;
        };
        let at_bottom = self.convs.get(&alias).is_none_or(|c| c.scroll.is_none());
        if at_bottom && self.focused {
            if let Some(c) = self.contact_mut(&alias) {
                c.unread = 0;
            }
        }
    }

    /// Where the parts of the main screen go now.
    pub fn layout(&self) -> crate::layout::MainLayout {
        crate::layout::main_layout(self.size, &self.input)
    }

    /// The time as messages show it.
    pub fn clock(&self) -> crate::layout::Clock {
        crate::layout::Clock {
            now_ms: self.now_ms,
            utc_offset_secs: self.utc_offset_secs,
        }
    }

    fn message_height(&self, alias: &str, idx: usize) -> usize {
        let width = self.layout().message_width();
        match self.convs.get(alias) {
            Some(conv) => crate::layout::message_lines(self.clock(), alias, conv, idx, width)
                .len()
                .max(1),
            None => 1,
        }
    }

    fn scroll_up(&mut self, lines: usize) {
        let Some(alias) = self.selected.clone() else {
            return;
        };
        let n = self.convs.get(&alias).map_or(0, |c| c.messages.len());
        if n == 0 {
            return;
        }
        let view_h = self.layout().message_rows();
        let mut pos = self
            .convs
            .get(&alias)
            .and_then(|c| c.scroll)
            .unwrap_or(ScrollPos {
                msg: n - 1,
                hidden_below: 0,
            });
        pos.hidden_below += lines;
        loop {
            let h = self.message_height(&alias, pos.msg);
            if pos.hidden_below < h {
                break;
            }
            if pos.msg == 0 {
                pos.hidden_below = h - 1;
                break;
            }
            pos.hidden_below -= h;
            pos.msg -= 1;
        }
        // Do not scroll past the top: the view stays full if the conversation can fill it.
        let mut above = self.message_height(&alias, pos.msg) - pos.hidden_below;
        let mut i = pos.msg;
        while above < view_h && i > 0 {
            i -= 1;
            above += self.message_height(&alias, i);
        }
        if let Some(c) = self.convs.get_mut(&alias) {
            c.scroll = Some(pos);
        }
        if above < view_h {
            self.scroll_down(view_h - above);
        }
    }

    fn scroll_down(&mut self, lines: usize) {
        let Some(alias) = self.selected.clone() else {
            return;
        };
        let Some(mut pos) = self.convs.get(&alias).and_then(|c| c.scroll) else {
            return;
        };
        let n = self.convs.get(&alias).map_or(0, |c| c.messages.len());
        let mut k = lines;
        let mut bottom = false;
        while k > 0 {
            if pos.hidden_below > 0 {
                let d = k.min(pos.hidden_below);
                pos.hidden_below -= d;
                k -= d;
            } else if pos.msg + 1 < n {
                pos.msg += 1;
                pos.hidden_below = self.message_height(&alias, pos.msg) - 1;
                k -= 1;
            } else {
                bottom = true;
                break;
            }
        }
        if pos.msg + 1 >= n && pos.hidden_below == 0 {
            bottom = true;
        }
        if let Some(c) = self.convs.get_mut(&alias) {
            c.scroll = if bottom { None } else { Some(pos) };
        }
        if bottom {
            self.mark_read();
        }
    }

    fn add_message(&mut self, alias: &str, m: Message) -> bool {
        let conv = self.convs.entry(alias.into()).or_default();
        if !m.id.starts_with("local-")
            && conv.messages.iter().rev().take(2000).any(|x| x.id == m.id)
        {
            return false;
        }
        let at = m.at_ms.max(m.seen_ms);
        if !m.id.starts_with("local-") {
            self.id_index.insert(m.id.clone(), alias.into());
        }
        conv.messages.push(m);
        if let Some(c) = self.contact_mut(alias) {
            c.last_at = c.last_at.max(at);
        }
        true
    }

    fn set_state(&mut self, id: &str, state: Delivery) {
        let Some(alias) = self.id_index.get(id).cloned() else {
            return;
        };
        if let Some(conv) = self.convs.get_mut(&alias) {
            if let Some(m) = conv.messages.iter_mut().rev().find(|m| m.id == id) {
                // States only move forward (a late `sent` never hides `delivered`).
                let rank = |s: Delivery| match s {
                    Delivery::Queued => 0,
                    Delivery::Sent => 1,
                    Delivery::Delivered => 2,
                    Delivery::Failed | Delivery::Received => 3,
                };
                if rank(state) > rank(m.state) || m.state == Delivery::Failed {
                    m.state = state;
                }
            }
        }
    }

    fn expire_messages(&mut self) {
        let now = self.now_ms;
        for conv in self.convs.values_mut() {
            let Some(Some(secs)) = conv.expire else {
                continue;
            };
            let limit = secs.saturating_mul(1000);
            let before = conv.messages.len();
            let divider = conv.divider;
            let mut removed_before_divider = 0;
            let mut i = 0;
            conv.messages.retain(|m| {
                let keep = m.seen_ms.saturating_add(limit) > now;
                if !keep && divider.is_some_and(|d| i < d) {
                    removed_before_divider += 1;
                }
                i += 1;
                keep
            });
            if conv.messages.len() != before {
                conv.scroll = None;
                conv.divider = divider
                    .map(|d| d - removed_before_divider)
                    .filter(|d| *d < conv.messages.len());
            }
        }
    }
}

fn is_press(k: &KeyEvent) -> bool {
    k.kind != KeyEventKind::Release
}

mod commands;
mod events;
mod files;
mod groups;
mod keys;
mod update;
use commands::*;
use events::*;
use keys::*;
pub use update::*;

#[cfg(test)]
mod file_tests;
#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod mode_tests;
#[cfg(test)]
mod tests;
