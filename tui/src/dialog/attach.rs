//! Sending a file: its path (Tab completes it from the directory, which the app lists),
//! then a preview of what Cairn will remove from it before it leaves — or, for a type it
//! cannot clean, a warning, and sending the original only as an explicit choice.

use super::{edit_field, Handled, Key, Request};
use crate::input::TextField;
use crate::layout::{body_with_hint, dialog_rect, field_line, panel, DIM, WARN};
use cairn_node::api::{Alias, Command};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Clear;
use ratatui::Frame;

/// What the node said sending the file would remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// Each kind of metadata found.
    pub removed: Vec<String>,
    /// Cairn can clean it.
    pub cleanable: bool,
    /// Why not, if not.
    pub note: Option<String>,
}

/// The attach dialog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attach {
    /// The conversation.
    pub alias: Alias,
    /// What the conversation is called (a contact's alias, `# name` for a group).
    pub label: String,
    /// The file's path.
    pub path: TextField,
    /// Names in the directory being completed (from the app), and for which directory.
    pub listing: Option<(String, Vec<String>)>,
    /// Inspected: what would be removed.
    pub preview: Option<Preview>,
    /// Asked the node to inspect the file.
    pub inspecting: bool,
}

/// Splits a path being typed into its directory (as typed, with its `/`) and the start of
/// the name.
pub fn split_path(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path),
    }
}

/// Completes `path` with `names` (the entries of its directory; a directory's name ends in
/// `/`): the longest prefix shared by every name that starts with what was typed; `None`
/// if nothing matches or nothing would be added. Hidden names only when asked for by a `.`.
pub fn complete(path: &str, names: &[String]) -> Option<String> {
    let (dir, start) = split_path(path);
    let mut matching = names
        .iter()
        .filter(|n| n.starts_with(start) && (start.starts_with('.') || !n.starts_with('.')));
    let first = matching.next()?;
    let mut common = first.as_str();
    for n in matching {
        let shared = common
            .char_indices()
            .zip(n.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8());
        common = common.get(..shared).unwrap_or("");
    }
    (common.len() > start.len()).then(|| format!("{dir}{common}"))
}

impl Attach {
    /// The dialog for `alias` with `path` typed.
    pub fn new(alias: Alias, path: &str) -> Self {
        Self {
            label: alias.to_string(),
            alias,
            path: TextField::with_text(path),
            ..Self::default()
        }
    }

    /// The directory the app is to list for completion, if the typed path needs one that
    /// is not listed yet.
    pub fn wants_listing(&self) -> Option<String> {
        let (dir, _) = split_path(self.path.text());
        let dir = if dir.is_empty() { "./" } else { dir };
        match &self.listing {
            Some((d, _)) if d == dir => None,
            _ => Some(dir.to_owned()),
        }
    }

    /// The app listed `dir`: complete with it.
    pub fn listed(&mut self, dir: String, names: Vec<String>) {
        self.listing = Some((dir, names));
        self.tab();
    }

    fn tab(&mut self) {
        if let Some((_, names)) = &self.listing {
            if let Some(p) = complete(self.path.text(), names) {
                self.path = TextField::with_text(&p);
                self.path.end();
            }
        }
    }

    /// The node inspected the file.
    pub fn inspected(&mut self, preview: Preview) {
        self.inspecting = false;
        self.preview = Some(preview);
    }

    fn send(&self, original: bool, out: &mut Vec<Request>) {
        out.push(Request::Close);
        out.push(Request::File(Command::SendFile {
            to: Some(self.alias.clone()),
            group: None,
            path: self.path.text().to_owned(),
            original,
            client_ref: None,
        }));
    }

    /// Typing edits the path (and drops a preview of another); Tab completes; Enter
    /// inspects, then sends what the preview showed; `o` sends an uncleanable file as it
    /// is; Esc closes.
    pub fn update(&mut self, key: Key, out: &mut Vec<Request>) -> Handled {
        match (key, &self.preview) {
            (Key::Cancel, _) => out.push(Request::Close),
            (Key::Confirm, Some(p)) if p.cleanable => self.send(false, out),
            (Key::Confirm, Some(_)) => out.push(Request::Notify(
                "Cairn cannot remove this file's metadata: press o to send it as it is, or Esc."
                    .into(),
            )),
            (k, Some(p)) if !p.cleanable && k.is_letter('o') => self.send(true, out),
            (Key::Confirm, None) if !self.path.is_empty() && !self.inspecting => {
                self.inspecting = true;
                out.push(Request::Node(Command::InspectFile {
                    path: self.path.text().to_owned(),
                }));
            }
            (Key::NextField, _) => match self.wants_listing() {
                Some(dir) => out.push(Request::ListDir(dir)),
                None => self.tab(),
            },
            (k, _) => {
                let edited = match k {
                    Key::Char(c) => {
                        self.path.insert_char(c);
                        true
                    }
                    k => edit_field(&mut self.path, k),
                };
                if !edited {
                    return Handled::Ignored;
                }
                self.preview = None;
                self.inspecting = false;
            }
        }
        Handled::Consumed
    }

