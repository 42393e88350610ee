//! The TUI's state and its one place of change: `update(state, action) -> effects`.
//!
//! Everything here is pure: no terminal, no node, no clock (time arrives in
//! [`Action::Tick`]). The runner (`runner.rs`) turns terminal input, node events and
//! ticks into actions and carries out the returned [`Effect`]s.

use crate::config::{Settings, Sort};
use crate::input::{SecretField, TextField};
use crate::keymap::KeyAction;
use cairn_node::api::{
    Command, ContactInfo, ErrorCode, Event, MessageDirection, MessageInfo, MessageState, RelayState,
};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
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
/// Disappearing-message choices offered by the dialog (seconds; `None` = off).
pub const EXPIRE_CHOICES: &[(Option<u64>, &str)] = &[
    (None, "off"),
    (Some(30), "30 seconds"),
    (Some(300), "5 minutes"),
    (Some(3600), "1 hour"),
    (Some(86_400), "1 day"),
    (Some(604_800), "1 week"),
];

/// Delivery state of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Stored, waiting for a hop (or the node has not answered yet).
    Queued,
    /// The contact's node or mailbox took it.
    Sent,
    /// The contact's end-to-end receipt arrived.
    Delivered,
    /// Could not be sent.
    Failed,
    /// An incoming message.
    Received,
}

impl From<MessageState> for Delivery {
    fn from(s: MessageState) -> Self {
        match s {
            MessageState::Queued => Delivery::Queued,
            MessageState::Sent => Delivery::Sent,
            MessageState::Delivered => Delivery::Delivered,
            MessageState::Failed => Delivery::Failed,
            MessageState::Received => Delivery::Received,
        }
    }
}

impl Delivery {
    /// The word shown after an outgoing message.
    pub fn label(self) -> &'static str {
        match self {
            Delivery::Queued => "queued",
            Delivery::Sent => "sent",
            Delivery::Delivered => "delivered",
            Delivery::Failed => "failed",
            Delivery::Received => "",
        }
    }
}

/// One message in a conversation.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Message id (hex), or `local-N` until the node queued it.
    pub id: String,
    /// Sent by us.
    pub outgoing: bool,
    /// The text.
    pub text: String,
    /// Writer's clock, Unix ms.
    pub at_ms: u64,
    /// When this front end learnt of it (for disappearing messages), Unix ms.
    pub seen_ms: u64,
    /// Delivery state.
    pub state: Delivery,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print message text.
        write!(f, "Message({}, {:?})", self.id, self.state)
    }
}

/// Where the conversation view is scrolled to: the bottom visible line is line
/// `height(msg) - 1 - hidden_below` of message `msg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScrollPos {
    /// Index of the message at the bottom of the view.
    pub msg: usize,
    /// How many of its lines are below the view.
    pub hidden_below: usize,
}

/// A conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conversation {
    /// Messages, oldest first.
    pub messages: Vec<Message>,
    /// Index of the first unread message: the "new messages" divider.
    pub divider: Option<usize>,
    /// `None`: following the newest message.
    pub scroll: Option<ScrollPos>,
    /// History was requested from the node.
    pub history_requested: bool,
    /// Disappearing timer in seconds, when known (`Some(None)` = off).
    pub expire: Option<Option<u64>>,
}

/// A contact as the TUI shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Local name.
    pub alias: String,
    /// Safety number compared.
    pub verified: bool,
    /// Connected now.
    pub online: bool,
    /// Session established.
    pub established: bool,
    /// Unread messages.
    pub unread: usize,
    /// Last activity (Unix ms).
    pub last_at: u64,
}

/// What the status bar shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStatus {
    /// A node is running.
    pub running: bool,
    /// The node listens (got `ready`).
    pub listening: bool,
    /// Connected peers.
    pub peers: usize,
    /// A relay was configured.
    pub relay_configured: bool,
    /// The relay reservation holds.
    pub relay_reserved: bool,
    /// mDNS on.
    pub lan: bool,
    /// Restarting (LAN toggle).
    pub restarting: bool,
}

/// First-run form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupForm {
    /// Display name.
    pub name: TextField,
    /// Passphrase.
    pub pass1: SecretField,
    /// Passphrase again.
    pub pass2: SecretField,
    /// 0 name, 1 passphrase, 2 repeat.
    pub focus: usize,
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

