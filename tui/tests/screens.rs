//! Whole-screen snapshots of every screen and dialog, at 80×24 and at 40×12 (which
//! must stay usable). A change in what a user sees shows up as a snapshot diff.

use cairn_node::api::{ErrorCode, Event, MemberInfo, MessageDirection, MessageInfo, MessageState};
use cairn_tui::app::{
    group_key, update, Action, App, Contact, Conversation, Delivery, Dialog, GroupEntry, Message,
    Retry, Screen, ScrollPos, SetupForm, UnlockForm,
};
use cairn_tui::config::Settings;
use cairn_tui::dialog::{
    Accept, Expire, Forward, Help, Introduction, Invite, Lan, Members, NewKey, Received, Verify,
    Wipe,
};
use cairn_tui::input::TextField;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// 2023-11-14 22:13:20 UTC.
const NOW: u64 = 1_700_000_000_000;
/// What the invite screen says the code reveals (cairn_tui::dialog::reveals).
const REVEALS: &str = "It reveals no address of yours, only your relay's (198.51.100.7).";
const CODE: &str = "CAIRN:AEAGGVVNA572XIPOP3U6HYLOVNZQSGJLXEHYVRRTEKQBQDMZ6XVOWXABLFTOIKY5WQZ433FBKQ2P6L5IXC7KPJGZVKK2IHH7ZUH5KTFQEDHQAAAAABVVGDEAAYACICABCIQACCAEP4AAAAIGD6IACCAEBIAAAAIGB6QBOW5AVQ";
const DIGITS: &str = "12345 67890 13579 24680 11223 34455 66778 89900 10293 84756 56473 82910";

fn render(app: &App, w: u16, h: u16) -> String {
    let mut app = app.clone();
    app.size = (w, h);
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal
        .draw(|f| cairn_tui::view::draw(f, &app))
        .expect("draw");
    terminal.backend().to_string()
}

fn contact(alias: &str, verified: bool, online: bool, established: bool, unread: usize) -> Contact {
    Contact {
        alias: alias.into(),
        verified,
        online,
        established,
        protocol: established.then_some(cairn_crypto::Protocol::LATEST.as_u8()),
        unread,
        last_at: NOW - unread as u64,
        group: None,
    }
}

fn msg(id: &str, outgoing: bool, text: &str, mins_ago: u64, state: Delivery) -> Message {
    let at = NOW - mins_ago * 60_000;
    Message {
        id: id.into(),
        outgoing,
        text: text.into(),
        at_ms: at,
        seen_ms: at,
        state,
        from: None,
        reach: None,
    }
}

fn base(screen: Screen) -> App {
    let mut app = App::new(screen, Settings::default(), (80, 24));
    app.now_ms = NOW;
    app
}

fn empty_main() -> App {
    let mut app = base(Screen::Main);
    update(
        &mut app,
        Action::NodeStarted {
            profile: "Ana".into(),
            lan: false,
            relay: true,
            hidden: false,
        },
    );
    update(
        &mut app,
        Action::Node(Event::Ready {
            peer_id: "x".into(),
            addrs: vec![],
        }),
    );
    app
}

fn main_app() -> App {
    let mut app = empty_main();
    app.status.peers = 2;
    app.status.relay_reserved = true;
    app.contacts = vec![
        contact("alice", true, true, true, 0),
        contact("bob", false, false, true, 2),
        contact("alice-2", false, true, true, 0),
        contact("carol", false, false, false, 0),
    ];
    let alice =
        Conversation {
            messages: vec![
            msg("01", false, "Hi! Are you there?", 70 * 24 * 60, Delivery::Received),
            msg("02", true, "Yes, on my way.", 42, Delivery::Delivered),
            msg("03", true, "Bringing the documents we talked about.", 41, Delivery::Sent),
            msg(
                "04",
                false,
                "Good. Use the side entrance; the front is watched.\nText me when you are close.",
                5,
                Delivery::Received,
            ),
            msg("05", true, "ok", 1, Delivery::Queued),
        ],
            divider: Some(3),
            expire: Some(Some(3600)),
            history_requested: true,
            scroll: None,
        };
    app.convs.insert("alice".into(), alice);
    app.convs.insert(
        "bob".into(),
        Conversation {
            messages: vec![msg("10", false, "ping", 3, Delivery::Received)],
            divider: Some(0),
            ..Conversation::default()
        },
    );
    app.selected = Some("alice".into());
    app
}

