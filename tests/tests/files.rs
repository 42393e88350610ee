//! Files end to end (docs/PROTOCOL.md §25.3, docs/CLI.md): real `cairn run` processes on
//! loopback sending files of several sizes, accepted, checked and written out bit-exact;
//! a cancel from the sender; a kill -9 of the recipient mid-transfer that resumes; no
//! content of any file in either profile; files gone with the disappearing timer and the
//! panic wipe.

use cairn_tests::*;
use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const CHUNK: usize = 64_512;
const MARKER: &[u8] = b"MARKER-OF-A-SOURCE-DOCUMENT-7f3a";

/// Random content of `size` bytes with the marker planted (when it fits), so a profile
/// holding any of it in plaintext is found out.
fn content(size: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    for at in (0..size.saturating_sub(MARKER.len())).step_by(CHUNK.max(1)) {
        v[at..at + MARKER.len()].copy_from_slice(MARKER);
    }
    v
}

fn ev(e: &Value, name: &str) -> bool {
    e["event"] == name
}

/// Sends `path` from `from` to `to` as it is and returns the file's id.
fn send(from: &mut Node, to: &str, path: &Path) -> String {
    from.cmd(json!({"cmd": "send_file", "to": to, "path": path, "original": true}));
    let e = from.expect("file_queued", |e| ev(e, "file_queued") || ev(e, "error"));
    assert_eq!(e["event"], "file_queued", "{e}");
    e["file"].as_str().unwrap().to_owned()
}

/// Writes `bytes` as `name` into `dir`, sends it from `alice` to `bob` and has bob accept it.
fn send_accepted(alice: &mut Node, bob: &mut Node, dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let file = send(alice, "bob", &path);
    bob.expect("file_offered", |e| {
        ev(e, "file_offered") && e["file"] == file
    });
    bob.cmd(json!({"cmd": "accept_file", "file": file}));
    file
}

fn state(node: &mut Node, file: &str, st: &str, within: Duration) -> Value {
    node.expect_within(&format!("file {st}"), within, |e| {
        ev(e, "file_state") && e["file"] == file && e["state"] == st
    })
}

fn export(node: &mut Node, file: &str, to: &Path) -> Vec<u8> {
    node.cmd(json!({"cmd": "export_file", "file": file, "path": to}));
    let e = node.expect("file_exported", |e| {
        ev(e, "file_exported") || ev(e, "error")
    });
    assert_eq!(e["event"], "file_exported", "{e}");
    std::fs::read(to).unwrap()
}

/// Bytes in a profile's vault of sealed files (0 if it has none).
fn vault_bytes(p: &Profile) -> u64 {
    std::fs::read_dir(p.dir.join("files"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .sum()
        })
        .unwrap_or(0)
}

/// Alice and Bob, contacts and running, and a directory for the files they send and
/// export: the network (kept alive), both profiles (to restart), both nodes, the directory.
fn alice_and_bob() -> (Net, Profile, Profile, Node, Node, std::path::PathBuf) {
    let net = Net::new();
    let (alice_p, bob_p) = (net.node("alice"), net.node("bob"));
    let mut alice = alice_p.start();
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    let dir = net.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    (net, alice_p, bob_p, alice, bob, dir)
}

