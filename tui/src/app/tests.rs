//! `update` as a pure function: actions in, state and effects out.

use super::*;
use cairn_node::api::MessageState;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const T0: u64 = 1_700_000_000_000;

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn typed(app: &mut App, text: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    for c in text.chars() {
        fx.extend(update(app, key(KeyCode::Char(c))));
    }
    fx
}

pub(super) fn info(alias: &str) -> ContactInfo {
    ContactInfo {
        alias: alias.into(),
        verified: false,
        online: true,
        established: true,
        blocked: false,
        protocol: Some(3),
        messages: 0,
    }
}

/// A main screen with contacts `names`, the first selected.
fn main_app(names: &[&str]) -> App {
    let mut app = App::new(Screen::Main, Settings::default(), (80, 24));
    update(&mut app, Action::Tick(T0));
    update(
        &mut app,
        Action::NodeStarted {
            profile: "me".into(),
            lan: false,
            relay: false,
            hidden: false,
        },
    );
    update(
        &mut app,
        Action::Node(Event::Contacts {
            contacts: names.iter().map(|n| info(n)).collect(),
        }),
    );
    for n in names {
        update(
            &mut app,
            Action::Node(Event::History {
                with: (*n).into(),
                messages: vec![],
            }),
        );
    }
    app.select(Some(names[0].into()));
    app
}

fn incoming(app: &mut App, from: &str, id: &str, text: &str) -> Vec<Effect> {
    update(
        app,
        Action::Node(Event::Message {
            from: from.into(),
            id: id.into(),
            text: text.into(),
            sent_at: T0,
        }),
    )
}

fn node_cmds(fx: &[Effect]) -> Vec<Command> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Node(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

/// Catches an unlock flow that blocks, loses the passphrase, or gives no second chance.
#[test]
fn unlock_then_retry_after_wrong_passphrase() {
    let mut app = App::new(
        Screen::Unlock(UnlockForm::default()),
        Settings::default(),
        (80, 24),
    );
    assert!(typed(&mut app, "hunter22").is_empty());
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(fx, vec![Effect::Open(Zeroizing::new("hunter22".into()))]);
    assert!(matches!(app.screen, Screen::Busy { .. }));
    update(
        &mut app,
        Action::OpenFailed {
            wrong_passphrase: true,
            message: "wrong passphrase".into(),
        },
    );
    match &app.screen {
        Screen::Unlock(f) => {
            assert!(f.pass.is_empty());
            assert_eq!(f.error.as_deref(), Some("Wrong passphrase. Try again."));
        }
        other => panic!("{other:?}"),
    }
    typed(&mut app, "right one");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(fx, vec![Effect::Open(Zeroizing::new("right one".into()))]);
    let fx = update(
        &mut app,
        Action::NodeStarted {
            profile: "me".into(),
            lan: false,
            relay: false,
            hidden: false,
        },
    );
    assert_eq!(app.screen, Screen::Main);
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Contacts, Command::Groups, Command::Status]
    );
}

/// Catches secrets leaking through `Debug` (logs, panics): passphrases, text, codes.
#[test]
fn debug_output_has_no_secrets() {
    let mut app = App::new(
        Screen::Unlock(UnlockForm::default()),
        Settings::default(),
        (80, 24),
    );
    typed(&mut app, "sekrit-pass");
    assert!(!format!("{app:?}").contains("sekrit"));
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(!format!("{fx:?}").contains("sekrit"));
    let mut app = main_app(&["alice"]);
    incoming(&mut app, "alice", "01", "meet at the safe house");
    typed(&mut app, "top secret reply");
    let fx = update(&mut app, key(KeyCode::Enter));
    let all = format!("{app:?} {fx:?} {:?}", key(KeyCode::Char('x')));
    assert!(
        !all.contains("safe house") && !all.contains("top secret"),
        "{all}"
    );
}

