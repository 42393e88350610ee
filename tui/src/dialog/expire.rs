//! Disappearing messages for one conversation: a choice of timers.

use super::{Handled, Key, Request};
use crate::layout::{body_with_hint, choice_line, dialog_rect, panel};
use crate::model::EXPIRE_CHOICES;
use cairn_node::api::{Alias, Command};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// The disappearing-messages dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expire {
    /// Contact.
    pub alias: Alias,
    /// Index into [`EXPIRE_CHOICES`].
    pub choice: usize,
}

impl Expire {
    /// The dialog for `alias`, at the choice matching its timer now (`None`: off).
    pub fn new(alias: Alias, current: Option<u64>) -> Self {
        let choice = EXPIRE_CHOICES
            .iter()
            .position(|(s, _)| *s == current)
            .unwrap_or(0);
        Self { alias, choice }
    }

    /// Up/Down choose; Confirm sets the timer and closes; Cancel closes.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match key {
            Key::Up => self.choice = self.choice.saturating_sub(1),
            Key::Down => self.choice = (self.choice + 1).min(EXPIRE_CHOICES.len() - 1),
            Key::Confirm => {
                let seconds = EXPIRE_CHOICES.get(self.choice).and_then(|c| c.0);
                out.push(Request::Close);
                out.push(Request::Node(Command::Expire {
                    alias: self.alias.clone(),
                    seconds,
                }));
            }
            Key::Cancel => out.push(Request::Close),
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// Draws the choices.
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 60, 14);
        f.render_widget(Clear, rect);
        let block = panel(
            &format!("Disappearing messages with {}", self.alias),
            Style::new(),
        );
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let mut lines = Vec::new();
        for (i, (_, label)) in EXPIRE_CHOICES.iter().enumerate() {
            lines.push(choice_line((*label).to_owned(), i == self.choice));
        }
        lines.push(Line::raw(
            "New messages leave both devices after this time. Your contact can still copy them first.",
        ));
        body_with_hint(
            f,
            inner,
            lines,
            "Up/Down: choose · Enter: set · Esc: cancel",
        );
    }
}
