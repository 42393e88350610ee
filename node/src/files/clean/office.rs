//! Office Open XML (`.docx`, `.xlsx`, `.pptx`) and OpenDocument (`.odt`, `.ods`, `.odp`):
//! zip archives of XML parts. The property parts (OOXML's core, app and custom properties,
//! ODF's `meta.xml`) are replaced by empty ones; every other part is copied unchanged, in the
//! same order and with the same compression, under a fixed date (an archive's entry dates
//! say when each part was last saved) and without the entries' extra fields (which can
//! carry a user and group id) or the archive's comment.

use super::{Format, Out, Removed, Report, MAX_INFLATED_LEN};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

const OOXML_CORE: &str = "docProps/core.xml";
const OOXML_APP: &str = "docProps/app.xml";
const OOXML_CUSTOM: &str = "docProps/custom.xml";
const ODF_META: &str = "meta.xml";

const EMPTY_CORE: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    "\r\n",
    r#"<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"></cp:coreProperties>"#
);
const EMPTY_APP: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    "\r\n",
    r#"<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"></Properties>"#
);
const EMPTY_CUSTOM: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
    "\r\n",
    r#"<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"></Properties>"#
);

/// Which of the formats a zip archive is, if either.
pub(super) fn sniff(bytes: &[u8]) -> Option<Format> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).ok()?;
    if zip.index_for_name("[Content_Types].xml").is_some() {
        return Some(Format::Ooxml);
    }
    let mut first = zip.by_index(0).ok()?;
    if first.name().ok().as_deref() != Some("mimetype") {
        return None;
    }
    let mut head = Vec::new();
    first.by_ref().take(64).read_to_end(&mut head).ok()?;
    head.starts_with(b"application/vnd.oasis.opendocument.")
        .then_some(Format::Odf)
}

pub(super) fn clean(
    bytes: &[u8],
    format: Format,
    report: &mut Report,
) -> Result<Out, &'static str> {
    clean_within(bytes, format, report, MAX_INFLATED_LEN)
}

/// [`clean`] with `budget` bytes to inflate at most.
pub(super) fn clean_within(
    bytes: &[u8],
    format: Format,
    report: &mut Report,
    mut budget: u64,
) -> Result<Out, &'static str> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(|_| "not a zip archive")?;
    let mut out = ZipWriter::new(Cursor::new(Vec::with_capacity(bytes.len())));
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|_| "unreadable entry")?;
        if entry.encrypted() {
            return Err("it is encrypted");
        }
        let method = match entry.compression() {
            CompressionMethod::Stored => CompressionMethod::Stored,
            _ => CompressionMethod::Deflated,
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(DateTime::default());
        let name = entry.name().map_err(|_| "an entry's name")?.into_owned();
        if entry.is_dir() {
            out.add_directory(name, options).map_err(|_| "write")?;
            continue;
        }
        let replacement = match (format, name.as_str()) {
            (Format::Ooxml, OOXML_CORE) => Some(EMPTY_CORE.to_owned()),
            (Format::Ooxml, OOXML_APP) => Some(EMPTY_APP.to_owned()),
            (Format::Ooxml, OOXML_CUSTOM) => Some(EMPTY_CUSTOM.to_owned()),
            (Format::Odf, ODF_META) => Some(String::new()),
            _ => None,
        };
        out.start_file(name.as_str(), options)
            .map_err(|_| "write")?;
        match replacement {
            None => {
                let copied = std::io::copy(&mut entry.by_ref().take(budget + 1), &mut out)
                    .map_err(|_| "unreadable entry")?;
                if copied > budget {
                    return Ok(Out::TooMuch);
                }
                budget -= copied;
            }
            Some(empty) => {
                // Property parts are small: read whole, within the same budget.
                let mut xml = Vec::new();
                let read = entry
                    .by_ref()
                    .take(budget + 1)
                    .read_to_end(&mut xml)
                    .map_err(|_| "unreadable entry")?;
                let read = u64::try_from(read).unwrap_or(u64::MAX);
                if read > budget {
                    return Ok(Out::TooMuch);
                }
                budget -= read;
                let props = properties(&xml, report);
                let empty = if format == Format::Odf {
                    empty_meta(props.version.as_deref())
                } else {
                    empty
                };
                if name == OOXML_CUSTOM && props.any {
                    report.add(Removed::CustomProperties);
                }
                out.write_all(empty.as_bytes()).map_err(|_| "write")?;
            }
        }
    }
    let out = out.finish().map_err(|_| "write")?;
    Ok(Out::Bytes(out.into_inner()))
}

