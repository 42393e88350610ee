//! Events: what the node reports, and the error codes of its `error` event.

use super::{Alias, ClientRef, FileId, GroupRef, IntroId, MemberName, MessageId, PeerId};
use serde::{Deserialize, Serialize};

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
    /// No group with that id.
    UnknownGroup,
    /// No pending introduction with that id.
    UnknownIntroduction,
    /// You are not a member of that group, or the named member is not in it.
    NotMember,
    /// Only an admin may change the group.
    NotAdmin,
    /// The group's rules refuse the change (full, already a member, the last admin…).
    GroupRefused,
    /// No file with that id.
    UnknownFile,
    /// The file could not be read (missing, not a regular file, unreadable, changed while
    /// read, or larger than Cairn carries).
    FileUnreadable,
    /// Cairn cannot remove this file's metadata (a type it does not clean, too large to
    /// clean, encrypted, or malformed): send it with `original: true` to send it as it is.
    NotCleaned,
    /// The transfer is not in a state that allows it (accepting twice, exporting a file
    /// not complete).
    FileState,
    /// The file could not be written where asked (exists already, no room, not allowed),
    /// or it did not match its hash: nothing is left there.
    ExportFailed,
    /// No received message with that id (to forward).
    UnknownMessage,
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
        ErrorCode::UnknownGroup,
        ErrorCode::UnknownIntroduction,
        ErrorCode::NotMember,
        ErrorCode::NotAdmin,
        ErrorCode::GroupRefused,
        ErrorCode::UnknownFile,
        ErrorCode::FileUnreadable,
        ErrorCode::NotCleaned,
        ErrorCode::FileState,
        ErrorCode::ExportFailed,
        ErrorCode::UnknownMessage,
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
            ErrorCode::UnknownGroup => "unknown_group",
            ErrorCode::UnknownIntroduction => "unknown_introduction",
            ErrorCode::NotMember => "not_member",
            ErrorCode::NotAdmin => "not_admin",
            ErrorCode::GroupRefused => "group_refused",
            ErrorCode::UnknownFile => "unknown_file",
            ErrorCode::FileUnreadable => "file_unreadable",
            ErrorCode::NotCleaned => "not_cleaned",
            ErrorCode::FileState => "file_state",
            ErrorCode::ExportFailed => "export_failed",
            ErrorCode::UnknownMessage => "unknown_message",
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
    /// Connected to the relay, used as a mailbox only (hidden mode: contacts reach the node
    /// at its onion address, not through a circuit).
    Mailbox,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactInfo {
    /// Local name.
    pub alias: Alias,
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
    pub id: MessageId,
    /// `in` or `out`.
    pub direction: MessageDirection,
    /// The text.
    pub text: String,
    /// Written (out) or sent by the contact (in), Unix ms.
    pub sent_at: u64,
    /// `queued`, `sent`, `delivered`, `failed`, `received`.
    pub state: MessageState,
}

/// A group as `group` and `groups` events show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// Its id (what group commands take).
    pub id: GroupRef,
    /// Its name.
    pub name: String,
    /// Its members, you included.
    pub members: Vec<MemberInfo>,
    /// Whether you are still a member (false after leaving or being removed).
    pub member: bool,
    /// Whether you are an admin.
    pub admin: bool,
}

/// One member of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// How commands name it: the contact's alias, or `~` and 8 hex digits of its key.
    pub name: MemberName,
    /// This is you.
    pub you: bool,
    /// An admin.
    pub admin: bool,
    /// One of your contacts.
    pub contact: bool,
    /// A contact whose safety number you verified.
    pub verified: bool,
    /// You have a session with it: your group messages reach it.
    pub reachable: bool,
}

/// A change to a group's membership, as the `group` event reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GroupChange {
    /// `by` created the group.
    Created {
        /// Who.
        by: MemberName,
    },
    /// `by` added `member`.
    Added {
        /// Who.
        by: MemberName,
        /// Whom.
        member: MemberName,
    },
    /// `by` removed `member`.
    Removed {
        /// Who.
        by: MemberName,
        /// Whom.
        member: MemberName,
    },
    /// `by` made `member` an admin.
    Promoted {
        /// Who.
        by: MemberName,
        /// Whom.
        member: MemberName,
    },
    /// `by` made `member` a plain member.
    Demoted {
        /// Who.
        by: MemberName,
        /// Whom.
        member: MemberName,
    },
    /// `by` left.
    Left {
        /// Who.
        by: MemberName,
    },
    /// `by` renamed the group to `name`.
    Renamed {
        /// Who.
        by: MemberName,
        /// The new name.
        name: String,
    },
}

/// A group message in `group_history`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMessageInfo {
    /// Message id.
    pub id: MessageId,
    /// Its author (you for an outgoing one).
    pub from: MemberName,
    /// `in` or `out`.
    pub direction: MessageDirection,
    /// The text.
    pub text: String,
    /// Author's send time (Unix ms).
    pub sent_at: u64,
    /// For an outgoing message: how many members have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<usize>,
    /// For an outgoing message: how many members it was sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<usize>,
}

