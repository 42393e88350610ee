//! The cleaners checked by independent readers: ExifTool (every metadata format here) and
//! poppler's pdftotext (installed by `.ci/run`). Each sample is read before cleaning — the
//! reader must find the identifying values, or the check would prove nothing — and after:
//! none is left, and what the reader shows of the content is the same.

use super::tests::{
    a_phone_photo, a_png_with_texts, a_webp_with_exif, sample_docx, sample_odt, sample_pdf,
};
use super::*;
use std::path::Path;
use std::process::Command;

const NEEDLES: [&str; 6] = [
    "J. Doe",
    "Cairncam",
    "Pocket 7",
    "SN-4471-0042",
    "Firmware",
    "Editor",
];

/// Writes `bytes` to a file named `name` in a fresh directory and runs `tool args… file`.
fn run(tool: &str, args: &[&str], name: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    output(tool, args, &path)
}

fn output(tool: &str, args: &[&str], path: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} is needed by this test ({e}); `.ci/run` installs it (Debian: libimage-exiftool-perl, poppler-utils)")
        });
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// ExifTool's reading of a file, every tag but those of the file system.
fn exiftool(name: &str, bytes: &[u8]) -> Vec<(String, String)> {
    let json = run("exiftool", &["-j", "-a", "-G1", "-u"], name, bytes);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v[0].as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("System:") && !k.starts_with("ExifTool:") && *k != "SourceFile"
        })
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

fn found(tags: &[(String, String)]) -> Vec<String> {
    tags.iter()
        .filter(|(_, v)| NEEDLES.iter().any(|n| v.contains(n)))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// Cleans `dirty` and checks with ExifTool that the identifying values were there and are
/// gone, and that no tag of the groups in `gone` is left; returns the cleaned file.
fn check(name: &str, dirty: &[u8], gone: &[&str]) -> Vec<u8> {
    let before = exiftool(name, dirty);
    assert!(
        !found(&before).is_empty(),
        "ExifTool found nothing to remove in {name}: {before:?}"
    );
    let cleaned = clean(dirty).unwrap().unwrap().bytes;
    let after = exiftool(name, &cleaned);
    assert_eq!(found(&after), Vec::<String>::new(), "left in {name}");
    for g in gone {
        let left: Vec<_> = after.iter().filter(|(k, _)| k.starts_with(g)).collect();
        assert!(left.is_empty(), "{name}: {left:?}");
    }
    cleaned
}

#[test]
fn exiftool_finds_nothing_left_in_a_cleaned_jpeg() {
    let cleaned = check(
        "photo.jpg",
        &a_phone_photo(),
        &["GPS:", "XMP", "IPTC", "Photoshop:", "MPF", "ExifIFD:"],
    );
    let after = exiftool("photo.jpg", &cleaned);
    assert!(
        after
            .iter()
            .any(|(k, v)| k == "IFD0:Orientation" && v.contains("Rotate 90 CW")),
        "{after:?}"
    );
    assert!(
        !after.iter().any(|(k, _)| k.ends_with(":Comment")),
        "{after:?}"
    );
}

#[test]
fn exiftool_finds_nothing_left_in_a_cleaned_png() {
    let cleaned = check(
        "image.png",
        &a_png_with_texts(),
        &["PNG:Author", "PNG:Software", "GPS:", "XMP"],
    );
    let after = exiftool("image.png", &cleaned);
    assert!(
        !after.iter().any(|(k, _)| k.starts_with("PNG:ModifyDate")),
        "{after:?}"
    );
}

#[test]
fn exiftool_finds_nothing_left_in_a_cleaned_webp() {
    check(
        "image.webp",
        &a_webp_with_exif(),
        &["GPS:", "XMP", "IFD0:Make"],
    );
}

#[test]
fn exiftool_finds_no_author_in_a_cleaned_pdf_and_its_text_is_unchanged() {
    let dirty = sample_pdf("Hello from a source");
    let cleaned = check(
        "doc.pdf",
        &dirty,
        &["PDF:Author", "PDF:Creator", "PDF:CreateDate", "XMP"],
    );
    let read = |b: &[u8]| {
        let dir = tempfile::tempdir().unwrap();
        let pdf = dir.path().join("doc.pdf");
        std::fs::write(&pdf, b).unwrap();
        let txt = dir.path().join("doc.txt");
        let out = Command::new("pdftotext")
            .arg(&pdf)
            .arg(&txt)
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::read_to_string(txt).unwrap()
    };
    let before = read(&dirty);
    assert!(before.contains("Hello from a source"), "{before:?}");
    assert_eq!(read(&cleaned), before);
}

#[test]
fn exiftool_finds_no_creator_in_a_cleaned_docx_or_odt() {
    check(
        "minutes.docx",
        &sample_docx(),
        &["XMP-dc:Creator", "XML:Company", "XML:Application"],
    );
    check(
        "minutes.odt",
        &sample_odt(),
        &["XMP-dc:Creator", "XMP-meta:InitialCreator"],
    );
}