/// Catches a first-run form that accepts mismatched or weak passphrases.
#[test]
fn setup_validates_passphrases() {
    let mut app = App::new(
        Screen::Setup(SetupForm::default()),
        Settings::default(),
        (80, 24),
    );
    typed(&mut app, "Ana");
    update(&mut app, key(KeyCode::Tab));
    typed(&mut app, "long enough pass");
    update(&mut app, key(KeyCode::Tab));
    typed(&mut app, "long enough pasS");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(fx.is_empty());
    let Screen::Setup(f) = &app.screen else {
        panic!()
    };
    assert!(f.error.as_deref().unwrap_or("").contains("differ"));
    assert_eq!(f.focus, 1);
    typed(&mut app, "short");
    update(&mut app, key(KeyCode::Enter));
    typed(&mut app, "short");
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    typed(&mut app, "long enough pass");
    update(&mut app, key(KeyCode::Enter));
    typed(&mut app, "long enough pass");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Create {
            name: "Ana".into(),
            passphrase: Zeroizing::new("long enough pass".into()),
            hidden: false,
        }]
    );
    update(
        &mut app,
        Action::OpenFailed {
            wrong_passphrase: false,
            message: "disk full".into(),
        },
    );
    let Screen::Setup(f) = &app.screen else {
        panic!()
    };
    assert_eq!(f.name.text(), "Ana");
    assert_eq!(f.error.as_deref(), Some("disk full"));
}

/// Catches delivery states that do not follow queued → sent → delivered, or that a
/// late event moves backwards.
#[test]
fn send_and_delivery_states() {
    let mut app = main_app(&["alice"]);
    typed(&mut app, "hello");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Send {
            to: "alice".into(),
            text: "hello".into(),
            client_ref: Some("local-1".into()),
        }]
    );
    assert!(app.input.is_empty());
    let state = |app: &App| app.convs["alice"].messages.last().map(|m| m.state);
    assert_eq!(state(&app), Some(Delivery::Queued));
    update(
        &mut app,
        Action::Node(Event::Queued {
            id: "aa".into(),
            client_ref: Some("local-1".into()),
        }),
    );
    assert_eq!(app.convs["alice"].messages[0].id, "aa");
    update(&mut app, Action::Node(Event::Sent { id: "aa".into() }));
    assert_eq!(state(&app), Some(Delivery::Sent));
    update(&mut app, Action::Node(Event::Delivered { id: "aa".into() }));
    assert_eq!(state(&app), Some(Delivery::Delivered));
    update(&mut app, Action::Node(Event::Sent { id: "aa".into() }));
    assert_eq!(state(&app), Some(Delivery::Delivered));
}

/// Catches a refused send that still looks queued.
#[test]
fn refused_send_is_marked_failed() {
    let mut app = main_app(&["alice"]);
    typed(&mut app, "too early");
    update(&mut app, key(KeyCode::Enter));
    update(
        &mut app,
        Action::Node(Event::error_for(
            ErrorCode::NotEstablished,
            "not yet",
            Some("local-1".into()),
        )),
    );
    assert_eq!(app.convs["alice"].messages[0].state, Delivery::Failed);
    assert!(app.notice.as_ref().is_some_and(|n| n.warn));
}

/// Catches answers paired with sends by order: an error about the second send that
/// arrives before the first send's `queued` must mark the second message failed, and the
/// first must still get its id.
#[test]
fn answers_are_paired_by_ref_not_by_order() {
    let mut app = main_app(&["alice"]);
    typed(&mut app, "first");
    update(&mut app, key(KeyCode::Enter));
    typed(&mut app, "second");
    update(&mut app, key(KeyCode::Enter));
    update(
        &mut app,
        Action::Node(Event::error_for(
            ErrorCode::TooLong,
            "too long",
            Some("local-2".into()),
        )),
    );
    update(
        &mut app,
        Action::Node(Event::Queued {
            id: "f1".into(),
            client_ref: Some("local-1".into()),
        }),
    );
    let msgs = &app.convs["alice"].messages;
    assert_eq!(
        (msgs[0].text.as_str(), msgs[0].id.as_str()),
        ("first", "f1")
    );
    assert_eq!(msgs[0].state, Delivery::Queued);
    assert_eq!(msgs[1].text, "second");
    assert_eq!(msgs[1].state, Delivery::Failed);
}