/// Where a file's transfer stands, in `file_state` and in `files`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStateName {
    /// Offered; the recipient has not answered.
    Offered,
    /// Accepted: chunks are moving.
    Moving,
    /// Every chunk arrived (and the recipient checked the whole against its hash).
    Complete,
    /// The recipient declined it.
    Declined,
    /// One side cancelled it.
    Cancelled,
    /// It arrived whole but did not match its hash (nothing to export).
    Failed,
}

/// A file of a conversation, in `files`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// The file's id.
    pub file: FileId,
    /// Which way it goes.
    pub direction: MessageDirection,
    /// The contact it goes to or comes from (in a group's list, the member).
    pub contact: Alias,
    /// Its name (sanitised: a suggestion, never a path).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type, or empty.
    pub media_type: String,
    /// Where its transfer stands.
    pub state: FileStateName,
    /// Bytes moved so far.
    pub bytes: u64,
    /// When its sender offered it (sender's clock, Unix ms).
    pub sent_at: u64,
    /// Received files: chunks that came again since this node started, already held (a
    /// sender that restarted, or a receipt lost on the way): what the link carried twice.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub chunks_again: u64,
    /// Received files: chunks that came outside the ratchet (bulk chunks, docs/PROTOCOL.md
    /// §25.5) since this node started.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bulk_chunks: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An event from the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Listening; addresses to reach this node.
    Ready {
        /// This node's PeerId.
        peer_id: PeerId,
        /// Listen addresses.
        addrs: Vec<String>,
    },
    /// A new invite code.
    Invite {
        /// The code (one line).
        code: String,
        /// The node's own addresses the code carries (whoever holds it learns them):
        /// public ones only, unless LAN mode or `--private-addresses` (docs/CLI.md).
        addresses: Vec<String>,
        /// The relay (mailbox) address it carries, if any.
        relay: Option<String>,
    },
    /// A contact was added (handshake may still be running).
    ContactAdded {
        /// Alias.
        alias: Alias,
    },
    /// The handshake with a contact finished: messages can flow.
    SessionEstablished {
        /// Alias.
        alias: Alias,
    },
    /// A message was stored durably and queued for delivery.
    Queued {
        /// Message id.
        id: MessageId,
        /// The `ref` of the `send` command, if it had one.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        client_ref: Option<ClientRef>,
    },
    /// A hop (the contact's node or its mailbox) took the message.
    Sent {
        /// Message id.
        id: MessageId,
    },
    /// The contact's end-to-end receipt arrived.
    Delivered {
        /// Message id.
        id: MessageId,
    },
    /// A message from a contact.
    Message {
        /// Contact alias.
        from: Alias,
        /// Message id.
        id: MessageId,
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
    /// A switch of mode (or onion rotation) is done: the mode is stored and the node stops.
    ModeSwitched {
        /// The mode now stored: hidden (true) or direct.
        hidden: bool,
        /// The onion address in hidden mode (without `.onion`).
        onion: Option<String>,
        /// Contacts whose new card a hop took (they, or their mailbox, have it).
        told: Vec<Alias>,
        /// Contacts not told yet: their card waits in the outbox until they can be reached.
        not_told: Vec<Alias>,
    },
    /// The exposure report: each party, what it can learn now, and the one change that
    /// would reduce it (`crate::exposure`).
    Exposure {
        /// The parties, in a fixed order.
        parties: Vec<crate::exposure::Party>,
    },
    /// A conversation.
    History {
        /// Contact alias.
        with: Alias,
        /// Messages, oldest first.
        messages: Vec<MessageInfo>,
    },
    /// Safety number for a contact.
    SafetyNumber {
        /// Alias.
        alias: Alias,
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
        alias: Alias,
        /// Seconds, or null.
        seconds: Option<u64>,
        /// The contact set it (through the session), not this node's user.
        #[serde(default)]
        by_contact: bool,
    },
    /// What sending a file would remove from it (`inspect_file`).
    FileInspected {
        /// The file, as asked.
        path: String,
        /// The format recognised from its first bytes (`jpeg`, `png`, `webp`, `pdf`,
        /// `ooxml`, `odf`), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
        /// Each kind of identifying metadata found, once ("GPS position", "author 'J. Doe'").
        removed: Vec<String>,
        /// True if Cairn can clean it; false: `send_file` needs `original: true`.
        cleanable: bool,
        /// Why it cannot be cleaned, or what cleaning leaves in the content.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A file is stored (sealed) and offered to the contact.
    FileQueued {
        /// The file's id.
        file: FileId,
        /// The contact it is offered to (a group's file: one transfer, and one event, per
        /// member).
        to: Alias,
        /// The group it was sent to, if it was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupRef>,
        /// The name the contact sees.
        name: String,
        /// Its size after cleaning.
        size: u64,
        /// What was removed from it.
        removed: Vec<String>,
        /// The `ref` of the `send_file`, if it had one.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        client_ref: Option<ClientRef>,
    },
    /// A contact offers a file: `accept_file` or `decline_file`. Nothing is fetched or
    /// opened before.
    FileOffered {
        /// Contact alias.
        from: Alias,
        /// The group it was sent to (shown in that group's conversation), if it was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupRef>,
        /// The file's id.
        file: FileId,
        /// Its name (sanitised: a suggestion, never a path).
        name: String,
        /// Its size in bytes.
        size: u64,
        /// Its media type, or empty.
        media_type: String,
        /// Sender's clock, Unix ms.
        sent_at: u64,
    },
    /// A transfer moves (at most every half second, and at its end).
    FileProgress {
        /// The file's id.
        file: FileId,
        /// Which way.
        direction: MessageDirection,
        /// Bytes moved (acknowledged by the recipient, or stored by it).
        bytes: u64,
        /// The file's size.
        total: u64,
        /// Bytes per second over the last seconds.
        rate: u64,
        /// Seconds left at that rate (absent while nothing moves).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eta_secs: Option<u64>,
    },
    /// A transfer changed state.
    FileState {
        /// The file's id.
        file: FileId,
        /// Its state now.
        state: FileStateName,
        /// The contact did it (declined, cancelled, accepted), not this node's user.
        #[serde(default)]
        by_contact: bool,
    },
    /// A file is too large for the contact's mailbox: it moves only while both are online.
    FileWaiting {
        /// The file's id.
        file: FileId,
    },
    /// A received file was written out (`export_file`).
    FileExported {
        /// The file's id.
        file: FileId,
        /// Where.
        path: String,
    },
    /// A conversation's files (`files`), oldest first.
    Files {
        /// The contact's conversation, as asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<Alias>,
        /// Or the group's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupRef>,
        /// Its files.
        files: Vec<FileInfo>,
    },
    /// A contact connected.
    PeerOnline {
        /// Alias.
        alias: Alias,
    },
    /// A contact disconnected.
    PeerOffline {
        /// Alias.
        alias: Alias,
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
        alias: Alias,
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
        alias: Alias,
        /// The new alias.
        to: Alias,
    },
    /// A contact was blocked or unblocked.
    ContactBlocked {
        /// The contact's alias.
        alias: Alias,
        /// Blocked now.
        blocked: bool,
    },
    /// A contact was deleted.
    ContactDeleted {
        /// Its former alias.
        alias: Alias,
        /// Its history was kept on disk.
        kept_history: bool,
    },
    /// A group was created or its membership changed (by you or a member), or you were
    /// added to one: its state now, and the change (none when a welcome brought a whole
    /// history at once).
    Group {
        /// The group now.
        group: Box<GroupInfo>,
        /// What changed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change: Option<GroupChange>,
    },
    /// Answer to `groups`.
    Groups {
        /// Every group.
        groups: Vec<GroupInfo>,
    },
    /// A message to a group arrived.
    GroupMessage {
        /// The group.
        group: GroupRef,
        /// Its author.
        from: MemberName,
        /// Message id.
        id: MessageId,
        /// The text.
        text: String,
        /// Author's send time (Unix ms).
        sent_at: u64,
    },
    /// One more member received your group message: `delivered` of `of`.
    GroupDelivered {
        /// The group.
        group: GroupRef,
        /// Message id.
        id: MessageId,
        /// Members that have it.
        delivered: usize,
        /// Members it was sent to.
        of: usize,
    },
    /// Answer to `group_history`: messages in the group's order.
    GroupHistory {
        /// The group.
        group: GroupRef,
        /// The messages.
        messages: Vec<GroupMessageInfo>,
    },
    /// A contact introduces you to someone who is not your contact: accept
    /// (`accept_introduction`) or refuse (`refuse_introduction`). Accepting tells that person
    /// your identity key and your network addresses, and lets them write to you.
    Introduction {
        /// Its id (for the answer).
        id: IntroId,
        /// The contact who introduces.
        by: Alias,
        /// For a group: its id and name (the person is a member). None: a contact
        /// introduction.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupRef>,
        /// The group's name, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_name: Option<String>,
    },
    /// An introduction was accepted (the handshake is under way under `alias`) or refused.
    IntroductionAnswered {
        /// Its id.
        id: IntroId,
        /// Accepted.
        accepted: bool,
        /// The name given to the person introduced, if accepted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alias: Option<Alias>,
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
        client_ref: Option<ClientRef>,
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
        client_ref: Option<ClientRef>,
    ) -> Self {
        Event::Error {
            code,
            message: message.into(),
            client_ref,
        }
    }
}
