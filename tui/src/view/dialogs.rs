//! Dialogs drawn over the main screen: their frame, help, the invite with its QR code,
//! and the safety-number check.

use super::*;

pub(super) fn dialog_rect(area: Rect, w: u16, h: u16) -> Rect {
    centered(area, w.min(area.width), h.min(area.height))
}

pub(super) fn draw_dialog(f: &mut Frame, app: &App, d: &Dialog) {
    let area = f.area();
    match d {
        Dialog::Help { scroll } => draw_help(f, area, app, *scroll),
        Dialog::Invite { code } => draw_invite(f, area, code.as_deref()),
        Dialog::Accept {
            code,
            alias,
            focus,
            error,
            waiting,
        } => {
            let rect = dialog_rect(area, 70, 14);
            f.render_widget(Clear, rect);
            let block = panel("Accept an invite", Style::new());
            let inner = block.inner(rect);
            f.render_widget(block, rect);
            let code_shown = if code.text().len() > 40 {
                format!(
                    "{}… ({} chars)",
                    code.text().chars().take(16).collect::<String>(),
                    code.text().len()
                )
            } else {
                code.text().to_owned()
            };
            let mut lines = vec![
                field_line("Code", code_shown, *focus == 0),
                field_line("Name", alias.text().to_owned(), *focus == 1),
            ];
            if let Some(e) = error {
                lines.push(Line::styled(e.clone(), WARN));
            }
            if *waiting {
                lines.push(Line::styled("Adding contact…", DIM));
            }
            lines.push(Line::raw(
                "Paste the code your contact gave you and name them (only you see the name).",
            ));
            body_with_hint(f, inner, lines, "Tab: field · Enter: accept · Esc: cancel");
        }
        Dialog::Verify {
            alias,
            digits,
            qr,
            verified,
        } => draw_verify(f, area, alias, digits.as_deref(), qr.as_deref(), *verified),
        Dialog::Expire { alias, choice } => {
            let rect = dialog_rect(area, 60, 14);
            f.render_widget(Clear, rect);
            let block = panel(&format!("Disappearing messages with {alias}"), Style::new());
            let inner = block.inner(rect);
            f.render_widget(block, rect);
            let mut lines = Vec::new();
            for (i, (_, label)) in EXPIRE_CHOICES.iter().enumerate() {
                let sel = i == *choice;
                lines.push(Line::styled(
                    format!("{} {label}", if sel { "▸" } else { " " }),
                    if sel {
                        BOLD.add_modifier(Modifier::REVERSED)
                    } else {
                        Style::new()
                    },
                ));
            }
            lines.push(Line::raw(
                "New messages leave both devices after this time. Your contact can still copy them first.",
            ));
            body_with_hint(
                f,
                inner,
                lines,
                "Up/Down: choose · Enter: set · Esc: cancel",
            );
        }
        Dialog::Lan { enable } => {
            let rect = dialog_rect(area, 64, 9);
            f.render_widget(Clear, rect);
            let (title, lines) = if *enable {
                (
                    "Turn LAN mode on?",
                    vec![
                        Line::raw("LAN mode finds contacts on this network without the Internet (mDNS)."),
                        Line::styled(
                            "It broadcasts this device's network ID (PeerId) to everyone on the local network.",
                            WARN,
                        ),
                    ],
                )
            } else {
                (
                    "Turn LAN mode off?",
                    vec![Line::raw(
                        "Cairn stops announcing this device on the local network.",
                    )],
                )
            };
            let block = panel(title, Style::new());
            let inner = block.inner(rect);
            f.render_widget(block, rect);
            let hint = if *enable {
                "Enter: turn on · Esc: cancel"
            } else {
                "Enter: turn off · Esc: cancel"
            };
            body_with_hint(f, inner, lines, hint);
        }
        Dialog::Wipe { typed, error } => {
            let rect = dialog_rect(area, 66, 13);
            f.render_widget(Clear, rect);
            let block = panel("Panic wipe", Style::new().fg(Color::Red));
            let inner = block.inner(rect);
            f.render_widget(block, rect);
            let mut lines = vec![field_line(
                "Type WIPE to confirm",
                typed.text().to_owned(),
                true,
            )];
            if let Some(e) = error {
                lines.push(Line::styled(e.clone(), WARN));
            }
            lines.push(Line::raw("Destroys this profile now: the key first, then all contacts and messages. Nothing can be recovered, not even with the passphrase."));
            lines.push(Line::styled(
                "It cannot reach other copies: backups, what your contacts hold.",
                DIM,
            ));
            body_with_hint(f, inner, lines, "Enter: wipe · Esc: cancel");
        }
        Dialog::NewKey { alias, like } => {
            let rect = dialog_rect(area, 66, 13);
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
}

pub(super) fn help_lines(app: &App, narrow: bool) -> Vec<Line<'static>> {
    let km = &app.settings.keymap;
    let col = if narrow { 0 } else { 21 };
    let mut lines = Vec::new();
    lines.push(Line::styled("Commands", BOLD));
    for (c, d) in [
        (
            "/invite [for NAME]",
            "create an invite (for NAME's new device)",
        ),
        ("/accept CODE NAME", "accept an invite"),
        ("/verify [NAME]", "compare safety numbers"),
        ("/expire 1h|1d|off", "disappearing messages"),
        ("/rename NAME", "rename the selected contact"),
        ("/block, /unblock", "block or unblock a contact"),
        (
            "/reset [NAME [CODE]]",
            "renew a session (CODE: their new device)",
        ),
        ("/delete", "delete a contact (asks first)"),
        ("/lan on|off", "LAN discovery (mDNS)"),
        ("/wipe", "panic wipe (asks first)"),
        ("/help", "this help"),
        ("/quit", "leave Cairn"),
    ] {
        lines.push(Line::from(vec![
            Span::styled(format!("{c:<col$} "), Style::new().fg(Color::Cyan)),
            Span::raw(d),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Keys", BOLD));
    let editing = [
        KeyAction::CursorLeft,
        KeyAction::CursorRight,
        KeyAction::WordLeft,
        KeyAction::WordRight,
        KeyAction::CursorUp,
        KeyAction::CursorDown,
        KeyAction::LineStart,
        KeyAction::LineEnd,
        KeyAction::DeleteBack,
        KeyAction::DeleteForward,
        KeyAction::DeleteWordBack,
        KeyAction::KillToEnd,
        KeyAction::KillToStart,
    ];
    for a in KeyAction::ALL.iter().filter(|a| !editing.contains(a)) {
        let keys: Vec<String> = km.keys_for(*a).iter().map(ToString::to_string).collect();
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<col$} ", keys.join(" ")),
                Style::new().fg(Color::Cyan),
            ),
            Span::raw(a.describe()),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Editing (readline)", BOLD));
    for a in editing {
        let keys: Vec<String> = km.keys_for(a).iter().map(ToString::to_string).collect();
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<col$} ", keys.join(" ")),
                Style::new().fg(Color::Cyan),
            ),
            Span::raw(a.describe()),
        ]));
    }
    lines
}

