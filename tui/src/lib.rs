//! cairn-tui: the `cairn` command.
//!
//! - The terminal UI (`cairn` with no subcommand, and `cairn demo`): an Elm-like loop,
//!   see [`app`] (state, actions, `update`), [`view`] (drawing) and [`runner`] (terminal,
//!   node and clock at the edge). docs/TUI.md describes screens, keys and config.
//! - The headless JSON-lines node (`cairn run`) and the relay (`cairn relay`): [`headless`].
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod headless;
pub mod input;
pub mod keymap;
pub mod qr;
pub mod runner;
pub mod view;
