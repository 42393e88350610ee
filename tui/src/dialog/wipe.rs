//! The panic wipe's confirmation: the word WIPE must be typed (never pasted).

use super::{edit_field, Handled, Key, Request};
use crate::input::TextField;
use crate::layout::{body_with_hint, dialog_rect, field_line, panel, DIM, WARN};
use cairn_node::api::Command;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// The word that confirms a wipe.
pub const WIPE_WORD: &str = "WIPE";
/// Longest text the field takes.
const MAX_TYPED: usize = 16;

/// The wipe confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wipe {
    /// What was typed.
    pub typed: TextField,
    /// Problem to show.
    pub error: Option<String>,
}

impl Default for Wipe {
    fn default() -> Self {
        Self {
            typed: TextField::single(),
            error: None,
        }
    }
}

impl Wipe {
    /// Typing fills the field; Confirm wipes if it holds the word; Cancel closes.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match key {
            Key::Cancel => out.push(Request::Close),
            Key::Confirm => {
                if self.typed.text() == WIPE_WORD {
                    out.push(Request::Node(Command::Wipe {
                        confirm: WIPE_WORD.into(),
                    }));
                    self.error = None;
                    out.push(Request::Notify("Wiping…".into()));
                } else {
                    self.error = Some("Type WIPE in capital letters, or Esc to cancel.".into());
                    self.typed.clear();
                }
            }
            Key::Char(c) => {
                if self.typed.text().len() < MAX_TYPED {
                    self.typed.insert_char(c);
                }
            }
            k => {
                if !edit_field(&mut self.typed, k) {
                    return Handled::Ignored;
                }
            }
        }
        Handled::Consumed
    }

    /// Draws the field and what a wipe destroys and cannot reach.
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 66, 13);
        f.render_widget(Clear, rect);
        let block = panel("Panic wipe", Style::new().fg(Color::Red));
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let mut lines = vec![field_line(
            "Type WIPE to confirm",
            self.typed.text().to_owned(),
            true,
        )];
        if let Some(e) = &self.error {
            lines.push(Line::styled(e.clone(), WARN));
        }
        lines.push(Line::raw("Destroys this profile now: the key first, then all contacts and messages. Nothing can be recovered, not even with the passphrase."));
        lines.push(Line::styled(
            "It cannot reach other copies: backups, what your contacts hold.",
            DIM,
        ));
        body_with_hint(f, inner, lines, "Enter: wipe · Esc: cancel");
    }
}
