//! The TUI's config file: `config.toml` in the XDG config directory
//! (`~/.config/cairn/config.toml` on Linux), or `--config FILE`.
//!
//! ```toml
//! bell = true          # ring the terminal bell for new messages (never shows text)
//! sort = "unread"      # or "recent"
//! [keys]
//! invite = "ctrl-o"            # one key
//! quit = ["ctrl-q", "ctrl-c"]  # or several; naming an action replaces its defaults
//! ```

use crate::keymap::Keymap;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Contact list order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sort {
    /// Unread conversations first, then the most recent.
    #[default]
    Unread,
    /// The most recent conversation first.
    Recent,
}

/// Effective settings: defaults in code, overridden by the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Terminal bell on new messages.
    pub bell: bool,
    /// Contact order.
    pub sort: Sort,
    /// Key bindings.
    pub keymap: Keymap,
    /// Problems found in the file (shown once, not fatal).
    pub problems: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bell: true,
            sort: Sort::Unread,
            keymap: Keymap::defaults(),
            problems: Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    bell: Option<bool>,
    sort: Option<String>,
    #[serde(default)]
    keys: HashMap<String, KeyList>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

/// The default config file location.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "Cairn", "cairn")
        .map(|d| d.config_dir().join("config.toml"))
}

impl Settings {
    /// Parses config text.
    pub fn from_toml(text: &str) -> Self {
        let mut s = Settings::default();
        let file: File = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                s.problems
                    .push(format!("config file ignored: {}", e.message()));
                return s;
            }
        };
        if let Some(b) = file.bell {
            s.bell = b;
        }
        match file.sort.as_deref() {
            None => {}
            Some("unread") => s.sort = Sort::Unread,
            Some("recent") => s.sort = Sort::Recent,
            Some(o) => s
                .problems
                .push(format!("sort = {o:?}: use \"unread\" or \"recent\"")),
        }
        let overrides: HashMap<String, Vec<String>> = file
            .keys
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    match v {
                        KeyList::One(s) => vec![s],
                        KeyList::Many(v) => v,
                    },
                )
            })
            .collect();
        let problems = s.keymap.apply(&overrides);
        s.problems.extend(problems);
        s
    }

    /// Loads `path` (a missing file means defaults).
    pub fn load(path: Option<&Path>) -> Self {
        let Some(path) = path else {
            return Settings::default();
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(e) => Settings {
                problems: vec![format!("cannot read {}: {e}", path.display())],
                ..Settings::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::KeyAction;

    /// Catches a config parser that drops settings or rejects the documented format.
    #[test]
    fn reads_documented_format() {
        let s = Settings::from_toml(
            "bell = false\nsort = \"recent\"\n[keys]\ninvite = \"ctrl-o\"\nquit = [\"ctrl-x\", \"f10\"]\n",
        );
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert!(!s.bell);
        assert_eq!(s.sort, Sort::Recent);
        assert_eq!(s.keymap.key_label(KeyAction::Invite), "Ctrl-O");
        assert_eq!(s.keymap.keys_for(KeyAction::Quit).len(), 2);
    }

    /// Catches a broken file taking the app down instead of falling back to defaults.
    #[test]
    fn broken_file_falls_back() {
        let s = Settings::from_toml("bell = \"loud\"\n");
        assert_eq!(s.problems.len(), 1);
        assert!(s.bell);
        let s = Settings::from_toml("colour = 1\n");
        assert_eq!(s.problems.len(), 1);
    }
}