/// Catches unread counts, the divider and the bell going wrong, and a bell that
/// rings for the conversation being read.
#[test]
fn unread_divider_and_bell() {
    let mut app = main_app(&["alice", "bob"]);
    let fx = incoming(&mut app, "bob", "01", "psst");
    assert_eq!(fx, vec![Effect::Bell]);
    assert_eq!(app.contact("bob").map(|c| c.unread), Some(1));
    assert_eq!(app.convs["bob"].divider, Some(0));
    assert_eq!(app.total_unread(), 1);
    // Duplicates (a history reload, a retransmission) are shown once.
    assert!(incoming(&mut app, "bob", "01", "psst").is_empty());
    assert_eq!(app.convs["bob"].messages.len(), 1);
    // Reading the conversation clears the count but keeps the divider while there.
    update(&mut app, ctrl('n'));
    assert_eq!(app.selected.as_deref(), Some("bob"));
    assert_eq!(app.contact("bob").map(|c| c.unread), Some(0));
    assert_eq!(app.convs["bob"].divider, Some(0));
    // A message to the open, focused conversation: no bell, not unread.
    assert!(incoming(&mut app, "bob", "02", "again").is_empty());
    assert_eq!(app.contact("bob").map(|c| c.unread), Some(0));
    update(&mut app, ctrl('n'));
    assert_eq!(app.convs["bob"].divider, None);
    // Unfocused terminal: it counts and rings.
    update(&mut app, Action::Focus(false));
    let fx = incoming(&mut app, "alice", "03", "hi");
    assert_eq!(fx, vec![Effect::Bell]);
    assert_eq!(app.contact("alice").map(|c| c.unread), Some(1));
    update(&mut app, Action::Focus(true));
    assert_eq!(app.contact("alice").map(|c| c.unread), Some(0));
}

/// Catches the bell setting being ignored.
#[test]
fn bell_can_be_turned_off() {
    let mut app = main_app(&["alice", "bob"]);
    app.settings.bell = false;
    assert!(incoming(&mut app, "bob", "01", "psst").is_empty());
}

/// Catches a sort that does not put unread (or recent) conversations first.
#[test]
fn contact_order() {
    let mut app = main_app(&["alice", "bob", "carol"]);
    app.contacts[0].last_at = 30;
    app.contacts[1].last_at = 10;
    app.contacts[2].last_at = 20;
    app.contacts[1].unread = 2;
    let names = |app: &App| -> Vec<Alias> {
        app.sorted()
            .into_iter()
            .map(|i| app.contacts[i].alias.clone())
            .collect()
    };
    assert_eq!(names(&app), ["bob", "alice", "carol"]);
    update(&mut app, key(KeyCode::F(7)));
    assert_eq!(app.sort, Sort::Recent);
    assert_eq!(names(&app), ["alice", "carol", "bob"]);
}