/// Dialogs over the main screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dialog {
    /// Keys and commands.
    Help {
        /// Rows scrolled.
        scroll: u16,
    },
    /// A new invite (code arrives from the node).
    Invite {
        /// The code, once created.
        code: Option<String>,
    },
    /// Accept an invite.
    Accept {
        /// The pasted code.
        code: TextField,
        /// The contact's name.
        alias: TextField,
        /// 0 code, 1 name.
        focus: usize,
        /// Problem to show.
        error: Option<String>,
        /// Sent to the node, waiting.
        waiting: bool,
    },
    /// Safety number.
    Verify {
        /// Contact.
        alias: String,
        /// Twelve groups of five digits, once known.
        digits: Option<String>,
        /// QR payload.
        qr: Option<String>,
        /// Marked verified.
        verified: bool,
    },
    /// Disappearing messages.
    Expire {
        /// Contact.
        alias: String,
        /// Index into [`EXPIRE_CHOICES`].
        choice: usize,
    },
    /// LAN mode confirmation.
    Lan {
        /// Turning it on (else off).
        enable: bool,
    },
    /// Panic wipe confirmation: type the word.
    Wipe {
        /// What was typed.
        typed: TextField,
        /// Problem to show.
        error: Option<String>,
    },
    /// A contact appeared with a new key under a familiar name.
    NewKey {
        /// The new contact.
        alias: String,
        /// The existing contact with that name.
        like: String,
    },
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
    },
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
            Action::OpenFailed { .. } => "OpenFailed",
            Action::NodeStopped { .. } => "NodeStopped",
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
    pub selected: Option<String>,
    /// Conversations by alias.
    pub convs: HashMap<String, Conversation>,
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

    id_index: HashMap<String, String>,
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
    fn local_message(&mut self, local: &str) -> Option<(String, &mut Message)> {
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
    pub fn new_key_for(&self, alias: &str) -> Option<String> {
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

    fn select(&mut self, alias: Option<String>) {
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

    fn message_height(&self, alias: &str, idx: usize) -> usize {
        let width = crate::view::message_width(self);
        match self.convs.get(alias) {
            Some(conv) => crate::view::message_lines(self, alias, conv, idx, width)
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
        let view_h = crate::view::message_area_height(self);
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
        let conv = self.convs.entry(alias.to_owned()).or_default();
        if !m.id.starts_with("local-")
            && conv.messages.iter().rev().take(2000).any(|x| x.id == m.id)
        {
            return false;
        }
        let at = m.at_ms.max(m.seen_ms);
        if !m.id.starts_with("local-") {
            self.id_index.insert(m.id.clone(), alias.to_owned());
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

fn plain_char(k: &KeyEvent) -> Option<char> {
    match k.code {
        KeyCode::Char(c)
            if !k
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    }
}

/// Parses `30s`, `5m`, `1h`, `2d`, `1w`, `off`.
pub fn parse_duration(s: &str) -> Result<Option<u64>, String> {
    let s = s.trim().to_ascii_lowercase();
    if s == "off" || s == "0" || s == "never" {
        return Ok(None);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: use e.g. 30s, 5m, 1h, 1d, 1w or off"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h, d or w")),
    };
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(n.saturating_mul(mult)))
}

/// Human form of a timer.
pub fn describe_duration(secs: u64) -> String {
    if let Some((_, label)) = EXPIRE_CHOICES.iter().find(|(s, _)| *s == Some(secs)) {
        return (*label).to_owned();
    }
    match secs {
        s if s % 604_800 == 0 => format!("{} weeks", s / 604_800),
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

/// The one place state changes.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    match action {
        Action::Tick(now) => tick(app, now, &mut fx),
        Action::Terminate => quit(app, &mut fx),
        Action::Resize(w, h) => app.size = (w, h),
        Action::Focus(f) => {
            app.focused = f;
            if f {
                app.mark_read();
            }
        }
        Action::Key(k) if is_press(&k) => key(app, k, &mut fx),
        Action::Key(_) => {}
        Action::Paste(text) => paste(app, &text),
        Action::Node(ev) => node_event(app, ev, &mut fx),
        Action::NodeStarted {
            profile,
            lan,
            relay,
        } => {
            let was_restart = app.status.restarting;
            app.screen = Screen::Main;
            app.profile = profile;
            app.status.running = true;
            app.status.restarting = false;
            app.status.lan = lan;
            app.status.relay_configured = relay;
            app.status.listening = false;
            app.status.relay_reserved = false;
            fx.push(Effect::Node(Command::Contacts));
            fx.push(Effect::Node(Command::Status));
            if was_restart {
                app.notify(if lan {
                    "LAN mode is on: nearby devices can see this device's network identity"
                } else {
                    "LAN mode is off"
                });
            }
        }
        Action::OpenFailed {
            wrong_passphrase,
            message,
        } => {
            let retry = match &app.screen {
                Screen::Busy { retry, .. } => retry.clone(),
                _ => Retry::Unlock,
            };
            match retry {
                Retry::Unlock => {
                    let attempts = match &app.screen {
                        Screen::Unlock(f) => f.attempts,
                        _ => 0,
                    };
                    app.screen = Screen::Unlock(UnlockForm {
                        pass: SecretField::default(),
                        error: Some(if wrong_passphrase {
                            "Wrong passphrase. Try again.".to_owned()
                        } else {
                            message
                        }),
                        attempts: attempts + 1,
                    });
                }
                Retry::Setup(name) => {
                    app.screen = Screen::Setup(SetupForm {
                        name: TextField::with_text(&name),
                        error: Some(message),
                        focus: 1,
                        ..SetupForm::default()
                    });
                }
            }
        }
        Action::NodeStopped { error } => {
            app.status.running = false;
            app.status.listening = false;
            app.status.peers = 0;
            if app.quitting || app.status.restarting || app.screen == Screen::Wiped {
                return fx;
            }
            // The node could not start (e.g. its port is taken): say so on the main
            // screen rather than leaving a busy screen up.
            if matches!(app.screen, Screen::Busy { .. }) {
                app.screen = Screen::Main;
            }
            app.warn(match error {
                Some(e) => format!("The node stopped: {e}. Restart Cairn."),
                None => "The node stopped. Restart Cairn.".to_owned(),
            });
        }
    }
    fx
}

fn tick(app: &mut App, now: u64, fx: &mut Vec<Effect>) {
    app.now_ms = now;
    app.ticks += 1;
    if app.notice.as_ref().is_some_and(|n| n.until_ms <= now) {
        app.notice = None;
    }
    if app.status.running && app.ticks % STATUS_EVERY_TICKS == 0 {
        fx.push(Effect::Node(Command::Status));
    }
    app.expire_messages();
}

fn quit(app: &mut App, fx: &mut Vec<Effect>) {
    app.quitting = true;
    fx.push(Effect::Quit);
}

fn key(app: &mut App, k: KeyEvent, fx: &mut Vec<Effect>) {
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
struct ScreenChange {
    to: Option<Screen>,
}

fn setup_key(
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

fn edit_field(f: &mut TextField, action: Option<KeyAction>) -> bool {
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

fn open_dialog(app: &mut App, what: KeyAction, fx: &mut Vec<Effect>) {
    match what {
        KeyAction::Help => app.dialog = Some(Dialog::Help { scroll: 0 }),
        KeyAction::Invite => {
            app.dialog = Some(Dialog::Invite { code: None });
            fx.push(Effect::Node(Command::Invite {
                ttl_secs: None,
                for_contact: None,
            }));
        }
        KeyAction::Accept => open_accept(app, "", ""),
        KeyAction::Verify => match app.selected.clone() {
            Some(alias) => open_verify(app, alias, fx),
            None => app.warn("Select a contact to verify first."),
        },
        KeyAction::Expire => match app.selected.clone() {
            Some(alias) => {
                let current = app.convs.get(&alias).and_then(|c| c.expire).flatten();
                let choice = EXPIRE_CHOICES
                    .iter()
                    .position(|(s, _)| *s == current)
                    .unwrap_or(0);
                app.dialog = Some(Dialog::Expire { alias, choice });
            }
            None => app.warn("Select a conversation first."),
        },
        KeyAction::ToggleLan => {
            app.dialog = Some(Dialog::Lan {
                enable: !app.status.lan,
            })
        }
        KeyAction::Wipe => {
            app.dialog = Some(Dialog::Wipe {
                typed: TextField::single(),
                error: None,
            })
        }
        _ => {}
    }
}

fn open_accept(app: &mut App, code: &str, alias: &str) {
    app.dialog = Some(Dialog::Accept {
        code: TextField::with_text(code),
        alias: TextField::with_text(alias),
        focus: usize::from(!code.is_empty()),
        error: None,
        waiting: false,
    });
}

fn open_verify(app: &mut App, alias: String, fx: &mut Vec<Effect>) {
    fx.push(Effect::Node(Command::Verify {
        alias: alias.clone(),
        confirm: false,
    }));
    let verified = app.contact(&alias).is_some_and(|c| c.verified);
    app.dialog = Some(Dialog::Verify {
        alias,
        digits: None,
        qr: None,
        verified,
    });
}

fn set_expire(alias: String, seconds: Option<u64>, fx: &mut Vec<Effect>) {
    fx.push(Effect::Node(Command::Expire { alias, seconds }));
}

fn main_key(app: &mut App, k: KeyEvent, action: Option<KeyAction>, fx: &mut Vec<Effect>) {
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

fn paste(app: &mut App, text: &str) {
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

fn submit(app: &mut App, fx: &mut Vec<Effect>) {
    let text = app.input.text().trim_end().to_owned();
    if text.trim().is_empty() {
        return;
    }
    if let Some(cmd) = text.strip_prefix('/') {
        if !cmd.starts_with('/') {
            app.input.clear();
            return slash(app, cmd, fx);
        }
    }
    let Some(alias) = app.selected.clone() else {
        return app
            .warn("No conversation yet: invite someone with /invite or accept with /accept.");
    };
    if !app.status.running || app.status.restarting {
        // Kept in the input: nothing is lost, the user sends again once it runs.
        return app.warn(
            "The node is not running right now; your message is kept, send it again in a moment.",
        );
    }
    // "//text" sends "/text".
    let body = if text.starts_with("//") {
        text[1..].to_owned()
    } else {
        text
    };
    app.input.clear();
    app.next_local += 1;
    let local = format!("local-{}", app.next_local);
    let now = app.now_ms;
    app.add_message(
        &alias,
        Message {
            id: local.clone(),
            outgoing: true,
            text: body.clone(),
            at_ms: now,
            seen_ms: now,
            state: Delivery::Queued,
        },
    );
    if let Some(c) = app.convs.get_mut(&alias) {
        c.divider = None;
        c.scroll = None;
    }
    fx.push(Effect::Node(Command::Send {
        to: alias,
        text: body,
        client_ref: Some(local),
    }));
}

fn slash(app: &mut App, line: &str, fx: &mut Vec<Effect>) {
    let mut parts = line.split_whitespace();
    let name = parts.next().unwrap_or("").to_ascii_lowercase();
    let args: Vec<&str> = parts.collect();
    match name.as_str() {
        "invite" => match args.as_slice() {
            [] => open_dialog(app, KeyAction::Invite, fx),
            ["for", rest @ ..] if !rest.is_empty() => {
                let alias = rest.join(" ");
                if app.contact(&alias).is_none() {
                    return app.warn(format!("No contact named {alias}."));
                }
                app.notify(format!(
                    "An invite for {alias}'s new device: when they accept it, the conversation moves to their new key (history kept; compare safety numbers again)."
                ));
                app.dialog = Some(Dialog::Invite { code: None });
                fx.push(Effect::Node(Command::Invite {
                    ttl_secs: None,
                    for_contact: Some(alias),
                }));
            }
            _ => app.warn("Usage: /invite, or /invite for NAME (a contact's new device)"),
        },
        "accept" => {
            let code = args.first().copied().unwrap_or("");
            let alias = args.get(1..).map(|a| a.join(" ")).unwrap_or_default();
            if !code.is_empty() && !alias.is_empty() {
                open_accept(app, code, &alias);
                accept_submit(app, fx);
            } else {
                open_accept(app, code, &alias);
            }
        }
        "verify" => match args.first().map(|s| s.to_string()).or(app.selected.clone()) {
            Some(alias) if app.contact(&alias).is_some() => open_verify(app, alias, fx),
            Some(alias) => app.warn(format!("No contact named {alias}.")),
            None => app.warn("Select a contact to verify first."),
        },
        "expire" => match (args.first(), app.selected.clone()) {
            (_, None) => app.warn("Select a conversation first."),
            (None, Some(_)) => open_dialog(app, KeyAction::Expire, fx),
            (Some(arg), Some(alias)) => match parse_duration(arg) {
                Ok(secs) => set_expire(alias, secs, fx),
                Err(e) => app.warn(e),
            },
        },
        "lan" => {
            let enable = match args.first().map(|s| s.to_ascii_lowercase()) {
                Some(s) if s == "on" => true,
                Some(s) if s == "off" => false,
                _ => !app.status.lan,
            };
            if enable == app.status.lan {
                app.notify(if enable {
                    "LAN mode is already on"
                } else {
                    "LAN mode is already off"
                });
            } else {
                app.dialog = Some(Dialog::Lan { enable });
            }
        }
        "rename" => match (app.selected.clone(), args.join(" ")) {
            (None, _) => app.warn("Select the contact to rename first."),
            (Some(_), to) if to.is_empty() => app.warn("Usage: /rename NEW NAME"),
            (Some(alias), to) => fx.push(Effect::Node(Command::Rename { alias, to })),
        },
        "reset" => match args.first().map(|s| s.to_string()).or(app.selected.clone()) {
            Some(alias) if app.contact(&alias).is_some() => {
                // `/reset NAME CODE`: the contact's new device sent an invite.
                let code = args.get(1).map(|c| c.to_string());
                app.notify(if code.is_some() {
                    format!(
                        "Re-keying with {alias}'s new device… (history is kept; their key changes, so compare safety numbers again)"
                    )
                } else {
                    format!(
                        "Renewing the encrypted session with {alias}… (history and verification are kept)"
                    )
                });
                fx.push(Effect::Node(Command::Reset { alias, code }));
            }
            Some(alias) => app.warn(format!("No contact named {alias}.")),
            None => app.warn("Select a contact first."),
        },
        "block" | "unblock" => match args.first().map(|s| s.to_string()).or(app.selected.clone()) {
            Some(alias) if app.contact(&alias).is_some() => {
                fx.push(Effect::Node(if name == "block" {
                    Command::Block { alias }
                } else {
                    Command::Unblock { alias }
                }))
            }
            Some(alias) => app.warn(format!("No contact named {alias}.")),
            None => app.warn("Select a contact first."),
        },
        "delete" => match (app.selected.clone(), args.first().copied()) {
            (None, _) => app.warn("Select the contact to delete first."),
            (Some(alias), Some("confirm")) => fx.push(Effect::Node(Command::Delete {
                alias,
                keep_history: false,
            })),
            (Some(alias), Some("keep-history")) => fx.push(Effect::Node(Command::Delete {
                alias,
                keep_history: true,
            })),
            (Some(alias), _) => app.warn(format!(
                "This deletes {alias}, the encrypted session and unsent messages. Type \
                 /delete confirm (history too) or /delete keep-history."
            )),
        },
        "wipe" => open_dialog(app, KeyAction::Wipe, fx),
        "help" | "?" => open_dialog(app, KeyAction::Help, fx),
        "quit" | "q" | "exit" => quit(app, fx),
        _ => app.warn(format!("Unknown command /{name}. Type /help for the list.")),
    }
}

fn accept_submit(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(Dialog::Accept {
        code,
        alias,
        focus,
        error,
        waiting,
    }) = &mut app.dialog
    else {
        return;
    };
    let c: String = code.text().split_whitespace().collect();
    let a = alias.text().trim().to_owned();
    if c.is_empty() {
        *error = Some("Paste the invite code first.".into());
        *focus = 0;
        return;
    }
    if a.is_empty() {
        *error = Some("Give this contact a name (only you see it).".into());
        *focus = 1;
        return;
    }
    *error = None;
    *waiting = true;
    fx.push(Effect::Node(Command::Accept { code: c, alias: a }));
}

fn dialog_key(app: &mut App, k: KeyEvent, action: Option<KeyAction>, fx: &mut Vec<Effect>) {
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

fn history(app: &mut App, with: String, messages: Vec<MessageInfo>) {
    let now = app.now_ms;
    let conv = app.convs.entry(with.clone()).or_default();
    let mut list: Vec<Message> = messages
        .into_iter()
        .map(|m| Message {
            outgoing: m.direction == MessageDirection::Out,
            state: Delivery::from(m.state),
            seen_ms: m.sent_at.min(now.max(m.sent_at)),
            at_ms: m.sent_at,
            text: m.text,
            id: m.id,
        })
        .collect();
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

fn contacts(app: &mut App, list: Vec<ContactInfo>, fx: &mut Vec<Effect>) {
    let mut next = Vec::with_capacity(list.len());
    for info in list {
        let old = app.contact(&info.alias).cloned();
        next.push(Contact {
            verified: info.verified,
            online: info.online,
            established: info.established,
            unread: old.as_ref().map_or(0, |o| o.unread),
            last_at: old.as_ref().map_or(0, |o| o.last_at),
            alias: info.alias,
        });
    }
    app.contacts = next;
    for c in app.contacts.clone() {
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
            .map(str::to_owned);
        app.select(first);
    }
}

const ACCEPT_ERRORS: &[ErrorCode] = &[
    ErrorCode::InvalidInvite,
    ErrorCode::InviteExpired,
    ErrorCode::InvalidAlias,
    ErrorCode::AliasTaken,
    ErrorCode::OwnInvite,
    ErrorCode::AlreadyContact,
    ErrorCode::HandshakeFailed,
    ErrorCode::Blocked,
];

fn node_event(app: &mut App, ev: Event, fx: &mut Vec<Effect>) {
    match ev {
        Event::Ready { .. } => app.status.listening = true,
        Event::Invite { code } => match &mut app.dialog {
            Some(Dialog::Invite { code: c }) => *c = Some(code),
            // Closed before the code came: show it, but never over another dialog.
            None => app.dialog = Some(Dialog::Invite { code: Some(code) }),
            Some(_) => {
                app.notify("An invite was created but not shown (another dialog was open); create a new one to see it.")
            }
        },
        Event::ContactAdded { alias } => {
            fx.push(Effect::Node(Command::Contacts));
            let was_accepting = matches!(app.dialog, Some(Dialog::Accept { waiting: true, .. }));
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
                    unread: 0,
                    last_at: app.now_ms,
                });
            } else {
                let now = app.now_ms;
                if let Some(c) = app.contact_mut(&alias) {
                    c.last_at = c.last_at.max(now);
                }
            }
            if let Some(like) = app.new_key_for(&alias) {
                app.dialog = Some(Dialog::NewKey {
                    alias: alias.clone(),
                    like,
                });
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
            ..
        } => {
            if let Some(c) = app.contact_mut(&alias) {
                c.established = true;
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
                m.id = id.clone();
                app.id_index.insert(id, alias);
            }
        }
        Event::Sent { id } => app.set_state(&id, Delivery::Sent),
        Event::Delivered { id } => app.set_state(&id, Delivery::Delivered),
        Event::Message {
            from,
            id,
            text,
            sent_at,
        } => {
            let now = app.now_ms;
            let added = app.add_message(
                &from,
                Message {
                    id,
                    outgoing: false,
                    text,
                    at_ms: sent_at,
                    seen_ms: now,
                    state: Delivery::Received,
                },
            );
            if !added {
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
            if let Some(Dialog::Verify {
                alias: a,
                digits: d,
                qr: q,
                verified: v,
            }) = &mut app.dialog
            {
                if *a == alias {
                    *d = Some(digits);
                    *q = Some(qr);
                    *v = verified;
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
        Event::Relay { state, .. } => app.status.relay_reserved = state == RelayState::Reserved,
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
            if ACCEPT_ERRORS.contains(&code) {
                if let Some(Dialog::Accept { error, waiting, .. }) = &mut app.dialog {
                    *waiting = false;
                    *error = Some(message);
                    return;
                }
            }
            app.warn(message);
        }
        Event::Stopped => {}
    }
}

#[cfg(test)]
mod tests;
