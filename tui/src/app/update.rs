//! The update function: an action in, the state changed and effects out; ticks and
//! quitting.

use super::*;

/// The one place state changes.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    match action {
        Action::Tick(now) => tick(app, now, &mut fx),
        Action::Terminate => quit(app, &mut fx),
        Action::Resize(w, h) => app.size = (w, h),
        Action::Focus(f) => {
            app.focused = f;
            if f {
                app.mark_read();
            }
        }
        Action::Key(k) if is_press(&k) => key(app, k, &mut fx),
        Action::Key(_) => {}
        Action::Paste(text) => paste(app, &text),
        Action::Node(ev) => node_event(app, ev, &mut fx),
        Action::Listing { dir, names } => {
            if let Some(Dialog::Attach(d)) = app.dialog.as_mut() {
                d.listed(dir, names);
            }
        }
        Action::Starting(text) => match &mut app.screen {
            Screen::Busy { text: busy, .. } => *busy = text,
            _ => app.notify(text),
        },
        Action::NodeStarted {
            profile,
            lan,
            relay,
            hidden,
        } => {
            let was_restart = app.status.restarting;
            let mode_changed = hidden != app.status.hidden;
            app.status.hidden = hidden;
            app.screen = Screen::Main;
            app.profile = profile;
            app.status.running = true;
            app.status.restarting = false;
            app.status.lan = lan;
            app.status.relay_configured = relay;
            app.status.listening = false;
            app.status.relay_reserved = false;
            fx.push(Effect::Node(Command::Contacts));
            fx.push(Effect::Node(Command::Groups));
            fx.push(Effect::Node(Command::Status));
            if was_restart && mode_changed {
                app.notify(if hidden {
                    "Hidden mode is on: every connection goes through Tor; contacts see only \
                     your onion address"
                } else {
                    "Hidden mode is off: direct connections (contacts learn your IP address)"
                });
            } else if was_restart {
                app.notify(if lan {
                    "LAN mode is on: nearby devices can see this device's network identity"
                } else {
                    "LAN mode is off"
                });
            }
        }
        Action::OpenFailed {
            wrong_passphrase,
            message,
        } => {
            let retry = match &app.screen {
                Screen::Busy { retry, .. } => retry.clone(),
                _ => Retry::Unlock,
            };
            match retry {
                Retry::Unlock => {
                    let attempts = match &app.screen {
                        Screen::Unlock(f) => f.attempts,
                        _ => 0,
                    };
                    app.screen = Screen::Unlock(UnlockForm {
                        pass: SecretField::default(),
                        error: Some(if wrong_passphrase {
                            "Wrong passphrase. Try again.".to_owned()
                        } else {
                            message
                        }),
                        attempts: attempts + 1,
                    });
                }
                Retry::Setup(name) => {
                    app.screen = Screen::Setup(SetupForm {
                        name: TextField::with_text(&name),
                        error: Some(message),
                        focus: 1,
                        ..SetupForm::default()
                    });
                }
            }
        }
        Action::NodeStopped { error } => {
            app.status.running = false;
            app.status.listening = false;
            app.status.peers = 0;
            if app.quitting || app.status.restarting || app.screen == Screen::Wiped {
                return fx;
            }
            // The node could not start (e.g. its port is taken): say so on the main
            // screen rather than leaving a busy screen up.
            if matches!(app.screen, Screen::Busy { .. }) {
                app.screen = Screen::Main;
            }
            app.warn(match error {
                Some(e) => format!("The node stopped: {e}. Restart Cairn."),
                None => "The node stopped. Restart Cairn.".to_owned(),
            });
        }
    }
    fx
}

pub(super) fn tick(app: &mut App, now: u64, fx: &mut Vec<Effect>) {
    app.now_ms = now;
    app.ticks += 1;
    if app.notice.as_ref().is_some_and(|n| n.until_ms <= now) {
        app.notice = None;
    }
    if app.status.running && app.ticks % STATUS_EVERY_TICKS == 0 {
        fx.push(Effect::Node(Command::Status));
    }
    app.expire_messages();
}

pub(super) fn quit(app: &mut App, fx: &mut Vec<Effect>) {
    app.quitting = true;
    fx.push(Effect::Quit);
}
