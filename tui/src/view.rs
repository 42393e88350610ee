//! `view(state)`: draws the state, changes nothing.
//!
//! The conversation is laid out from its bottom visible message upwards and stops when
//! the view is full, so drawing costs the same with 50 or 50,000 messages.

use crate::app::{
    describe_duration, App, Contact, Conversation, Delivery, Dialog, Message, Retry, Screen,
    EXPIRE_CHOICES,
};
use crate::config::Sort;
use crate::keymap::KeyAction;
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Contacts pane width (with its border) when the terminal is wide enough.
pub const CONTACTS_WIDTH: u16 = 24;
/// Below this width the contacts pane is hidden (Tab / Ctrl-N still switch).
pub const CONTACTS_MIN_TERMINAL_WIDTH: u16 = 60;
/// Most rows the message editor grows to.
pub const MAX_INPUT_ROWS: usize = 5;

const DIM: Style = Style::new().fg(Color::DarkGray);
const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
const WARN: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
const GOOD: Style = Style::new().fg(Color::Green);
const BAR: Style = Style::new().fg(Color::Black).bg(Color::Gray);

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

fn input_rows(app: &App, width: u16) -> usize {
    let (rows, _) = app.input.layout(usize::from(width.saturating_sub(2)));
    rows.len().clamp(1, MAX_INPUT_ROWS)
}

