//! `cairn`: the Cairn command line.
//!
//! - `cairn init --name NAME`: create a profile.
//! - `cairn run`: run the node headless, JSON lines on stdin/stdout (see docs/CLI.md).
//! - `cairn relay --listen ADDR [--data DIR]`: run a relay and mailbox.
#![forbid(unsafe_code)]

mod cli;
mod headless;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match cli::dispatch(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