/// Would catch a file cut, padded or altered on the way at any size that matters (empty,
/// one byte, a chunk boundary either side, several windows), an offer shown with another
/// name or size, a transfer reported complete before the recipient has it all, an export
/// over an existing file, a file sent uncleaned without being asked to, or plaintext of a
/// file left in either profile.
#[test]
fn files_of_every_size_arrive_bit_exact_and_never_in_plaintext() {
    let (_net, alice_p, bob_p, mut alice, mut bob, dir) = alice_and_bob();

    // A type Cairn cannot clean is refused unless sent as it is.
    let odd = dir.join("data.bin");
    std::fs::write(&odd, content(1000, 1)).unwrap();
    alice.cmd(json!({"cmd": "send_file", "to": "bob", "path": odd}));
    let e = alice.expect("error", |e| ev(e, "error"));
    assert_eq!(e["code"], "not_cleaned", "{e}");
    alice.cmd(json!({"cmd": "inspect_file", "path": odd}));
    let e = alice.expect("file_inspected", |e| ev(e, "file_inspected"));
    assert_eq!(e["cleanable"], false, "{e}");

    let sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 40 * CHUNK + 17];
    for (n, size) in sizes.into_iter().enumerate() {
        let bytes = content(size, n as u64 + 10);
        // A name with a right-to-left override (it could show as another extension).
        let path = dir.join(format!("evil\u{202e}name {n}.bin"));
        std::fs::write(&path, &bytes).unwrap();
        let file = send(&mut alice, "bob", &path);
        let offer = bob.expect("file_offered", |e| {
            ev(e, "file_offered") && e["file"] == file
        });
        assert_eq!(offer["size"], size as u64);
        assert_eq!(offer["from"], "alice");
        let name = offer["name"].as_str().unwrap();
        assert!(!name.contains('\u{202e}'), "name not sanitised: {name:?}");
        assert!(
            name.starts_with("evil") && name.ends_with(".bin"),
            "{name:?}"
        );
        bob.cmd(json!({"cmd": "accept_file", "file": file}));
        state(&mut bob, &file, "complete", Duration::from_secs(60));
        state(&mut alice, &file, "complete", Duration::from_secs(60));
        let out = dir.join(format!("out-{n}"));
        assert_eq!(export(&mut bob, &file, &out), bytes, "size {size}");
        bob.cmd(json!({"cmd": "export_file", "file": file, "path": out}));
        let e = bob.expect("error", |e| ev(e, "error"));
        assert_eq!(e["code"], "export_failed", "never over a file: {e}");
    }
    bob.cmd(json!({"cmd": "files", "with": "alice"}));
    let list = bob.expect("files", |e| ev(e, "files"));
    let files = list["files"].as_array().unwrap();
    assert_eq!(files.len(), sizes.len());
    assert!(files
        .iter()
        .all(|f| f["state"] == "complete" && f["direction"] == "in"));
    alice.quit();
    bob.quit();
    for p in [&alice_p, &bob_p] {
        let all = all_bytes(&p.dir);
        assert!(
            !contains_any_encoding(&all, MARKER),
            "{}'s profile holds a file's plaintext",
            p.name
        );
    }
    // Deleting the contact with its history deletes its files.
    assert!(vault_bytes(&bob_p) > 40 * CHUNK as u64);
    let mut bob = bob_p.start();
    bob.cmd(json!({"cmd": "delete", "alias": "alice"}));
    bob.expect("contact_deleted", |e| ev(e, "contact_deleted"));
    bob.quit();
    assert_eq!(
        vault_bytes(&bob_p),
        0,
        "a deleted contact's files were kept"
    );
}

/// Would catch a cancel that does not reach the other side, chunks still sent after it,
/// or a cancelled file's content kept.
#[test]
fn either_side_cancels_and_the_other_is_told() {
    let (_net, _alice_p, bob_p, mut alice, mut bob, dir) = alice_and_bob();
    let path = dir.join("big.bin");
    std::fs::write(&path, content(300 * CHUNK, 3)).unwrap();
    // Declined before it moves.
    let file = send(&mut alice, "bob", &path);
    bob.expect("file_offered", |e| {
        ev(e, "file_offered") && e["file"] == file
    });
    bob.cmd(json!({"cmd": "decline_file", "file": file}));
    let e = state(&mut alice, &file, "declined", Duration::from_secs(30));
    assert_eq!(e["by_contact"], true);
    // Cancelled by the sender while it moves.
    let file = send(&mut alice, "bob", &path);
    bob.expect("file_offered", |e| {
        ev(e, "file_offered") && e["file"] == file
    });
    bob.cmd(json!({"cmd": "accept_file", "file": file}));
    bob.expect("progress", |e| ev(e, "file_progress") && e["file"] == file);
    alice.cmd(json!({"cmd": "cancel_file", "file": file}));
    let e = state(&mut bob, &file, "cancelled", Duration::from_secs(30));
    assert_eq!(e["by_contact"], true);
    bob.cmd(json!({"cmd": "export_file", "file": file, "path": dir.join("x")}));
    let e = bob.expect("error", |e| ev(e, "error"));
    assert_eq!(e["code"], "file_state", "{e}");
    alice.quit();
    bob.quit();
    assert_eq!(
        vault_bytes(&bob_p),
        0,
        "a cancelled file's chunks were kept"
    );
}

