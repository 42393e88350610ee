//! The Node API every front end uses: commands in, events out. The JSON-lines mode of
//! the `cairn` binary serialises exactly these types (see `docs/CLI.md`).

use serde::{Deserialize, Serialize};

/// A command to the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Create an invite code (valid for `ttl_secs`, default one week).
    Invite {
        /// Lifetime in seconds.
        #[serde(default)]
        ttl_secs: Option<u64>,
    },
    /// Accept a contact's invite code and name the contact `alias`.
    Accept {
        /// The invite code.
        code: String,
        /// Local name for the contact.
        alias: String,
    },
    /// Send a text message.
    Send {
        /// Contact alias.
        to: String,
        /// The text.
        text: String,
    },
    /// List contacts.
    Contacts,
    /// A conversation's messages (the last `limit`, default 100).
    History {
        /// Contact alias.
        with: String,
        /// How many of the most recent messages.
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Show the safety number, or mark the contact verified with `confirm: true`.
    Verify {
        /// Contact alias.
        alias: String,
        /// Mark verified.
        #[serde(default)]
        confirm: bool,
    },
    /// Set a conversation's disappearing-message timer (`seconds: null` turns it off).
    Expire {
        /// Contact alias.
        alias: String,
        /// Seconds after which messages are removed.
        seconds: Option<u64>,
    },
    /// Ask for a conversation's disappearing-message timer; answered with
    /// [`Event::ExpireSet`] (front ends show it when a conversation opens).
    ExpireStatus {
        /// Contact alias.
        alias: String,
    },
    /// Node status (peers, relay, LAN).
    Status,
    /// Gives a contact another local name (the alias is yours alone; the contact is not
    /// told).
    Rename {
        /// The contact's alias now.
        alias: String,
        /// The new alias.
        to: String,
    },
    /// Blocks a contact: its envelopes are dropped without any answer, its invites and
    /// its uses of yours are refused, nothing is sent to it. Undo with `unblock`.
    Block {
        /// The contact's alias.
        alias: String,
    },
    /// Lifts a block.
    Unblock {
        /// The contact's alias.
        alias: String,
    },
    /// Deletes a contact: its session, routing tags and unsent messages, and its history
    /// unless `keep_history` (then the history comes back if the same person is added
    /// again). A block on the contact ends with it.
    Delete {
        /// The contact's alias.
        alias: String,
        /// Keep the conversation's messages on disk.
        #[serde(default)]
        keep_history: bool,
    },
    /// Panic wipe: destroy the profile and stop. Requires `confirm: "WIPE"`.
    Wipe {
        /// Must be the string `WIPE`.
        confirm: String,
    },
    /// Stop the node.
    Quit,
}

/// A contact as listed by [`Command::Contacts`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactInfo {
    /// Local name.
    pub alias: String,
    /// Safety number compared with the contact.
    pub verified: bool,
    /// Connected right now.
    pub online: bool,
    /// A session exists (handshake finished).
    pub established: bool,
    /// Blocked by the user (see `block`).
    #[serde(default)]
    pub blocked: bool,
    /// Messages shown as unread by front ends are counted there; here: total stored.
    pub messages: usize,
}

/// A message as listed by [`Command::History`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageInfo {
    /// Message id (hex).
    pub id: String,
    /// `in` or `out`.
    pub direction: String,
    /// The text.
    pub text: String,
    /// Written (out) or sent by the contact (in), Unix ms.
    pub sent_at: u64,
    /// `queued`, `sent`, `delivered`, `failed`, `received`.
    pub state: String,
}

