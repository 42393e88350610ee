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
        /// For an existing contact who lost their old identity key (a new device): when
        /// they accept, the conversation moves to their new key with its history, and
        /// "verified" is dropped (docs/PROTOCOL.md §23.1).
        #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
        for_contact: Option<String>,
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
        /// A label of the client's choosing (at most [`MAX_REF_LEN`] bytes), echoed in the
        /// `queued` event and in any `error` about this send, so a client pairs answers
        /// with sends whatever order they come in.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
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
    /// Renews the encrypted session with a contact (a new handshake, no invite needed):
    /// for a conversation that no longer works, e.g. after restoring a device from an old
    /// backup. History, alias and verification are kept.
    Reset {
        /// The contact's alias.
        alias: String,
        /// An invite code from the contact's new device (they lost their old identity key):
        /// the conversation moves to the new key with its history, and "verified" is
        /// dropped (docs/PROTOCOL.md §23.1). Without it, the reset uses the key both
        /// already hold.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
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
/// Why a command failed or what went wrong: the `code` of an `error` event, serialised
/// as the snake_case word docs/CLI.md lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The command line is not JSON.
    BadJson,
    /// The line has no `cmd` field.
    MissingCmd,
    /// No such command.
    UnknownCommand,
    /// The command's fields are wrong.
    BadArguments,
    /// A command line or message is too long.
    TooLong,
    /// No contact has that alias.
    UnknownContact,
    /// The invite code is damaged or not an invite.
    InvalidInvite,
    /// The invite has expired.
    InviteExpired,
    /// An invite was used a second time and refused.
    InviteUsed,
    /// This is your own invite.
    OwnInvite,
    /// The invite's owner is already a contact.
    AlreadyContact,
    /// Another contact has that alias.
    AliasTaken,
    /// The alias is empty, too long or has invisible characters.
    InvalidAlias,
    /// The handshake with the contact has not finished yet.
    NotEstablished,
    /// The handshake could not start.
    HandshakeFailed,
    /// A message could not be encrypted.
    EncryptFailed,
    /// The encrypted store failed (nothing was acknowledged).
    StoreFailed,
    /// A listen address could not be used.
    ListenFailed,
    /// The relay cannot be reached.
    RelayUnreachable,
    /// The relay refused or failed.
    RelayFailed,
    /// `wipe` without `confirm: "WIPE"`.
    WipeNotConfirmed,
    /// The wipe failed.
    WipeFailed,
    /// An invite could not be made.
    InviteFailed,
    /// A send to, or an invite from, a blocked contact.
    Blocked,
    /// A contact's messages are too far ahead of the session (a reset is needed).
    SessionBehind,
    /// A contact gave only local addresses, which are not dialled outside LAN mode.
    LocalAddressesOnly,
}

