//! `view(state)`: draws the state, changes nothing.
//!
//! The conversation is laid out from its bottom visible message upwards and stops when
//! the view is full, so drawing costs the same with 50 or 50,000 messages.

use crate::app::{describe_duration, App, Contact, Retry, Screen};
use crate::config::Sort;
use crate::dialog::DrawCx;
use crate::keymap::KeyAction;
use crate::layout::{
    body_with_hint, centered, field_line, message_lines, panel, truncate, wrap, BAR, BOLD,
    CONTACTS_MIN_TERMINAL_WIDTH, DIM, GOOD, WARN,
};
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

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

fn draw_main(f: &mut Frame, app: &App) {
    let l = app.layout();
    if let Some(c) = l.contacts {
        draw_contacts(f.buffer_mut(), c, app);
    }
    draw_header(f.buffer_mut(), l.header, app);
    draw_messages(f.buffer_mut(), l.messages, app);
    draw_notice(f.buffer_mut(), l.notice, app);
    draw_input(f, l.input, app);
    draw_status(f.buffer_mut(), l.status, app);
    if let Some(d) = &app.dialog {
        d.draw(
            f,
            &DrawCx {
                keymap: &app.settings.keymap,
            },
        );
    }
}

fn put(buf: &mut Buffer, x: u16, y: u16, line: &Line<'_>, width: u16) {
    if width > 0 {
        buf.set_line(x, y, line, width);
    }
}

/// What the header says of a session under a protocol older than ours: the contact's
/// Cairn is older, and the conversation moves up by itself once it updates (PROTOCOL.md
/// §3.1). Before protocol 3 a session has no post-quantum protection.
fn older_protocol_note(c: &Contact) -> Option<&'static str> {
    match c.protocol {
        Some(p) if p < cairn_crypto::Protocol::V3.as_u8() => Some(" · ⚠ not quantum-safe"),
        _ => None,
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
        let dot = if c.group.is_some() {
            Span::styled("# ", BOLD)
        } else if c.online {
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
        let label = match &c.group {
            // The mark is the `#` in place of the online dot.
            Some(g) if g.member => g.name.clone(),
            Some(g) => format!("{} (left)", g.name),
            None => c.alias.to_string(),
        };
        let name = truncate(&label, name_w);
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
    let label = c.map_or_else(|| alias.to_string(), |c| c.label());
    let mut spans = vec![Span::styled(
        format!(" {label}"),
        style.add_modifier(Modifier::BOLD),
    )];
    if let Some(g) = c.and_then(|c| c.group.as_ref()) {
        let waiting = g.members.iter().filter(|m| !m.reachable).count();
        spans.push(Span::raw(format!(" · {} members", g.members.len())));
        if waiting > 0 {
            spans.push(Span::raw(format!(
                " · {waiting} waiting for an introduction"
            )));
        }
        if g.admin {
            spans.push(Span::raw(" · you are an admin"));
        }
        spans.push(Span::raw(" · /members"));
        put(buf, area.x, area.y, &Line::from(spans), area.width);
        return;
    }
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
        if let Some(note) = older_protocol_note(c) {
            spans.push(Span::raw(note));
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
        let lines = message_lines(app.clock(), alias, conv, idx, width);
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
                "Message {} · {} new line · /help",
                app.contact(a).map_or_else(|| a.to_string(), |c| c.label()),
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
    let lan = if s.hidden {
        "hidden (Tor)"
    } else if s.lan {
        "LAN on"
    } else {
        "LAN off"
    };
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

mod screens;
use screens::*;
