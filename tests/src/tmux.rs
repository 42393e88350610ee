//! A terminal for the UI tests: tmux runs `cairn` in a session of its own server, the
//! test types with `send-keys` and reads the screen with `capture-pane`, as a person would.
//! `.ci/run` installs tmux; [`have_tmux`] says whether it is there.

use crate::{cairn_bin, free_port};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long to wait for something to appear on a screen.
pub const WAIT: Duration = Duration::from_secs(30);

/// Whether tmux runs here.
pub fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A private tmux server (its own socket), killed on drop.
pub struct Tmux {
    socket: String,
    dir: PathBuf,
}

impl Tmux {
    /// A server of its own; sessions write their exit codes in `dir`.
    pub fn new(dir: &Path) -> Self {
        let socket = format!("cairn-test-{}-{}", std::process::id(), free_port());
        Self {
            socket,
            dir: dir.to_path_buf(),
        }
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    /// Starts `args` in a new session `name` of `w`×`h`; the exit code goes to a file.
    pub fn start(&self, name: &str, w: u16, h: u16, env: &[(&str, &Path)], args: &[String]) {
        let mut line = String::new();
        for (k, v) in env {
            line.push_str(&format!("{k}='{}' ", v.display()));
        }
        line.push_str(&format!("'{}'", cairn_bin().display()));
        for a in args {
            line.push_str(&format!(" '{a}'"));
        }
        let exit = self.dir.join(format!("{name}.exit"));
        let script = format!("{line}; echo $? > '{}'", exit.display());
        let out = self
            .tmux()
            .args(["new-session", "-d", "-s", name, "-x"])
            .arg(w.to_string())
            .arg("-y")
            .arg(h.to_string())
            .args(["sh", "-c", &script])
            .output()
            .expect("tmux new-session");
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// What session `name` shows now.
    pub fn screen(&self, name: &str) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", name])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types literal text.
    pub fn type_text(&self, name: &str, text: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", name, "-l", text])
            .status()
            .expect("send-keys");
        assert!(ok.success());
    }

    /// Presses keys by tmux name (`Enter`, `Escape`, `C-c`, `F2`).
    pub fn press(&self, name: &str, key: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", name, key])
            .status()
            .expect("send-keys");
        assert!(ok.success());
        if key == "Escape" {
            // A lone ESC followed at once by another key's escape sequence reads as
            // Alt-<key>: give the terminal the pause a person would.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Waits until the screen of `name` satisfies `pred`; returns that screen.
    pub fn wait_for(&self, name: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + WAIT;
        loop {
            let s = self.screen(name);
            if pred(&s) {
                return s;
            }
            if Instant::now() > end {
                panic!("{name}: timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until session `name` shows `text`; returns the screen.
    pub fn sees(&self, name: &str, text: &str) -> String {
        self.wait_for(name, &format!("{text:?}"), |s| s.contains(text))
    }

    /// Waits for the program in `name` to exit; returns its exit code.
    pub fn exit_code(&self, name: &str) -> String {
        let file = self.dir.join(format!("{name}.exit"));
        let end = Instant::now() + WAIT;
        loop {
            if let Ok(s) = std::fs::read_to_string(&file) {
                if !s.trim().is_empty() {
                    return s.trim().to_owned();
                }
            }
            if Instant::now() > end {
                panic!("{name}: did not exit; screen:\n{}", self.screen(name));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}
