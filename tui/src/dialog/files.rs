//! A conversation's files, both ways, with a progress bar, rate and time left for each
//! transfer; accept, decline, cancel, save (export) and forward from here.

use super::{edit_field, Handled, Key, Request};
use crate::input::TextField;
use crate::layout::{body_with_hint, choice_line, dialog_rect, field_line, panel, truncate, DIM};
use crate::model::FileView;
use cairn_node::api::{Alias, Command, FileStateName};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// What the dialog asks for before acting on the selected file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// Where to save it.
    Export(TextField),
    /// To whom to forward it.
    Forward(TextField),
}

/// The files dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Files {
    /// The conversation.
    pub alias: Alias,
    /// What the conversation is called (a contact's alias, `# name` for a group).
    pub label: String,
    /// Its files, oldest first (kept up to date by the app).
    pub files: Vec<FileView>,
    /// The selected one.
    pub selected: usize,
    /// A question being answered.
    pub prompt: Option<Prompt>,
}

/// `bytes` of `total` as a bar of `width` cells.
pub fn bar(bytes: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        width
    } else {
        usize::try_from(u128::from(bytes.min(total)) * width as u128 / u128::from(total))
            .unwrap_or(width)
    };
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// A size for people: `512 B`, `1.5 MiB`.
pub fn size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS.get(u).unwrap_or(&"TiB"))
}

/// Seconds for people: `45 s`, `3 min`, `2 h 5 min`.
pub fn eta(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s.div_ceil(60)),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// One file's line: direction, name, state or progress.
pub fn describe(f: &FileView, width: usize) -> String {
    let arrow = if f.outgoing { "↑" } else { "↓" };
    let state = match f.state {
        FileStateName::Moving => {
            let mut s = format!(
                "{} {:>3}% {}/s",
                bar(f.bytes, f.size, 16),
                (f.bytes.min(f.size) * 100)
                    .checked_div(f.size)
                    .unwrap_or(100),
                size(f.rate)
            );
            if let Some(t) = f.eta_secs {
                s.push_str(&format!(" · {} left", eta(t)));
            }
            if f.waiting {
                s.push_str(" · waits until both are online");
            }
            s
        }
        FileStateName::Offered if f.outgoing => "offered: waiting for an answer".into(),
        FileStateName::Offered => "offered to you: a accept · d decline".into(),
        FileStateName::Complete => "complete".into(),
        FileStateName::Declined => "declined".into(),
        FileStateName::Cancelled => "cancelled".into(),
        FileStateName::Failed => "failed (did not match its hash)".into(),
    };
    let who = match (&f.member, f.outgoing) {
        (Some(m), true) => format!("to {m}: "),
        (Some(m), false) => format!("from {m}: "),
        (None, _) => String::new(),
    };
    let name_width = width
        .saturating_sub(state.chars().count() + who.chars().count() + 14)
        .max(8);
    format!(
        "{arrow} {who}{} ({}) {state}",
        truncate(&f.name, name_width),
        size(f.size)
    )
}

impl Files {
    /// The dialog for `alias`'s files.
    pub fn new(alias: Alias, files: Vec<FileView>) -> Self {
        Self {
            label: alias.to_string(),
            alias,
            files,
            ..Self::default()
        }
    }

    fn file(&self) -> Option<&FileView> {
        self.files.get(self.selected)
    }

