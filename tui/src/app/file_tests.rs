//! Files in the UI: `update` with the attach and files dialogs and the node's file events;
//! forwarding a received message.

use super::tests::info;
use super::*;
use cairn_node::api::{FileId, FileInfo, FileStateName};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const T0: u64 = 1_700_000_000_000;

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    for c in text.chars() {
        fx.extend(update(app, key(KeyCode::Char(c))));
    }
    fx
}

fn commands(fx: &[Effect]) -> Vec<Command> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Node(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn app_with_bob() -> App {
    let mut app = App::new(Screen::Main, Settings::default(), (120, 30));
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
            contacts: vec![info("bob")],
        }),
    );
    app
}

/// Would catch a file sent before the user saw what is removed, a path not completed
/// from the directory, or a sent file that never shows in the conversation's files.
#[test]
fn send_shows_the_preview_then_sends_and_lists_the_file() {
    let mut app = app_with_bob();
    typed(&mut app, "/send /tmp/rep");
    update(&mut app, key(KeyCode::Enter));
    assert!(matches!(app.dialog, Some(Dialog::Attach(_))));
    // Tab asks for the directory, whose listing completes the name.
    let fx = update(&mut app, key(KeyCode::Tab));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::ListDir(d) if d == "/tmp/")));
    update(
        &mut app,
        Action::Listing {
            dir: "/tmp/".into(),
            names: vec!["report.jpg".into(), "other/".into()],
        },
    );
    let Some(Dialog::Attach(d)) = &app.dialog else {
        panic!("attach dialog closed")
    };
    assert_eq!(d.path.text(), "/tmp/report.jpg");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        commands(&fx),
        vec![Command::InspectFile {
            path: "/tmp/report.jpg".into()
        }]
    );
    update(
        &mut app,
        Action::Node(Event::FileInspected {
            path: "/tmp/report.jpg".into(),
            format: Some("jpeg".into()),
            removed: vec!["GPS position".into()],
            cleanable: true,
            note: None,
        }),
    );
    let fx = update(&mut app, key(KeyCode::Enter));
    let sent = commands(&fx);
    let [Command::SendFile {
        to,
        original: false,
        client_ref: Some(r),
        ..
    }] = sent.as_slice()
    else {
        panic!("{sent:?}")
    };
    assert_eq!(to.as_ref().map(|a| a.as_str()), Some("bob"));
    assert!(app.dialog.is_none());
    update(
        &mut app,
        Action::Node(Event::FileQueued {
            file: FileId::from("aa"),
            to: "bob".into(),
            group: None,
            name: "report.jpg".into(),
            size: 1000,
            removed: vec!["GPS position".into()],
            client_ref: Some(r.clone()),
        }),
    );
    assert_eq!(app.files.len(), 1);
    assert_eq!(app.files[0].alias, "bob");
    update(
        &mut app,
        Action::Node(Event::FileProgress {
            file: FileId::from("aa"),
            direction: MessageDirection::Out,
            bytes: 500,
            total: 1000,
            rate: 100,
            eta_secs: Some(5),
        }),
    );
    assert_eq!(app.files[0].state, FileStateName::Moving);
    assert_eq!(app.files[0].bytes, 500);
}

/// Would catch an offer the user is not told of, a files dialog that shows another
/// conversation's files or does not follow progress, or a key that acts on no file.
#[test]
fn an_offer_is_accepted_from_the_files_dialog_and_its_progress_shows() {
    let mut app = app_with_bob();
    update(
        &mut app,
        Action::Node(Event::FileOffered {
            from: "bob".into(),
            group: None,
            file: FileId::from("bb"),
            name: "leak.pdf".into(),
            size: 2 << 20,
            media_type: "application/pdf".into(),
            sent_at: T0,
        }),
    );
    assert!(app.notice.is_some(), "the user is told");
    typed(&mut app, "/files");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(commands(&fx).contains(&Command::Files {
        with: Some("bob".into()),
        group: None
    }));
    let fx = typed(&mut app, "a");
    assert_eq!(
        commands(&fx),
        vec![Command::AcceptFile {
            file: FileId::from("bb")
        }]
    );
    update(
        &mut app,
        Action::Node(Event::Files {
            with: Some("bob".into()),
            group: None,
            files: vec![FileInfo {
                file: FileId::from("bb"),
                direction: MessageDirection::In,
                contact: "bob".into(),
                name: "leak.pdf".into(),
                size: 2 << 20,
                media_type: "application/pdf".into(),
                state: FileStateName::Moving,
                bytes: 1 << 20,
                sent_at: T0,
                chunks_again: 0,
                bulk_chunks: 0,
            }],
        }),
    );
    let Some(Dialog::Files(d)) = &app.dialog else {
        panic!("files dialog closed")
    };
    assert_eq!(d.files.len(), 1);
    assert_eq!(d.files[0].bytes, 1 << 20);
    update(
        &mut app,
        Action::Node(Event::FileState {
            file: FileId::from("bb"),
            state: FileStateName::Complete,
            by_contact: false,
        }),
    );
    let Some(Dialog::Files(d)) = &app.dialog else {
        panic!("files dialog closed")
    };
    assert_eq!(d.files[0].state, FileStateName::Complete);
    assert_eq!(d.files[0].bytes, 2 << 20);
}

