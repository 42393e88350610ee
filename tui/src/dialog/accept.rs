//! Accepting an invite: the code (pasted, possibly wrapped over lines) and a name for the
//! contact; waits for the node's answer.

use super::{edit_field, Handled, Key, Request};
use crate::input::TextField;
use crate::layout::{body_with_hint, dialog_rect, field_line, panel, DIM, WARN};
use cairn_node::api::Command;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// The accept dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accept {
    /// The pasted code.
    pub code: TextField,
    /// The contact's name.
    pub alias: TextField,
    /// 0 code, 1 name.
    pub focus: usize,
    /// Problem to show.
    pub error: Option<String>,
    /// Sent to the node, waiting.
    pub waiting: bool,
}

impl Accept {
    /// The dialog with `code` and `alias` filled in (the name has focus once a code is).
    pub fn new(code: &str, alias: &str) -> Self {
        Self {
            code: TextField::with_text(code),
            alias: TextField::with_text(alias),
            focus: usize::from(!code.is_empty()),
            error: None,
            waiting: false,
        }
    }

    /// Tab or Up/Down switch fields; Confirm moves to the name, then accepts; Cancel closes.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        if key == Key::Cancel {
            out.push(Request::Close);
            return Handled::Consumed;
        }
        if self.waiting {
            return Handled::Consumed;
        }
        match key {
            Key::NextField | Key::PrevField | Key::Up | Key::Down => self.focus = 1 - self.focus,
            Key::Confirm => {
                if self.focus == 0 && self.alias.is_empty() {
                    self.focus = 1;
                } else if let Some(cmd) = self.submit() {
                    out.push(Request::Node(cmd));
                }
            }
            _ => {
                let f = if self.focus == 0 {
                    &mut self.code
                } else {
                    &mut self.alias
                };
                if !edit_field(f, key) {
                    match key {
                        Key::Char(c) => f.insert_char(c),
                        _ => return Handled::Ignored,
                    }
                }
            }
        }
        Handled::Consumed
    }

    /// Pasted text goes into the focused field; a code pasted over several lines is joined.
    pub fn paste(&mut self, text: &str) -> Handled {
        if self.focus == 0 {
            let joined: String = text.split_whitespace().collect();
            self.code.insert_str(&joined);
        } else {
            self.alias.insert_str(text);
        }
        Handled::Consumed
    }

    /// The command that accepts the invite, once both fields are filled (then the dialog
    /// waits for the node); else the problem is shown at the field to fix.
    pub fn submit(&mut self) -> Option<Command> {
        let code: String = self.code.text().split_whitespace().collect();
        let alias = self.alias.text().trim().to_owned();
        if code.is_empty() {
            self.error = Some("Paste the invite code first.".into());
            self.focus = 0;
            return None;
        }
        if alias.is_empty() {
            self.error = Some("Give this contact a name (only you see it).".into());
            self.focus = 1;
            return None;
        }
        self.error = None;
        self.waiting = true;
        Some(Command::Accept {
            code,
            alias: alias.into(),
        })
    }

    /// Draws the two fields, the problem or the wait, and what to do.
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 70, 14);
        f.render_widget(Clear, rect);
        let block = panel("Accept an invite", Style::new());
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let code = self.code.text();
        let code_shown = if code.len() > 40 {
            format!(
                "{}… ({} chars)",
                code.chars().take(16).collect::<String>(),
                code.len()
            )
        } else {
            code.to_owned()
        };
        let mut lines = vec![
            field_line("Code", code_shown, self.focus == 0),
            field_line("Name", self.alias.text().to_owned(), self.focus == 1),
        ];
        if let Some(e) = &self.error {
            lines.push(Line::styled(e.clone(), WARN));
        }
        if self.waiting {
            lines.push(Line::styled("Adding contact…", DIM));
        }
        lines.push(Line::raw(
            "Paste the code your contact gave you and name them (only you see the name).",
        ));
        body_with_hint(f, inner, lines, "Tab: field · Enter: accept · Esc: cancel");
    }
}