/// The main screen's layout for the terminal size in `app`.
pub fn main_layout(app: &App) -> MainLayout {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    let status_h = 1.min(area.height);
    let rest_h = area.height - status_h;
    let inp = u16::try_from(input_rows(app, area.width))
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

/// Width available to message text.
pub fn message_width(app: &App) -> usize {
    usize::from(main_layout(app).messages.width.saturating_sub(1)).max(10)
}

/// Rows available to messages.
pub fn message_area_height(app: &App) -> usize {
    usize::from(main_layout(app).messages.height).max(1)
}

// ------------------------------------------------------------------ time

fn civil_from_days(days: i64) -> (i64, u32, u32) {
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

fn truncate(s: &str, width: usize) -> String {
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
    app: &App,
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
    out.extend(render_message(app, alias, m, width));
    out
}

fn render_message(app: &App, alias: &str, m: &Message, width: usize) -> Vec<Line<'static>> {
    let time = format_time(m.at_ms, app.now_ms, app.utc_offset_secs);
    let name_max = if width < 50 { 8 } else { 14 };
    let name = if m.outgoing {
        "you".to_owned()
    } else {
        truncate(alias, name_max)
    };
    let prefix_w = time.width() + 1 + name.width() + 2;
    let indent = if width >= 50 { prefix_w } else { 2 };
    let state = if m.outgoing {
        format!("  {}", m.state.label())
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

// ------------------------------------------------------------------ drawing

/// Draws the whole state.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    match &app.screen {
        Screen::Setup(form) => draw_setup(f, area, form),
        Screen::Unlock(form) => draw_unlock(f, area, form),
        Screen::Busy { text, retry } => draw_busy(f, area, text, retry),
        Screen::Main => draw_main(f, app),
        Screen::Wiped => draw_wiped(f, area),
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn panel(title: &str, style: Style) -> Block<'static> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(style)
        .title(Span::styled(format!(" {title} "), BOLD))
}

/// Draws `lines` wrapped in `area` with `hint` pinned to its last row, so the keys
/// that act on a dialog stay visible on a small terminal.
fn body_with_hint(f: &mut Frame, area: Rect, lines: Vec<Line<'static>>, hint: &str) {
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

fn field_line(label: &str, value: String, focused: bool) -> Line<'static> {
    let marker = if focused { "▸ " } else { "  " };
    Line::from(vec![
        Span::styled(marker.to_owned(), WARN),
        Span::styled(format!("{label}: "), BOLD),
        Span::raw(value),
    ])
}

fn draw_main(f: &mut Frame, app: &App) {
    let l = main_layout(app);
    if let Some(c) = l.contacts {
        draw_contacts(f.buffer_mut(), c, app);
    }
    draw_header(f.buffer_mut(), l.header, app);
    draw_messages(f.buffer_mut(), l.messages, app);
    draw_notice(f.buffer_mut(), l.notice, app);
    draw_input(f, l.input, app);
    draw_status(f.buffer_mut(), l.status, app);
    if let Some(d) = &app.dialog {
        draw_dialog(f, app, d);
    }
}

fn put(buf: &mut Buffer, x: u16, y: u16, line: &Line<'_>, width: u16) {
    if width > 0 {
        buf.set_line(x, y, line, width);
    }
}

fn contact_badges(app: &App, c: &Contact) -> Vec<Span<'static>> {
    let mut v = Vec::new();
    if c.verified {
        v.push(Span::styled(" ✓", GOOD));
    } else if app.new_key_for(&c.alias).is_some() {
        v.push(Span::styled(" ⚠", WARN));
    }
    if !c.established {
        v.push(Span::styled(" …", DIM));
    }
    v
}

fn draw_contacts(buf: &mut Buffer, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    let w = area.width.saturating_sub(1);
    let title = match app.sort {
        Sort::Unread => "Contacts (unread)",
        Sort::Recent => "Contacts (recent)",
    };
    put(buf, area.x, area.y, &Line::styled(title, BOLD), w);
    for y in area.y..area.bottom() {
        buf.set_string(area.x + w, y, "│", DIM);
    }
    let order = app.sorted();
    if order.is_empty() {
        let hint = [
            "No contacts yet.",
            "",
            &format!(
                "{}: invite",
                app.settings.keymap.key_label(KeyAction::Invite)
            ),
            &format!(
                "{}: accept",
                app.settings.keymap.key_label(KeyAction::Accept)
            ),
        ]
        .map(str::to_owned);
        for (i, h) in hint.iter().enumerate() {
            let y = area.y + 2 + u16::try_from(i).unwrap_or(0);
            if y < area.bottom() {
                put(buf, area.x + 1, y, &Line::styled(h.clone(), DIM), w - 1);
            }
        }
        return;
    }
    let rows = usize::from(area.height.saturating_sub(1));
    let sel = app
        .selected
        .as_ref()
        .and_then(|s| {
            order
                .iter()
                .position(|&i| app.alias_at(i) == Some(s.as_str()))
        })
        .unwrap_or(0);
    let start = sel.saturating_sub(rows.saturating_sub(1));
    for (row, &i) in order.iter().enumerate().skip(start).take(rows) {
        let Some(c) = app.contacts.get(i) else {
            continue;
        };
        let y = area.y + 1 + u16::try_from(row - start).unwrap_or(0);
        let selected = app.selected.as_deref() == Some(c.alias.as_str());
        let dot = if c.online {
            Span::styled("● ", GOOD)
        } else {
            Span::styled("○ ", DIM)
        };
        let unread = if c.unread > 0 {
            format!(" {}", c.unread.min(999))
        } else {
            String::new()
        };
        let badges = contact_badges(app, c);
        let badge_w: usize = badges.iter().map(|s| s.content.width()).sum();
        let name_w = usize::from(w).saturating_sub(2 + badge_w + unread.width() + 1);
        let name = truncate(&c.alias, name_w);
        let name_style = if c.unread > 0 { BOLD } else { Style::new() };
        let mut spans = vec![dot, Span::styled(name.clone(), name_style)];
        spans.extend(badges);
        let used: usize = 2 + name.width() + badge_w;
        let pad = usize::from(w).saturating_sub(used + unread.width());
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(unread, WARN));
        let mut line = Line::from(spans);
        if selected {
            line = line.style(Style::new().add_modifier(Modifier::REVERSED));
        }
        put(buf, area.x, y, &line, w);
    }
}

