//! Slash commands: one table, read by the parser (`app::commands::slash`) and by the help.
//! A command added here appears in the help; one missing here is unknown to the parser.

/// What a slash command does (the parser's `match` on it is exhaustive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlashCmd {
    /// Create an invite (for a contact's new device with `for NAME`).
    Invite,
    /// Accept an invite.
    Accept,
    /// Compare safety numbers.
    Verify,
    /// Disappearing messages.
    Expire,
    /// Rename the selected contact.
    Rename,
    /// Block or unblock a contact (the name typed says which).
    Block,
    /// Renew a session, or move it to a contact's new device.
    Reset,
    /// Delete a contact.
    Delete,
    /// Send a file (preview first).
    Send,
    /// The conversation's files.
    Files,
    /// Forward a received message (without its sender).
    Forward,
    /// Create a group.
    Group,
    /// A group's members (add, remove, promote).
    Members,
    /// Leave the selected group.
    Leave,
    /// Introduce two contacts to each other.
    Introduce,
    /// Show an introduction left for later.
    Introductions,
    /// LAN discovery on or off.
    Lan,
    /// Hidden mode (Tor) on or off.
    Hidden,
    /// A new onion address (hidden mode).
    RotateOnion,
    /// Who can learn what about the user (the exposure report).
    Exposure,
    /// Panic wipe.
    Wipe,
    /// The help.
    Help,
    /// Leave.
    Quit,
}

/// One slash command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slash {
    /// What it does.
    pub cmd: SlashCmd,
    /// The names it is typed as (lower case; the first is the one the help shows).
    pub names: &'static [&'static str],
    /// How it is typed, as the help shows it.
    pub usage: &'static str,
    /// What it does, as the help shows it.
    pub about: &'static str,
}

/// Every slash command, in help order.
pub const COMMANDS: &[Slash] = &[
    Slash {
        cmd: SlashCmd::Invite,
        names: &["invite"],
        usage: "/invite [for NAME]",
        about: "create an invite (for NAME's new device)",
    },
    Slash {
        cmd: SlashCmd::Accept,
        names: &["accept"],
        usage: "/accept CODE NAME",
        about: "accept an invite",
    },
    Slash {
        cmd: SlashCmd::Verify,
        names: &["verify"],
        usage: "/verify [NAME]",
        about: "compare safety numbers",
    },
    Slash {
        cmd: SlashCmd::Expire,
        names: &["expire"],
        usage: "/expire 1h|1d|off",
        about: "disappearing messages",
    },
    Slash {
        cmd: SlashCmd::Rename,
        names: &["rename"],
        usage: "/rename NAME",
        about: "rename the selected contact",
    },
    Slash {
        cmd: SlashCmd::Block,
        names: &["block", "unblock"],
        usage: "/block, /unblock",
        about: "block or unblock a contact",
    },
    Slash {
        cmd: SlashCmd::Reset,
        names: &["reset"],
        usage: "/reset [NAME [CODE]]",
        about: "renew a session (CODE: their new device)",
    },
    Slash {
        cmd: SlashCmd::Delete,
        names: &["delete"],
        usage: "/delete",
        about: "delete a contact (asks first)",
    },
    Slash {
        cmd: SlashCmd::Send,
        names: &["send", "attach"],
        usage: "/send [PATH]",
        about: "send a file (preview of what is removed)",
    },
    Slash {
        cmd: SlashCmd::Files,
        names: &["files"],
        usage: "/files",
        about: "files: accept, progress, save, forward",
    },
    Slash {
        cmd: SlashCmd::Forward,
        names: &["forward", "fwd"],
        usage: "/forward",
        about: "forward a message (not who sent it)",
    },
    Slash {
        cmd: SlashCmd::Group,
        names: &["group"],
        usage: "/group NAME [WHO…]",
        about: "create a group with these contacts",
    },
    Slash {
        cmd: SlashCmd::Members,
        names: &["members"],
        usage: "/members",
        about: "members: add, remove, promote",
    },
    Slash {
        cmd: SlashCmd::Leave,
        names: &["leave"],
        usage: "/leave",
        about: "leave the selected group (asks first)",
    },
    Slash {
        cmd: SlashCmd::Introduce,
        names: &["introduce"],
        usage: "/introduce A B",
        about: "introduce two contacts (both asked)",
    },
    Slash {
        cmd: SlashCmd::Introductions,
        names: &["introductions"],
        usage: "/introductions",
        about: "answer an introduction left for later",
    },
    Slash {
        cmd: SlashCmd::Lan,
        names: &["lan"],
        usage: "/lan on|off",
        about: "LAN discovery (mDNS)",
    },
    Slash {
        cmd: SlashCmd::Hidden,
        names: &["hidden"],
        usage: "/hidden on|off",
        about: "hidden mode: all through Tor (contacts told)",
    },
    Slash {
        cmd: SlashCmd::RotateOnion,
        names: &["rotate-onion"],
        usage: "/rotate-onion",
        about: "a new onion address (contacts told)",
    },
    Slash {
        cmd: SlashCmd::Exposure,
        names: &["exposure", "privacy"],
        usage: "/exposure",
        about: "who can learn what about you, and how to reduce it",
    },
    Slash {
        cmd: SlashCmd::Wipe,
        names: &["wipe"],
        usage: "/wipe",
        about: "panic wipe (asks first)",
    },
    Slash {
        cmd: SlashCmd::Help,
        names: &["help", "?"],
        usage: "/help",
        about: "this help",
    },
    Slash {
        cmd: SlashCmd::Quit,
        names: &["quit", "q", "exit"],
        usage: "/quit",
        about: "leave Cairn",
    },
];

/// The command typed as `name` (any case).
pub fn find(name: &str) -> Option<&'static Slash> {
    let name = name.to_ascii_lowercase();
    COMMANDS.iter().find(|c| c.names.contains(&name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a command the parser knows under two entries, or a usage line that does not
    /// start with the name it is found by.
    #[test]
    fn names_are_unique_and_usage_matches() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            for n in c.names {
                assert!(seen.insert(*n), "/{n} twice");
                assert_eq!(find(n).map(|f| f.cmd), Some(c.cmd));
                assert_eq!(find(&n.to_ascii_uppercase()).map(|f| f.cmd), Some(c.cmd));
            }
            assert!(c.usage.starts_with(&format!("/{}", c.names[0])), "{c:?}");
        }
        assert!(find("frobnicate").is_none());
    }
}