fn group_app() -> App {
    let mut app = main_app();
    let member = |name: &str, you: bool, admin: bool, verified: bool, reachable: bool| MemberInfo {
        name: name.into(),
        you,
        admin,
        contact: !you && name != "dana",
        verified,
        reachable,
    };
    let members = vec![
        member("you", true, true, false, true),
        member("alice", false, false, true, true),
        member("bob", false, true, false, true),
        member("dana", false, false, false, true),
        member("~1a2b3c4d", false, false, false, false),
    ];
    let key = group_key("00112233445566778899aabbccddeeff");
    let mut entry = contact(key.as_str(), false, false, true, 1);
    entry.group = Some(GroupEntry {
        id: "00112233445566778899aabbccddeeff".into(),
        name: "newsroom".into(),
        members,
        member: true,
        admin: true,
    });
    app.contacts.push(entry);
    let from = |id: &str, who: &str, text: &str, mins: u64| {
        let mut m = msg(id, false, text, mins, Delivery::Received);
        m.from = Some(who.into());
        m
    };
    let mut mine = msg("22", true, "Filed. Lawyer has a copy.", 2, Delivery::Sent);
    mine.reach = Some((3, 4));
    let messages = vec![
        from("20", "alice", "The source sent the second batch.", 9),
        from("21", "dana", "Checked the metadata: clean.", 5),
        mine,
    ];
    app.convs.insert(
        key.clone(),
        Conversation {
            messages,
            ..Conversation::default()
        },
    );
    app.selected = Some(key);
    app
}

fn with_dialog(d: Dialog) -> App {
    let mut app = main_app();
    app.input = TextField::multi();
    app.dialog = Some(d);
    app
}

macro_rules! screens {
    ($($name:ident => $app:expr;)*) => {
        mod at_80x24 {
            use super::*;
            $(
                #[test]
                fn $name() {
                    insta::assert_snapshot!(render(&$app, 80, 24));
                }
            )*
        }
        mod at_40x12 {
            use super::*;
            $(
                #[test]
                fn $name() {
                    insta::assert_snapshot!(render(&$app, 40, 12));
                }
            )*
        }
    };
}

