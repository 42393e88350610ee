//! Forwarding a received message: one of the conversation's received messages, then the
//! contact or group it goes to. It leaves as a new message of the user's own — the text
//! only, with a new id and time: nothing says who first sent it (docs/CLI.md `forward`).

use super::{edit_field, Handled, Key, Request};
use crate::input::TextField;
use crate::layout::{body_with_hint, choice_line, dialog_rect, field_line, panel, truncate, DIM};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// Messages a page of Up/Down moves over.
const PAGE: usize = 10;

/// A received message the dialog offers.
#[derive(Clone, PartialEq, Eq)]
pub struct Received {
    /// The node's id of it.
    pub id: String,
    /// Who wrote it, in a group (shown here, never forwarded).
    pub from: Option<String>,
    /// Its text.
    pub text: String,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the text, nor who wrote it.
        write!(f, "Received({})", self.id)
    }
}

/// The forward dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forward {
    /// What the conversation is called (a contact's alias, `# name` for a group).
    pub label: String,
    /// Its received messages, oldest first.
    pub messages: Vec<Received>,
    /// The selected one (the newest at first).
    pub selected: usize,
    /// To whom, once a message is chosen.
    pub to: Option<TextField>,
}

impl Forward {
    /// The dialog over `messages` (oldest first) of the conversation called `label`.
    pub fn new(label: String, messages: Vec<Received>) -> Self {
        Self {
            label,
            selected: messages.len().saturating_sub(1),
            messages,
            to: None,
        }
    }

    /// Up/Down (PgUp/PgDn) choose, Enter asks to whom; Enter again forwards. Esc leaves
    /// the question, or closes.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        if let Some(field) = &mut self.to {
            match key {
                Key::Cancel => self.to = None,
                Key::Confirm => {
                    let to = field.text().trim().to_owned();
                    if let (false, Some(m)) = (to.is_empty(), self.messages.get(self.selected)) {
                        out.push(Request::ForwardMessage {
                            id: m.id.clone(),
                            to,
                        });
                    }
                }
                Key::Char(c) => field.insert_char(c),
                k => {
                    edit_field(field, k);
                }
            }
            return Handled::Consumed;
        }
        let last = self.messages.len().saturating_sub(1);
        match key {
            Key::Cancel => out.push(Request::Close),
            Key::Up => self.selected = self.selected.saturating_sub(1),
            Key::Down => self.selected = (self.selected + 1).min(last),
            Key::PageUp => self.selected = self.selected.saturating_sub(PAGE),
            Key::PageDown => self.selected = (self.selected + PAGE).min(last),
            Key::Confirm if !self.messages.is_empty() => self.to = Some(TextField::single()),
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// The rows of the list `rows` high: the selected message always among them.
    fn window(&self, rows: usize) -> std::ops::Range<usize> {
        let rows = rows.max(1);
        let start = (self.selected + 1).saturating_sub(rows);
        start..(start + rows).min(self.messages.len())
    }

    /// Draws the list, and the question once a message is chosen.
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 96, 20);
        f.render_widget(Clear, rect);
        let block = panel(&format!("Forward from {}", self.label), Style::new());
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let width = usize::from(inner.width);
        // Once a message is chosen, it alone stays above the question (which must show
        // whole even on a small terminal).
        let shown = if self.to.is_some() {
            self.selected..(self.selected + 1).min(self.messages.len())
        } else {
            self.window(usize::from(inner.height).saturating_sub(1))
        };
        let mut lines = Vec::new();
        if self.messages.is_empty() {
            lines.push(Line::styled("No received message here to forward.", DIM));
        }
        for i in shown {
            let Some(m) = self.messages.get(i) else {
                continue;
            };
            let who = m
                .from
                .as_ref()
                .map(|f| format!("{f}: "))
                .unwrap_or_default();
            let text = format!("{who}{}", m.text.replace(['\n', '\r'], " ⏎ "));
            lines.push(choice_line(
                truncate(&text, width.saturating_sub(2)),
                i == self.selected,
            ));
        }
        if let Some(to) = &self.to {
            lines.push(Line::raw(""));
            lines.push(field_line(
                "Forward to (contact, or # group)",
                to.text().to_owned(),
                true,
            ));
            lines.push(Line::styled(
                "Sent as your own new message, the text only: nothing says who sent it to you.",
                DIM,
            ));
        }
        let hint = if self.to.is_some() {
            "Enter: forward · Esc: back"
        } else {
            "↑/↓ choose · Enter: forward it · Esc close"
        };
        body_with_hint(f, inner, lines, hint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(n: usize) -> Vec<Received> {
        (0..n)
            .map(|i| Received {
                id: format!("m{i}"),
                from: None,
                text: format!("text {i}"),
            })
            .collect()
    }

    /// Would catch a forward of another message than the one chosen, one sent to nobody,
    /// a selection that leaves the list, or one that is not shown.
    #[test]
    fn the_chosen_message_goes_to_the_name_typed() {
        let mut d = Forward::new("bob".into(), received(30));
        assert_eq!(d.selected, 29, "the newest first");
        let mut out = Vec::new();
        d.update(Key::Down, &mut out);
        assert_eq!(d.selected, 29);
        d.update(Key::PageUp, &mut out);
        d.update(Key::Up, &mut out);
        assert_eq!(d.selected, 18);
        assert!(d.window(5).contains(&18) && d.window(5).len() == 5);
        assert!(d.window(40).contains(&18) && d.window(40).len() == 30);
        d.update(Key::Confirm, &mut out);
        d.update(Key::Confirm, &mut out);
        assert!(out.is_empty(), "to nobody");
        for c in "# desk".chars() {
            d.update(Key::Char(c), &mut out);
        }
        d.update(Key::Confirm, &mut out);
        assert_eq!(
            out,
            vec![Request::ForwardMessage {
                id: "m18".into(),
                to: "# desk".into(),
            }]
        );
        out.clear();
        d.update(Key::Cancel, &mut out);
        assert!(d.to.is_none() && out.is_empty(), "Esc leaves the question");
        d.update(Key::Cancel, &mut out);
        assert_eq!(out, vec![Request::Close]);
        let mut empty = Forward::new("bob".into(), Vec::new());
        out.clear();
        empty.update(Key::Confirm, &mut out);
        assert!(empty.to.is_none() && out.is_empty());
    }
}
