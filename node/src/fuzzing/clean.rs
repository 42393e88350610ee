//! The metadata cleaners (`crate::files::clean`) on untrusted files: a journalist forwards
//! what a source sent.

use crate::files::clean::{clean, Format};
use std::io::{Cursor, Write};

/// Input: a file of any format. Invariants: cleaning never panics; a file it cleans comes
/// out as a file of the same format that cleans again to itself with nothing more to remove
/// (the output carries no metadata a second pass would find, and is well-formed).
pub fn fuzz_clean(data: &[u8]) {
    let Ok(Some(first)) = clean(data) else {
        return;
    };
    let second = match clean(&first.bytes) {
        Ok(Some(c)) => c,
        other => panic!(
            "a cleaned {:?} does not clean again: {other:?}",
            first.format
        ),
    };
    assert_eq!(second.format, first.format, "cleaning changed the format");
    assert!(
        second.removed.is_empty(),
        "a second pass over a cleaned {:?} removed {:?}",
        first.format,
        second.removed
    );
    if first.format != Format::Pdf {
        assert!(second.bytes == first.bytes, "cleaning is not idempotent");
    }
}

/// A 2 × 2 JPEG with EXIF (make, model, orientation, artist) and a comment, for the seed
/// corpus (made once with Pillow; the PNG and WebP below carry the same EXIF).
const TINY_JPEG: &[u8] = include_bytes!("samples/tiny.jpg");
/// A 2 × 2 lossless WebP.
const TINY_WEBP: &[u8] = include_bytes!("samples/tiny.webp");
/// A 2 × 2 PNG with two text chunks.
const TINY_PNG: &[u8] = include_bytes!("samples/tiny.png");

/// Seeds: one small file of each format, with metadata to remove.
pub(super) fn clean_seeds() -> Vec<Vec<u8>> {
    let mut out = vec![TINY_JPEG.to_vec(), TINY_PNG.to_vec(), TINY_WEBP.to_vec()];
    out.extend(pdf());
    out.extend(archive(&[
        ("[Content_Types].xml", "<Types/>"),
        ("word/document.xml", "<w:document>text</w:document>"),
        (
            "docProps/core.xml",
            "<cp:coreProperties><dc:creator>J. Doe</dc:creator></cp:coreProperties>",
        ),
        (
            "docProps/app.xml",
            "<Properties><Company>ACME</Company></Properties>",
        ),
    ]));
    out.extend(archive(&[
        ("mimetype", "application/vnd.oasis.opendocument.text"),
        ("content.xml", "<office:document-content/>"),
        (
            "meta.xml",
            "<office:document-meta office:version=\"1.3\"><office:meta>\
             <meta:initial-creator>J. Doe</meta:initial-creator></office:meta>\
             </office:document-meta>",
        ),
    ]));
    out
}

fn pdf() -> Option<Vec<u8>> {
    use lopdf::{dictionary, Document, Object, Stream, StringFormat};
    let mut doc = Document::with_version("1.5");
    let pages = doc.new_object_id();
    let content = doc.add_object(Stream::new(dictionary! {}, b"BT (x) Tj ET".to_vec()));
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages, "Contents" => content,
        "MediaBox" => vec![0.into(), 0.into(), 100.into(), 100.into()],
    });
    doc.objects.insert(
        pages,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
        ),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
    let info = doc.add_object(dictionary! {
        "Author" => Object::String(b"J. Doe".to_vec(), StringFormat::Literal),
    });
    doc.trailer.set("Root", catalog);
    doc.trailer.set("Info", info);
    let mut out = Vec::new();
    doc.save_to(&mut out).ok()?;
    Some(out)
}

fn archive(parts: &[(&str, &str)]) -> Option<Vec<u8>> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in parts {
        let method = if *name == "mimetype" {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        w.start_file(
            *name,
            zip::write::SimpleFileOptions::default().compression_method(method),
        )
        .ok()?;
        w.write_all(content.as_bytes()).ok()?;
    }
    Some(w.finish().ok()?.into_inner())
}
