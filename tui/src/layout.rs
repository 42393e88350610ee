//! Layout shared by the state (`app`: how many rows a message takes, for scrolling), the
//! drawing (`view`) and the dialogs: where the parts of the main screen go, time and
//! message formatting, word wrap, styles, and the small drawing helpers every panel uses.
//! It reads plain data (`model`) and knows nothing of the app's state.

use crate::input::TextField;
use crate::model::{Conversation, Delivery, Message};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Contacts pane width (with its border) when the terminal is wide enough.
pub const CONTACTS_WIDTH: u16 = 24;
/// Below this width the contacts pane is hidden (Tab / Ctrl-N still switch).
pub const CONTACTS_MIN_TERMINAL_WIDTH: u16 = 60;
/// Most rows the message editor grows to.
pub const MAX_INPUT_ROWS: usize = 5;

/// Secondary text.
pub const DIM: Style = Style::new().fg(Color::DarkGray);
/// Headings, focused values.
pub const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
/// Warnings.
pub const WARN: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
/// Good news (verified, delivered).
pub const GOOD: Style = Style::new().fg(Color::Green);
/// The status bar.
pub const BAR: Style = Style::new().fg(Color::Black).bg(Color::Gray);

/// The time as messages show it: now, and the local time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Now, Unix ms.
    pub now_ms: u64,
    /// Local time zone offset, seconds east of UTC.
    pub utc_offset_secs: i32,
}

/// Where the parts of the main screen go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MainLayout {
    /// Contact list (absent on narrow terminals).
    pub contacts: Option<Rect>,
    /// Conversation title line.
    pub header: Rect,
    /// Messages.
    pub messages: Rect,
    /// Notice / separator line above the input.
    pub notice: Rect,
    /// Message editor.
    pub input: Rect,
    /// Status bar.
    pub status: Rect,
}

fn input_rows(input: &TextField, width: u16) -> usize {
    let (rows, _) = input.layout(usize::from(width.saturating_sub(2)));
    rows.len().clamp(1, MAX_INPUT_ROWS)
}

/// The main screen's layout for a terminal of `size` with the message editor holding
/// what `input` holds.
pub fn main_layout(size: (u16, u16), input: &TextField) -> MainLayout {
    let area = Rect::new(0, 0, size.0, size.1);
    let status_h = 1.min(area.height);
    let rest_h = area.height - status_h;
    let inp = u16::try_from(input_rows(input, area.width))
        .unwrap_or(1)
        .min(rest_h.saturating_sub(3).max(1));
    let notice_h = 1.min(rest_h.saturating_sub(inp));
    let top_h = rest_h.saturating_sub(inp + notice_h);
    let top = Rect::new(0, 0, area.width, top_h);
    let (contacts, conv) = if area.width >= CONTACTS_MIN_TERMINAL_WIDTH {
        (
            Some(Rect::new(0, 0, CONTACTS_WIDTH, top_h)),
            Rect::new(CONTACTS_WIDTH, 0, area.width - CONTACTS_WIDTH, top_h),
        )
    } else {
        (None, top)
    };
    let header_h = 1.min(conv.height);
    MainLayout {
        contacts,
        header: Rect::new(conv.x, conv.y, conv.width, header_h),
        messages: Rect::new(
            conv.x,
            conv.y + header_h,
            conv.width,
            conv.height - header_h,
        ),
        notice: Rect::new(0, top_h, area.width, notice_h),
        input: Rect::new(0, top_h + notice_h, area.width, inp),
        status: Rect::new(0, area.height - status_h, area.width, status_h),
    }
}

impl MainLayout {
    /// Width available to message text.
    pub fn message_width(&self) -> usize {
        usize::from(self.messages.width.saturating_sub(1)).max(10)
    }

    /// Rows available to messages.
    pub fn message_rows(&self) -> usize {
        usize::from(self.messages.height).max(1)
    }
}

// ------------------------------------------------------------------ time

pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `HH:MM` for today, `MM-DD HH:MM` for other days, in local time.
pub fn format_time(ms: u64, now_ms: u64, offset_secs: i32) -> String {
    let local = |ms: u64| i64::try_from(ms / 1000).unwrap_or(0) + i64::from(offset_secs);
    let t = local(ms);
    let day = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let hm = format!("{:02}:{:02}", secs / 3600, (secs % 3600) / 60);
    if day == local(now_ms).div_euclid(86_400) || now_ms == 0 {
        hm
    } else {
        let (_, m, d) = civil_from_days(day);
        format!("{m:02}-{d:02} {hm}")
    }
}

// ------------------------------------------------------------------ wrapping

/// `s` cut to `width` columns, with an ellipsis if it was longer.
pub fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// Word-wraps `text` into rows of at most `width` columns; the first row has
/// `first_width`. Explicit line breaks are kept; over-long words are split.
pub fn wrap(text: &str, first_width: usize, width: usize) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_w = 0usize;
    let limit = |rows: &Vec<String>| if rows.is_empty() { first_width } else { width }.max(1);
    for (li, line) in text.split('\n').enumerate() {
        if li > 0 {
            rows.push(std::mem::take(&mut cur));
            cur_w = 0;
        }
        for word in line.split_inclusive(' ') {
            let ww = word.trim_end_matches(' ').width();
            if cur_w > 0 && cur_w + ww > limit(&rows) {
                rows.push(std::mem::take(&mut cur).trim_end().to_owned());
                cur_w = 0;
            }
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                if cur_w + cw > limit(&rows) && c != ' ' {
                    rows.push(std::mem::take(&mut cur));
                    cur_w = 0;
                }
                if c == ' ' && cur_w + 1 > limit(&rows) {
                    continue;
                }
                cur.push(c);
                cur_w += cw;
            }
        }
    }
    rows.push(cur);
    rows
}

/// The display lines of message `idx` of `conv` (with the "new messages" divider
/// above it when it is the first unread one).
pub fn message_lines(
    clock: Clock,
    alias: &str,
    conv: &Conversation,
    idx: usize,
    width: usize,
) -> Vec<Line<'static>> {
    let Some(m) = conv.messages.get(idx) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if conv.divider == Some(idx) {
        let label = " new messages ";
        let side = width.saturating_sub(label.len()) / 2;
        out.push(Line::styled(
            format!("{}{label}{}", "─".repeat(side), "─".repeat(side)),
            Style::new().fg(Color::Red),
        ));
    }
    out.extend(render_message(clock, alias, m, width));
    out
}

fn render_message(clock: Clock, alias: &str, m: &Message, width: usize) -> Vec<Line<'static>> {
    let time = format_time(m.at_ms, clock.now_ms, clock.utc_offset_secs);
    let name_max = if width < 50 { 8 } else { 14 };
    let name = if m.outgoing {
        "you".to_owned()
    } else {
        truncate(m.from.as_deref().unwrap_or(alias), name_max)
    };
    let prefix_w = time.width() + 1 + name.width() + 2;
    let indent = if width >= 50 { prefix_w } else { 2 };
    let state = if m.outgoing {
        format!("  {}", m.state_label())
    } else {
        String::new()
    };
    let first_w = width.saturating_sub(prefix_w).max(4);
    let rest_w = width.saturating_sub(indent).max(4);
    let mut rows = wrap(&m.text, first_w, rest_w);
    // The state goes after the last row if it fits, else on a row of its own.
    let last_w = rows.last().map_or(0, |r| r.width());
    let last_limit = if rows.len() == 1 { first_w } else { rest_w };
    let state_own_row = !state.is_empty() && last_w + state.width() > last_limit;
    if state_own_row {
        rows.push(String::new());
    }
    let name_style = if m.outgoing {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
    };
    let state_style = match m.state {
        Delivery::Failed => WARN,
        Delivery::Delivered => GOOD,
        _ => DIM,
    };
    let n = rows.len();
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut spans = if i == 0 {
                vec![
                    Span::styled(time.clone(), DIM),
                    Span::raw(" "),
                    Span::styled(name.clone(), name_style),
                    Span::raw("  "),
                ]
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            spans.push(Span::raw(row));
            if i + 1 == n && !state.is_empty() {
                spans.push(Span::styled(state.clone(), state_style));
            }
            Line::from(spans)
        })
        .collect()
}

