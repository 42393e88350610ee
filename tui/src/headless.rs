//! Headless modes: the JSON-lines node (`cairn run`) and the relay (`cairn relay`).

use cairn_node::api::{Command, Event};
use cairn_node::node::NodeConfig;
use cairn_node::profile::Profile;
use std::io::Write;
use tokio::io::AsyncBufReadExt;

/// Longest accepted command line (an invite code is about 1 KiB; a message up to 64 KiB).
pub const MAX_COMMAND_LINE: usize = 128 * 1024;

fn print(event: &Event) {
    if let Ok(line) = serde_json::to_string(event) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Parses one command line. Untrusted input: a typed error, never a panic.
pub fn parse_command(line: &str) -> Result<Command, Event> {
    if line.len() > MAX_COMMAND_LINE {
        return Err(Event::error("too_long", "command line too long"));
    }
    match serde_json::from_str::<serde_json::Value>(line) {
        Err(e) => Err(Event::error("bad_json", e.to_string())),
        Ok(v) => {
            let cmd = v.get("cmd").and_then(|c| c.as_str()).map(str::to_owned);
            serde_json::from_value::<Command>(v).map_err(|e| match cmd {
                None => Event::error("missing_cmd", "each line needs a \"cmd\" field"),
                Some(c) if !KNOWN.contains(&c.as_str()) => {
                    Event::error("unknown_command", format!("unknown command {c:?}"))
                }
                Some(_) => Event::error("bad_arguments", e.to_string()),
            })
        }
    }
}

const KNOWN: &[&str] = &[
    "invite", "accept", "send", "contacts", "history", "verify", "expire", "status", "wipe", "quit",
];

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Runs the node until `quit`, EOF on stdin, or SIGTERM/SIGINT.
pub fn run_node(profile: Profile, config: NodeConfig) -> Result<(), String> {
    let rt = runtime()?;
    let result = rt.block_on(async move {
        let (handle, mut events, task) = cairn_node::node::start(profile, config)?;
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        let mut lines = stdin.lines();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        let mut stdin_open = true;
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(Event::Stopped) | None => break,
                    Some(ev) => print(&ev),
                },
                line = lines.next_line(), if stdin_open => match line {
                    Ok(Some(line)) => {
                        if line.trim().is_empty() { continue; }
                        match parse_command(&line) {
                            Ok(cmd) => { handle.send(cmd); }
                            Err(ev) => print(&ev),
                        }
                    }
                    _ => { stdin_open = false; handle.send(Command::Quit); }
                },
                _ = term.recv() => { handle.send(Command::Quit); }
                _ = tokio::signal::ctrl_c() => { handle.send(Command::Quit); }
            }
        }
        let _ = task.await;
        Ok(())
    });
    // The stdin reader is a blocking thread that may never return: do not wait for it.
    rt.shutdown_background();
    result
}

/// Runs a relay until SIGTERM/SIGINT.
pub fn run_relay(config: cairn_node::relay::RelayConfig) -> Result<(), String> {
    runtime()?.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let relay = tokio::spawn(cairn_node::relay::run(config, tx, stop_rx));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        let mut relay = relay;
        loop {
            tokio::select! {
                ev = rx.recv() => if let Some(ev) = ev { print(&ev) },
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
                r = &mut relay => {
                    return r.map_err(|e| e.to_string())?;
                }
            }
        }
        let _ = stop_tx.send(());
        relay.await.map_err(|e| e.to_string())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a parser that panics or accepts junk, or mislabels errors.
    #[test]
    fn parses_and_rejects() {
        assert_eq!(parse_command(r#"{"cmd":"quit"}"#).unwrap(), Command::Quit);
        assert_eq!(
            parse_command(r#"{"cmd":"send","to":"bob","text":"hi"}"#).unwrap(),
            Command::Send {
                to: "bob".into(),
                text: "hi".into()
            }
        );
        let code = |r: Result<Command, Event>| match r {
            Err(Event::Error { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(parse_command("{")), "bad_json");
        assert_eq!(code(parse_command(r#"{"cmd":"dance"}"#)), "unknown_command");
        assert_eq!(code(parse_command(r#"{"cmd":"send"}"#)), "bad_arguments");
        assert_eq!(code(parse_command(r#"{"to":"x"}"#)), "missing_cmd");
        assert_eq!(code(parse_command(r#"[1,2]"#)), "missing_cmd");
    }
}
