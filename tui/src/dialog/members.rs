//! A group's members: who is in it, who is an admin, who is verified and reachable; an
//! admin adds contacts, removes, promotes and demotes from here.

use super::{Handled, Key, Request};
use crate::layout::{body_with_hint, dialog_rect, panel, BOLD, DIM, GOOD};
use cairn_node::api::{Alias, Command, GroupRef, MemberInfo};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Clear;
use ratatui::Frame;

/// The members dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    /// The group.
    pub group: GroupRef,
    /// Its name.
    pub name: String,
    /// Its members.
    pub members: Vec<MemberInfo>,
    /// You are an admin (the actions are offered).
    pub admin: bool,
    /// Contacts not in the group (offered by `a`).
    pub addable: Vec<Alias>,
    /// The highlighted row.
    pub choice: usize,
    /// Choosing a contact to add.
    pub adding: bool,
}

impl Members {
    fn rows(&self) -> usize {
        if self.adding {
            self.addable.len()
        } else {
            self.members.len()
        }
    }

    fn change(
        &self,
        out: &mut Vec<Request>,
        make: fn(GroupRef, cairn_node::api::MemberName) -> Command,
    ) {
        if let Some(m) = self.members.get(self.choice).filter(|m| !m.you) {
            out.push(Request::Node(make(self.group.clone(), m.name.clone())));
        }
    }

    /// Up/Down choose; admins: `a` add a contact (then Enter), `r` remove, `p` promote,
    /// `d` demote; `v` verifies a contact member; Cancel goes back or closes.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match key {
            Key::Up => self.choice = self.choice.saturating_sub(1),
            Key::Down => self.choice = (self.choice + 1).min(self.rows().saturating_sub(1)),
            Key::Cancel if self.adding => {
                self.adding = false;
                self.choice = 0;
            }
            Key::Cancel => out.push(Request::Close),
            Key::Confirm if self.adding => {
                if let Some(alias) = self.addable.get(self.choice) {
                    out.push(Request::Node(Command::GroupAdd {
                        group: self.group.clone(),
                        alias: alias.clone(),
                    }));
                    out.push(Request::Close);
                }
            }
            k if self.adding => {
                let _ = k;
                return Handled::Ignored;
            }
            k if k.is_letter('a') && self.admin => {
                if self.addable.is_empty() {
                    out.push(Request::Notify(
                        "All your contacts are in this group.".into(),
                    ));
                } else {
                    self.adding = true;
                    self.choice = 0;
                }
            }
            k if k.is_letter('r') && self.admin => {
                self.change(out, |group, member| Command::GroupRemove { group, member })
            }
            k if k.is_letter('p') && self.admin => {
                self.change(out, |group, member| Command::GroupPromote { group, member })
            }
            k if k.is_letter('d') && self.admin => {
                self.change(out, |group, member| Command::GroupDemote { group, member })
            }
            k if k.is_letter('v') => {
                if let Some(m) = self.members.get(self.choice).filter(|m| m.contact) {
                    out.push(Request::OpenVerify(Alias::from(m.name.as_str())));
                }
            }
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// Draws the member list (or the contacts to add).
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 66, 22);
        f.render_widget(Clear, rect);
        let title = if self.adding {
            format!("Add to {}", self.name)
        } else {
            format!("Members of {} ({})", self.name, self.members.len())
        };
        let block = panel(&title, Style::new());
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let mut lines = Vec::new();
        let row = |i: usize, spans: Vec<Span<'static>>| {
            let sel = i == self.choice;
            let mut l = Line::from(spans);
            if sel {
                l = l.style(BOLD.add_modifier(Modifier::REVERSED));
            }
            l
        };
        if self.adding {
            for (i, a) in self.addable.iter().enumerate() {
                lines.push(row(i, vec![Span::raw(format!("  {a}"))]));
            }
        } else {
            for (i, m) in self.members.iter().enumerate() {
                let mut spans = vec![Span::raw(format!(
                    "{} {}",
                    if m.admin { "★" } else { " " },
                    m.name
                ))];
                if m.you {
                    spans.push(Span::styled("  (you)", DIM));
                } else {
                    if m.verified {
                        spans.push(Span::styled("  ✓ verified", GOOD));
                    }
                    if !m.contact {
                        spans.push(Span::styled("  met in this group", DIM));
                    }
                    if !m.reachable {
                        spans.push(Span::styled("  waiting for an introduction", DIM));
                    }
                }
                lines.push(row(i, spans));
            }
            lines.push(Line::styled(
                "★ admin. Every member sees who is in the group and every addition.",
                DIM,
            ));
        }
        let hint = match (self.adding, self.admin) {
            (true, _) => "Up/Down: choose · Enter: add · Esc: back",
            (false, true) => "A add · R remove · P promote · D demote · V verify · Esc close",
            (false, false) => "V verify · Esc close (only admins change members)",
        };
        body_with_hint(f, inner, lines, hint);
    }
}
