//! What the user asks for: opening dialogs, submitting the input line, slash commands,
//! accepting an invite.

use super::*;

pub(super) fn open_dialog(app: &mut App, what: KeyAction, fx: &mut Vec<Effect>) {
    match what {
        KeyAction::Help => app.dialog = Some(Dialog::Help(Help::default())),
        KeyAction::Invite => {
            app.dialog = Some(Dialog::Invite(Invite::default()));
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
                app.dialog = Some(Dialog::Expire(Expire::new(alias, current)));
            }
            None => app.warn("Select a conversation first."),
        },
        KeyAction::ToggleLan => {
            app.dialog = Some(Dialog::Lan(Lan {
                enable: !app.status.lan,
            }))
        }
        KeyAction::Wipe => app.dialog = Some(Dialog::Wipe(Wipe::default())),
        _ => {}
    }
}

pub(super) fn open_accept(app: &mut App, code: &str, alias: &str) {
    app.dialog = Some(Dialog::Accept(Accept::new(code, alias)));
}

pub(super) fn open_verify(app: &mut App, alias: Alias, fx: &mut Vec<Effect>) {
    fx.push(Effect::Node(Command::Verify {
        alias: alias.clone(),
        confirm: false,
    }));
    let verified = app.contact(&alias).is_some_and(|c| c.verified);
    app.dialog = Some(Dialog::Verify(Verify {
        alias,
        digits: None,
        qr: None,
        verified,
    }));
}

pub(super) fn submit(app: &mut App, fx: &mut Vec<Effect>) {
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
    let group = app.contact(&alias).and_then(|c| c.group.clone());
    if group.as_ref().is_some_and(|g| !g.member) {
        return app.warn("You are no longer a member of this group.");
    }
    app.input.clear();
    app.next_local += 1;
    let local = format!("local-{}", app.next_local);
    let now = app.now_ms;
    app.add_message(
        &alias,
        Message::plain(local.clone(), true, body.clone(), now, now),
    );
    if let Some(c) = app.convs.get_mut(&alias) {
        c.divider = None;
        c.scroll = None;
    }
    fx.push(Effect::Node(match group {
        Some(g) => Command::GroupSend {
            group: g.id,
            text: body,
            client_ref: Some(local.into()),
        },
        None => Command::Send {
            to: alias,
            text: body,
            client_ref: Some(local.into()),
        },
    }));
}

/// `/lan` and `/hidden`: the state asked for by `arg` (`on`, `off`, or anything else: the
/// other one than `now`), or `None`, said, if `what` is in it already.
fn asked(app: &mut App, arg: Option<&&str>, now: bool, what: &str) -> Option<bool> {
    let enable = match arg.map(|s| s.to_ascii_lowercase()) {
        Some(s) if s == "on" => true,
        Some(s) if s == "off" => false,
        _ => !now,
    };
    if enable == now {
        app.notify(format!(
            "{what} is already {}",
            if enable { "on" } else { "off" }
        ));
        return None;
    }
    Some(enable)
}

