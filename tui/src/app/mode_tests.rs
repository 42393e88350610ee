//! Hidden mode in the UI: the first-run choice, `/hidden` and `/rotate-onion`, and the
//! restart a switch ends with.

use super::*;
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

fn started(hidden: bool) -> App {
    let mut app = App::new(Screen::Main, Settings::default(), (100, 30));
    update(&mut app, Action::Tick(T0));
    update(
        &mut app,
        Action::NodeStarted {
            profile: "me".into(),
            lan: false,
            relay: false,
            hidden,
        },
    );
    app
}

/// Catches a first-run form whose connection choice is not reached, not toggled, or not
/// passed on to the profile's creation; and one where Enter on the passphrase no longer
/// creates a direct profile (the default).
#[test]
fn the_first_run_form_offers_hidden_mode() {
    let mut app = App::new(
        Screen::Setup(SetupForm::default()),
        Settings::default(),
        (80, 24),
    );
    typed(&mut app, "Ana");
    update(&mut app, key(KeyCode::Tab));
    typed(&mut app, "long enough pass");
    update(&mut app, key(KeyCode::Tab));
    typed(&mut app, "long enough pass");
    update(&mut app, key(KeyCode::Tab));
    let Screen::Setup(f) = &app.screen else {
        panic!("setup")
    };
    assert_eq!((f.focus, f.hidden), (3, false), "direct by default");
    // Letters typed on the choice go to no field.
    typed(&mut app, " ");
    typed(&mut app, "x");
    let Screen::Setup(f) = &app.screen else {
        panic!("setup")
    };
    assert!(f.hidden, "Space chooses hidden mode");
    assert_eq!(f.pass2.char_len(), "long enough pass".len());
    typed(&mut app, "d");
    typed(&mut app, "h");
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Create {
            name: "Ana".into(),
            passphrase: Zeroizing::new("long enough pass".into()),
            hidden: true,
        }]
    );
}

/// Catches `/hidden` that switches without asking, asks and never sends the switch (with
/// its relay), or offers to turn on what is on; and `/rotate-onion` outside hidden mode.
#[test]
fn hidden_on_asks_then_switches() {
    let mut app = started(false);
    typed(&mut app, "/hidden on /onion3/x:4001/p2p/y");
    assert!(update(&mut app, key(KeyCode::Enter)).is_empty());
    assert_eq!(
        app.dialog,
        Some(Dialog::Hidden(Hidden {
            enable: true,
            relay: Some("/onion3/x:4001/p2p/y".into()),
            rotate: false,
        }))
    );
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Node(Command::SwitchMode {
            hidden: true,
            relay: Some("/onion3/x:4001/p2p/y".into()),
        })]
    );
    assert!(app.dialog.is_none());
    typed(&mut app, "/rotate-onion");
    update(&mut app, key(KeyCode::Enter));
    assert!(app.dialog.is_none(), "no onion address to rotate");

    let mut app = started(true);
    assert!(app.status.hidden);
    typed(&mut app, "/hidden on");
    update(&mut app, key(KeyCode::Enter));
    assert!(app.dialog.is_none(), "already on");
    typed(&mut app, "/rotate-onion");
    update(&mut app, key(KeyCode::Enter));
    let fx = update(&mut app, key(KeyCode::Enter));
    assert_eq!(fx, vec![Effect::Node(Command::RotateOnion)]);
}

/// Catches a switch that ends without the node restarting in the new mode, or a restart
/// that does not say the mode changed.
#[test]
fn a_finished_switch_restarts_the_node() {
    let mut app = started(false);
    let fx = update(
        &mut app,
        Action::Node(Event::ModeSwitched {
            hidden: true,
            onion: Some("x".into()),
            told: vec!["bob".into()],
            not_told: vec!["carol".into()],
        }),
    );
    assert_eq!(fx, vec![Effect::RestartNode { lan: false }]);
    assert!(app.status.restarting);
    update(
        &mut app,
        Action::NodeStarted {
            profile: "me".into(),
            lan: false,
            relay: false,
            hidden: true,
        },
    );
    assert!(app.status.hidden && !app.status.restarting);
    let notice = app
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(notice.contains("Hidden mode is on"), "{notice}");
}

/// Catches an invite screen that calls an onion address "no address" (or an IP address).
#[test]
fn an_invite_in_hidden_mode_reveals_an_onion_address() {
    let onion = "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:4001".to_owned();
    let relay = format!("{onion}/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN");
    assert_eq!(
        crate::dialog::reveals(&[onion], Some(&relay)),
        "It reveals your onion address, not where you are: whoever holds the code can reach \
         you through Tor."
    );
}
