//! Headless modes: the JSON-lines node (`cairn run`), the exposure report (`cairn
//! exposure`) and the relay (`cairn relay`).

use cairn_node::api::NodeConfig;
use cairn_node::api::Profile;
use cairn_node::api::{parse_command, Command, Event};
use std::io::Write;
use tokio::io::AsyncBufReadExt;

fn print(event: &Event) {
    if let Ok(line) = serde_json::to_string(event) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

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
        let (handle, mut events, task) = cairn_node::api::start_node(profile, config)?;
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

/// Starts the node, waits until it listens (or 10 s), prints the exposure report, stops.
pub fn exposure(profile: Profile, config: NodeConfig, json: bool) -> Result<(), String> {
    let rt = runtime()?;
    let result = rt.block_on(async move {
        let (handle, mut events, task) = cairn_node::api::start_node(profile, config)?;
        let ready = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut asked = false;
        let mut report = None;
        loop {
            let ev = if asked {
                events.recv().await
            } else {
                match tokio::time::timeout_at(ready, events.recv()).await {
                    Ok(ev) => ev,
                    Err(_) => {
                        asked = true;
                        handle.send(Command::Exposure);
                        continue;
                    }
                }
            };
            match ev {
                Some(Event::Ready { .. }) if !asked => {
                    asked = true;
                    handle.send(Command::Exposure);
                }
                Some(ev @ Event::Exposure { .. }) => {
                    report = Some(ev);
                    handle.send(Command::Quit);
                }
                Some(Event::Stopped) | None => break,
                Some(_) => {}
            }
        }
        let _ = task.await;
        match report {
            Some(ev) if json => print(&ev),
            Some(Event::Exposure { parties }) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "What each party can learn about you now, from this profile and these settings:\n"
                );
                for l in cairn_node::api::exposure_lines(&parties) {
                    let _ = writeln!(out, "{l}");
                }
            }
            _ => return Err("the node stopped before it made the report".to_owned()),
        }
        Ok(())
    });
    rt.shutdown_background();
    result
}

/// Runs a relay until SIGTERM/SIGINT.
pub fn run_relay(config: cairn_node::api::RelayConfig) -> Result<(), String> {
    runtime()?.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let relay = tokio::spawn(cairn_node::api::run_relay(config, tx, stop_rx));
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