fn draw_header(buf: &mut Buffer, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    let style = Style::new().add_modifier(Modifier::REVERSED);
    buf.set_style(area, style);
    let Some(alias) = &app.selected else {
        put(
            buf,
            area.x,
            area.y,
            &Line::styled(" Cairn", style),
            area.width,
        );
        return;
    };
    let c = app.contact(alias);
    let mut spans = vec![Span::styled(
        format!(" {alias}"),
        style.add_modifier(Modifier::BOLD),
    )];
    match c {
        Some(c) if c.verified => spans.push(Span::raw(" ✓ verified")),
        Some(c) if app.new_key_for(&c.alias).is_some() => {
            spans.push(Span::raw(" ⚠ new key, not verified"))
        }
        _ => spans.push(Span::raw(" · not verified")),
    }
    if let Some(c) = c {
        spans.push(Span::raw(if c.online {
            " · online"
        } else {
            " · offline"
        }));
        if !c.established {
            spans.push(Span::raw(" · connecting"));
        }
    }
    let conv = app.convs.get(alias);
    if let Some(Some(Some(secs))) = conv.map(|c| c.expire) {
        spans.push(Span::raw(format!(
            " · disappearing: {}",
            describe_duration(secs)
        )));
    }
    if conv.is_some_and(|c| c.scroll.is_some()) {
        spans.push(Span::raw(" · scrolled"));
    }
    if app.size.0 < CONTACTS_MIN_TERMINAL_WIDTH {
        let others: usize = app
            .contacts
            .iter()
            .filter(|c| c.alias != *alias)
            .map(|c| c.unread)
            .sum();
        if others > 0 {
            spans.push(Span::raw(format!(" · {others} unread elsewhere")));
        }
    }
    put(
        buf,
        area.x,
        area.y,
        &Line::from(spans).style(style),
        area.width,
    );
}

fn draw_messages(buf: &mut Buffer, area: Rect, app: &App) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let Some(alias) = app.selected.as_deref() else {
        let lines = [
            "Welcome to Cairn.".to_owned(),
            String::new(),
            format!(
                "Invite someone: {} or /invite.",
                app.settings.keymap.key_label(KeyAction::Invite)
            ),
            format!(
                "Got a code? {} or /accept.",
                app.settings.keymap.key_label(KeyAction::Accept)
            ),
            format!(
                "Help: {} or /help.",
                app.settings.keymap.key_label(KeyAction::Help)
            ),
        ];
        for (i, t) in lines.iter().enumerate() {
            let y = area.y + 1 + u16::try_from(i).unwrap_or(0);
            if y < area.bottom() {
                put(buf, area.x + 1, y, &Line::raw(t.clone()), area.width - 1);
            }
        }
        return;
    };
    let Some(conv) = app.convs.get(alias) else {
        return;
    };
    if conv.messages.is_empty() {
        let t = match app.contact(alias) {
            Some(c) if !c.established => {
                "Setting up the encrypted session… messages can be written once it is ready."
            }
            _ => "No messages yet. Type below and press Enter.",
        };
        for (i, row) in wrap(t, usize::from(area.width - 1), usize::from(area.width - 1))
            .into_iter()
            .enumerate()
        {
            let y = area.y + 1 + u16::try_from(i).unwrap_or(0);
            if y < area.bottom() {
                put(buf, area.x + 1, y, &Line::styled(row, DIM), area.width - 1);
            }
        }
        return;
    }
    let width = usize::from(area.width.saturating_sub(1)).max(10);
    let (mut idx, mut hidden) = match conv.scroll {
        Some(p) => (p.msg.min(conv.messages.len() - 1), p.hidden_below),
        None => (conv.messages.len() - 1, 0),
    };
    // Lay out only what is visible: walk up from the bottom message.
    let mut y = i32::from(area.bottom());
    loop {
        let lines = message_lines(app, alias, conv, idx, width);
        let take = lines.len().saturating_sub(hidden);
        for line in lines.iter().take(take).rev() {
            y -= 1;
            if y < i32::from(area.y) {
                return;
            }
            put(
                buf,
                area.x + 1,
                u16::try_from(y).unwrap_or(0),
                line,
                area.width - 1,
            );
        }
        hidden = 0;
        if idx == 0 {
            return;
        }
        idx -= 1;
    }
}

