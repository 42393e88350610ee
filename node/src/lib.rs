//! cairn-node: everything in Cairn that does I/O.
//!
//! - [`store`]: the encrypted profile store (sled), see `docs/STORE.md`.
#![forbid(unsafe_code)]
// Untrusted input never panics, and neither does anything else outside tests: no unwrap,
// no expect, no indexing that can go out of bounds (issue 14's typed edges).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod api;
pub mod content;
pub mod exposure;
pub mod files;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod group;
pub mod intro;
pub mod net;
pub mod node;
pub mod profile;
pub mod relay;
#[cfg(feature = "sim")]
pub mod sim;
pub mod store;
