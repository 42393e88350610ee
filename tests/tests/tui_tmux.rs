//! The terminal UI in a real terminal: tmux runs `cairn` and the test types with
//! `send-keys` and reads the screen with `capture-pane`, as a person would.
//!
//! Skipped (with a message) when tmux is not installed; `.ci/run` installs it.
use cairn_tests::tmux::{have_tmux, Tmux};
use cairn_tests::*;
use std::process::Command;
use std::time::Duration;

fn tui_args(net: &Net, p: &Profile) -> Vec<String> {
    vec![
        "--profile".into(),
        p.dir.display().to_string(),
        "--passphrase-file".into(),
        net.path().join("passphrase").display().to_string(),
        "--insecure-fast-kdf-for-tests".into(),
        // No user config: default key bindings.
        "--config".into(),
        net.path().join("no-config.toml").display().to_string(),
        "--listen".into(),
        "/ip4/127.0.0.1/tcp/0".into(),
        // Every test node is on this machine's loopback.
        "--private-addresses".into(),
    ]
}

/// The invite code as drawn in the invite dialog (it may wrap over several rows).
fn invite_code(screen: &str) -> String {
    let mut code = String::new();
    for row in screen.lines() {
        let inner = row.trim().trim_matches('│').trim();
        if code.is_empty() {
            if let Some(i) = inner.find("CAIRN:") {
                code.push_str(&inner[i..]);
            }
        } else if !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        {
            code.push_str(inner);
        } else {
            break;
        }
    }
    code
}

/// Two people, two terminals: Alice invites, Bob accepts by typing the code, Bob's
/// message appears on Alice's screen and Bob's screen shows it delivered. Catches a TUI
/// that draws but does not drive the node (or the reverse), and delivery states that
/// never reach the screen.
#[test]
fn two_tuis_invite_accept_message_delivered() {
    if !have_tmux() {
        eprintln!("tmux not installed: skipping the real-terminal test");
        return;
    }
    let net = Net::new();
    let alice = net.node("alice");
    let bob = net.node("bob");
    let tmux = Tmux::new(net.path());
    tmux.start("alice", 100, 45, &[], &tui_args(&net, &alice));
    tmux.start("bob", 100, 45, &[], &tui_args(&net, &bob));
    tmux.sees("alice", "● online");
    tmux.sees("bob", "● online");

    tmux.type_text("alice", "/invite");
    tmux.press("alice", "Enter");
    let screen = tmux.sees("alice", "CAIRN:");
    // The QR code is on screen too (100×45 is large enough).
    assert!(screen.contains('█'), "no QR code drawn:\n{screen}");
    let code = invite_code(&screen);
    assert!(code.len() > 60, "invite code not read from:\n{screen}");
    tmux.press("alice", "Escape");

    tmux.type_text("bob", &format!("/accept {code} alice"));
    tmux.press("bob", "Enter");
    tmux.sees("bob", "session with alice is ready");
    tmux.sees("alice", "● bob");

    tmux.type_text("bob", "hello from bob");
    tmux.press("bob", "Enter");
    tmux.sees("alice", "bob  hello from bob");
    tmux.sees("bob", "hello from bob  delivered");

    // And back, with a line break typed with the newline key (Ctrl-J).
    tmux.type_text("alice", "two");
    tmux.press("alice", "C-j");
    tmux.type_text("alice", "lines");
    tmux.press("alice", "Enter");
    let s = tmux.sees("bob", "alice  two");
    assert!(s.contains("lines"), "second line missing:\n{s}");
    tmux.sees("alice", "lines  delivered");

    // Both sides show the same safety number; marking it verified shows on screen.
    tmux.type_text("alice", "/verify");
    tmux.press("alice", "Enter");
    let a =
        safety_digits(&tmux.wait_for("alice", "safety number", |s| safety_digits(s).len() == 12));
    tmux.type_text("bob", "/verify");
    tmux.press("bob", "Enter");
    let b = safety_digits(&tmux.wait_for("bob", "safety number", |s| safety_digits(s).len() == 12));
    assert_eq!(a, b, "the two screens show different safety numbers");
    tmux.press("alice", "v");
    tmux.sees("alice", "Marked verified");
    tmux.press("alice", "Escape");
    // Wait for the dialog to close before the next key: an Esc followed at once by
    // another key reads as Alt+key.
    tmux.wait_for("alice", "the verify dialog to close", |s| {
        s.contains("bob ✓ verified") && !s.contains("Compare these numbers")
    });
    tmux.press("bob", "Escape");
    tmux.wait_for("bob", "the verify dialog to close", |s| {
        !s.contains("Compare these numbers")
    });

    tmux.press("alice", "C-c");
    tmux.press("bob", "C-c");
    assert_eq!(tmux.exit_code("alice"), "0");
    assert_eq!(tmux.exit_code("bob"), "0");
}