screens! {
    setup => base(Screen::Setup(SetupForm::default()));
    setup_error => {
        let mut f = SetupForm { name: TextField::with_text("Ana"), focus: 1, ..SetupForm::default() };
        f.error = Some("The two passphrases differ. Type them again.".into());
        base(Screen::Setup(f))
    };
    unlock => base(Screen::Unlock(UnlockForm::default()));
    unlock_wrong => base(Screen::Unlock(UnlockForm {
        error: Some("Wrong passphrase. Try again.".into()),
        attempts: 1,
        ..UnlockForm::default()
    }));
    unlocking => base(Screen::Busy {
        text: "Unlocking… deriving the key from your passphrase".into(),
        retry: Retry::Unlock,
    });
    main_empty => empty_main();
    main => main_app();
    main_typing => {
        let mut app = main_app();
        app.input.insert_str("first line\nsecond line of a longer message");
        app
    };
    main_scrolled => {
        let mut app = main_app();
        if let Some(c) = app.convs.get_mut("alice") {
            c.scroll = Some(ScrollPos { msg: 2, hidden_below: 0 });
        }
        app
    };
    main_bob_selected => {
        let mut app = main_app();
        app.selected = Some("bob".into());
        app
    };
    main_older_protocol => {
        // Bob's Cairn predates protocol 3: the header says the session is not quantum-safe.
        let mut app = main_app();
        app.selected = Some("bob".into());
        for c in app.contacts.iter_mut().filter(|c| c.alias == "bob") {
            c.protocol = Some(2);
        }
        app
    };
    main_notice => {
        let mut app = main_app();
        update(&mut app, Action::Node(Event::error(ErrorCode::NotEstablished, "x")));
        app
    };
    help => with_dialog(Dialog::Help(Help { scroll: 0 }));
    invite_waiting => with_dialog(Dialog::Invite(Invite::default()));
    invite => with_dialog(Dialog::Invite(Invite {
        code: Some(CODE.into()),
        reveals: Some(REVEALS.into()),
    }));
    accept => {
        let mut app = with_dialog(Dialog::Accept(Accept {
            code: TextField::with_text(CODE),
            alias: TextField::with_text("Dana"),
            focus: 1,
            error: Some("this invite has expired; ask for a new one".into()),
            waiting: false,
        }));
        app.selected = Some("alice".into());
        app
    };
    verify => with_dialog(Dialog::Verify(Verify {
        alias: "bob".into(),
        digits: Some(DIGITS.into()),
        qr: Some(format!("CAIRN-SN01{}", DIGITS.replace(' ', ""))),
        verified: false,
    }));
    verify_done => with_dialog(Dialog::Verify(Verify {
        alias: "alice".into(),
        digits: Some(DIGITS.into()),
        qr: Some(format!("CAIRN-SN01{}", DIGITS.replace(' ', ""))),
        verified: true,
    }));
    expire => with_dialog(Dialog::Expire(Expire { alias: "alice".into(), choice: 3 }));
    lan_on => with_dialog(Dialog::Lan(Lan { enable: true }));
    lan_off => with_dialog(Dialog::Lan(Lan { enable: false }));
    wipe => with_dialog(Dialog::Wipe(Wipe { typed: TextField::with_text("WI"), error: None }));
    new_key => with_dialog(Dialog::NewKey(NewKey { alias: "alice-2".into(), like: "alice".into() }));
    wiped => base(Screen::Wiped);
    group => group_app();
    members => {
        let mut app = group_app();
        let members = app
            .contacts
            .iter()
            .find_map(|c| c.group.as_ref().map(|g| g.members.clone()))
            .unwrap_or_default();
        app.dialog = Some(Dialog::Members(Members {
            group: "00112233445566778899aabbccddeeff".into(),
            name: "newsroom".into(),
            members,
            admin: true,
            addable: vec!["carol".into()],
            choice: 1,
            adding: false,
        }));
        app
    };
    introduction => with_dialog(Dialog::Introduction(Introduction {
        id: "77".into(),
        by: "alice".into(),
        group: Some("newsroom".into()),
    }));
    forward => with_dialog(Dialog::Forward({
        let said = |id: &str, text: &str| Received { id: id.into(), from: None, text: text.into() };
        let mut d = Forward::new("alice".into(), vec![
            said("a1", "The documents are in the usual place."),
            said("a2", "Pass them on to the editor,\nbut not my name."),
        ]);
        d.to = Some(TextField::with_text("editor"));
        d
    }));
}

/// The invite QR code is drawn when the terminal is large enough.
#[test]
fn invite_with_qr_on_a_large_terminal() {
    insta::assert_snapshot!(render(
        &with_dialog(Dialog::Invite(Invite {
            code: Some(CODE.into()),
            reveals: Some(REVEALS.into()),
        })),
        100,
        40
    ));
}

/// A conversation loaded through the node API looks the same as one built by hand:
/// catches a History mapping that drops direction or delivery state.
#[test]
fn history_event_renders_states() {
    let mut app = empty_main();
    update(
        &mut app,
        Action::Node(Event::Contacts {
            contacts: vec![cairn_node::api::ContactInfo {
                alias: "alice".into(),
                verified: false,
                online: true,
                established: true,
                blocked: false,
                protocol: Some(3),
                messages: 3,
            }],
        }),
    );
    let m = |id: &str, dir: MessageDirection, text: &str, state: MessageState| MessageInfo {
        id: id.into(),
        direction: dir,
        text: text.into(),
        sent_at: NOW - 60_000,
        state,
    };
    update(
        &mut app,
        Action::Node(Event::History {
            with: "alice".into(),
            messages: vec![
                m("1", MessageDirection::Out, "one", MessageState::Queued),
                m("2", MessageDirection::Out, "two", MessageState::Sent),
                m("3", MessageDirection::Out, "three", MessageState::Delivered),
                m("4", MessageDirection::In, "four", MessageState::Received),
            ],
        }),
    );
    let screen = render(&app, 80, 24);
    for want in [
        "one  queued",
        "two  sent",
        "three  delivered",
        "alice  four",
    ] {
        assert!(screen.contains(want), "{want:?} missing:\n{screen}");
    }
}
