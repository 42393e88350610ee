//! The screens before and after the main one: setup, unlock, busy, wiped.

use super::*;

pub(super) fn draw_setup(f: &mut Frame, area: Rect, form: &crate::app::SetupForm) {
    let rect = centered(area, 76, 17);
    f.render_widget(Clear, rect);
    let block = panel("Welcome to Cairn: create your profile", Style::new());
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let hidden = |focused: bool, empty: bool| {
        if focused {
            "(typing is not shown)".to_owned()
        } else if empty {
            String::new()
        } else {
            "(entered)".to_owned()
        }
    };
    let name_label = "Your name (contacts see it)";
    let mut lines = vec![
        field_line(name_label, form.name.text().to_owned(), form.focus == 0),
        field_line(
            "Passphrase",
            hidden(form.focus == 1, form.pass1.is_empty()),
            form.focus == 1,
        ),
        field_line(
            "Repeat passphrase",
            hidden(form.focus == 2, form.pass2.is_empty()),
            form.focus == 2,
        ),
    ];
    let choice = |chosen: bool, text: &'static str| {
        let mark = if chosen { "(•) " } else { "( ) " };
        let style = if chosen { BOLD } else { Style::new() };
        Line::from(vec![
            Span::raw("    "),
            Span::styled(format!("{mark}{text}"), style),
        ])
    };
    lines.push(field_line("Connection", String::new(), form.focus == 3));
    lines.push(choice(
        !form.hidden,
        "Direct: faster; contacts and relay learn your IP address",
    ));
    lines.push(choice(
        form.hidden,
        "Hidden: all through Tor; slower, hides where you are",
    ));
    if let Some(e) = &form.error {
        lines.push(Line::styled(e.clone(), WARN));
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "The passphrase encrypts everything Cairn keeps on this device: contacts, messages, keys.",
    ));
    lines.push(Line::styled(
        "It cannot be recovered. Forget it and this profile is lost; no one can reset it.",
        WARN,
    ));
    body_with_hint(
        f,
        inner,
        lines,
        if form.focus == 3 {
            "Space: direct or hidden · Enter: create · Ctrl-C: quit"
        } else {
            "Tab: next field · Enter: continue · Ctrl-C: quit"
        },
    );
    if form.focus == 0 {
        let label = format!("▸ {name_label}: ");
        let x = inner.x + u16::try_from(label.width() + form.name.text().width()).unwrap_or(0);
        if x < inner.right() && inner.height > 0 {
            f.set_cursor_position(Position::new(x, inner.y));
        }
    }
}

pub(super) fn draw_unlock(f: &mut Frame, area: Rect, form: &crate::app::UnlockForm) {
    let rect = centered(area, 60, 9);
    f.render_widget(Clear, rect);
    let block = panel("Cairn is locked", Style::new());
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let mut lines = vec![
        Line::raw("Enter your passphrase to unlock this profile."),
        Line::raw(""),
        Line::from(vec![
            Span::styled("Passphrase: ", BOLD),
            Span::styled("(typing is not shown)", DIM),
        ]),
        Line::raw(""),
    ];
    if let Some(e) = &form.error {
        lines.push(Line::styled(e.clone(), WARN));
    }
    body_with_hint(f, inner, lines, "Enter: unlock · Ctrl-C: quit");
}

pub(super) fn draw_busy(f: &mut Frame, area: Rect, text: &str, _retry: &Retry) {
    let rect = centered(area, 60, 5);
    f.render_widget(Clear, rect);
    let block = panel("Cairn", Style::new());
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    f.render_widget(
        Paragraph::new(vec![
            Line::raw(text.to_owned()),
            Line::styled("One moment…", DIM),
        ])
        .wrap(Wrap { trim: false }),
        inner,
    );
}

pub(super) fn draw_wiped(f: &mut Frame, area: Rect) {
    let rect = centered(area, 60, 8);
    f.render_widget(Clear, rect);
    let block = panel("Profile wiped", Style::new().fg(Color::Red));
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    f.render_widget(
        Paragraph::new(vec![
            Line::raw("The profile's key was destroyed, then its data."),
            Line::raw("Nothing in it can be read again, even with the passphrase."),
            Line::raw(""),
            Line::styled("Press any key to leave.", DIM),
        ])
        .wrap(Wrap { trim: false }),
        inner,
    );
}
