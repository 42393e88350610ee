//! cairn-tui: the `cairn` command.
//!
//! - The terminal UI (`cairn` with no subcommand, and `cairn demo`): an Elm-like loop,
//!   see [`app`] (state, actions, `update`), [`view`] (drawing) and [`runner`] (terminal,
//!   node and clock at the edge). docs/TUI.md describes screens, keys and config.
//! - The headless JSON-lines node (`cairn run`) and the relay (`cairn relay`): [`headless`].
#![forbid(unsafe_code)]
// Untrusted input never panics, and neither does anything else outside tests: no unwrap,
// no expect, no indexing that can go out of bounds (issue 14's typed edges).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod dialog;
pub mod headless;
pub mod input;
pub mod keymap;
pub mod layout;
pub mod model;
pub mod qr;
pub mod runner;
pub mod slash;
pub mod view;