/// Catches slash commands that do nothing, do the wrong thing, or leak into a message.
#[test]
fn slash_commands() {
    let mut app = main_app(&["alice"]);
    let run = |app: &mut App, line: &str| {
        app.input.clear();
        app.input.insert_str(line);
        update(app, key(KeyCode::Enter))
    };
    let fx = run(&mut app, "/invite");
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Invite {
            ttl_secs: None,
            for_contact: None,
        }]
    );
    assert_eq!(app.dialog, Some(Dialog::Invite(Invite::default())));
    update(
        &mut app,
        Action::Node(Event::Invite {
            code: "CAIRN:X".into(),
            addresses: vec![
                "/ip4/203.0.113.5/tcp/4001".into(),
                "/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit".into(),
            ],
            relay: Some("/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN".into()),
        }),
    );
    assert_eq!(
        app.dialog,
        Some(Dialog::Invite(Invite {
            code: Some("CAIRN:X".into()),
            reveals: Some(
                "It reveals your address 203.0.113.5 and your relay's (198.51.100.7): whoever holds the code learns where you are.".into()
            ),
        }))
    );
    assert_eq!(
        crate::dialog::reveals(&[], Some("/ip4/198.51.100.7/tcp/1")),
        "It reveals no address of yours, only your relay's (198.51.100.7)."
    );
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.dialog, None);

    // The exposure report: asked of the node, shown as it computed it.
    let fx = run(&mut app, "/exposure");
    assert_eq!(node_cmds(&fx), vec![Command::Exposure]);
    assert_eq!(app.dialog, Some(Dialog::Exposure(Exposure::default())));
    update(
        &mut app,
        Action::Node(Event::Exposure {
            parties: vec![cairn_node::api::ExposureParty {
                who: "your relay (198.51.100.7)".into(),
                learns: vec!["your IP address".into()],
                reduce: Some("use a relay you trust".into()),
            }],
        }),
    );
    let Some(Dialog::Exposure(d)) = &app.dialog else {
        panic!("the report is not shown")
    };
    assert_eq!(
        d.lines.as_deref().unwrap_or_default()[..3],
        [
            "Your relay (198.51.100.7)".to_owned(),
            "  - your IP address".to_owned(),
            "  → to reduce it: use a relay you trust".to_owned(),
        ]
    );
    update(&mut app, key(KeyCode::Esc));
    assert_eq!(app.dialog, None);

    let fx = run(&mut app, "/expire 1h");
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Expire {
            alias: "alice".into(),
            seconds: Some(3600)
        }]
    );
    let fx = run(&mut app, "/expire soon");
    assert!(fx.is_empty());
    assert!(app.notice.as_ref().is_some_and(|n| n.warn));
    let fx = run(&mut app, "/expire off");
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Expire {
            alias: "alice".into(),
            seconds: None
        }]
    );

    let fx = run(&mut app, "/verify");
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Verify {
            alias: "alice".into(),
            confirm: false
        }]
    );
    // Nothing to compare yet: V does nothing.
    assert!(update(&mut app, key(KeyCode::Char('v'))).is_empty());
    update(
        &mut app,
        Action::Node(Event::SafetyNumber {
            alias: "alice".into(),
            digits: "12345 67890".into(),
            qr: "CAIRN-SN0112345".into(),
            verified: false,
        }),
    );
    let fx = update(&mut app, key(KeyCode::Char('v')));
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Verify {
            alias: "alice".into(),
            confirm: true
        }]
    );
    update(&mut app, key(KeyCode::Esc));

    let fx = run(&mut app, "/help");
    assert!(fx.is_empty());
    assert_eq!(app.dialog, Some(Dialog::Help(Help { scroll: 0 })));
    update(&mut app, key(KeyCode::Char('q')));
    assert_eq!(app.dialog, None);

    let fx = run(&mut app, "/frobnicate");
    assert!(fx.is_empty());
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.text.contains("/help")));

    // "//" sends a message that starts with a slash.
    let fx = run(&mut app, "//shrug");
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Send {
            to: "alice".into(),
            text: "/shrug".into(),
            client_ref: Some("local-1".into()),
        }]
    );

    // A contact's new device: an invite made for them, or their invite accepted for them.
    let fx = run(&mut app, "/invite for alice");
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Invite {
            ttl_secs: None,
            for_contact: Some("alice".into()),
        }]
    );
    app.dialog = None;
    let fx = run(&mut app, "/invite for nobody");
    assert!(node_cmds(&fx).is_empty());
    let fx = run(&mut app, "/reset alice CAIRN:NEWDEVICE");
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Reset {
            alias: "alice".into(),
            code: Some("CAIRN:NEWDEVICE".into()),
        }]
    );
    let fx = run(&mut app, "/reset");
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Reset {
            alias: "alice".into(),
            code: None,
        }]
    );
    // The key changed: "verified" goes, and the warning says so.
    app.contact_mut("alice").unwrap().verified = true;
    update(
        &mut app,
        Action::Node(Event::SessionReset {
            alias: "alice".into(),
            protocol: 3,
            identity_changed: true,
        }),
    );
    assert!(!app.contact("alice").unwrap().verified);
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.text.contains("CHANGED")));

    let fx = run(&mut app, "/quit");
    assert_eq!(fx, vec![Effect::Quit]);
    assert!(app.quitting);
}

/// Catches a LAN toggle that restarts without asking, or asks but never restarts.
#[test]
fn lan_toggle_asks_then_restarts() {
    let mut app = main_app(&["alice"]);
    assert!(update(&mut app, key(KeyCode::F(6))).is_empty());
    assert_eq!(app.dialog, Some(Dialog::Lan(Lan { enable: true })));
    assert!(update(&mut app, key(KeyCode::Esc)).is_empty());
    assert_eq!(app.dialog, None);
    update(&mut app, key(KeyCode::F(6)));
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(fx, vec![Effect::RestartNode { lan: true }]);
    assert!(app.status.restarting);
    // The old node stopping is expected, not an error.
    update(&mut app, Action::NodeStopped { error: None });
    assert!(app.notice.as_ref().is_some_and(|n| !n.warn));
    update(
        &mut app,
        Action::NodeStarted {
            profile: "me".into(),
            lan: true,
            relay: false,
            hidden: false,
        },
    );
    assert!(app.status.lan && !app.status.restarting);
}

