//! Turning LAN mode (mDNS discovery) on or off, with what it reveals.

use super::{Handled, Key, Request};
use crate::layout::{body_with_hint, dialog_rect, panel, WARN};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// The LAN-mode confirmation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lan {
    /// Turning it on (else off).
    pub enable: bool,
}

impl Lan {
    /// Confirm restarts the node in the new mode; Cancel closes.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match key {
            Key::Confirm => {
                out.push(Request::Close);
                out.push(Request::RestartNode { lan: self.enable });
            }
            Key::Cancel => out.push(Request::Close),
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// Draws the question and what LAN mode reveals.
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 64, 9);
        f.render_widget(Clear, rect);
        let (title, lines) = if self.enable {
            (
                "Turn LAN mode on?",
                vec![
                    Line::raw("LAN mode finds contacts on this network without the Internet (mDNS)."),
                    Line::styled(
                        "It broadcasts this device's network ID (PeerId) to everyone on the local network.",
                        WARN,
                    ),
                ],
            )
        } else {
            (
                "Turn LAN mode off?",
                vec![Line::raw(
                    "Cairn stops announcing this device on the local network.",
                )],
            )
        };
        let block = panel(title, Style::new());
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let hint = if self.enable {
            "Enter: turn on · Esc: cancel"
        } else {
            "Enter: turn off · Esc: cancel"
        };
        body_with_hint(f, inner, lines, hint);
    }
}
