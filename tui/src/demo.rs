//! `cairn demo`: a newcomer sees Cairn work with one command and no second person.
//!
//! Two temporary profiles in a temporary directory: "Echo", a real node on loopback
//! that answers every message with `echo: <text>`, and "You", which the TUI opens. The
//! invite/accept happens programmatically. Both profiles are deleted on exit.

use crate::runner::DemoParts;
use cairn_node::api::Profile;
use cairn_node::api::{Command, Event};
use cairn_node::api::{KdfParams, OpenOptions, Passphrase, ProfilePaths};
use cairn_node::api::{NodeConfig, NodeHandle};
use std::time::Duration;
use tokio::sync::mpsc;

/// Name of the echo bot's profile (and the contact name the TUI shows).
pub const ECHO_NAME: &str = "Echo";
/// Display name of the demo user.
pub const YOU_NAME: &str = "You";
/// Passphrase of both throwaway profiles: they hold no real data and are deleted on
/// exit, so a fixed passphrase protects nothing that matters.
const DEMO_PASSPHRASE: &str = "cairn demo profile";
/// How long the demo waits for its echo node to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Where a demo node listens: loopback only, so nothing leaves this computer (and the
/// two demo nodes may dial each other there).
pub fn loopback_config() -> NodeConfig {
    NodeConfig {
        listen: "/ip4/127.0.0.1/tcp/0".parse().into_iter().collect(),
        relay: None,
        lan: false,
        private_addresses: true,
        resend_after: cairn_node::api::RESEND_AFTER_HOP,
        stranger_idle: cairn_node::api::STRANGER_IDLE,
        hidden: None,
        bench_onion_target: None,
    }
}

/// Creates the two profiles, starts Echo and its bot, and returns the user's profile
/// with the echo node's invite for the TUI to accept.
pub async fn prepare() -> Result<(Profile, DemoParts), String> {
    let dir = tempfile::Builder::new()
        .prefix("cairn-demo-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let echo_paths = ProfilePaths::new(dir.path().join("echo"));
    let you_paths = ProfilePaths::new(dir.path().join("you"));
    let created = tokio::task::spawn_blocking(move || {
        // INSECURE FAST KDF, ON PURPOSE: these two throwaway demo profiles are deleted on
        // exit and never hold real data, so a slow Argon2id would only delay the demo.
        // Real profiles never take this path (see `KdfParams::insecure_fast_for_tests`).
        let kdf = KdfParams::insecure_fast_for_tests();
        let opts = OpenOptions::new().allow_insecure_kdf_for_tests();
        let pass = Passphrase::new(DEMO_PASSPHRASE);
        let echo = Profile::create(&echo_paths, &pass, ECHO_NAME, kdf, &opts)
            .map_err(|e| e.to_string())?;
        let you =
            Profile::create(&you_paths, &pass, YOU_NAME, kdf, &opts).map_err(|e| e.to_string())?;
        Ok::<_, String>((echo, you))
    })
    .await
    .map_err(|e| e.to_string())??;
    let (echo, you) = created;
    let (handle, mut events, task) = cairn_node::api::start_node(echo, loopback_config())?;
    let code = tokio::time::timeout(START_TIMEOUT, async {
        loop {
            match events.recv().await {
                Some(Event::Ready { .. }) => break,
                None => return Err("the echo node stopped".to_owned()),
                Some(_) => {}
            }
        }
        handle.send(Command::Invite {
            ttl_secs: Some(3600),
            for_contact: None,
        });
        loop {
            match events.recv().await {
                Some(Event::Invite { code, .. }) => return Ok(code),
                Some(Event::Error { message, .. }) => return Err(message),
                None => return Err("the echo node stopped".to_owned()),
                Some(_) => {}
            }
        }
    })
    .await
    .map_err(|_| "the echo node did not start in time".to_owned())??;
    tokio::spawn(echo_bot(handle.clone(), events));
    Ok((
        you,
        DemoParts {
            passphrase: Passphrase::new(DEMO_PASSPHRASE),
            echo: handle,
            echo_task: task,
            invite: code,
            dir,
        },
    ))
}

/// The reply Echo sends to `text`.
pub fn echo_reply(text: &str) -> String {
    format!("echo: {text}")
}

/// Answers every message.
pub async fn echo_bot(handle: NodeHandle, mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some(ev) = events.recv().await {
        match ev {
            Event::Message { from, text, .. } => {
                handle.send(Command::Send {
                    to: from,
                    text: echo_reply(&text),
                    client_ref: None,
                });
            }
            Event::Stopped => break,
            _ => {}
        }
    }
}
