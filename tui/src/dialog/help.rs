//! The help: slash commands (from their one table, `crate::slash`) and the keys bound
//! to each action (from the keymap).

use super::{DrawCx, Handled, Key, Request};
use crate::keymap::{KeyAction, Keymap};
use crate::layout::{dialog_rect, panel, BOLD};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

/// Rows the help scrolls at most.
const MAX_SCROLL: u16 = 60;

/// The help dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Help {
    /// Rows scrolled.
    pub scroll: u16,
}

impl Help {
    /// Up/Down (and a page with PgUp/PgDn) scroll; any other key closes.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match key {
            Key::Down => self.scroll = self.scroll.saturating_add(1).min(MAX_SCROLL),
            Key::PageDown => self.scroll = self.scroll.saturating_add(8).min(MAX_SCROLL),
            Key::Up => self.scroll = self.scroll.saturating_sub(1),
            Key::PageUp => self.scroll = self.scroll.saturating_sub(8),
            _ => out.push(Request::Close),
        }
        Handled::Consumed
    }

    /// Draws the help.
    pub fn draw(&self, f: &mut Frame, cx: &DrawCx) {
        let rect = dialog_rect(f.area(), 64, 40);
        f.render_widget(Clear, rect);
        let block = panel("Help · Up/Down scroll · other keys close", Style::new());
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let lines = help_lines(cx.keymap, inner.width < 50);
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll, 0)),
            inner,
        );
    }
}

/// The help's lines: commands, then keys (`narrow`: no aligned columns).
pub fn help_lines(km: &Keymap, narrow: bool) -> Vec<Line<'static>> {
    let col = if narrow { 0 } else { 21 };
    let mut lines = Vec::new();
    lines.push(Line::styled("Commands", BOLD));
    for c in crate::slash::COMMANDS {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<col$} ", c.usage), Style::new().fg(Color::Cyan)),
            Span::raw(c.about),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Keys", BOLD));
    let editing = KeyAction::EDITING;
    let key_line = |a: KeyAction| {
        let keys: Vec<String> = km.keys_for(a).iter().map(ToString::to_string).collect();
        Line::from(vec![
            Span::styled(
                format!("{:<col$} ", keys.join(" ")),
                Style::new().fg(Color::Cyan),
            ),
            Span::raw(a.describe()),
        ])
    };
    for a in KeyAction::ALL.iter().filter(|a| !editing.contains(a)) {
        lines.push(key_line(*a));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Editing (readline)", BOLD));
    for a in editing {
        lines.push(key_line(*a));
    }
    lines
}
