//! Turning hidden mode (everything through Tor) on or off, or a new onion address: what it
//! changes, and that contacts are told before the node restarts.

use super::{Handled, Key, Request};
use crate::layout::{body_with_hint, dialog_rect, panel, WARN};
use cairn_node::api::Command;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// The hidden-mode confirmation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hidden {
    /// Turning it on (else off).
    pub enable: bool,
    /// The relay for the new mode (`/hidden on RELAY`), if given.
    pub relay: Option<String>,
    /// A new onion address instead (`/rotate-onion`).
    pub rotate: bool,
}

impl Hidden {
    /// Confirm sends the switch (contacts are told, then the node restarts); Cancel closes.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match key {
            Key::Confirm => {
                out.push(Request::Close);
                out.push(Request::Node(if self.rotate {
                    Command::RotateOnion
                } else {
                    Command::SwitchMode {
                        hidden: self.enable,
                        relay: self.relay.clone(),
                    }
                }));
                out.push(Request::Notify(
                    "Telling your contacts your new address… (up to 30 s), then restarting".into(),
                ));
            }
            Key::Cancel => out.push(Request::Close),
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// Draws the question and the trade-off.
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 72, 12);
        f.render_widget(Clear, rect);
        let told = "Your contacts are told your new address first, through their sessions.";
        let (title, lines, hint) = if self.rotate {
            (
                "A new onion address?",
                vec![
                    Line::raw("Anyone holding an old invite or your old address can no longer"),
                    Line::raw("reach you there. Cairn restarts at the new address."),
                    Line::raw(told),
                ],
                "Enter: new address · Esc: cancel",
            )
        } else if self.enable {
            (
                "Turn hidden mode on?",
                vec![
                    Line::raw("Every connection goes through Tor: nobody you talk to, nor anyone"),
                    Line::raw("holding your invite, learns where you are (your IP address)."),
                    Line::styled(
                        "Slower, and contacts reach you only if their Cairn can use Tor too.",
                        WARN,
                    ),
                    Line::raw(told),
                    Line::raw("Needs tor installed (Debian: apt install tor)."),
                ],
                "Enter: turn on · Esc: cancel",
            )
        } else {
            (
                "Turn hidden mode off?",
                vec![
                    Line::raw("Connections go direct again: faster, but contacts and your relay"),
                    Line::styled("learn your IP address.", WARN),
                    Line::raw(told),
                ],
                "Enter: turn off · Esc: cancel",
            )
        };
        let block = panel(title, Style::new());
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        body_with_hint(f, inner, lines, hint);
    }
}