/// Would catch a file the disappearing timer leaves on either side (in the list of files
/// or as sealed chunks in the vault), or a panic wipe that leaves a received file's sealed
/// chunks behind.
#[test]
fn the_disappearing_timer_and_the_panic_wipe_take_files_with_them() {
    let (_net, alice_p, bob_p, mut alice, mut bob, dir) = alice_and_bob();
    let timer = |alice: &mut Node, bob: &mut Node, seconds: Option<u64>| {
        alice.cmd(json!({"cmd": "expire", "alias": "bob", "seconds": seconds}));
        alice.expect("expire_set", |e| ev(e, "expire_set"));
        bob.expect("the contact's timer", |e| {
            ev(e, "expire_set") && e["by_contact"] == true
        });
    };
    timer(&mut alice, &mut bob, Some(10));
    let bytes = content(5 * CHUNK + 3, 11);
    let file = send_accepted(&mut alice, &mut bob, &dir, "photo.bin", &bytes);
    state(&mut bob, &file, "complete", Duration::from_secs(60));
    state(&mut alice, &file, "complete", Duration::from_secs(60));
    for p in [&alice_p, &bob_p] {
        assert!(vault_bytes(p) > bytes.len() as u64, "{}", p.name);
    }
    // The timer runs out (the sweep comes every 5 s): gone from both sides.
    let gone = |node: &mut Node, p: &Profile, with: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            node.cmd(json!({"cmd": "files", "with": with}));
            let list = node.expect("files", |e| ev(e, "files"));
            if list["files"].as_array().is_some_and(Vec::is_empty) && vault_bytes(p) == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} keeps the file past its timer ({} bytes in the vault): {list}",
                p.name,
                vault_bytes(p)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    gone(&mut alice, &alice_p, "bob");
    gone(&mut bob, &bob_p, "alice");
    // Without a timer a file stays, until the panic wipe.
    timer(&mut alice, &mut bob, None);
    let file = send_accepted(&mut alice, &mut bob, &dir, "report.bin", &bytes);
    state(&mut bob, &file, "complete", Duration::from_secs(60));
    assert!(vault_bytes(&bob_p) > bytes.len() as u64);
    bob.cmd(json!({"cmd": "wipe", "confirm": "WIPE"}));
    bob.expect("wiped", |e| ev(e, "wiped"));
    bob.exits();
    assert!(
        !bob_p.dir.join("files").exists(),
        "the wipe left the vault of files"
    );
    alice.quit();
}

/// Would catch a transfer that restarts from nothing, stalls, or arrives altered after the
/// recipient is killed mid-transfer (and the sender too).
#[test]
fn kill9_mid_transfer_resumes_and_completes() {
    let (_net, alice_p, bob_p, mut alice, mut bob, dir) = alice_and_bob();
    let bytes = content(8 << 20, 4);
    let file = send_accepted(&mut alice, &mut bob, &dir, "recording.bin", &bytes);
    let p = bob.expect("progress", |e| {
        ev(e, "file_progress") && e["file"] == file && e["bytes"].as_u64() > Some(1 << 20)
    });
    assert!(
        p["bytes"].as_u64() < Some(8 << 20),
        "too fast to kill mid-way"
    );
    bob.kill9();
    let mut bob = bob_p.start();
    alice.kill9();
    let mut alice = alice_p.start();
    state(&mut bob, &file, "complete", Duration::from_secs(120));
    state(&mut alice, &file, "complete", Duration::from_secs(60));
    assert_eq!(export(&mut bob, &file, &dir.join("out")), bytes);
    alice.quit();
    bob.quit();
}

