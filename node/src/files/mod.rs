//! Files and documents (docs/PROTOCOL.md §25; the encryption of their content is
//! `cairn_crypto::file`): what is done to a file before it leaves the sender's machine.
//!
//! - [`clean`]: identifying metadata removed from the formats people actually send (JPEG,
//!   PNG, WebP, PDF, Office and OpenDocument files), with a report of what was removed.
//! - [`vault`]: where a profile keeps files, as their sealed chunks, and how a file is taken
//!   in and given out a chunk at a time.
//! - [`record`]: a transfer as the profile stores it.
//! - [`transfer`]: the two ends of a transfer as pure state (window, span, completion,
//!   progress).

pub mod clean;
pub mod record;
pub mod transfer;
pub mod vault;