/// Would catch a file in a group's conversation sent to a contact named after the group,
/// its transfers (one per member) not listed in the group with their member, an offer made
/// in a group shown in the sender's 1:1 conversation, or `# name` not forwarding to the
/// group.
#[test]
fn in_a_group_files_go_to_the_group_and_list_each_member() {
    const G: &str = "00112233445566778899aabbccddeeff";
    let mut app = app_with_bob();
    update(
        &mut app,
        Action::Node(Event::Group {
            group: Box::new(cairn_node::api::GroupInfo {
                id: G.into(),
                name: "desk".into(),
                members: Vec::new(),
                member: true,
                admin: true,
            }),
            change: None,
        }),
    );
    let conv = crate::model::group_key(G);
    app.selected = Some(conv.clone());
    typed(&mut app, "/send /tmp/a.pdf");
    update(&mut app, key(KeyCode::Enter));
    let Some(Dialog::Attach(d)) = &app.dialog else {
        panic!("no attach dialog in a group")
    };
    assert_eq!(d.label, "# desk");
    update(&mut app, key(KeyCode::Enter));
    update(
        &mut app,
        Action::Node(Event::FileInspected {
            path: "/tmp/a.pdf".into(),
            format: Some("pdf".into()),
            removed: vec![],
            cleanable: true,
            note: None,
        }),
    );
    let sent = commands(&update(&mut app, key(KeyCode::Enter)));
    let [Command::SendFile {
        to: None,
        group: Some(g),
        client_ref: Some(r),
        ..
    }] = sent.as_slice()
    else {
        panic!("{sent:?}")
    };
    assert_eq!(g.as_str(), G);
    for (id, who) in [("a1", "bob"), ("a2", "carol")] {
        update(
            &mut app,
            Action::Node(Event::FileQueued {
                file: FileId::from(id),
                to: who.into(),
                group: Some(G.into()),
                name: "a.pdf".into(),
                size: 10,
                removed: vec![],
                client_ref: Some(r.clone()),
            }),
        );
    }
    update(
        &mut app,
        Action::Node(Event::FileOffered {
            from: "bob".into(),
            group: Some(G.into()),
            file: FileId::from("b1"),
            name: "b.pdf".into(),
            size: 10,
            media_type: String::new(),
            sent_at: T0,
        }),
    );
    let listed: Vec<(&str, Option<&str>, bool)> = app
        .files
        .iter()
        .map(|f| (f.alias.as_str(), f.member.as_deref(), f.outgoing))
        .collect();
    assert_eq!(
        listed,
        vec![
            (conv.as_str(), Some("bob"), true),
            (conv.as_str(), Some("carol"), true),
            (conv.as_str(), Some("bob"), false)
        ]
    );
    typed(&mut app, "/files");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(commands(&fx).contains(&Command::Files {
        with: None,
        group: Some(G.into())
    }));
    // Forward the received file to the group by name.
    update(&mut app, key(KeyCode::Down));
    update(&mut app, key(KeyCode::Down));
    typed(&mut app, "f# desk");
    let sent = commands(&update(&mut app, key(KeyCode::Enter)));
    assert!(
        matches!(&sent[..], [Command::Forward { to: None, group: Some(g), file: Some(f), .. }] if g.as_str() == G && f.as_str() == "b1"),
        "{sent:?}"
    );
}

/// Would catch a forward of another message than the one chosen, of one that names its
/// first sender, one not shown as ours in the conversation it went to (or not paired with
/// the node's id once queued), or a name that is no conversation taken as one.
#[test]
fn a_received_message_is_forwarded_as_our_own_from_the_forward_dialog() {
    let mut app = app_with_bob();
    update(
        &mut app,
        Action::Node(Event::Contacts {
            contacts: vec![info("bob"), info("editor")],
        }),
    );
    for (id, text) in [("aa01", "the source's words"), ("aa02", "later")] {
        update(
            &mut app,
            Action::Node(Event::Message {
                from: "bob".into(),
                id: id.into(),
                text: text.into(),
                sent_at: T0,
            }),
        );
    }
    app.selected = Some("bob".into());
    typed(&mut app, "/forward");
    update(&mut app, key(KeyCode::Enter));
    let Some(Dialog::Forward(d)) = &app.dialog else {
        panic!("no forward dialog: {:?}", app.dialog);
    };
    assert_eq!(d.messages.len(), 2);
    assert_eq!(d.selected, 1, "the newest first");
    update(&mut app, key(KeyCode::Up));
    update(&mut app, key(KeyCode::Enter));
    let fx = typed(&mut app, "nobody");
    assert!(commands(&fx).is_empty());
    let fx = update(&mut app, key(KeyCode::Enter));
    assert!(commands(&fx).is_empty(), "forwarded to no one");
    assert!(
        matches!(&app.dialog, Some(Dialog::Forward(d)) if d.to.is_some()),
        "the question stays open to correct the name"
    );
    for _ in 0.."nobody".len() {
        update(&mut app, key(KeyCode::Backspace));
    }
    typed(&mut app, "editor");
    let fx = update(&mut app, key(KeyCode::Enter));
    let sent = commands(&fx);
    let [Command::Forward {
        message: Some(m),
        file: None,
        to: Some(to),
        group: None,
        original: false,
        client_ref: Some(local),
    }] = &sent[..]
    else {
        panic!("{sent:?}");
    };
    assert_eq!((m.as_str(), to.as_str()), ("aa01", "editor"));
    assert!(app.dialog.is_none());
    let shown = app.convs["editor"].messages.last().unwrap();
    assert!(shown.outgoing && shown.text == "the source's words" && shown.from.is_none());
    update(
        &mut app,
        Action::Node(Event::Queued {
            id: "bb07".into(),
            client_ref: Some(local.clone()),
        }),
    );
    assert_eq!(app.convs["editor"].messages.last().unwrap().id, "bb07");
}
