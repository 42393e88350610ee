//! The shape of the code that the architecture promises (docs/ARCHITECTURE.md), checked
//! on the sources themselves.
//!
//! Would catch: a front end or a test reaching past `cairn_node::api` into the node's
//! internals (which then cannot change shape without breaking them), and a source file
//! growing past ~800 lines (split it by concern instead).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The crate's path prefix (spelled in two pieces so this file does not match itself).
const NEEDLE: &str = concat!("cairn_", "node::");

/// Every path into `cairn_node` from these files, other than through `cairn_node::api`.
fn reaching_past_api(files: &[PathBuf]) -> Vec<String> {
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find(NEEDLE) {
                let after = &rest[at + NEEDLE.len()..];
                if !after.starts_with("api")
                    || after[3..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                {
                    found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
                rest = after;
            }
        }
    }
    found
}

#[test]
fn front_ends_and_tests_use_only_the_api() {
    let root = root();
    let mut files = Vec::new();
    for dir in ["tui/src", "tui/benches", "tests/src", "tests/tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "sources found: {}", files.len());
    let found = reaching_past_api(&files);
    assert!(
        found.is_empty(),
        "these reach into cairn-node past cairn_node::api:\n{}",
        found.join("\n")
    );
    // The check itself sees a violation.
    let probe = std::env::temp_dir().join(format!("cairn-layout-probe-{}.rs", std::process::id()));
    let text = ["store::Store;", "api::Event;", "apix::X;"]
        .map(|p| format!("use {NEEDLE}{p}\n"))
        .concat();
    std::fs::write(&probe, text).expect("probe");
    let caught = reaching_past_api(std::slice::from_ref(&probe));
    let _ = std::fs::remove_file(&probe);
    assert_eq!(caught.len(), 2, "{caught:?}");
}

#[test]
fn no_source_file_is_over_800_lines() {
    let root = root();
    let mut files = Vec::new();
    for dir in ["crypto/src", "node/src", "tui/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        // Unit tests kept beside their module are test code.
        .filter(|f| f.file_name().is_none_or(|n| n != "tests.rs"))
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).ok()?.lines().count();
            (lines > 800).then(|| format!("{}: {lines} lines", f.display()))
        })
        .collect();
    assert!(files.len() > 50, "sources found: {}", files.len());
    assert!(
        long.is_empty(),
        "split these by concern:\n{}",
        long.join("\n")
    );
}