impl ErrorCode {
    /// Every code, for documentation checks.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::BadJson,
        ErrorCode::MissingCmd,
        ErrorCode::UnknownCommand,
        ErrorCode::BadArguments,
        ErrorCode::TooLong,
        ErrorCode::UnknownContact,
        ErrorCode::InvalidInvite,
        ErrorCode::InviteExpired,
        ErrorCode::InviteUsed,
        ErrorCode::OwnInvite,
        ErrorCode::AlreadyContact,
        ErrorCode::AliasTaken,
        ErrorCode::InvalidAlias,
        ErrorCode::NotEstablished,
        ErrorCode::HandshakeFailed,
        ErrorCode::EncryptFailed,
        ErrorCode::StoreFailed,
        ErrorCode::ListenFailed,
        ErrorCode::RelayUnreachable,
        ErrorCode::RelayFailed,
        ErrorCode::WipeNotConfirmed,
        ErrorCode::WipeFailed,
        ErrorCode::InviteFailed,
        ErrorCode::Blocked,
        ErrorCode::SessionBehind,
        ErrorCode::LocalAddressesOnly,
    ];

    /// The code as it is written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::MissingCmd => "missing_cmd",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::BadArguments => "bad_arguments",
            ErrorCode::TooLong => "too_long",
            ErrorCode::UnknownContact => "unknown_contact",
            ErrorCode::InvalidInvite => "invalid_invite",
            ErrorCode::InviteExpired => "invite_expired",
            ErrorCode::InviteUsed => "invite_used",
            ErrorCode::OwnInvite => "own_invite",
            ErrorCode::AlreadyContact => "already_contact",
            ErrorCode::AliasTaken => "alias_taken",
            ErrorCode::InvalidAlias => "invalid_alias",
            ErrorCode::NotEstablished => "not_established",
            ErrorCode::HandshakeFailed => "handshake_failed",
            ErrorCode::EncryptFailed => "encrypt_failed",
            ErrorCode::StoreFailed => "store_failed",
            ErrorCode::ListenFailed => "listen_failed",
            ErrorCode::RelayUnreachable => "relay_unreachable",
            ErrorCode::RelayFailed => "relay_failed",
            ErrorCode::WipeNotConfirmed => "wipe_not_confirmed",
            ErrorCode::WipeFailed => "wipe_failed",
            ErrorCode::InviteFailed => "invite_failed",
            ErrorCode::Blocked => "blocked",
            ErrorCode::SessionBehind => "session_behind",
            ErrorCode::LocalAddressesOnly => "local_addresses_only",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a message of a `history` went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageDirection {
    /// From the contact.
    #[serde(rename = "in")]
    In,
    /// To the contact.
    #[serde(rename = "out")]
    Out,
}

/// The delivery state of a message of a `history`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Stored in the outbox.
    Queued,
    /// A hop took it.
    Sent,
    /// The contact's receipt arrived.
    Delivered,
    /// Delivery was given up.
    Failed,
    /// An incoming message.
    Received,
}

/// The state of the node's relay (`relay` event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayState {
    /// A circuit reservation is in place: the node is reachable through the relay.
    Reserved,
}

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
    /// The session's protocol version (docs/PROTOCOL.md §3); absent before the handshake.
    /// 1 means the contact's build is older or the session predates protocol 2.
    #[serde(default)]
    pub protocol: Option<u8>,
    /// Messages shown as unread by front ends are counted there; here: total stored.
    pub messages: usize,
}

/// A message as listed by [`Command::History`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageInfo {
    /// Message id (hex).
    pub id: String,
    /// `in` or `out`.
    pub direction: MessageDirection,
    /// The text.
    pub text: String,
    /// Written (out) or sent by the contact (in), Unix ms.
    pub sent_at: u64,
    /// `queued`, `sent`, `delivered`, `failed`, `received`.
    pub state: MessageState,
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
        /// The `ref` of the `send` command, if it had one.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
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
        /// The contact set it (through the session), not this node's user.
        #[serde(default)]
        by_contact: bool,
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
        state: RelayState,
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
    /// The session with a contact was renewed by a reset (started by either side).
    SessionReset {
        /// The contact's alias.
        alias: String,
        /// The new session's protocol version (docs/PROTOCOL.md §3): a reset also moves
        /// a conversation to the newest protocol both sides speak.
        #[serde(default)]
        protocol: u8,
        /// The contact's identity key changed (a re-key with their new device): compare
        /// safety numbers again; "verified" was dropped.
        #[serde(default)]
        identity_changed: bool,
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
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
        /// The `ref` of the command this error is about, if it had one.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// The node stopped.
    Stopped,
}

impl Event {
    /// An error event.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::error_for(code, message, None)
    }

    /// An error event about the command labelled `client_ref`.
    pub fn error_for(
        code: ErrorCode,
        message: impl Into<String>,
        client_ref: Option<String>,
    ) -> Self {
        Event::Error {
            code,
            message: message.into(),
            client_ref,
        }
    }
}

/// Longest accepted command line (an invite code is about 1 KiB; a message up to 64 KiB).
pub const MAX_COMMAND_LINE: usize = 128 * 1024;

/// Parses one command line. Untrusted input: a typed error, never a panic.
/// Longest `ref` a `send` may carry.
pub const MAX_REF_LEN: usize = 128;