/// An event from the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Listening; addresses to reach this node.
    Ready {
        /// This node's PeerId.
        peer_id: String,
        /// Listen addresses.
        addrs: Vec<String>,
    },
    /// A new invite code.
    Invite {
        /// The code (one line).
        code: String,
    },
    /// A contact was added (handshake may still be running).
    ContactAdded {
        /// Alias.
        alias: String,
    },
    /// The handshake with a contact finished: messages can flow.
    SessionEstablished {
        /// Alias.
        alias: String,
    },
    /// A message was stored durably and queued for delivery.
    Queued {
        /// Message id.
        id: String,
    },
    /// A hop (the contact's node or its mailbox) took the message.
    Sent {
        /// Message id.
        id: String,
    },
    /// The contact's end-to-end receipt arrived.
    Delivered {
        /// Message id.
        id: String,
    },
    /// A message from a contact.
    Message {
        /// Contact alias.
        from: String,
        /// Message id.
        id: String,
        /// The text.
        text: String,
        /// Sender's clock, Unix ms.
        sent_at: u64,
    },
    /// Contact list.
    Contacts {
        /// Contacts.
        contacts: Vec<ContactInfo>,
    },
    /// A conversation.
    History {
        /// Contact alias.
        with: String,
        /// Messages, oldest first.
        messages: Vec<MessageInfo>,
    },
    /// Safety number for a contact.
    SafetyNumber {
        /// Alias.
        alias: String,
        /// Twelve groups of five digits.
        digits: String,
        /// QR payload.
        qr: String,
        /// Marked verified.
        verified: bool,
    },
    /// Disappearing timer changed (or, after [`Command::ExpireStatus`], as it is).
    ExpireSet {
        /// Alias.
        alias: String,
        /// Seconds, or null.
        seconds: Option<u64>,
    },
    /// A contact connected.
    PeerOnline {
        /// Alias.
        alias: String,
    },
    /// A contact disconnected.
    PeerOffline {
        /// Alias.
        alias: String,
    },
    /// Relay reservation state changed.
    Relay {
        /// `reserved` or `lost`.
        state: String,
        /// Relay address.
        addr: String,
    },
    /// Node status.
    Status {
        /// Connected peers.
        peers: usize,
        /// Listen addresses.
        addrs: Vec<String>,
        /// Relay reserved.
        relay: bool,
        /// mDNS on.
        lan: bool,
        /// Hostile or malformed inbound requests dropped so far.
        rejected: u64,
    },
    /// A contact's alias changed (`rename`).
    ContactRenamed {
        /// The old alias.
        alias: String,
        /// The new alias.
        to: String,
    },
    /// A contact was blocked or unblocked.
    ContactBlocked {
        /// The contact's alias.
        alias: String,
        /// Blocked now.
        blocked: bool,
    },
    /// A contact was deleted.
    ContactDeleted {
        /// Its former alias.
        alias: String,
        /// Its history was kept on disk.
        kept_history: bool,
    },
    /// The profile was wiped.
    Wiped,
    /// Something failed; the node goes on.
    Error {
        /// Stable machine-readable code.
        code: String,
        /// Human-readable explanation.
        message: String,
    },
    /// The node stopped.
    Stopped,
}

impl Event {
    /// An error event.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Event::Error {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Longest accepted command line (an invite code is about 1 KiB; a message up to 64 KiB).
pub const MAX_COMMAND_LINE: usize = 128 * 1024;

/// Parses one command line. Untrusted input: a typed error, never a panic.
pub fn parse_command(line: &str) -> Result<Command, Event> {
    if line.len() > MAX_COMMAND_LINE {
        return Err(Event::error("too_long", "command line too long"));
    }
    match serde_json::from_str::<serde_json::Value>(line) {
        Err(e) => Err(Event::error("bad_json", e.to_string())),
        Ok(v) => {
            let cmd = v.get("cmd").and_then(|c| c.as_str()).map(str::to_owned);
            serde_json::from_value::<Command>(v).map_err(|e| match cmd {
                None => Event::error("missing_cmd", "each line needs a \"cmd\" field"),
                Some(c) if !KNOWN.contains(&c.as_str()) => {
                    Event::error("unknown_command", format!("unknown command {c:?}"))
                }
                Some(_) => Event::error("bad_arguments", e.to_string()),
            })
        }
    }
}

const KNOWN: &[&str] = &[
    "invite",
    "accept",
    "send",
    "contacts",
    "history",
    "verify",
    "expire",
    "expire_status",
    "status",
    "rename",
    "block",
    "unblock",
    "delete",
    "wipe",
    "quit",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a parser that panics or accepts junk, or mislabels errors.
    #[test]
    fn parses_and_rejects() {
        assert_eq!(parse_command(r#"{"cmd":"quit"}"#).unwrap(), Command::Quit);
        assert_eq!(
            parse_command(r#"{"cmd":"send","to":"bob","text":"hi"}"#).unwrap(),
            Command::Send {
                to: "bob".into(),
                text: "hi".into()
            }
        );
        let code = |r: Result<Command, Event>| match r {
            Err(Event::Error { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(parse_command("{")), "bad_json");
        assert_eq!(code(parse_command(r#"{"cmd":"dance"}"#)), "unknown_command");
        assert_eq!(code(parse_command(r#"{"cmd":"send"}"#)), "bad_arguments");
        assert_eq!(code(parse_command(r#"{"to":"x"}"#)), "missing_cmd");
        assert_eq!(code(parse_command(r#"[1,2]"#)), "missing_cmd");
    }

    /// Catches `expire_status` (used by the TUI to show a conversation's timer) missing
    /// from the parser's list of known commands.
    #[test]
    fn parses_expire_status() {
        assert_eq!(
            parse_command(r#"{"cmd":"expire_status","alias":"bob"}"#).unwrap(),
            Command::ExpireStatus {
                alias: "bob".into()
            }
        );
        assert!(matches!(
            parse_command(r#"{"cmd":"expire_status"}"#),
            Err(Event::Error { code, .. }) if code == "bad_arguments"
        ));
    }
}
