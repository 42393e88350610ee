//! PDF: the document information dictionary (author, creator, producer, title, dates), XMP
//! packets (the document's and any page's or image's), the document ids and applications'
//! private data are removed; objects nothing refers to any more (earlier revisions of the
//! document, which an incremental save leaves behind) are dropped. Pages and their content
//! streams are kept as they were.

use super::{Out, Removed, Report};
use lopdf::{decode_text_string, Dictionary, Document, LoadOptions, Object};

/// Keys removed from every dictionary: XMP, private data of the application that wrote the
/// object, and its last-modified date.
const PRIVATE_KEYS: [(&[u8], Removed); 3] = [
    (b"Metadata", Removed::Xmp),
    (b"PieceInfo", Removed::PrivateData),
    (b"LastModified", Removed::Dates),
];

pub(super) fn clean(bytes: &[u8], report: &mut Report) -> Result<Out, &'static str> {
    let options = LoadOptions {
        max_decompressed_size: Some(usize::try_from(super::MAX_INFLATED_LEN).unwrap_or(usize::MAX)),
        ..LoadOptions::default()
    };
    let mut doc =
        Document::load_mem_with_options(bytes, options).map_err(|_| "not a PDF structure")?;
    if doc.was_encrypted() || doc.is_encrypted() {
        return Err("it is encrypted");
    }
    if let Some(info) = doc.trailer.remove(b"Info") {
        let dict = match &info {
            Object::Reference(id) => doc.get_dictionary(*id).ok(),
            Object::Dictionary(d) => Some(d),
            _ => None,
        };
        if let Some(d) = dict {
            information(d, report);
        }
    }
    if doc.trailer.remove(b"ID").is_some() {
        report.add(Removed::DocumentIds);
    }
    for object in doc.objects.values_mut() {
        let dict = match object {
            Object::Dictionary(d) => d,
            Object::Stream(s) => &mut s.dict,
            _ => continue,
        };
        for (key, what) in &PRIVATE_KEYS {
            if dict.remove(key).is_some() {
                report.add(what.clone());
            }
        }
    }
    // The information dictionary, the XMP streams and whatever an earlier revision left
    // are now referred to by nothing.
    doc.prune_objects();
    let mut out = Vec::with_capacity(bytes.len());
    doc.save_to(&mut out)
        .map_err(|_| "could not be written back")?;
    Ok(Out::Bytes(out))
}

/// Reports the entries of a document information dictionary.
fn information(d: &Dictionary, report: &mut Report) {
    for (key, value) in d.iter() {
        let text = decode_text_string(value).unwrap_or_default();
        match key.as_slice() {
            b"Author" => report.add_value(Removed::Author, &text),
            b"Creator" | b"Producer" => report.add_value(Removed::Software, &text),
            b"CreationDate" | b"ModDate" => report.add(Removed::Dates),
            b"Title" | b"Subject" | b"Keywords" => report.add_value(Removed::Description, &text),
            b"Trapped" => {}
            _ => report.add(Removed::CustomProperties),
        }
    }
}