/// Catches a panic wipe that can be triggered by a stray key, a paste, or a
/// lowercase word.
#[test]
fn wipe_needs_the_typed_word() {
    let mut app = main_app(&["alice"]);
    update(&mut app, key(KeyCode::F(12)));
    assert!(matches!(app.dialog, Some(Dialog::Wipe { .. })));
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    update(&mut app, Action::Paste("WIPE".into()));
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    typed(&mut app, "wipe");
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    typed(&mut app, "WIPE");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Wipe {
            confirm: "WIPE".into()
        }]
    );
    update(&mut app, Action::Node(Event::Wiped));
    assert_eq!(app.screen, Screen::Wiped);
    assert!(app.convs.is_empty());
    assert_eq!(
        update(&mut app, key(KeyCode::Char('x'))),
        vec![Effect::Quit]
    );
}

/// Catches a paste that sends, or an invite code pasted with line breaks that fails.
#[test]
fn paste_is_inserted_not_sent() {
    let mut app = main_app(&["alice"]);
    let fx = update(&mut app, Action::Paste("line one\nline two\n".into()));
    assert!(fx.is_empty());
    assert_eq!(app.input.text(), "line one\nline two\n");
    update(&mut app, ctrl('u'));
    update(
        &mut app,
        Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)),
    );
    assert!(app.input.text().ends_with('\n'));

    update(&mut app, key(KeyCode::Esc));
    update(&mut app, key(KeyCode::F(3)));
    update(&mut app, Action::Paste("CAIRN:ABC\nDEF \n".into()));
    update(&mut app, key(KeyCode::Tab));
    typed(&mut app, "Bob");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Accept {
            code: "CAIRN:ABCDEF".into(),
            alias: "Bob".into()
        }]
    );
    // The node refuses: the dialog says why and stays open.
    update(
        &mut app,
        Action::Node(Event::error(
            ErrorCode::AliasTaken,
            "\"Bob\" is already a contact",
        )),
    );
    match &app.dialog {
        Some(Dialog::Accept(Accept { error, waiting, .. })) => {
            assert!(!waiting);
            assert!(error.as_deref().unwrap_or("").contains("already"));
        }
        other => panic!("{other:?}"),
    }
    update(&mut app, key(KeyCode::Enter));
    let fx = update(
        &mut app,
        Action::Node(Event::ContactAdded {
            alias: "Bob".into(),
        }),
    );
    assert_eq!(node_cmds(&fx), vec![Command::Contacts]);
    assert_eq!(app.dialog, None);
    assert_eq!(app.selected.as_deref(), Some("Bob"));
}

/// Catches a new key under a familiar name going unnoticed.
#[test]
fn new_key_for_known_name_warns() {
    let mut app = main_app(&["alice"]);
    update(
        &mut app,
        Action::Node(Event::ContactAdded {
            alias: "alice-2".into(),
        }),
    );
    assert_eq!(
        app.dialog,
        Some(Dialog::NewKey(NewKey {
            alias: "alice-2".into(),
            like: "alice".into()
        }))
    );
    let fx = update(&mut app, key(KeyCode::Char('v')));
    assert_eq!(
        node_cmds(&fx),
        vec![Command::Verify {
            alias: "alice-2".into(),
            confirm: false
        }]
    );
    assert_eq!(app.new_key_for("bob-2"), None);
    assert_eq!(app.new_key_for("alice-x"), None);
}

/// Catches a contact list that does not load each conversation (once) and its timer.
#[test]
fn contacts_load_history_once() {
    let mut app = App::new(Screen::Main, Settings::default(), (80, 24));
    let fx = update(
        &mut app,
        Action::Node(Event::Contacts {
            contacts: vec![info("alice"), info("bob")],
        }),
    );
    let cmds = node_cmds(&fx);
    assert_eq!(cmds.len(), 4);
    assert!(cmds.contains(&Command::History {
        with: "bob".into(),
        limit: Some(HISTORY_LIMIT)
    }));
    assert!(cmds.contains(&Command::ExpireStatus {
        alias: "alice".into()
    }));
    assert_eq!(app.selected.as_deref(), Some("alice"));
    let fx = update(
        &mut app,
        Action::Node(Event::Contacts {
            contacts: vec![info("alice"), info("bob")],
        }),
    );
    assert!(fx.is_empty());
}