/// An empty ODF `meta.xml` of the document's version.
fn empty_meta(version: Option<&str>) -> String {
    let version = version
        .filter(|v| {
            !v.is_empty() && v.len() <= 8 && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        })
        .unwrap_or("1.2");
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<office:document-meta \
         xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         office:version=\"{version}\"><office:meta/></office:document-meta>"
    )
}

/// What a property part held.
struct Properties {
    /// Whether it held any property at all.
    any: bool,
    /// ODF: the document's `office:version`.
    version: Option<String>,
}

/// Reports the properties of an OOXML core, app or custom part, or of an ODF `meta.xml`,
/// by their elements' local names (the prefixes vary between producers). An XML error ends
/// the reading: what was found so far is reported, and the part is replaced all the same.
fn properties(xml: &[u8], report: &mut Report) -> Properties {
    let text = String::from_utf8_lossy(xml);
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut props = Properties {
        any: false,
        version: None,
    };
    let mut depth = 0usize;
    let mut element: Option<String> = None;
    let mut value = String::new();
    // In ODF's meta.xml, `dc:creator` is whoever saved the document last.
    let mut odf = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                if depth == 1 {
                    odf = e.local_name().as_ref() == "document-meta";
                    props.version = e
                        .try_get_attribute("office:version")
                        .ok()
                        .flatten()
                        .map(|a| a.value.into_owned());
                } else {
                    props.any = true;
                }
                element = Some(e.local_name().as_ref().to_owned());
                value.clear();
            }
            Ok(Event::Empty(e)) => {
                if depth >= 1 {
                    props.any = true;
                    if e.local_name().as_ref() == "user-defined" {
                        report.add(Removed::CustomProperties);
                    }
                }
            }
            Ok(Event::Text(t)) => value.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) => value.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    value.push(c);
                } else if let Some(s) = resolve_predefined_entity(&r) {
                    value.push_str(s);
                }
            }
            Ok(Event::End(_)) => {
                depth = depth.saturating_sub(1);
                if let Some(name) = element.take() {
                    if odf && name == "creator" {
                        report.add_value(Removed::LastModifiedBy, &value);
                    } else {
                        property(&name, &value, report);
                    }
                }
                value.clear();
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    props
}

/// Reports one property by its element's local name.
fn property(name: &str, value: &str, report: &mut Report) {
    match name {
        // OOXML core, ODF meta.
        "creator" | "initial-creator" | "Manager" => report.add_value(Removed::Author, value),
        "lastModifiedBy" => report.add_value(Removed::LastModifiedBy, value),
        "created" | "modified" | "lastPrinted" | "creation-date" | "date" | "print-date"
        | "TotalTime" | "editing-duration" => report.add(Removed::Dates),
        "title" | "subject" | "description" | "keywords" | "keyword" | "category"
        | "contentStatus" | "identifier" => report.add_value(Removed::Description, value),
        // OOXML app, ODF meta.
        "Application" | "AppVersion" | "generator" => report.add_value(Removed::Software, value),
        "Company" => report.add_value(Removed::Company, value),
        "Template" | "template" | "HyperlinkBase" => report.add_value(Removed::Description, value),
        "user-defined" | "property" => report.add(Removed::CustomProperties),
        _ => {}
    }
}
