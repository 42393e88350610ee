//! The exposure report (`/exposure`): what each party can learn about the user now, as
//! the node computed it from its settings and state (`cairn_node::api::exposure_lines`).

use super::{Handled, Key, Request};
use crate::layout::{dialog_rect, panel, BOLD};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

/// The exposure dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    /// The report's lines, once the node made it.
    pub lines: Option<Vec<String>>,
    /// Rows scrolled.
    pub scroll: u16,
}

impl Exposure {
    /// Up/Down (and a page with PgUp/PgDn) scroll; any other key closes.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        let most = self
            .lines
            .as_ref()
            .map_or(0, |l| u16::try_from(l.len()).unwrap_or(u16::MAX));
        match key {
            Key::Down => self.scroll = self.scroll.saturating_add(1).min(most),
            Key::PageDown => self.scroll = self.scroll.saturating_add(8).min(most),
            Key::Up => self.scroll = self.scroll.saturating_sub(1),
            Key::PageUp => self.scroll = self.scroll.saturating_sub(8),
            _ => out.push(Request::Close),
        }
        Handled::Consumed
    }

    /// Draws the report (a party's name in bold, what it learns, how to reduce it).
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 90, 40);
        f.render_widget(Clear, rect);
        let block = panel(
            "Who can learn what about you · Up/Down scroll · other keys close",
            Style::new(),
        );
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let lines: Vec<Line<'static>> = match &self.lines {
            None => vec![Line::raw("Computing the report…")],
            Some(ls) => ls
                .iter()
                .map(|l| {
                    if l.starts_with(' ') || l.is_empty() {
                        Line::raw(l.clone())
                    } else {
                        Line::styled(l.clone(), BOLD)
                    }
                })
                .collect(),
        };
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll, 0)),
            inner,
        );
    }
}
