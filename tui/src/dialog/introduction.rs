//! An introduction to answer: someone the user's contact vouches for wants a session.

use super::{Handled, Key, Request};
use crate::layout::{body_with_hint, dialog_rect, panel, WARN};
use cairn_node::api::{Alias, Command, IntroId};
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// The introduction dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Introduction {
    /// The introduction's id.
    pub id: IntroId,
    /// The contact who introduces.
    pub by: Alias,
    /// The group it is for (its name), if any.
    pub group: Option<String>,
}

impl Introduction {
    /// `a` (or Confirm) accepts, `r` refuses; Cancel leaves it for later.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match key {
            k if k.is_letter('a') || k == Key::Confirm => {
                out.push(Request::Close);
                out.push(Request::Node(Command::AcceptIntroduction {
                    id: self.id.clone(),
                    alias: None,
                }));
            }
            k if k.is_letter('r') => {
                out.push(Request::Close);
                out.push(Request::Node(Command::RefuseIntroduction {
                    id: self.id.clone(),
                }));
            }
            Key::Cancel => out.push(Request::Later(Box::new(self.clone()))),
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// Draws who introduces whom and what accepting reveals.
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 68, 15);
        f.render_widget(Clear, rect);
        let block = panel("An introduction", WARN);
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let by = &self.by;
        let whom = match &self.group {
            Some(g) => format!(
                "{by} introduces you to a member of the group “{g}” who is not one of your contacts. Without it, you and they cannot read each other's messages in the group."
            ),
            None => format!("{by} introduces you to someone they know, who is not one of your contacts."),
        };
        let lines = vec![
            Line::raw(whom),
            Line::raw(
                "Accepting tells that person your identity key and your network (IP) addresses, and lets them write to you. Refusing sends nothing.",
            ),
            Line::raw(format!(
                "Accept only if you trust {by} to introduce people to you; compare safety numbers with the person before sharing anything sensitive."
            )),
        ];
        body_with_hint(f, inner, lines, "A: accept · R: refuse · Esc: later");
    }
}
