//! Files and documents (docs/PROTOCOL.md §25; the encryption of their content is
//! `cairn_crypto::file`): what is done to a file before it leaves the sender's machine.
//!
//! - [`clean`]: identifying metadata removed from the formats people actually send (JPEG,
//!   PNG, WebP, PDF, Office and OpenDocument files), with a report of what was removed.

pub mod clean;