    /// Up/Down choose; `a` accept, `d` decline, `c` cancel, `s` save, `f` forward; Esc
    /// closes (or leaves a question).
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        let chosen = self.file().map(|f| f.file.clone());
        if let Some(p) = &mut self.prompt {
            let field = match p {
                Prompt::Export(f) | Prompt::Forward(f) => f,
            };
            match key {
                Key::Cancel => self.prompt = None,
                Key::Confirm if !field.is_empty() => {
                    let text = field.text().trim().to_owned();
                    let Some(file) = chosen else {
                        return Handled::Consumed;
                    };
                    out.push(match p {
                        Prompt::Export(_) => {
                            Request::Node(Command::ExportFile { file, path: text })
                        }
                        Prompt::Forward(_) => Request::File(Command::Forward {
                            message: None,
                            file: Some(file),
                            to: Some(text.into()),
                            group: None,
                            original: false,
                            client_ref: None,
                        }),
                    });
                    self.prompt = None;
                }
                Key::Char(c) => field.insert_char(c),
                k => {
                    edit_field(field, k);
                }
            }
            return Handled::Consumed;
        }
        let file = self.file().cloned();
        let act = |cmd: fn(cairn_node::api::FileId) -> Command, out: &mut Vec<Request>| {
            if let Some(f) = &file {
                out.push(Request::Node(cmd(f.file.clone())));
            }
        };
        match key {
            Key::Cancel => out.push(Request::Close),
            Key::Up => self.selected = self.selected.saturating_sub(1),
            Key::Down => {
                self.selected = (self.selected + 1).min(self.files.len().saturating_sub(1))
            }
            k if k.is_letter('a') => act(|file| Command::AcceptFile { file }, out),
            k if k.is_letter('d') => act(|file| Command::DeclineFile { file }, out),
            k if k.is_letter('c') => act(|file| Command::CancelFile { file }, out),
            k if k.is_letter('s') && file.is_some() => {
                let name = file.map(|f| f.name).unwrap_or_default();
                self.prompt = Some(Prompt::Export(TextField::with_text(&name)));
            }
            k if k.is_letter('f') && file.is_some() => {
                self.prompt = Some(Prompt::Forward(TextField::single()));
            }
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// Draws the list, or the question.
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 96, 20);
        f.render_widget(Clear, rect);
        let block = panel(&format!("Files of {}", self.label), Style::new());
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let width = usize::from(inner.width);
        let mut lines = Vec::new();
        if self.files.is_empty() {
            lines.push(Line::styled("No files yet. Send one with /send PATH.", DIM));
        }
        for (i, file) in self.files.iter().enumerate() {
            lines.push(choice_line(describe(file, width), i == self.selected));
        }
        match &self.prompt {
            Some(Prompt::Export(p)) => {
                lines.push(Line::raw(""));
                lines.push(field_line("Save as", p.text().to_owned(), true));
                lines.push(Line::styled(
                    "A new file (never over one that exists). Cairn never opens it.",
                    DIM,
                ));
            }
            Some(Prompt::Forward(p)) => {
                lines.push(Line::raw(""));
                lines.push(field_line(
                    "Forward to (contact, or # group)",
                    p.text().to_owned(),
                    true,
                ));
                lines.push(Line::styled(
                    "Sent as your own new file, cleaned again: nothing says who sent it to you.",
                    DIM,
                ));
            }
            None => {}
        }
        let hint = if self.prompt.is_some() {
            "Enter: go · Esc: back"
        } else {
            "a accept · d decline · c cancel · s save · f forward · Esc close"
        };
        body_with_hint(f, inner, lines, hint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: FileStateName, bytes: u64) -> FileView {
        FileView {
            file: "ab".into(),
            alias: "bob".into(),
            member: None,
            outgoing: false,
            name: "report.pdf".into(),
            size: 10 << 20,
            state,
            bytes,
            rate: 1 << 20,
            eta_secs: Some(5),
            waiting: false,
        }
    }

    /// Would catch a bar that overflows, a wrong percentage, rate or time left.
    #[test]
    fn progress_reads_as_bar_percent_rate_and_time_left() {
        assert_eq!(bar(0, 100, 4), "░░░░");
        assert_eq!(bar(50, 100, 4), "██░░");
        assert_eq!(bar(150, 100, 4), "████");
        assert_eq!(bar(0, 0, 2), "██");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(eta(61), "2 min");
        assert_eq!(eta(7500), "2 h 5 min");
        let line = describe(&view(FileStateName::Moving, 5 << 20), 100);
        assert!(line.contains(" 50% 1.0 MiB/s · 5 s left"), "{line}");
        assert!(line.starts_with("↓ report.pdf (10.0 MiB)"), "{line}");
        let mut in_group = view(FileStateName::Complete, 0);
        in_group.member = Some("carol".into());
        assert!(describe(&in_group, 100).starts_with("↓ from carol: report.pdf"));
        in_group.outgoing = true;
        assert!(describe(&in_group, 100).starts_with("↑ to carol: report.pdf"));
    }

    /// Would catch an action on no file, a save without a path, or a forward sent to
    /// nobody.
    #[test]
    fn keys_act_on_the_selected_file() {
        let mut d = Files::new("bob".into(), vec![view(FileStateName::Offered, 0)]);
        let mut out = Vec::new();
        d.update(Key::Char('a'), &mut out);
        assert!(matches!(
            out.as_slice(),
            [Request::Node(Command::AcceptFile { .. })]
        ));
        out.clear();
        d.update(Key::Char('s'), &mut out);
        assert!(matches!(d.prompt, Some(Prompt::Export(_))));
        d.update(Key::Confirm, &mut out);
        assert!(
            matches!(out.as_slice(), [Request::Node(Command::ExportFile { path, .. })] if path == "report.pdf")
        );
        out.clear();
        d.update(Key::Char('f'), &mut out);
        d.update(Key::Confirm, &mut out);
        assert!(out.is_empty(), "to nobody");
        for c in "carol".chars() {
            d.update(Key::Char(c), &mut out);
        }
        d.update(Key::Confirm, &mut out);
        assert!(matches!(
            out.as_slice(),
            [Request::File(Command::Forward { to: Some(t), .. })] if t == "carol"
        ));
        let mut empty = Files::new("bob".into(), vec![]);
        out.clear();
        empty.update(Key::Char('a'), &mut out);
        empty.update(Key::Char('s'), &mut out);
        assert!(out.is_empty() && empty.prompt.is_none());
    }
}