pub(super) fn draw_help(f: &mut Frame, area: Rect, app: &App, scroll: u16) {
    let rect = dialog_rect(area, 64, 40);
    f.render_widget(Clear, rect);
    let block = panel("Help · Up/Down scroll · other keys close", Style::new());
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let lines = help_lines(app, inner.width < 50);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
}

pub(super) fn code_rows(code: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    chars
        .chunks(width.max(8))
        .map(|c| c.iter().collect())
        .collect()
}

pub(super) fn draw_qr(buf: &mut Buffer, x: u16, y: u16, rows: &[String]) {
    let style = Style::new().fg(Color::Black).bg(Color::White);
    for (i, r) in rows.iter().enumerate() {
        buf.set_string(x, y + u16::try_from(i).unwrap_or(0), r, style);
    }
}

pub(super) fn draw_invite(f: &mut Frame, area: Rect, code: Option<&str>) {
    let Some(code) = code else {
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
    let explain = [
        "Show this QR code or give this code to ONE person you trust, in person or over a channel you trust. It works once and expires in 7 days.",
    ];
    let explain_h = wrap(explain[0], text_w, text_w).len();
    let fixed_h = explain_h + 1 + code_lines.len() + 1 + 2;
    let fits_qr = qr_w + 4 <= usize::from(area.width) && qr_h + fixed_h <= usize::from(area.height);
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
    lines.push(Line::raw(explain[0]));
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

pub(super) fn draw_verify(
    f: &mut Frame,
    area: Rect,
    alias: &str,
    digits: Option<&str>,
    qr: Option<&str>,
    verified: bool,
) {
    let qr_rows = qr.and_then(crate::qr::qr_rows).unwrap_or_default();
    let qr_w = u16::try_from(qr_rows.first().map_or(0, |r| r.chars().count())).unwrap_or(0);
    let qr_h = u16::try_from(qr_rows.len()).unwrap_or(0);
    let rect = dialog_rect(area, 80, (qr_h + 2).max(16));
    f.render_widget(Clear, rect);
    let title = if verified {
        format!("{alias} ✓ verified")
    } else {
        format!("Verify {alias}")
    };
    let block = panel(&title, if verified { GOOD } else { Style::new() });
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
    match digits {
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
    let hint = if verified {
        "✓ Marked verified · Esc: close"
    } else {
        "V: they match, mark verified · Esc: close"
    };
    body_with_hint(f, text_area, lines, hint);
}
