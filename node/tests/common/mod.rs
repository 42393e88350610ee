//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_node::store::{
    Contact, DeliveryState, Direction, KdfParams, MessageId, NewMessage, OpenOptions, Passphrase,
    ProfilePaths, Store,
};
use sha2::{Digest, Sha256};

pub const PASS: &str = "Tr0ub4dor&3-zebra-passphrase";

/// Tests use the loudly named insecure KDF parameters; production code refuses them.
pub fn opts() -> OpenOptions {
    OpenOptions::new().allow_insecure_kdf_for_tests()
}

pub fn fast() -> KdfParams {
    KdfParams::insecure_fast_for_tests()
}

pub fn create(dir: &Path) -> Store {
    Store::create(
        &ProfilePaths::new(dir),
        &Passphrase::new(PASS),
        fast(),
        &opts(),
    )
    .unwrap()
}

pub fn open(dir: &Path) -> Store {
    Store::open(&ProfilePaths::new(dir), &Passphrase::new(PASS), &opts()).unwrap()
}

pub fn contact(alias: &str, key_byte: u8) -> Contact {
    Contact {
        alias: alias.to_string(),
        identity_key: vec![key_byte; 32],
        peer_id: vec![key_byte ^ 0x5a; 38],
        addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 4000 + u32::from(key_byte))],
        mailbox: Some("relay.example".into()),
        verified: key_byte % 2 == 0,
        safety_number: "11111 22222 33333".into(),
        added_at_ms: 1_700_000_000_000,
    }
}

pub fn outgoing(id_byte: u8, text: &str) -> NewMessage {
    NewMessage {
        id: MessageId([id_byte; 16]),
        direction: Direction::Outgoing,
        text: text.to_string(),
        created_at_ms: 1_700_000_000_000,
        received_at_ms: None,
        state: DeliveryState::Queued,
        group: None,
    }
}

pub fn incoming(id: [u8; 16], text: &str, now: u64) -> NewMessage {
    NewMessage {
        id: MessageId(id),
        direction: Direction::Incoming,
        text: text.to_string(),
        created_at_ms: now,
        received_at_ms: Some(now),
        state: DeliveryState::Received,
        group: None,
    }
}

/// Every regular file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// SHA-256 of every file under `dir`, by path.
pub fn hash_dir(dir: &Path) -> BTreeMap<PathBuf, [u8; 32]> {
    files(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, Sha256::digest(&bytes).into())
        })
        .collect()
}

pub fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn hex(b: &[u8]) -> String {
    hex_lower(b)
}

/// The encodings a secret might leak in: raw, UTF-16LE, UTF-16BE, hex (lower, upper).
pub fn encodings(raw: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![("raw", raw.to_vec())];
    if let Ok(s) = std::str::from_utf8(raw) {
        v.push((
            "utf16le",
            s.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ));
        v.push((
            "utf16be",
            s.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        ));
    }
    v.push(("hex", hex_lower(raw).into_bytes()));
    v.push(("HEX", hex_lower(raw).to_uppercase().into_bytes()));
    v
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
