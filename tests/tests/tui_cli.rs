//! The `cairn` command line around the TUI: help on every command, version, shell
//! completions, man page, and a clear refusal without a terminal.
use cairn_tests::cairn_bin;
use std::process::{Command, Stdio};

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(cairn_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cairn");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Catches a command without `--help`, or help that does not describe it.
#[test]
fn help_on_every_command() {
    for (args, want) in [
        (vec!["--help"], "terminal UI"),
        (vec!["init", "--help"], "--name"),
        (vec!["run", "--help"], "--listen"),
        (vec!["relay", "--help"], "--data"),
        (vec!["demo", "--help"], "echo bot"),
        (vec!["completions", "--help"], "bash"),
        (vec!["man", "--help"], "man page"),
    ] {
        let (ok, out, err) = run(&args);
        assert!(ok, "{args:?}: {err}");
        assert!(out.contains(want), "{args:?} help lacks {want:?}:\n{out}");
    }
    let (ok, out, _) = run(&["--version"]);
    assert!(ok && out.starts_with("cairn "), "{out}");
}

/// Catches completions or a man page that are empty or miss the TUI's commands.
#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (ok, out, err) = run(&["completions", shell]);
        assert!(ok, "{shell}: {err}");
        assert!(out.contains("demo") && out.contains("relay"), "{shell}");
    }
    let (ok, out, err) = run(&["man"]);
    assert!(ok, "{err}");
    assert!(out.contains(".TH cairn 1"), "{out}");
    assert!(out.contains("demo"));
}

/// Catches the TUI grabbing a non-terminal (a script's pipe) instead of saying what to
/// use.
#[test]
fn tui_refuses_without_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, _, err) = run(&["--profile", &dir.path().display().to_string()]);
    assert!(!ok);
    assert!(err.contains("cairn run"), "{err}");
}
