//! Replays every fuzz corpus file (`fuzz/corpus/<target>/`) and every saved crash reproducer
//! (`fuzz/artifacts/<target>/`) through the same functions the libFuzzer targets call
//! (`cairn_crypto::fuzzing`, `cairn_node::api::fuzzing`), on the stable toolchain. A crash that was
//! fixed stays fixed without nightly or cargo-fuzz; see `docs/FUZZING.md`.
//!
//! Would catch: a regression of any crash the fuzzer found, an invariant (round trip, forged
//! message refused, rejected input leaves state unchanged) broken by a change, a corpus
//! directory that went missing or empty, or a target without a corpus.
//!
//! Regenerate the seed corpus from the current code and the golden transcript (after a
//! deliberate format change): `CAIRN_REGENERATE_CORPUS=1 cargo test -p cairn-tests --test
//! fuzz_replay`. Seeds are named `seed-*`; files the fuzzer added keep libFuzzer's names.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn targets() -> Vec<&'static str> {
    let mut t = cairn_crypto::fuzzing::TARGETS.to_vec();
    t.extend_from_slice(cairn_node::api::fuzzing::TARGETS);
    t
}

fn run(target: &str, data: &[u8]) {
    let known = cairn_crypto::fuzzing::run_target(target, data)
        || cairn_node::api::fuzzing::run_target(target, data);
    assert!(known, "no fuzz function for target {target}");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn with(prefix: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![prefix];
    v.extend_from_slice(bytes);
    v
}

/// Seeds from the golden transcript (`docs/vectors/transcript-v1.json`): its invite, both
/// handshake messages and all 40 ratchet messages, fed to every target that reads them. Their
/// keys are not the fuzz fixture's, so they reach the "not for this invite / not for this
/// session" paths; the fixture seeds in `seed_corpus` reach the success paths.
fn transcript_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/transcript-v1.json");
    let text = std::fs::read_to_string(&path).expect("golden transcript");
    let v: serde_json::Value = serde_json::from_str(&text).expect("transcript JSON");
    let s = |k: &str| v[k].as_str().expect(k).to_owned();
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![
        ("invite", with(0, s("invite_code").as_bytes())),
        ("invite", with(1, &hex(&s("invite_bytes")))),
    ];
    let init = hex(&s("handshake_init"));
    let resp = hex(&s("handshake_response"));
    for e in [&init, &resp] {
        out.push(("envelope", e.clone()));
        out.push(("protocol", with(0, &with(1, e))));
    }
    out.push(("handshake", with(0, &init)));
    out.push(("handshake", with(1, &resp)));
    let messages = v["messages"].as_array().expect("messages");
    for (i, m) in messages.iter().enumerate().step_by(4) {
        let env = hex(m["envelope"].as_str().expect("envelope"));
        out.push(("envelope", env.clone()));
        out.push(("session_decrypt", with(i as u8, &env)));
        out.push(("protocol", with(0, &with(2, &env))));
    }
    out
}

fn all_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds = cairn_crypto::fuzzing::seed_corpus();
    seeds.extend(cairn_node::api::fuzzing::seed_corpus());
    seeds.extend(transcript_seeds());
    seeds
}

fn regenerate() {
    let mut per_target: BTreeMap<&str, usize> = BTreeMap::new();
    for (target, data) in all_seeds() {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        let n = per_target.entry(target).or_default();
        std::fs::write(dir.join(format!("seed-{n:03}")), data).expect("write seed");
        *n += 1;
    }
    println!("regenerated seeds: {per_target:?}");
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Replays the corpus and the crash reproducers of every target.
#[test]
fn replay_corpus_and_artifacts() {
    if std::env::var_os("CAIRN_REGENERATE_CORPUS").is_some() {
        regenerate();
    }
    let mut failures = Vec::new();
    let mut total = 0;
    for target in targets() {
        let corpus = files(&fuzz_dir().join("corpus").join(target));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{target}/ is missing or empty"
        );
        let artifacts = files(&fuzz_dir().join("artifacts").join(target));
        for path in corpus.iter().chain(&artifacts) {
            let data = std::fs::read(path).expect("read corpus file");
            if catch_unwind(AssertUnwindSafe(|| run(target, &data))).is_err() {
                failures.push(path.display().to_string());
            }
        }
        total += corpus.len() + artifacts.len();
        println!(
            "fuzz replay {target:>16}: {:>4} corpus inputs, {:>3} crash reproducers",
            corpus.len(),
            artifacts.len()
        );
    }
    println!("fuzz replay: {total} inputs");
    assert!(failures.is_empty(), "inputs that fail: {failures:#?}");
}

/// The seeds the current code generates pass their targets (so a regenerated corpus starts
/// clean), and the generator covers every target.
#[test]
fn generated_seeds_pass() {
    let seeds = all_seeds();
    for target in targets() {
        assert!(
            seeds.iter().any(|(t, _)| *t == target),
            "no seed for {target}"
        );
    }
    for (target, data) in seeds {
        run(target, &data);
    }
}
