//! Comparing safety numbers with a contact: the digits and a QR code, and marking the
//! contact verified once they match.

use super::{Handled, Key, Request};
use crate::layout::{body_with_hint, dialog_rect, draw_qr, panel, BOLD, DIM, GOOD};
use cairn_node::api::{Alias, Command};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// The safety-number dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verify {
    /// Contact.
    pub alias: Alias,
    /// Twelve groups of five digits, once known.
    pub digits: Option<String>,
    /// QR payload.
    pub qr: Option<String>,
    /// Marked verified.
    pub verified: bool,
}

impl Verify {
    /// Confirm or cancel close; `v` marks the contact verified once the numbers are shown.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match key {
            Key::Confirm | Key::Cancel => out.push(Request::Close),
            // Only once the numbers are on screen: nothing to compare before that.
            k if k.is_letter('v') => {
                if !self.verified && self.digits.is_some() {
                    out.push(Request::Node(Command::Verify {
                        alias: self.alias.clone(),
                        confirm: true,
                    }));
                }
            }
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// Draws the numbers, the QR code beside them if it fits, and what they prove.
    pub fn draw(&self, f: &mut Frame) {
        let alias = &self.alias;
        let qr_rows = self
            .qr
            .as_deref()
            .and_then(crate::qr::qr_rows)
            .unwrap_or_default();
        let qr_w = u16::try_from(qr_rows.first().map_or(0, |r| r.chars().count())).unwrap_or(0);
        let qr_h = u16::try_from(qr_rows.len()).unwrap_or(0);
        let rect = dialog_rect(f.area(), 80, (qr_h + 2).max(16));
        f.render_widget(Clear, rect);
        let title = if self.verified {
            format!("{alias} ✓ verified")
        } else {
            format!("Verify {alias}")
        };
        let block = panel(&title, if self.verified { GOOD } else { Style::new() });
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let side_by_side = qr_w > 0 && inner.width >= qr_w + 30 && inner.height >= qr_h;
        let text_area = if side_by_side {
            draw_qr(f.buffer_mut(), inner.x, inner.y, &qr_rows);
            Rect::new(
                inner.x + qr_w + 1,
                inner.y,
                inner.width - qr_w - 1,
                inner.height,
            )
        } else {
            inner
        };
        let mut lines = Vec::new();
        match &self.digits {
            Some(d) => {
                let groups: Vec<&str> = d.split(' ').collect();
                for row in groups.chunks(4) {
                    lines.push(Line::styled(row.join(" "), BOLD));
                }
            }
            None => lines.push(Line::styled("Computing…", DIM)),
        }
        lines.push(Line::raw(""));
        lines.push(Line::raw(format!(
            "Compare these numbers with {alias}'s screen: scan the QR code in person, or read them aloud on a call where you know the voice. Not over Cairn itself."
        )));
        lines.push(Line::styled(
            "If they match, nobody is in the middle. It does not prove who someone is in real life.",
            DIM,
        ));
        if !side_by_side && qr_w > 0 {
            lines.push(Line::styled(
                "(Enlarge the terminal to see the QR code.)",
                DIM,
            ));
        }
        let hint = if self.verified {
            "✓ Marked verified · Esc: close"
        } else {
            "V: they match, mark verified · Esc: close"
        };
        body_with_hint(f, text_area, lines, hint);
    }
}
