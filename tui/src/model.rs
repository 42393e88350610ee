//! What the TUI knows of conversations, contacts and the node: plain data that the
//! state (`app`), the layout (`layout`), the dialogs and the drawing (`view`) all read.

use cairn_node::api::{Alias, FileId, FileStateName, GroupRef, MemberInfo, MessageState};

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
    /// In a group: the author's name (None: the contact's 1:1 message, or ours).
    pub from: Option<String>,
    /// An outgoing group message: how many members have it, of how many it went to.
    pub reach: Option<(usize, usize)>,
}

impl Message {
    /// A message with no group details.
    pub fn plain(id: String, outgoing: bool, text: String, at_ms: u64, seen_ms: u64) -> Self {
        Self {
            id,
            outgoing,
            text,
            at_ms,
            seen_ms,
            state: if outgoing {
                Delivery::Queued
            } else {
                Delivery::Received
            },
            from: None,
            reach: None,
        }
    }

    /// The state shown after an outgoing message: "delivered 3/5" in a group.
    pub fn state_label(&self) -> String {
        match (self.reach, self.state) {
            (Some((k, n)), Delivery::Sent | Delivery::Delivered) if n > 0 => {
                format!("delivered {k}/{n}")
            }
            _ => self.state.label().to_owned(),
        }
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print message text.
        write!(f, "Message({}, {:?})", self.id, self.state)
    }
}

/// A file of a conversation, as the files dialog shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileView {
    /// Its id.
    pub file: FileId,
    /// The conversation.
    pub alias: Alias,
    /// In a group's conversation: the member it goes to or comes from (a file sent to a
    /// group is one transfer per member).
    pub member: Option<Alias>,
    /// Sent by us.
    pub outgoing: bool,
    /// Its name.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Where its transfer stands.
    pub state: FileStateName,
    /// Bytes moved.
    pub bytes: u64,
    /// Bytes per second lately.
    pub rate: u64,
    /// Seconds left, when known.
    pub eta_secs: Option<u64>,
    /// Too large for the mailbox: moves only while both are online.
    pub waiting: bool,
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
    pub alias: Alias,
    /// Safety number compared.
    pub verified: bool,
    /// Connected now.
    pub online: bool,
    /// Session established.
    pub established: bool,
    /// The session's protocol version (none before the handshake): below
    /// [`cairn_crypto::Protocol::LATEST`] the contact's Cairn is older and the conversation
    /// lacks what the newer protocol adds (v3: post-quantum protection).
    pub protocol: Option<u8>,
    /// Unread messages.
    pub unread: usize,
    /// Last activity (Unix ms).
    pub last_at: u64,
    /// A group, not a contact (its `alias` is the key [`group_key`] makes).
    pub group: Option<GroupEntry>,
}

/// A group in the conversation list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEntry {
    /// Its id.
    pub id: GroupRef,
    /// Its name.
    pub name: String,
    /// Its members.
    pub members: Vec<MemberInfo>,
    /// You are still a member.
    pub member: bool,
    /// You are an admin.
    pub admin: bool,
}

/// The key a group's conversation goes by in the list (no alias can start with `#`… but
/// one could, so the id makes it unique; the list shows [`Contact::label`]).
pub fn group_key(id: &str) -> Alias {
    Alias::from(format!("#{id}"))
}

impl Contact {
    /// What the conversation list and the header show: the alias, or `# name` for a
    /// group.
    pub fn label(&self) -> String {
        match &self.group {
            Some(g) if g.member => format!("# {}", g.name),
            Some(g) => format!("# {} (left)", g.name),
            None => self.alias.to_string(),
        }
    }
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
    /// Hidden mode: every connection through Tor.
    pub hidden: bool,
    /// Restarting (LAN toggle).
    pub restarting: bool,
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