// ------------------------------------------------------------------ panels

/// A `w`×`h` rectangle in the middle of `area` (no larger than it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// A bordered panel with a bold title.
pub fn panel(title: &str, style: Style) -> Block<'static> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(style)
        .title(Span::styled(format!(" {title} "), BOLD))
}

/// Draws `lines` wrapped in `area` with `hint` pinned to its last row, so the keys
/// that act on a dialog stay visible on a small terminal.
pub fn body_with_hint(f: &mut Frame, area: Rect, lines: Vec<Line<'static>>, hint: &str) {
    if area.height == 0 {
        return;
    }
    if area.height >= 3 {
        let body = Rect::new(area.x, area.y, area.width, area.height - 1);
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
        let hint_row = Rect::new(area.x, area.bottom() - 1, area.width, 1);
        f.render_widget(
            Paragraph::new(Line::styled(truncate(hint, usize::from(area.width)), DIM)),
            hint_row,
        );
    } else {
        f.render_widget(
            Paragraph::new(Line::styled(hint.to_owned(), DIM)).wrap(Wrap { trim: false }),
            area,
        );
    }
}

/// One choice of a list: marked and reversed when it is the selected one.
pub fn choice_line(text: String, selected: bool) -> Line<'static> {
    if selected {
        Line::styled(format!("▸ {text}"), BOLD.add_modifier(Modifier::REVERSED))
    } else {
        Line::raw(format!("  {text}"))
    }
}

/// A form field: a focus marker, its label and its value.
pub fn field_line(label: &str, value: String, focused: bool) -> Line<'static> {
    let marker = if focused { "▸ " } else { "  " };
    Line::from(vec![
        Span::styled(marker.to_owned(), WARN),
        Span::styled(format!("{label}: "), BOLD),
        Span::raw(value),
    ])
}

/// A dialog's rectangle: `w`×`h` centred in `area`, no larger than it.
pub fn dialog_rect(area: Rect, w: u16, h: u16) -> Rect {
    centered(area, w.min(area.width), h.min(area.height))
}

/// A long code cut into rows of `width` characters (at least 8).
pub fn code_rows(code: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    chars
        .chunks(width.max(8))
        .map(|c| c.iter().collect())
        .collect()
}

/// Draws QR code rows (dark on light, as scanners expect) at `x`, `y`.
pub fn draw_qr(buf: &mut Buffer, x: u16, y: u16, rows: &[String]) {
    let style = Style::new().fg(Color::Black).bg(Color::White);
    for (i, r) in rows.iter().enumerate() {
        buf.set_string(x, y + u16::try_from(i).unwrap_or(0), r, style);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a wrapper that loses or reorders text, or overflows its width.
    #[test]
    fn wrap_keeps_text_within_width() {
        let text = "the quick brown fox jumps over the lazy dog\nsecond line averyveryverylongwordthatmustbesplit";
        let rows = wrap(text, 10, 14);
        assert!(rows[0].width() <= 10);
        assert!(rows[1..].iter().all(|r| r.width() <= 14), "{rows:?}");
        let joined: String = rows
            .concat()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let orig: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(joined, orig);
    }

    /// Catches wrong local dates (off-by-one days, months) in timestamps.
    #[test]
    fn formats_times() {
        // 2024-03-01 12:34:00 UTC.
        let ms = 1_709_296_440_000;
        assert_eq!(format_time(ms, ms + 60_000, 0), "12:34");
        assert_eq!(format_time(ms, ms + 86_400_000, 0), "03-01 12:34");
        assert_eq!(format_time(ms, ms, 3600), "13:34");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
