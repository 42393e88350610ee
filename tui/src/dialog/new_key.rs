//! A warning: someone joined under a familiar name with a different key.

use super::{Handled, Key, Request};
use crate::layout::{body_with_hint, dialog_rect, panel, WARN};
use cairn_node::api::Alias;
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// The new-key warning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewKey {
    /// The new contact.
    pub alias: Alias,
    /// The existing contact with that name.
    pub like: Alias,
}

impl NewKey {
    /// `v` opens the safety-number check with the new contact; Confirm or Cancel close.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match key {
            k if k.is_letter('v') => out.push(Request::OpenVerify(self.alias.clone())),
            Key::Confirm | Key::Cancel => out.push(Request::Close),
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// Draws the warning and what to do about it.
    pub fn draw(&self, f: &mut Frame) {
        let (alias, like) = (&self.alias, &self.like);
        let rect = dialog_rect(f.area(), 66, 13);
        f.render_widget(Clear, rect);
        let block = panel("⚠ A familiar name with a new key", WARN);
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let lines = vec![
            Line::raw(format!(
                "Someone calling themselves “{like}” joined with a different key. Cairn keeps them apart as “{alias}”; messages to “{like}” still go only to the old key."
            )),
            Line::raw(format!(
                "If {like} reinstalled Cairn or lost a device, this is expected. Either way, compare safety numbers with “{alias}” before sharing anything sensitive."
            )),
        ];
        body_with_hint(f, inner, lines, "V: verify now · Esc: later");
    }
}