pub fn parse_command(line: &str) -> Result<Command, Event> {
    if line.len() > MAX_COMMAND_LINE {
        return Err(Event::error(ErrorCode::TooLong, "command line too long"));
    }
    match serde_json::from_str::<serde_json::Value>(line) {
        Err(e) => Err(Event::error(ErrorCode::BadJson, e.to_string())),
        Ok(v) => {
            let cmd = v.get("cmd").and_then(|c| c.as_str()).map(str::to_owned);
            let parsed = serde_json::from_value::<Command>(v).map_err(|e| match cmd {
                None => Event::error(ErrorCode::MissingCmd, "each line needs a \"cmd\" field"),
                Some(c) if !KNOWN.contains(&c.as_str()) => {
                    Event::error(ErrorCode::UnknownCommand, format!("unknown command {c:?}"))
                }
                Some(_) => Event::error(ErrorCode::BadArguments, e.to_string()),
            })?;
            match &parsed {
                Command::Send {
                    client_ref: Some(r),
                    ..
                } if r.len() > MAX_REF_LEN => Err(Event::error(
                    ErrorCode::BadArguments,
                    format!("a ref is at most {MAX_REF_LEN} bytes"),
                )),
                _ => Ok(parsed),
            }
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
    "reset",
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
                text: "hi".into(),
                client_ref: None,
            }
        );
        let code = |r: Result<Command, Event>| match r {
            Err(Event::Error { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(parse_command("{")), ErrorCode::BadJson);
        assert_eq!(
            code(parse_command(r#"{"cmd":"dance"}"#)),
            ErrorCode::UnknownCommand
        );
        assert_eq!(
            code(parse_command(r#"{"cmd":"send"}"#)),
            ErrorCode::BadArguments
        );
        assert_eq!(code(parse_command(r#"{"to":"x"}"#)), ErrorCode::MissingCmd);
        assert_eq!(code(parse_command(r#"[1,2]"#)), ErrorCode::MissingCmd);
    }

    /// Catches `expire_status` (used by the TUI to show a conversation's timer) missing
    /// from the parser's list of known commands.
    /// Catches a code the node can emit that docs/CLI.md does not list, or a JSON word
    /// that differs from the one documented.
    #[test]
    fn every_error_code_is_documented() {
        let doc = include_str!("../../docs/CLI.md");
        for code in ErrorCode::ALL {
            let word = format!("`{}`", code.as_str());
            assert!(doc.contains(&word), "{word} is not in docs/CLI.md");
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.as_str().into())
            );
        }
        let state = serde_json::to_value(MessageState::Delivered).unwrap();
        assert_eq!(state, "delivered");
        assert_eq!(serde_json::to_value(MessageDirection::Out).unwrap(), "out");
        assert_eq!(
            serde_json::to_value(RelayState::Reserved).unwrap(),
            "reserved"
        );
    }

    /// Catches a `ref` that is not read, not echoed under its JSON name, or unbounded.
    #[test]
    fn send_ref_is_read_echoed_and_bounded() {
        let cmd = parse_command(r#"{"cmd":"send","to":"bob","text":"hi","ref":"r1"}"#).unwrap();
        assert!(matches!(cmd, Command::Send { client_ref: Some(ref r), .. } if r == "r1"));
        let long = format!(
            r#"{{"cmd":"send","to":"b","text":"t","ref":"{}"}}"#,
            "x".repeat(129)
        );
        assert!(
            matches!(parse_command(&long), Err(Event::Error { code, .. }) if code == ErrorCode::BadArguments)
        );
        let q = serde_json::to_value(Event::Queued {
            id: "00".into(),
            client_ref: Some("r1".into()),
        })
        .unwrap();
        assert_eq!(q["ref"], "r1");
        let e = serde_json::to_value(Event::error(ErrorCode::TooLong, "x")).unwrap();
        assert!(
            e.get("ref").is_none(),
            "no ref key when the send had none: {e}"
        );
    }

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
            Err(Event::Error { code, .. }) if code == ErrorCode::BadArguments
        ));
    }
}
