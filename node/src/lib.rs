//! cairn-node: everything in Cairn that does I/O.
//!
//! - [`store`]: the encrypted profile store (sled), see `docs/STORE.md`.
#![forbid(unsafe_code)]

pub mod api;
pub mod content;
pub mod fuzzing;
pub mod net;
pub mod node;
pub mod profile;
pub mod relay;
pub mod store;