/// The twelve five-digit groups of a safety number on screen, in order.
fn safety_digits(screen: &str) -> Vec<String> {
    screen
        .split(|c: char| c.is_whitespace() || c == '│')
        .filter(|t| t.len() == 5 && t.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

/// The panic wipe from the TUI: refused until WIPE is typed, then the key file is gone
/// and the program leaves cleanly. Catches a wipe that leaves the key behind or a
/// confirmation that a stray Enter passes.
#[test]
fn panic_wipe_from_the_tui() {
    if !have_tmux() {
        eprintln!("tmux not installed: skipping the real-terminal test");
        return;
    }
    let net = Net::new();
    let zed = net.node("zed");
    let entries = std::fs::read_dir(&zed.dir)
        .expect("profile dir")
        .flatten()
        .count();
    assert!(entries > 0);
    let tmux = Tmux::new(net.path());
    tmux.start("zed", 80, 24, &[], &tui_args(&net, &zed));
    tmux.sees("zed", "● online");
    tmux.type_text("zed", "/wipe");
    tmux.press("zed", "Enter");
    tmux.sees("zed", "Type WIPE to confirm");
    tmux.press("zed", "Enter");
    tmux.sees("zed", "Type WIPE in capital letters");
    tmux.type_text("zed", "WIPE");
    tmux.press("zed", "Enter");
    tmux.sees("zed", "Profile wiped");
    tmux.press("zed", "q");
    assert_eq!(tmux.exit_code("zed"), "0");
    let left = all_bytes(&zed.dir);
    assert!(
        !contains_any_encoding(&left, b"zed"),
        "the wiped profile still holds its name in the clear"
    );
    let out = Command::new(cairn_bin())
        .arg("--profile")
        .arg(&zed.dir)
        .arg("--passphrase-file")
        .arg(net.path().join("passphrase"))
        .args(["--insecure-fast-kdf-for-tests", "run"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("cairn run");
    assert!(!out.status.success(), "a wiped profile still opens");
}

/// `cairn demo` starts, Echo answers a typed message, and quitting exits cleanly and
/// removes the temporary profiles. Catches a demo that needs a second person, never
/// connects, or leaves profile data behind.
#[test]
fn demo_echoes_and_quits_cleanly() {
    if !have_tmux() {
        eprintln!("tmux not installed: skipping the real-terminal test");
        return;
    }
    let net = Net::new();
    let tmp = net.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp dir");
    let tmux = Tmux::new(net.path());
    let config = net.path().join("no-config.toml").display().to_string();
    tmux.start(
        "demo",
        80,
        24,
        &[("TMPDIR", &tmp)],
        &["demo".into(), "--config".into(), config],
    );
    tmux.sees("demo", "session with Echo is ready");
    tmux.type_text("demo", "hi echo");
    tmux.press("demo", "Enter");
    tmux.sees("demo", "echo: hi echo");
    tmux.sees("demo", "hi echo  delivered");
    assert!(
        std::fs::read_dir(&tmp).expect("tmp").next().is_some(),
        "the demo profiles should live in TMPDIR while it runs"
    );
    tmux.type_text("demo", "/quit");
    tmux.press("demo", "Enter");
    assert_eq!(tmux.exit_code("demo"), "0");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "temporary profiles left behind: {left:?}");
}

/// First run creates the profile from the TUI (name, passphrase twice, no echo); the
/// next start asks for the passphrase, says so when it is wrong and lets the user try
/// again. Catches a first run that cannot create a profile, a passphrase shown on
/// screen, or an unlock prompt that gives up after one mistake.
#[test]
fn first_run_then_unlock_with_retry() {
    if !have_tmux() {
        eprintln!("tmux not installed: skipping the real-terminal test");
        return;
    }
    let net = Net::new();
    let dir = net.path().join("fresh");
    let args: Vec<String> = vec![
        "--profile".into(),
        dir.display().to_string(),
        "--insecure-fast-kdf-for-tests".into(),
        "--config".into(),
        net.path().join("no-config.toml").display().to_string(),
        "--listen".into(),
        "/ip4/127.0.0.1/tcp/0".into(),
        // Every test node is on this machine's loopback.
        "--private-addresses".into(),
    ];
    let tmux = Tmux::new(net.path());
    tmux.start("first", 80, 24, &[], &args);
    tmux.sees("first", "cannot be recovered");
    tmux.type_text("first", "Dana");
    tmux.press("first", "Tab");
    tmux.type_text("first", "pass phrase words");
    tmux.press("first", "Tab");
    tmux.type_text("first", "pass phrase words");
    let s = tmux.screen("first");
    assert!(!s.contains("phrase words"), "passphrase echoed:\n{s}");
    tmux.press("first", "Enter");
    tmux.sees("first", "● online");
    tmux.sees("first", "Dana");
    tmux.press("first", "C-c");
    assert_eq!(tmux.exit_code("first"), "0");

    tmux.start("again", 80, 24, &[], &args);
    tmux.sees("again", "Cairn is locked");
    tmux.type_text("again", "not the passphrase");
    tmux.press("again", "Enter");
    tmux.sees("again", "Wrong passphrase. Try again.");
    tmux.type_text("again", "pass phrase words");
    tmux.press("again", "Enter");
    tmux.sees("again", "● online");
    tmux.press("again", "C-c");
    assert_eq!(tmux.exit_code("again"), "0");
}

/// Key bindings come from the config file: a rebound key opens its dialog and the help
/// overlay lists it. Catches a config file that is not read, or help that shows the
/// defaults instead of what is bound.
#[test]
fn config_file_rebinds_keys() {
    if !have_tmux() {
        eprintln!("tmux not installed: skipping the real-terminal test");
        return;
    }
    let net = Net::new();
    let kim = net.node("kim");
    let config = net.path().join("config.toml");
    std::fs::write(&config, "bell = false\n[keys]\ninvite = \"ctrl-o\"\n").expect("config");
    let mut args = tui_args(&net, &kim);
    let at = args.iter().position(|a| a == "--config").expect("--config") + 1;
    args[at] = config.display().to_string();
    let tmux = Tmux::new(net.path());
    tmux.start("kim", 80, 24, &[], &args);
    tmux.sees("kim", "● online");
    tmux.press("kim", "C-o");
    tmux.sees("kim", "CAIRN:");
    tmux.press("kim", "Escape");
    tmux.press("kim", "F1");
    tmux.sees("kim", "Commands");
    // The key list is below the commands on a 24-line screen: scroll to it, a page at a
    // time (the list of commands grows).
    let listed = |s: &str| {
        s.lines()
            .any(|l| l.contains("Ctrl-O") && l.contains("invite someone"))
    };
    for _ in 0..4 {
        if listed(&tmux.screen("kim")) {
            break;
        }
        tmux.press("kim", "NPage");
        std::thread::sleep(Duration::from_millis(300));
    }
    // Wait for the line itself, not the heading: tmux can capture a frame half drawn.
    // (If help listed the default key instead, this times out showing the screen.)
    tmux.wait_for("kim", "help listing the rebound key Ctrl-O", listed);
    tmux.press("kim", "q");
    tmux.press("kim", "C-q");
    assert_eq!(tmux.exit_code("kim"), "0");
}

/// A file from one terminal to another: `/send` shows what Cairn cannot clean and sends the
/// original only on `o`; the recipient is told, accepts in `/files`, sees it complete and
/// saves it where it says; the saved file is the file sent. Catches file commands the TUI
/// never gives, events that never reach the screen, or a dialog whose keys do nothing.
#[test]
fn a_file_sent_accepted_and_saved_from_the_tui() {
    if !have_tmux() {
        eprintln!("tmux not installed: skipping the real-terminal test");
        return;
    }
    let net = Net::new();
    let alice = net.node("alice");
    let bob = net.node("bob");
    let tmux = Tmux::new(net.path());
    tmux.start("alice", 110, 40, &[], &tui_args(&net, &alice));
    tmux.start("bob", 110, 40, &[], &tui_args(&net, &bob));
    tmux.sees("alice", "● online");
    tmux.sees("bob", "● online");
    tmux.type_text("alice", "/invite");
    tmux.press("alice", "Enter");
    let code = invite_code(&tmux.sees("alice", "CAIRN:"));
    tmux.press("alice", "Escape");
    tmux.type_text("bob", &format!("/accept {code} alice"));
    tmux.press("bob", "Enter");
    tmux.sees("bob", "session with alice is ready");
    tmux.sees("alice", "● bob");

    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let path = net.path().join("minutes.bin");
    std::fs::write(&path, &content).unwrap();
    tmux.type_text("alice", &format!("/send {}", path.display()));
    tmux.press("alice", "Enter");
    tmux.sees("alice", "Send a file to bob");
    tmux.press("alice", "Enter");
    tmux.sees("alice", "Cairn cannot remove metadata from this file");
    tmux.press("alice", "o");
    tmux.sees("alice", "Offered minutes.bin to bob");

    tmux.sees("bob", "alice offers a file: minutes.bin");
    tmux.type_text("bob", "/files");
    tmux.press("bob", "Enter");
    tmux.sees("bob", "Files of alice");
    tmux.sees("bob", "offered to you");
    tmux.press("bob", "a");
    tmux.sees("bob", "complete");
    let out = net.path().join("saved.bin");
    tmux.press("bob", "s");
    tmux.sees("bob", "Save as");
    tmux.press("bob", "C-u");
    tmux.type_text("bob", &out.display().to_string());
    tmux.press("bob", "Enter");
    tmux.sees("bob", "Saved to");
    assert_eq!(std::fs::read(&out).unwrap(), content);
    tmux.press("bob", "Escape");
    tmux.wait_for("bob", "the files dialog to close", |s| {
        !s.contains("Files of alice")
    });
    tmux.press("alice", "C-c");
    tmux.press("bob", "C-c");
    assert_eq!(tmux.exit_code("alice"), "0");
    assert_eq!(tmux.exit_code("bob"), "0");
}
