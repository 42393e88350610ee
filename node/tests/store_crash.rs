//! Crash consistency with a real process: `store-crash-writer` writes messages (ratchet state +
//! message + outbox entry per atomic batch, from several threads) and prints each one the store
//! reported durable; this test SIGKILLs it at random moments (`Child::kill` is SIGKILL on unix),
//! many times on the same profile, and after each kill reopens the profile and checks:
//!
//! - the store opens and `check()` finds no damaged record (nothing torn);
//! - every message reported durable is present, at its sequence number, with its exact text;
//! - every stored message (reported or not) is intact and has its outbox entry (atomic batch);
//! - sequence numbers are contiguous and match the conversation record;
//! - the session state is the one written with the newest message (state + message atomic).
//!
//! What it would catch: a durable acknowledgement before the flush, a torn multi-tree batch,
//! a group commit that wakes a writer whose data was not covered by the flush, sled failing to
//! recover after SIGKILL, or the store refusing to reopen.
//!
//! Iterations: `CAIRN_CRASH_ITERATIONS` (default 120); seed: `CAIRN_CRASH_SEED`.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cairn_node::store::{OpenOptions, Passphrase, ProfilePaths, Store};
use rand::{Rng, SeedableRng};

const WRITER_PASSPHRASE: &str = "crash-test passphrase";
/// Kills per profile before starting a fresh one (keeps debug-build verification time bounded
/// while still restarting the same database many times).
const RESTARTS_PER_PROFILE: usize = 40;

fn expected_text(id: &[u8; 16]) -> String {
    let reps = 1 + usize::from(id[0]) / 8;
    format!("crash-test message {}", common::hex(id).repeat(reps))
}

fn expected_session(id: &[u8; 16]) -> Vec<u8> {
    format!("session-after-{}", common::hex(id)).into_bytes()
}

fn parse_hex16(s: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

struct Outcome {
    durable_lines: usize,
    saw_ready: bool,
}

fn run_writer_and_kill(
    dir: &Path,
    rng: &mut impl Rng,
    durable: &mut HashMap<[u8; 16], u64>,
) -> Outcome {
    let threads = rng.gen_range(1..=4).to_string();
    let stderr_path = dir.with_extension("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
        .args(["write", dir.to_str().unwrap(), &threads])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut saw_ready = false;
    let early = rng.gen_bool(0.15);
    if early {
        // Kill at a random moment from spawn: during open/recovery, or just after.
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..30_000)));
    } else {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !saw_ready {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|e| {
                    let _ = child.wait();
                    panic!(
                        "writer did not become ready ({e}): {}",
                        std::fs::read_to_string(&stderr_path).unwrap_or_default()
                    )
                });
            saw_ready = line == "READY";
            lines.push(line);
        }
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..40_000)));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    // A writer that exited by itself (not killed) would mean an error inside it.
    assert!(
        status.code().is_none(),
        "writer exited on its own: {status:?} (lines: {lines:?}, stderr: {})",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    let mut durable_lines = 0;
    for line in &lines {
        if line == "READY" {
            saw_ready = true;
        } else if let Some(rest) = line.strip_prefix("DURABLE ") {
            let (id, seq) = rest.split_once(' ').unwrap();
            durable.insert(parse_hex16(id), seq.parse().unwrap());
            durable_lines += 1;
        } else {
            panic!("unexpected writer output {line:?}");
        }
    }
    Outcome {
        durable_lines,
        saw_ready,
    }
}

fn verify(dir: &Path, durable: &HashMap<[u8; 16], u64>, iteration: usize) -> usize {
    if !dir.join("cairn.key").exists() || dir.join("creating").exists() {
        // Killed before the profile was complete: nothing may have been reported durable.
        assert!(
            durable.is_empty(),
            "iteration {iteration}: durable messages but no profile"
        );
        return 0;
    }
    let store = Store::open(
        &ProfilePaths::new(dir),
        &Passphrase::new(WRITER_PASSPHRASE),
        &OpenOptions::new().allow_insecure_kdf_for_tests(),
    )
    .unwrap_or_else(|e| panic!("iteration {iteration}: store does not reopen: {e}"));
    let report = store.check();
    assert!(
        report.is_clean(),
        "iteration {iteration}: damaged records: {report:?}"
    );
    let contact = store.contact_id(&[0xC7; 32]);
    let Some(_) = store.contact(&contact).unwrap() else {
        assert!(durable.is_empty(), "iteration {iteration}: contact lost");
        return 0;
    };
    let listing = store.messages(&contact).unwrap();
    assert!(
        listing.damaged.is_empty(),
        "iteration {iteration}: {:?}",
        listing.damaged
    );
    let msgs = listing.items;
    // Contiguous sequence numbers, matching the conversation record.
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(
            m.seq, i as u64,
            "iteration {iteration}: gap in sequence numbers"
        );
        assert_eq!(
            m.text,
            expected_text(&m.id.0),
            "iteration {iteration}: torn message"
        );
    }
    assert_eq!(
        store.conversation(&contact).unwrap().next_seq,
        msgs.len() as u64,
        "iteration {iteration}: conversation record out of step with messages"
    );
    // Every reported-durable message is there, intact, at its sequence number.
    for (id, seq) in durable {
        let m = msgs
            .get(*seq as usize)
            .unwrap_or_else(|| panic!("iteration {iteration}: durable message seq {seq} lost"));
        assert_eq!(
            &m.id.0, id,
            "iteration {iteration}: wrong message at seq {seq}"
        );
    }
    // Message + outbox entry + session were one batch.
    let outbox = store.outbox().unwrap();
    assert!(outbox.damaged.is_empty());
    assert_eq!(
        outbox.items.len(),
        msgs.len(),
        "iteration {iteration}: outbox out of step"
    );
    for o in &outbox.items {
        assert_eq!(msgs[o.seq as usize].id, o.message_id);
    }
    if let Some(last) = msgs.last() {
        let session = store.session(&contact).unwrap().expect("session missing");
        assert_eq!(
            session.expose_secret(),
            expected_session(&last.id.0).as_slice(),
            "iteration {iteration}: session state not from the newest message"
        );
    }
    msgs.len()
}

#[test]
fn sigkill_at_random_moments_loses_nothing_durable() {
    let iterations: usize = std::env::var("CAIRN_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let seed: u64 = std::env::var("CAIRN_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("crash test: {iterations} iterations, seed {seed} (CAIRN_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut durable: HashMap<[u8; 16], u64> = HashMap::new();
    let mut dir = tmp.path().join("profile-0");
    let (mut total_reported, mut killed_before_ready, mut max_stored) = (0usize, 0usize, 0usize);
    for i in 0..iterations {
        if i % RESTARTS_PER_PROFILE == 0 {
            dir = tmp.path().join(format!("profile-{i}"));
            durable.clear();
        }
        let out = run_writer_and_kill(&dir, &mut rng, &mut durable);
        total_reported += out.durable_lines;
        killed_before_ready += usize::from(!out.saw_ready);
        max_stored = max_stored.max(verify(&dir, &durable, i));
    }
    println!(
        "crash test: {iterations} SIGKILLs, {total_reported} durable acknowledgements checked \
         after every later kill, {killed_before_ready} kills before the writer was ready, \
         up to {max_stored} messages per profile, all present and intact, store reopened \
         every time ({:.1} s) — PASS",
        started.elapsed().as_secs_f64()
    );
    assert!(
        iterations < 100 || total_reported > 0,
        "the writer never reported a durable write"
    );
}