/// Would catch a file too large for the mailbox whose chunks do not go outside the ratchet
/// (bulk chunks, docs/PROTOCOL.md §25.5), a bulk chunk receipted before the recipient
/// recorded it (kill -9 of the recipient forgets it: the file never completes), a bulk
/// transfer that cannot go on after either side restarts, or one that arrives altered. (A
/// chunk receipted before it is synced survives kill -9 in the page cache: the simulator's
/// vault, which loses unsynced writes in a crash, is what checks that order.)
#[test]
fn a_large_file_moves_in_bulk_and_survives_kill9_of_either_side() {
    let (_net, alice_p, bob_p, mut alice, mut bob, dir) = alice_and_bob();
    let size = 20 << 20; // above the mailbox's 16 MiB: it moves only directly
    let bytes = content(size, 7);
    let file = send_accepted(&mut alice, &mut bob, &dir, "archive.bin", &bytes);
    let past = |node: &mut Node, at: u64| {
        node.expect_within("progress", Duration::from_secs(120), |e| {
            ev(e, "file_progress") && e["file"] == file && e["bytes"].as_u64() > Some(at)
        })
    };
    let p = past(&mut bob, 2 << 20);
    assert!(
        p["bytes"].as_u64() < Some(size as u64),
        "too fast to kill mid-way"
    );
    bob.kill9();
    let mut bob = bob_p.start();
    let p = past(&mut bob, 8 << 20);
    assert!(
        p["bytes"].as_u64() < Some(size as u64),
        "too fast to kill mid-way"
    );
    bob.cmd(json!({"cmd": "files", "with": "alice"}));
    let list = bob.expect("files", |e| ev(e, "files"));
    let bulk = list["files"][0]["bulk_chunks"].as_u64().unwrap_or(0);
    assert!(bulk > 0, "no bulk chunk after the restart: {list}");
    alice.kill9();
    let mut alice = alice_p.start();
    state(&mut bob, &file, "complete", Duration::from_secs(120));
    state(&mut alice, &file, "complete", Duration::from_secs(60));
    assert_eq!(export(&mut bob, &file, &dir.join("out")), bytes);
    alice.quit();
    bob.quit();
}

/// Would catch the first window of a large file sent through the ratchet: the recipient's
/// `TakesBulk` comes with its acceptance, and the sender waits for the rest of that batch
/// before its first chunks leave (PROTOCOL §25.5), so every chunk is a bulk chunk.
#[test]
fn every_chunk_of_a_large_file_is_a_bulk_chunk() {
    let (_net, _alice_p, _bob_p, mut alice, mut bob, dir) = alice_and_bob();
    let size = 17 << 20; // above the mailbox's 16 MiB
    let bytes = content(size, 9);
    let file = send_accepted(&mut alice, &mut bob, &dir, "large.bin", &bytes);
    state(&mut bob, &file, "complete", Duration::from_secs(120));
    bob.cmd(json!({"cmd": "files", "with": "alice"}));
    let list = bob.expect("files", |e| ev(e, "files"));
    let chunks = size.div_ceil(CHUNK) as u64;
    assert_eq!(
        list["files"][0]["bulk_chunks"].as_u64(),
        Some(chunks),
        "{list}"
    );
    assert_eq!(export(&mut bob, &file, &dir.join("out")), bytes);
    alice.quit();
    bob.quit();
}

