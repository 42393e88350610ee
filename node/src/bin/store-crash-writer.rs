//! TEST HELPER, NOT A PRODUCT BINARY: the child process of the store's crash-consistency test
//! (`node/tests/store_crash.rs`) and of the cross-process lock test.
//!
//! It uses `KdfParams::insecure_fast_for_tests()` (a trivially brute-forceable Argon2id cost)
//! so that the test can open the profile hundreds of times; never point it at a real profile.
//!
//! ```text
//! store-crash-writer write DIR THREADS   create/open DIR, print "READY", then write messages
//!                                        from THREADS threads forever, printing
//!                                        "DURABLE <message-id-hex> <seq>" after each write
//!                                        the store reported durable
//! store-crash-writer hold DIR            open DIR, print "READY", hold it until stdin closes
//! ```
//!
//! Each message is written with `record_outgoing` (ratchet state + message + outbox entry in one
//! batch). Its text and the session state are derived from its id (see `expected_text` and
//! `expected_session`), so the test can check every reported message is intact.
// Untrusted input never panics, and neither does anything else outside tests: no unwrap,
// no expect, no indexing that can go out of bounds (issue 14's typed edges).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;

use cairn_node::store::{
    Contact, DeliveryState, Direction, KdfParams, MessageId, NewMessage, NewOutbox, OpenError,
    OpenOptions, Passphrase, ProfilePaths, SecretBytes, Store,
};
use rand::RngCore;

/// Passphrase of the test profile.
pub const PASSPHRASE: &str = "crash-test passphrase";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The text a message with this id must have (length varies with the id, 20..~1 KiB).
pub fn expected_text(id: &[u8; 16]) -> String {
    let reps = 1 + usize::from(id[0]) / 8;
    format!("crash-test message {}", hex(id).repeat(reps))
}

/// The session state written together with this message.
pub fn expected_session(id: &[u8; 16]) -> Vec<u8> {
    format!("session-after-{}", hex(id)).into_bytes()
}

fn open(dir: &str) -> Result<Store, OpenError> {
    let paths = ProfilePaths::new(dir);
    let pass = Passphrase::new(PASSPHRASE);
    let opts = OpenOptions::new().allow_insecure_kdf_for_tests();
    match Store::open(&paths, &pass, &opts) {
        Err(OpenError::NotFound(_) | OpenError::IncompleteCreation(_)) => {
            Store::create(&paths, &pass, KdfParams::insecure_fast_for_tests(), &opts)
        }
        other => other,
    }
}

fn contact() -> Contact {
    Contact {
        alias: "crash peer".into(),
        identity_key: vec![0xC7; 32],
        peer_id: vec![0x11; 38],
        addresses: vec![],
        mailbox: None,
        verified: false,
        safety_number: String::new(),
        added_at_ms: 1,
    }
}

fn write_forever(store: Arc<Store>, threads: usize) -> ExitCode {
    let id = match store.put_contact(&contact()) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("put_contact: {e}");
            return ExitCode::from(3);
        }
    };
    println!("READY");
    let _ = std::io::stdout().flush();
    let mut handles = Vec::new();
    for _ in 0..threads {
        let store = Arc::clone(&store);
        handles.push(std::thread::spawn(move || loop {
            let mut mid = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut mid);
            let msg = NewMessage {
                id: MessageId(mid),
                direction: Direction::Outgoing,
                text: expected_text(&mid),
                created_at_ms: 1_000,
                received_at_ms: None,
                state: DeliveryState::Queued,
                group: None,
            };
            let outbox = NewOutbox {
                envelope: vec![0xE5; 64],
                next_attempt_at_ms: 1_000,
            };
            let session = SecretBytes::new(expected_session(&mid));
            match store
                .record_outgoing(&id, &session, &msg, &outbox, 1_000)
                .and_then(|w| w.durable(&store))
            {
                Ok(seq) => {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "DURABLE {} {seq}", hex(&mid));
                    let _ = out.flush();
                }
                Err(e) => {
                    eprintln!("record_outgoing: {e}");
                    std::process::exit(4);
                }
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("write") => {
            let (Some(dir), Some(threads)) = (args.get(2), args.get(3)) else {
                return ExitCode::from(2);
            };
            let threads = threads.parse().unwrap_or(1);
            match open(dir) {
                Ok(store) => write_forever(Arc::new(store), threads),
                Err(e) => {
                    eprintln!("open: {e}");
                    ExitCode::from(5)
                }
            }
        }
        Some("hold") => {
            let Some(dir) = args.get(2) else {
                return ExitCode::from(2);
            };
            match open(dir) {
                Ok(store) => {
                    println!("READY");
                    let _ = std::io::stdout().flush();
                    let mut line = String::new();
                    while std::io::stdin().lock().read_line(&mut line).unwrap_or(0) > 0 {
                        line.clear();
                    }
                    drop(store);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!("ERROR {e}");
                    ExitCode::from(5)
                }
            }
        }
        _ => {
            eprintln!("usage: store-crash-writer write DIR THREADS | hold DIR");
            ExitCode::from(2)
        }
    }
}