pub(super) fn slash(app: &mut App, line: &str, fx: &mut Vec<Effect>) {
    let mut parts = line.split_whitespace();
    let name = parts.next().unwrap_or("").to_ascii_lowercase();
    let args: Vec<&str> = parts.collect();
    let Some(command) = crate::slash::find(&name) else {
        return app.warn(format!("Unknown command /{name}. Type /help for the list."));
    };
    match command.cmd {
        SlashCmd::Invite => match args.as_slice() {
            [] => open_dialog(app, KeyAction::Invite, fx),
            ["for", rest @ ..] if !rest.is_empty() => {
                let alias = rest.join(" ");
                if app.contact(&alias).is_none() {
                    return app.warn(format!("No contact named {alias}."));
                }
                app.notify(format!(
                    "An invite for {alias}'s new device: when they accept it, the conversation moves to their new key (history kept; compare safety numbers again)."
                ));
                app.dialog = Some(Dialog::Invite(Invite::default()));
                fx.push(Effect::Node(Command::Invite {
                    ttl_secs: None,
                    for_contact: Some(alias.into()),
                }));
            }
            _ => app.warn("Usage: /invite, or /invite for NAME (a contact's new device)"),
        },
        SlashCmd::Accept => {
            let code = args.first().copied().unwrap_or("");
            let alias = args.get(1..).map(|a| a.join(" ")).unwrap_or_default();
            let mut dialog = Accept::new(code, &alias);
            if !code.is_empty() && !alias.is_empty() {
                if let Some(cmd) = dialog.submit() {
                    fx.push(Effect::Node(cmd));
                }
            }
            app.dialog = Some(Dialog::Accept(dialog));
        }
        SlashCmd::Verify => match args
            .first()
            .map(|s| Alias::from(*s))
            .or(app.selected.clone())
        {
            Some(alias) if app.contact(&alias).is_some() => open_verify(app, alias, fx),
            Some(alias) => app.warn(format!("No contact named {alias}.")),
            None => app.warn("Select a contact to verify first."),
        },
        SlashCmd::Expire => match (args.first(), app.selected.clone()) {
            (_, None) => app.warn("Select a conversation first."),
            (None, Some(_)) => open_dialog(app, KeyAction::Expire, fx),
            (Some(arg), Some(alias)) => match parse_duration(arg) {
                Ok(seconds) => fx.push(Effect::Node(Command::Expire { alias, seconds })),
                Err(e) => app.warn(e),
            },
        },
        SlashCmd::Lan => {
            if let Some(enable) = asked(app, args.first(), app.status.lan, "LAN mode") {
                app.dialog = Some(Dialog::Lan(Lan { enable }));
            }
        }
        SlashCmd::Hidden => {
            if let Some(enable) = asked(app, args.first(), app.status.hidden, "Hidden mode") {
                app.dialog = Some(Dialog::Hidden(Hidden {
                    enable,
                    relay: args.get(1).map(|r| (*r).to_owned()),
                    rotate: false,
                }));
            }
        }
        SlashCmd::RotateOnion => {
            if app.status.hidden {
                app.dialog = Some(Dialog::Hidden(Hidden {
                    enable: true,
                    relay: None,
                    rotate: true,
                }));
            } else {
                app.warn("Only hidden mode has an onion address: /hidden on");
            }
        }
        SlashCmd::Rename => match (app.selected.clone(), args.join(" ")) {
            (None, _) => app.warn("Select the contact to rename first."),
            (Some(_), to) if to.is_empty() => app.warn("Usage: /rename NEW NAME"),
            (Some(alias), to) => fx.push(Effect::Node(Command::Rename {
                alias,
                to: to.into(),
            })),
        },
        SlashCmd::Reset => match args
            .first()
            .map(|s| Alias::from(*s))
            .or(app.selected.clone())
        {
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
        SlashCmd::Block => match args
            .first()
            .map(|s| Alias::from(*s))
            .or(app.selected.clone())
        {
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
        SlashCmd::Group => match args.split_first() {
            Some((name, members)) => fx.push(Effect::Node(Command::GroupCreate {
                name: (*name).to_owned(),
                members: members.iter().map(|m| Alias::from(*m)).collect(),
            })),
            None => app.warn("Usage: /group NAME [CONTACT…] (a one-word name; add members later too)"),
        },
        SlashCmd::Send => {
            // The rest of the line as typed (a path may hold spaces).
            let path = line
                .trim_start()
                .split_once(char::is_whitespace)
                .map_or("", |(_, rest)| rest.trim());
            super::files::open_attach(app, path)
        }
        SlashCmd::Files => super::files::open_files(app, fx),
        SlashCmd::Forward => super::files::open_forward(app),
        SlashCmd::Members => super::groups::open_members(app),
        SlashCmd::Leave => match super::groups::selected_group(app) {
            Some(g) if args.first() == Some(&"confirm") => {
                fx.push(Effect::Node(Command::GroupLeave { group: g.id }))
            }
            Some(g) => app.warn(format!(
                "Leaving “{}”: its members are told, and you get nothing more from it. Type /leave confirm.",
                g.name
            )),
            None => app.warn("Select the group to leave first."),
        },
        SlashCmd::Introduce => match args.as_slice() {
            [a, b] => fx.push(Effect::Node(Command::Introduce {
                alias: Alias::from(*a),
                to: Alias::from(*b),
            })),
            _ => app.warn("Usage: /introduce CONTACT OTHER (both are asked to accept)"),
        },
        SlashCmd::Introductions => match app.intros.pop() {
            Some(d) => app.dialog = Some(Dialog::Introduction(d)),
            None => app.notify("No introduction is waiting."),
        },
        SlashCmd::Delete => match (app.selected.clone(), args.first().copied()) {
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
        SlashCmd::Exposure => {
            app.dialog = Some(Dialog::Exposure(Exposure::default()));
            fx.push(Effect::Node(Command::Exposure));
        }
        SlashCmd::Wipe => open_dialog(app, KeyAction::Wipe, fx),
        SlashCmd::Help => open_dialog(app, KeyAction::Help, fx),
        SlashCmd::Quit => quit(app, fx),
    }
}
