//! Commands: what a front end asks of the node, and the parser of the JSON-lines mode.

use super::{Alias, ClientRef, ErrorCode, Event, FileId, GroupRef, IntroId, MemberName};
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
        for_contact: Option<Alias>,
    },
    /// Accept a contact's invite code and name the contact `alias`.
    Accept {
        /// The invite code.
        code: String,
        /// Local name for the contact.
        alias: Alias,
    },
    /// Send a text message.
    Send {
        /// Contact alias.
        to: Alias,
        /// The text.
        text: String,
        /// A label of the client's choosing (at most [`MAX_REF_LEN`] bytes), echoed in the
        /// `queued` event and in any `error` about this send, so a client pairs answers
        /// with sends whatever order they come in.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        client_ref: Option<ClientRef>,
    },
    /// List contacts.
    Contacts,
    /// What each party can learn about the user now (the exposure report).
    Exposure,
    /// A conversation's messages (the last `limit`, default 100).
    History {
        /// Contact alias.
        with: Alias,
        /// How many of the most recent messages.
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Show the safety number, or mark the contact verified with `confirm: true`.
    Verify {
        /// Contact alias.
        alias: Alias,
        /// Mark verified.
        #[serde(default)]
        confirm: bool,
    },
    /// Set a conversation's disappearing-message timer (`seconds: null` turns it off).
    Expire {
        /// Contact alias.
        alias: Alias,
        /// Seconds after which messages are removed.
        seconds: Option<u64>,
    },
    /// Ask for a conversation's disappearing-message timer; answered with
    /// [`Event::ExpireSet`] (front ends show it when a conversation opens).
    ExpireStatus {
        /// Contact alias.
        alias: Alias,
    },
    /// Node status (peers, relay, LAN).
    Status,
    /// Gives a contact another local name (the alias is yours alone; the contact is not
    /// told).
    Rename {
        /// The contact's alias now.
        alias: Alias,
        /// The new alias.
        to: Alias,
    },
    /// Blocks a contact: its envelopes are dropped without any answer, its invites and
    /// its uses of yours are refused, nothing is sent to it. Undo with `unblock`.
    Block {
        /// The contact's alias.
        alias: Alias,
    },
    /// Renews the encrypted session with a contact (a new handshake, no invite needed):
    /// for a conversation that no longer works, e.g. after restoring a device from an old
    /// backup. History, alias and verification are kept.
    Reset {
        /// The contact's alias.
        alias: Alias,
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
        alias: Alias,
    },
    /// Deletes a contact: its session, routing tags and unsent messages, and its history
    /// unless `keep_history` (then the history comes back if the same person is added
    /// again). A block on the contact ends with it.
    Delete {
        /// The contact's alias.
        alias: Alias,
        /// Keep the conversation's messages on disk.
        #[serde(default)]
        keep_history: bool,
    },
    /// Creates a group named `name` (you are its first admin) with these contacts as its
    /// first members; answered with a `group` event. Each member receives the group over
    /// its session with you.
    GroupCreate {
        /// The group's name (shown to every member).
        name: String,
        /// Contacts to add (each must have an established session).
        #[serde(default)]
        members: Vec<Alias>,
    },
    /// Adds a contact to a group (admins only). The new member sees only what is sent
    /// after it joined; every member is shown the addition.
    GroupAdd {
        /// The group.
        group: GroupRef,
        /// The contact to add.
        alias: Alias,
    },
    /// Removes a member (admins only): no later message reaches it.
    GroupRemove {
        /// The group.
        group: GroupRef,
        /// The member, as the member list names it.
        member: MemberName,
    },
    /// Makes a member an admin (admins only).
    GroupPromote {
        /// The group.
        group: GroupRef,
        /// The member.
        member: MemberName,
    },
    /// Makes an admin a plain member again (admins only; a group keeps one admin).
    GroupDemote {
        /// The group.
        group: GroupRef,
        /// The member.
        member: MemberName,
    },
    /// Leaves a group: the members are told, and nothing more is sent to you.
    GroupLeave {
        /// The group.
        group: GroupRef,
    },
    /// Renames a group (admins only).
    GroupRename {
        /// The group.
        group: GroupRef,
        /// The new name.
        name: String,
    },
    /// Sends a text to a group: one copy to each member, over your session with it.
    GroupSend {
        /// The group.
        group: GroupRef,
        /// The text.
        text: String,
        /// As in `send`.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        client_ref: Option<ClientRef>,
    },
    /// Lists the groups you are in (or were in).
    Groups,
    /// A group's messages (the last `limit`, default 100), in the group's order.
    GroupHistory {
        /// The group.
        group: GroupRef,
        /// How many of the most recent messages.
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Introduces two of your contacts to each other: each is asked, and if both accept
    /// they get a session of their own (no invite needed). Each learns the other's key and
    /// network addresses (docs/THREAT_MODEL.md).
    Introduce {
        /// One contact.
        alias: Alias,
        /// The other.
        to: Alias,
    },
    /// Accepts an introduction (from the `introduction` event): the handshake with the
    /// person introduced starts, and they become a contact (or, for a group, a group-only
    /// peer). Accepting tells them your key and your network addresses.
    AcceptIntroduction {
        /// The introduction's id.
        id: IntroId,
        /// The name to give them (default: the name they chose for themselves).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alias: Option<Alias>,
    },
    /// Refuses an introduction: nothing is sent, and it is forgotten.
    RefuseIntroduction {
        /// The introduction's id.
        id: IntroId,
    },
    /// Makes a group-only peer (met through a group's introduction) a contact: listed,
    /// with its conversation; no invite is needed.
    MakeContact {
        /// Its alias (as the group's member list shows it).
        alias: Alias,
    },
    /// What sending the file at `path` would remove from it (its identifying metadata), or
    /// that Cairn cannot clean it: answered with [`Event::FileInspected`], nothing sent.
    InspectFile {
        /// The file.
        path: String,
    },
    /// Send the file at `path` to a contact: its identifying metadata removed first (or,
    /// with `original: true`, as it is — the explicit choice for a type Cairn cannot clean).
    SendFile {
        /// To this contact.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Alias>,
        /// Or to every member of this group (one transfer each; the file is sealed once).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupRef>,
        /// The file.
        path: String,
        /// Send it unchanged, metadata and all.
        #[serde(default)]
        original: bool,
        /// Echoed in `file_queued` and in any `error` about this send.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        client_ref: Option<ClientRef>,
    },
    /// Take a file a contact offered: its chunks start to come.
    AcceptFile {
        /// The file.
        file: FileId,
    },
    /// Refuse a file a contact offered.
    DeclineFile {
        /// The file.
        file: FileId,
    },
    /// Stop a transfer, either way; what was received of it is deleted.
    CancelFile {
        /// The file.
        file: FileId,
    },
    /// Write a received file to `path` (a new file: never over an existing one).
    ExportFile {
        /// The file.
        file: FileId,
        /// Where to write it.
        path: String,
    },
    /// Forward a received message or file to a contact (`to`) or, for a message, a group
    /// (`group`): sent as new, from you, with nothing of its first sender — no name, no
    /// identity, no timestamps; a file cleaned again and sealed under a new key (a type
    /// Cairn cannot clean needs `original: true`).
    Forward {
        /// A received message's id (from a `message` event or the history).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<super::MessageId>,
        /// A received (or sent) file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<FileId>,
        /// To this contact.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Alias>,
        /// Or to this group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupRef>,
        /// Forward a file Cairn cannot clean as it is.
        #[serde(default)]
        original: bool,
        /// Echoed in the `queued`/`file_queued` event and in any `error` about it.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        client_ref: Option<ClientRef>,
    },
    /// The files of a conversation, both ways.
    Files {
        /// A contact's conversation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<Alias>,
        /// Or a group's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupRef>,
    },
    /// Panic wipe: destroy the profile and stop. Requires `confirm: "WIPE"`.
    Wipe {
        /// Must be the string `WIPE`.
        confirm: String,
    },
    /// Switch the profile to hidden mode or back (`docs/CLI.md`): every contact is sent the
    /// card of the new mode through the current one, then the mode is stored and the node
    /// stops (`mode_switched`), to be started again in it.
    SwitchMode {
        /// Hidden mode (true) or direct.
        hidden: bool,
        /// The relay and mailbox to use in the new mode (an onion address for hidden
        /// mode); by default the current one if it suits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relay: Option<String>,
    },
    /// Hidden mode: a new onion address, contacts told as in `switch_mode`; the node stops.
    RotateOnion,
    /// Stop the node.
    Quit,
}
/// Longest accepted command line (an invite code is about 1 KiB; a message up to 64 KiB).
pub const MAX_COMMAND_LINE: usize = 128 * 1024;

/// Longest `ref` a `send` may carry.
pub const MAX_REF_LEN: usize = 128;

/// Parses one command line. Untrusted input: a typed error (an `error` event to print),
/// never a panic.
pub fn parse_command(line: &str) -> Result<Command, Box<Event>> {
    if line.len() > MAX_COMMAND_LINE {
        return Err(Box::new(Event::error(
            ErrorCode::TooLong,
            "command line too long",
        )));
    }
    match serde_json::from_str::<serde_json::Value>(line) {
        Err(e) => Err(Box::new(Event::error(ErrorCode::BadJson, e.to_string()))),
        Ok(v) => {
            let cmd = v.get("cmd").and_then(|c| c.as_str()).map(str::to_owned);
            let parsed = serde_json::from_value::<Command>(v).map_err(|e| {
                Box::new(match cmd {
                    None => Event::error(ErrorCode::MissingCmd, "each line needs a \"cmd\" field"),
                    Some(c) if !KNOWN.contains(&c.as_str()) => {
                        Event::error(ErrorCode::UnknownCommand, format!("unknown command {c:?}"))
                    }
                    Some(_) => Event::error(ErrorCode::BadArguments, e.to_string()),
                })
            })?;
            match &parsed {
                Command::Send {
                    client_ref: Some(r),
                    ..
                }
                | Command::GroupSend {
                    client_ref: Some(r),
                    ..
                }
                | Command::SendFile {
                    client_ref: Some(r),
                    ..
                }
                | Command::Forward {
                    client_ref: Some(r),
                    ..
                } if r.len() > MAX_REF_LEN => Err(Box::new(Event::error(
                    ErrorCode::BadArguments,
                    format!("a ref is at most {MAX_REF_LEN} bytes"),
                ))),
                _ => Ok(parsed),
            }
        }
    }
}

const KNOWN: &[&str] = &[
    "invite",
    "switch_mode",
    "rotate_onion",
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
    "group_create",
    "group_add",
    "group_remove",
    "group_promote",
    "group_demote",
    "group_leave",
    "group_rename",
    "group_send",
    "groups",
    "group_history",
    "introduce",
    "accept_introduction",
    "refuse_introduction",
    "make_contact",
    "inspect_file",
    "send_file",
    "accept_file",
    "decline_file",
    "cancel_file",
    "export_file",
    "files",
    "forward",
    "wipe",
    "quit",
];