/// Would catch a forwarded message or file that names its first sender, keeps its id or
/// time, or arrives altered; a forward to someone who is not a contact.
#[test]
fn forwarding_passes_on_content_and_nothing_of_the_source() {
    let net = Net::new();
    let (src_p, j_p, ed_p) = (
        net.node("source"),
        net.node("journalist"),
        net.node("editor"),
    );
    let mut src = src_p.start();
    let mut j = j_p.start();
    let mut ed = ed_p.start();
    connect(&mut src, &mut j);
    connect(&mut j, &mut ed);
    let dir = net.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    // A message.
    src.send("journalist", "the documents are in the blue folder");
    let m = j.sees_message("source", "the documents are in the blue folder");
    j.cmd(json!({"cmd": "forward", "message": m["id"], "to": "editor"}));
    j.expect("queued", |e| ev(e, "queued"));
    let f = ed.sees_message("journalist", "the documents are in the blue folder");
    assert_ne!(f["id"], m["id"], "a new message");
    assert_ne!(f["sent_at"], m["sent_at"], "a new time");
    // A file.
    let bytes = content(3 * CHUNK + 5, 77);
    let path = dir.join("leak.bin");
    std::fs::write(&path, &bytes).unwrap();
    let file = send(&mut src, "journalist", &path);
    j.expect("file_offered", |e| {
        ev(e, "file_offered") && e["file"] == file
    });
    j.cmd(json!({"cmd": "accept_file", "file": file}));
    state(&mut j, &file, "complete", Duration::from_secs(60));
    j.cmd(json!({"cmd": "forward", "file": file, "to": "editor"}));
    let e = j.expect("error", |e| ev(e, "error"));
    assert_eq!(
        e["code"], "not_cleaned",
        "an uncleanable type needs original: {e}"
    );
    j.cmd(json!({"cmd": "forward", "file": file, "to": "nobody", "original": true}));
    let e = j.expect("error", |e| ev(e, "error"));
    assert_eq!(e["code"], "unknown_contact", "{e}");
    j.cmd(json!({"cmd": "forward", "file": file, "to": "editor", "original": true}));
    let q = j.expect("file_queued", |e| ev(e, "file_queued") || ev(e, "error"));
    assert_eq!(q["event"], "file_queued", "{q}");
    let fwd = q["file"].as_str().unwrap().to_owned();
    assert_ne!(fwd, file, "a new file id");
    let offer = ed.expect("file_offered", |e| ev(e, "file_offered"));
    assert_eq!(offer["from"], "journalist");
    assert_eq!(offer["file"], fwd.as_str());
    ed.cmd(json!({"cmd": "accept_file", "file": fwd}));
    state(&mut ed, &fwd, "complete", Duration::from_secs(60));
    assert_eq!(export(&mut ed, &fwd, &dir.join("fwd")), bytes);
    src.quit();
    j.quit();
    ed.quit();
}

/// Would catch a file that needs both sides online at once: the offer, the accept and the
/// chunks each wait in a mailbox while the other side is away (a file under the 16 MiB
/// mailbox limit), and the file arrives bit-exact.
#[test]
fn a_file_moves_through_the_mailboxes_while_each_side_is_away() {
    let net = Net::new();
    let relay = net.relay();
    let alice_p = net.node("alice").with_relay(&relay);
    let bob_p = net.node("bob").with_relay(&relay);
    let mut alice = alice_p.start();
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    // Cards (with each side's mailbox) go both ways with a first message.
    let id = alice.send("bob", "hello");
    bob.sees_message("alice", "hello");
    alice.sees_delivered(&id);
    let id = bob.send("alice", "hi");
    alice.sees_message("bob", "hi");
    bob.sees_delivered(&id);
    let dir = net.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = content(10 * CHUNK + 99, 5);
    let path = dir.join("statement.bin");
    std::fs::write(&path, &bytes).unwrap();
    bob.quit();
    // The offer waits in bob's mailbox.
    let file = send(&mut alice, "bob", &path);
    std::thread::sleep(Duration::from_secs(3));
    alice.quit();
    // The accept waits in alice's.
    let mut bob = bob_p.start();
    bob.expect_within("file_offered", Duration::from_secs(60), |e| {
        ev(e, "file_offered") && e["file"] == file
    });
    bob.cmd(json!({"cmd": "accept_file", "file": file}));
    state(&mut bob, &file, "moving", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    bob.quit();
    // The chunks wait in bob's.
    let mut alice = alice_p.start();
    let e = state(&mut alice, &file, "moving", Duration::from_secs(60));
    assert_eq!(e["by_contact"], true);
    std::thread::sleep(Duration::from_secs(4));
    let mut bob = bob_p.start();
    state(&mut bob, &file, "complete", Duration::from_secs(90));
    state(&mut alice, &file, "complete", Duration::from_secs(60));
    assert_eq!(export(&mut bob, &file, &dir.join("out")), bytes);
    alice.quit();
    bob.quit();
}
