//! Groups and introductions in the UI: `update` with group events and keys.

use super::*;
use cairn_node::api::{GroupInfo, GroupRef, MemberInfo, MemberName};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const T0: u64 = 1_700_000_000_000;
const G: &str = "00112233445566778899aabbccddeeff";

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

fn member(name: &str, you: bool, admin: bool, reachable: bool) -> MemberInfo {
    MemberInfo {
        name: MemberName::from(name),
        you,
        admin,
        contact: !you,
        verified: false,
        reachable,
    }
}

fn info(admin: bool) -> GroupInfo {
    GroupInfo {
        id: GroupRef::from(G),
        name: "desk".into(),
        members: vec![
            member("you", true, admin, true),
            member("bob", false, !admin, true),
            member("~01020304", false, false, false),
        ],
        member: true,
        admin,
    }
}

fn app_with_group(admin: bool) -> (App, Vec<Effect>) {
    let mut app = App::new(Screen::Main, Settings::default(), (100, 30));
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
    let fx = update(
        &mut app,
        Action::Node(Event::Group {
            group: Box::new(info(admin)),
            change: None,
        }),
    );
    (app, fx)
}

/// Catches a group that does not show in the conversation list, whose history is not
/// asked for, or whose messages go out as 1:1 sends (or to the wrong group).
#[test]
fn a_group_is_a_conversation_and_sends_go_to_the_group() {
    let (mut app, fx) = app_with_group(true);
    assert!(commands(&fx).contains(&Command::GroupHistory {
        group: G.into(),
        limit: Some(HISTORY_LIMIT),
    }));
    let key_alias = crate::model::group_key(G);
    assert_eq!(app.selected.as_ref(), Some(&key_alias));
    assert_eq!(app.contact(&key_alias).unwrap().label(), "# desk");
    typed(&mut app, "hello all");
    let fx = update(&mut app, key(KeyCode::Enter));
    let sent = commands(&fx);
    assert!(
        matches!(&sent[..], [Command::GroupSend { group, text, .. }] if group.as_str() == G && text == "hello all"),
        "{sent:?}"
    );
    // Queued, then delivered to 1 of 2, then 2 of 2.
    let local = app.convs[&key_alias].messages[0].id.clone();
    update(
        &mut app,
        Action::Node(Event::Queued {
            id: "aa".into(),
            client_ref: Some(local.into()),
        }),
    );
    for (k, state, label) in [
        (1, Delivery::Sent, "delivered 1/2"),
        (2, Delivery::Delivered, "delivered 2/2"),
    ] {
        update(
            &mut app,
            Action::Node(Event::GroupDelivered {
                group: G.into(),
                id: "aa".into(),
                delivered: k,
                of: 2,
            }),
        );
        let m = &app.convs[&key_alias].messages[0];
        assert_eq!((m.state, m.state_label().as_str()), (state, label));
    }
    // A member's message shows its author.
    update(
        &mut app,
        Action::Node(Event::GroupMessage {
            group: G.into(),
            from: "bob".into(),
            id: "bb".into(),
            text: "hi".into(),
            sent_at: T0,
        }),
    );
    let m = app.convs[&key_alias].messages.last().unwrap();
    assert_eq!(m.from.as_deref(), Some("bob"));
    // A contacts refresh keeps the group.
    update(&mut app, Action::Node(Event::Contacts { contacts: vec![] }));
    assert!(app.contact(&key_alias).is_some());
}

/// Catches a members dialog that changes nothing, offers changes to a plain member, or
/// acts on the user's own row.
#[test]
fn the_members_dialog_removes_promotes_and_adds() {
    let (mut app, _) = app_with_group(true);
    update(
        &mut app,
        Action::Node(Event::Contacts {
            contacts: vec![cairn_node::api::ContactInfo {
                alias: "carol".into(),
                verified: false,
                online: true,
                established: true,
                blocked: false,
                protocol: Some(3),
                messages: 0,
            }],
        }),
    );
    app.select(Some(crate::model::group_key(G)));
    typed(&mut app, "/members");
    update(&mut app, key(KeyCode::Enter));
    assert!(matches!(app.dialog, Some(Dialog::Members(_))));
    // On our own row, nothing; on bob's, remove.
    assert!(commands(&update(&mut app, key(KeyCode::Char('r')))).is_empty());
    update(&mut app, key(KeyCode::Down));
    let fx = update(&mut app, key(KeyCode::Char('r')));
    assert_eq!(
        commands(&fx),
        [Command::GroupRemove {
            group: G.into(),
            member: "bob".into()
        }]
    );
    let fx = update(&mut app, key(KeyCode::Char('p')));
    assert!(matches!(&commands(&fx)[..], [Command::GroupPromote { .. }]));
    // Add: the contacts not in the group.
    update(&mut app, key(KeyCode::Char('a')));
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        commands(&fx),
        [Command::GroupAdd {
            group: G.into(),
            alias: "carol".into()
        }]
    );
    // A plain member is offered no changes.
    let (mut plain, _) = app_with_group(false);
    typed(&mut plain, "/members");
    update(&mut plain, key(KeyCode::Enter));
    update(&mut plain, key(KeyCode::Down));
    assert!(commands(&update(&mut plain, key(KeyCode::Char('r')))).is_empty());
}

/// Catches an introduction that is not put to the user, or whose answer is not sent.
#[test]
fn an_introduction_is_asked_and_answered() {
    let (mut app, _) = app_with_group(false);
    update(
        &mut app,
        Action::Node(Event::Introduction {
            id: "77".into(),
            by: "alice".into(),
            group: Some(G.into()),
            group_name: Some("desk".into()),
        }),
    );
    assert!(
        matches!(&app.dialog, Some(Dialog::Introduction(d)) if d.group.as_deref() == Some("desk"))
    );
    let fx = update(&mut app, key(KeyCode::Char('a')));
    assert_eq!(
        commands(&fx),
        [Command::AcceptIntroduction {
            id: "77".into(),
            alias: None
        }]
    );
    assert!(app.dialog.is_none());
    // Two at once: the second waits for the first's answer.
    for id in ["78", "79"] {
        update(
            &mut app,
            Action::Node(Event::Introduction {
                id: id.into(),
                by: "alice".into(),
                group: None,
                group_name: None,
            }),
        );
    }
    let fx = update(&mut app, key(KeyCode::Char('r')));
    assert_eq!(
        commands(&fx),
        [Command::RefuseIntroduction { id: "78".into() }]
    );
    update(
        &mut app,
        Action::Node(Event::IntroductionAnswered {
            id: "78".into(),
            accepted: false,
            alias: None,
        }),
    );
    assert!(matches!(&app.dialog, Some(Dialog::Introduction(d)) if d.id.as_str() == "79"));
}
