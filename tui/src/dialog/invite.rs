//! A new invite: its code and QR code once the node made it, copied on request.

use super::{Handled, Key, Request};
use crate::layout::{body_with_hint, code_rows, dialog_rect, draw_qr, panel, wrap, BOLD, DIM};
use cairn_node::api::own_ips;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

/// What the invite dialog tells the user about the code.
const EXPLAIN: &str = "Show this QR code or give this code to ONE person you trust, in person or over a channel you trust. It works once and expires in 7 days.";

/// The invite dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invite {
    /// The code, once the node created it.
    pub code: Option<String>,
    /// What the code tells whoever holds it about where the user is ([`reveals`]).
    pub reveals: Option<String>,
}

/// Says which addresses an invite carries: the user's own (a circuit through the relay is
/// the relay's) and the relay's.
pub fn reveals(addresses: &[String], relay: Option<&str>) -> String {
    let own = own_ips(addresses);
    let relay = relay.and_then(|r| own_ips(&[r.to_owned()]).pop());
    let relay_part = relay.map(|r| format!("your relay's ({r})"));
    let onion = addresses.iter().any(|a| a.starts_with("/onion3/"));
    match (own.as_slice(), relay_part) {
        ([], _) if onion => "It reveals your onion address, not where you are: whoever holds \
                             the code can reach you through Tor."
            .into(),
        ([], Some(r)) => format!("It reveals no address of yours, only {r}."),
        ([], None) => "It reveals no address of yours.".into(),
        (ips, r) => format!(
            "It reveals your address{} {}{}: whoever holds the code learns where you are.",
            if ips.len() > 1 { "es" } else { "" },
            ips.join(", "),
            r.map(|r| format!(" and {r}")).unwrap_or_default()
        ),
    }
}

impl Invite {
    /// Confirm or cancel close; `c` copies the code.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match key {
            Key::Confirm | Key::Cancel => out.push(Request::Close),
            k if k.is_letter('c') => {
                if let Some(code) = self.code.clone() {
                    out.push(Request::Copy(code));
                    out.push(Request::Notify(
                        "Invite code copied to the clipboard (if your terminal allows it)".into(),
                    ));
                }
            }
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// Draws the code, with its QR code if the terminal is large enough.
    pub fn draw(&self, f: &mut Frame) {
        let area = f.area();
        let Some(code) = self.code.as_deref() else {
            let rect = dialog_rect(area, 50, 5);
            f.render_widget(Clear, rect);
            let block = panel("Invite", Style::new());
            let inner = block.inner(rect);
            f.render_widget(block, rect);
            f.render_widget(Paragraph::new("Creating an invite…"), inner);
            return;
        };
        let qr = crate::qr::qr_rows(code).unwrap_or_default();
        let qr_w = qr.first().map_or(0, |r| r.chars().count());
        let qr_h = qr.len();
        let text_w = usize::from(area.width.saturating_sub(4)).min(80);
        let code_lines = code_rows(code, text_w);
        let reveals = self.reveals.as_deref().unwrap_or_default();
        let explain_h = wrap(EXPLAIN, text_w, text_w).len() + wrap(reveals, text_w, text_w).len();
        let fixed_h = explain_h + 1 + code_lines.len() + 1 + 2;
        let fits_qr =
            qr_w + 4 <= usize::from(area.width) && qr_h + fixed_h <= usize::from(area.height);
        let want_w = if fits_qr { text_w.max(qr_w) } else { text_w } + 4;
        let want_h = fixed_h + if fits_qr { qr_h } else { 2 };
        let rect = dialog_rect(
            area,
            u16::try_from(want_w).unwrap_or(u16::MAX),
            u16::try_from(want_h).unwrap_or(u16::MAX),
        );
        f.render_widget(Clear, rect);
        let block = panel("Invite someone", Style::new());
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let inner = Rect::new(
            inner.x + 1,
            inner.y,
            inner.width.saturating_sub(2),
            inner.height,
        );
        let mut y = inner.y;
        if fits_qr {
            let x = inner.x + (inner.width.saturating_sub(u16::try_from(qr_w).unwrap_or(0))) / 2;
            draw_qr(f.buffer_mut(), x, y, &qr);
            y += u16::try_from(qr_h).unwrap_or(0);
        }
        let mut lines: Vec<Line<'static>> = Vec::new();
        for r in code_lines {
            lines.push(Line::styled(r, BOLD));
        }
        lines.push(Line::raw(""));
        lines.push(Line::raw(EXPLAIN));
        if !reveals.is_empty() {
            lines.push(Line::styled(reveals.to_owned(), DIM));
        }
        if !fits_qr {
            lines.push(Line::styled(
                format!(
                    "(Enlarge the terminal to {}×{} to see the QR code.)",
                    qr_w + 4,
                    qr_h + fixed_h
                ),
                DIM,
            ));
        }
        let rest = Rect::new(inner.x, y, inner.width, inner.bottom().saturating_sub(y));
        body_with_hint(f, rest, lines, "c: copy · Esc: close");
    }
}