    /// Draws the path and the preview.
    pub fn draw(&self, f: &mut Frame) {
        let rect = dialog_rect(f.area(), 76, 16);
        f.render_widget(Clear, rect);
        let block = panel(&format!("Send a file to {}", self.label), Style::new());
        let inner = block.inner(rect);
        f.render_widget(block, rect);
        let mut lines = vec![field_line("File", self.path.text().to_owned(), true)];
        match &self.preview {
            None if self.inspecting => lines.push(Line::styled("Looking at the file…", DIM)),
            None => lines.push(Line::styled(
                "Enter: see what will be removed before it is sent",
                DIM,
            )),
            Some(p) if p.cleanable && p.removed.is_empty() => lines.push(Line::raw(
                "Nothing identifying found; sent as it is cleaned.",
            )),
            Some(p) if p.cleanable => {
                lines.push(Line::raw("Removed before it leaves:"));
                for r in &p.removed {
                    lines.push(Line::raw(format!("  • {r}")));
                }
            }
            Some(p) => {
                lines.push(Line::styled(
                    "Cairn cannot remove metadata from this file.",
                    WARN,
                ));
                if let Some(n) = &p.note {
                    lines.push(Line::styled(n.clone(), DIM));
                }
                lines.push(Line::raw(
                    "Its author, dates or location may be in it. Send the original only if you are sure.",
                ));
            }
        }
        let hint = match &self.preview {
            Some(p) if !p.cleanable => "o: send the original as it is · Esc: cancel",
            Some(_) => "Enter: send · Esc: cancel",
            None => "Tab: complete · Enter: check · Esc: cancel",
        };
        body_with_hint(f, inner, lines, hint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Would catch a completion that picks one of several names, cuts a name inside a
    /// character, shows hidden files unasked, or loses the directory typed.
    #[test]
    fn completion_extends_to_the_shared_prefix() {
        let n = names(&[
            "report-2026.pdf",
            "report-draft.odt",
            "photos/",
            ".secret",
            "réunion.txt",
        ]);
        assert_eq!(complete("docs/rep", &n).as_deref(), Some("docs/report-"));
        assert_eq!(complete("docs/report-", &n), None, "nothing to add");
        assert_eq!(complete("ph", &n).as_deref(), Some("photos/"));
        assert_eq!(complete("r", &n), None, "réunion and report share only r");
        assert_eq!(complete("ré", &n).as_deref(), Some("réunion.txt"));
        assert_eq!(complete("x", &n), None);
        assert_eq!(complete("", &names(&[".a", "b"])).as_deref(), Some("b"));
        assert_eq!(
            complete(".", &names(&[".secret", "b"])).as_deref(),
            Some(".secret")
        );
        assert_eq!(split_path("/home/j/doc"), ("/home/j/", "doc"));
    }

    /// Would catch a file sent before its preview, an uncleanable one sent without the
    /// explicit `o`, or a preview kept for a path changed since.
    #[test]
    fn nothing_leaves_before_the_preview_and_originals_only_on_o() {
        let mut d = Attach::new("bob".into(), "a.bin");
        let mut out = Vec::new();
        d.update(Key::Confirm, &mut out);
        assert!(matches!(
            out.as_slice(),
            [Request::Node(Command::InspectFile { .. })]
        ));
        out.clear();
        d.update(Key::Confirm, &mut out);
        assert!(out.is_empty(), "asked once");
        d.inspected(Preview {
            removed: vec![],
            cleanable: false,
            note: Some("unknown type".into()),
        });
        d.update(Key::Confirm, &mut out);
        assert!(matches!(out.as_slice(), [Request::Notify(_)]), "{out:?}");
        out.clear();
        d.update(Key::Char('o'), &mut out);
        assert!(matches!(
            out.as_slice(),
            [
                Request::Close,
                Request::File(Command::SendFile { original: true, .. })
            ]
        ));
        let mut d = Attach::new("bob".into(), "a.jpg");
        d.inspected(Preview {
            removed: vec!["GPS position".into()],
            cleanable: true,
            note: None,
        });
        d.update(Key::Char('x'), &mut out);
        assert_eq!(d.preview, None, "the path changed: look again");
        d.inspected(Preview {
            removed: vec![],
            cleanable: true,
            note: None,
        });
        out.clear();
        d.update(Key::Confirm, &mut out);
        assert!(matches!(
            out.as_slice(),
            [
                Request::Close,
                Request::File(Command::SendFile {
                    original: false,
                    ..
                })
            ]
        ));
    }
}
