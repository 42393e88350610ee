//! `cairn`: the Cairn command line.
//!
//! - `cairn`: the terminal UI for the default profile (or `--profile DIR`).
//! - `cairn demo`: the terminal UI with a temporary profile talking to an echo bot.
//! - `cairn init --name NAME`: create a profile.
//! - `cairn run`: run the node headless, JSON lines on stdin/stdout (see docs/CLI.md).
//! - `cairn relay --listen ADDR [--data DIR]`: run a relay and mailbox.
//! - `cairn completions SHELL`, `cairn man`: shell completions and the man page.
#![forbid(unsafe_code)]
// Untrusted input never panics, and neither does anything else outside tests: no unwrap,
// no expect, no indexing that can go out of bounds (issue 14's typed edges).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use cairn_tui::cli;
use clap::Parser;

fn main() -> std::process::ExitCode {
    // Read the local time zone while the process has one thread (the `time` crate
    // refuses later, for soundness).
    let utc_offset_secs = time::UtcOffset::current_local_offset()
        .map(|o| o.whole_seconds())
        .unwrap_or(0);
    let args = cli::Cli::parse();
    // The terminal UI owns the screen: log nothing there unless asked (CAIRN_LOG, with
    // stderr redirected). Logs never carry message text, keys or names.
    let default_level = if args.is_tui() { "off" } else { "warn" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    match cli::dispatch(args, utc_offset_secs) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