/// Catches disappearing messages that stay on screen after their time.
#[test]
fn disappearing_messages_leave_the_screen() {
    let mut app = main_app(&["alice"]);
    update(
        &mut app,
        Action::Node(Event::ExpireSet {
            alias: "alice".into(),
            seconds: Some(30),
            by_contact: true,
        }),
    );
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("alice set disappearing messages")),
        "who changed the timer is shown"
    );
    incoming(&mut app, "alice", "01", "gone soon");
    update(&mut app, Action::Tick(T0 + 29_000));
    assert_eq!(app.convs["alice"].messages.len(), 1);
    update(&mut app, Action::Tick(T0 + 31_000));
    assert!(app.convs["alice"].messages.is_empty());
}

/// Catches scrolling that lays out the whole conversation, runs past the top, or
/// never returns to following new messages.
#[test]
fn scrolling_through_ten_thousand_messages() {
    let mut app = main_app(&["alice"]);
    let messages: Vec<MessageInfo> = (0..10_000)
        .map(|i| MessageInfo {
            id: format!("{i:08x}").into(),
            direction: if i % 2 == 0 {
                MessageDirection::In
            } else {
                MessageDirection::Out
            },
            text: format!("message number {i}"),
            sent_at: T0 + i,
            state: if i % 2 == 0 {
                MessageState::Received
            } else {
                MessageState::Delivered
            },
        })
        .collect();
    update(
        &mut app,
        Action::Node(Event::History {
            with: "alice".into(),
            messages,
        }),
    );
    assert_eq!(app.conversation().map(|c| c.messages.len()), Some(10_000));
    update(&mut app, key(KeyCode::PageUp));
    let pos = app.conversation().and_then(|c| c.scroll).expect("scrolled");
    assert!(pos.msg < 9_999);
    // A new message while scrolled up counts as unread and does not move the view.
    incoming(&mut app, "alice", "new", "while away");
    assert_eq!(app.conversation().and_then(|c| c.scroll), Some(pos));
    assert_eq!(app.contact("alice").map(|c| c.unread), Some(1));
    for _ in 0..10_000 {
        update(&mut app, key(KeyCode::PageUp));
        if app
            .conversation()
            .and_then(|c| c.scroll)
            .is_some_and(|p| p.msg < 20)
        {
            break;
        }
    }
    let top = app.conversation().and_then(|c| c.scroll).expect("scrolled");
    update(&mut app, key(KeyCode::PageUp));
    update(&mut app, key(KeyCode::PageUp));
    let at_top = app.conversation().and_then(|c| c.scroll).expect("scrolled");
    // Clamped: the first message's first line is at the top, the view stays full.
    assert!(at_top.msg >= top.msg.min(15), "{at_top:?}");
    update(
        &mut app,
        Action::Key(KeyEvent::new(KeyCode::Char('g'), KeyModifiers::ALT)),
    );
    assert_eq!(app.conversation().and_then(|c| c.scroll), None);
    assert_eq!(app.contact("alice").map(|c| c.unread), Some(0));
}

/// Catches Ctrl-C not quitting from every screen (and during key derivation).
#[test]
fn quit_works_everywhere() {
    for screen in [
        Screen::Setup(SetupForm::default()),
        Screen::Unlock(UnlockForm::default()),
        Screen::Busy {
            text: String::new(),
            retry: Retry::Unlock,
        },
        Screen::Main,
    ] {
        let mut app = App::new(screen, Settings::default(), (80, 24));
        assert_eq!(update(&mut app, ctrl('c')), vec![Effect::Quit]);
    }
}

/// Catches durations parsed with the wrong unit.
#[test]
fn durations() {
    assert_eq!(parse_duration("30s"), Ok(Some(30)));
    assert_eq!(parse_duration("5m"), Ok(Some(300)));
    assert_eq!(parse_duration("1w"), Ok(Some(604_800)));
    assert_eq!(parse_duration("off"), Ok(None));
    assert!(parse_duration("1y").is_err());
    assert!(parse_duration("soon").is_err());
    assert_eq!(describe_duration(3600), "1 hour");
    assert_eq!(describe_duration(7200), "2 hours");
}

/// Catches a node that fails to start leaving the "Unlocking…" screen up forever.
#[test]
fn node_start_failure_is_shown() {
    let mut app = App::new(
        Screen::Busy {
            text: "Unlocking…".into(),
            retry: Retry::Unlock,
        },
        Settings::default(),
        (80, 24),
    );
    update(
        &mut app,
        Action::NodeStopped {
            error: Some("cannot listen".into()),
        },
    );
    assert_eq!(app.screen, Screen::Main);
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.warn && n.text.contains("cannot listen")));
    assert!(!app.status.running);
}

