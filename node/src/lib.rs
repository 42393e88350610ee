//! cairn-node: everything in Cairn that does I/O.
//!
//! - [`store`]: the encrypted profile store (sled), see `docs/STORE.md`.
#![forbid(unsafe_code)]

pub mod store;