fn draw_notice(buf: &mut Buffer, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    match &app.notice {
        Some(n) => {
            let style = if n.warn {
                WARN
            } else {
                Style::new().fg(Color::Cyan)
            };
            put(
                buf,
                area.x,
                area.y,
                &Line::styled(format!(" {}", n.text), style),
                area.width,
            );
        }
        None => {
            buf.set_string(area.x, area.y, "─".repeat(usize::from(area.width)), DIM);
        }
    }
}

fn draw_input(f: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 || area.width < 3 {
        return;
    }
    let width = usize::from(area.width - 2);
    let (rows, (cr, cc)) = app.input.layout(width);
    let visible = usize::from(area.height);
    let first = (cr + 1).saturating_sub(visible);
    let buf = f.buffer_mut();
    if app.input.is_empty() {
        let km = &app.settings.keymap;
        let hint = match &app.selected {
            Some(a) => format!(
                "Message {a} · {} new line · /help",
                km.key_label(KeyAction::Newline)
            ),
            None => "Type /help for commands".to_owned(),
        };
        put(buf, area.x, area.y, &Line::styled("› ", BOLD), 2);
        put(
            buf,
            area.x + 2,
            area.y,
            &Line::styled(truncate(&hint, width), DIM),
            area.width - 2,
        );
    } else {
        for (i, row) in rows.iter().enumerate().skip(first).take(visible) {
            let y = area.y + u16::try_from(i - first).unwrap_or(0);
            let p = if i == 0 { "› " } else { "  " };
            put(buf, area.x, y, &Line::styled(p, BOLD), 2);
            put(buf, area.x + 2, y, &Line::raw(row.clone()), area.width - 2);
        }
    }
    if app.dialog.is_none() {
        let x = area.x + 2 + u16::try_from(cc).unwrap_or(0);
        let y = area.y + u16::try_from(cr - first).unwrap_or(0);
        if x < area.right() && y < area.bottom() {
            f.set_cursor_position(Position::new(x, y));
        }
    }
}

fn draw_status(buf: &mut Buffer, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    buf.set_style(area, BAR);
    let s = &app.status;
    let net = if s.restarting {
        "restarting".to_owned()
    } else if !s.running {
        "stopped".to_owned()
    } else if s.listening {
        "online".to_owned()
    } else {
        "starting".to_owned()
    };
    let relay = if !s.relay_configured {
        "no relay"
    } else if s.relay_reserved {
        "relay ok"
    } else {
        "relay waiting"
    };
    let peers = if s.peers == 1 {
        "1 peer".to_owned()
    } else {
        format!("{} peers", s.peers)
    };
    let lan = if s.lan { "LAN on" } else { "LAN off" };
    let help = format!("{} help", app.settings.keymap.key_label(KeyAction::Help));
    let full = format!(
        " {net} · {peers} · {relay} · {lan} · {} · {help}",
        app.profile
    );
    let text = if full.width() <= usize::from(area.width) {
        full
    } else {
        format!(" {net} · {peers} · {lan} · {help}")
    };
    let dot_style = if s.listening && s.running {
        BAR.fg(Color::Green)
    } else {
        BAR.fg(Color::Red)
    };
    let line = Line::from(vec![Span::styled("●", dot_style), Span::styled(text, BAR)]);
    put(buf, area.x, area.y, &line, area.width);
}

// ------------------------------------------------------------------ dialogs

mod dialogs;
mod screens;
use dialogs::*;
use screens::*;

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