/// Catches a message typed while the node restarts (LAN toggle) being swallowed.
#[test]
fn no_send_while_the_node_restarts() {
    let mut app = main_app(&["alice"]);
    update(&mut app, key(KeyCode::F(6)));
    update(&mut app, key(KeyCode::Enter));
    typed(&mut app, "hello");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(node_cmds(&fx).is_empty());
    assert_eq!(app.input.text(), "hello");
    assert!(app.notice.as_ref().is_some_and(|n| n.warn));
}

/// Catches SIGTERM/SIGHUP handled as a ctrl-c key press: with ctrl-c bound to something
/// else (or nothing), the signal must still quit cleanly, on any screen.
#[test]
fn terminate_quits_whatever_the_key_bindings() {
    let mut settings = Settings::default();
    let unbound: std::collections::HashMap<String, Vec<String>> =
        [("quit".to_owned(), vec!["f10".to_owned()])]
            .into_iter()
            .collect();
    settings.keymap.apply(&unbound);
    let mut app = App::new(Screen::Main, settings, (80, 24));
    assert!(
        !update(&mut app, ctrl('c')).contains(&Effect::Quit),
        "ctrl-c no longer quits"
    );
    assert!(update(&mut app, Action::Terminate).contains(&Effect::Quit));
    assert!(app.quitting);
}

/// Catches a dialog that reads raw keys instead of the keymap: with `cancel` and `send`
/// rebound, Esc and Enter no longer close or confirm a dialog, the new keys do; and the
/// help lists every slash command of the parser's table.
#[test]
fn dialogs_follow_the_keymap() {
    let mut app = main_app(&["alice"]);
    let mut keys = HashMap::new();
    keys.insert("cancel".to_owned(), vec!["ctrl-g".to_owned()]);
    keys.insert("send".to_owned(), vec!["ctrl-o".to_owned()]);
    assert!(app.settings.keymap.apply(&keys).is_empty());
    typed(&mut app, "/lan on");
    update(&mut app, key(KeyCode::Enter));
    // Enter is unbound now: the command is still in the input.
    assert!(app.dialog.is_none());
    update(&mut app, ctrl('g'));
    assert!(app.input.is_empty(), "the rebound cancel clears the input");
    let fx = typed(&mut app, "/lan on");
    assert!(fx.is_empty());
    update(&mut app, ctrl('o'));
    assert_eq!(app.dialog, Some(Dialog::Lan(Lan { enable: true })));
    update(&mut app, key(KeyCode::Esc));
    assert!(app.dialog.is_some(), "Esc is no longer cancel");
    update(&mut app, key(KeyCode::Enter));
    assert!(app.dialog.is_some(), "Enter is no longer send");
    update(&mut app, ctrl('g'));
    assert_eq!(app.dialog, None);
    let help: String = crate::dialog::help_lines(&app.settings.keymap, false)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for c in crate::slash::COMMANDS {
        assert!(help.contains(c.usage), "{} missing from the help", c.usage);
    }
}

/// Catches a component that claims keys it does not use, or ignores its own.
#[test]
fn dialogs_answer_whether_they_used_a_key() {
    use crate::dialog::{Handled, Key};
    let mut out = Vec::new();
    let mut verify = Dialog::Verify(Verify {
        alias: "alice".into(),
        digits: None,
        qr: None,
        verified: false,
    });
    assert_eq!(verify.update(Key::Char('x'), &mut out), Handled::Ignored);
    assert_eq!(verify.update(Key::Char('v'), &mut out), Handled::Consumed);
    assert!(
        out.is_empty(),
        "nothing to mark verified before the numbers are shown"
    );
    assert_eq!(verify.update(Key::Cancel, &mut out), Handled::Consumed);
    assert_eq!(out, vec![Request::Close]);
    let mut wipe = Dialog::Wipe(Wipe::default());
    assert_eq!(
        wipe.paste("WIPE"),
        Handled::Ignored,
        "the word must be typed"
    );
    for c in "WIPE".chars() {
        assert_eq!(wipe.update(Key::Char(c), &mut out), Handled::Consumed);
    }
    out.clear();
    wipe.update(Key::Confirm, &mut out);
    assert!(matches!(
        out.first(),
        Some(Request::Node(Command::Wipe { .. }))
    ));
}
