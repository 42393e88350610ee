//! PNG: only the chunks that make the picture are kept (header, palette, image data,
//! transparency, colour space and profile, physical size, animation); text chunks, EXIF,
//! the modification time and every other ancillary chunk are dropped. An EXIF orientation
//! other than "upright" is written back alone.

use super::{exif, Out, Removed, Report};
use bytes::Bytes;
use img_parts::png::{Png, PngChunk};
use std::io::Read;

/// The chunks kept: what a decoder needs to show the same pixels, in the same colours, at
/// the same size, animated the same way.
const KEPT: [&[u8; 4]; 19] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB",
    b"cICP", b"mDCV", b"cLLI", b"bKGD", b"hIST", b"pHYs", b"acTL", b"fcTL", b"fdAT",
];

/// How much of a compressed text is inflated to report it (the rest is not read).
const TEXT_SHOWN: u64 = 4096;

pub(super) fn clean(bytes: &[u8], report: &mut Report) -> Result<Out, &'static str> {
    let mut png =
        Png::from_bytes(Bytes::copy_from_slice(bytes)).map_err(|_| "not a PNG structure")?;
    let mut orientation = None;
    for c in png.chunks() {
        let kind = c.kind();
        if KEPT.contains(&&kind) {
            continue;
        }
        match &kind {
            b"tEXt" | b"zTXt" | b"iTXt" => text(&kind, c.contents(), report),
            b"eXIf" => orientation = exif::inspect(c.contents(), report).or(orientation),
            b"tIME" => report.add(Removed::Dates),
            _ => report.add(Removed::PrivateData),
        }
    }
    png.chunks_mut().retain(|c| KEPT.contains(&&c.kind()));
    if png.chunks().first().map(PngChunk::kind) != Some(*b"IHDR") {
        return Err("no header first");
    }
    if let Some(o) = orientation.filter(|&o| o != 1) {
        let tiff = exif::orientation_only(o).ok_or("orientation")?;
        png.chunks_mut()
            .insert(1, PngChunk::new(*b"eXIf", Bytes::from(tiff)));
    }
    Ok(Out::Bytes(png.encoder().bytes().to_vec()))
}

/// Reports a text chunk by its keyword (PNG's registered keywords), quoting its value where
/// it names a person or a program.
fn text(kind: &[u8; 4], contents: &[u8], report: &mut Report) {
    let mut parts = contents.splitn(2, |&b| b == 0);
    let keyword = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let rest = parts.next().unwrap_or_default();
    let value = match kind {
        b"tEXt" => Some(rest.iter().map(|&b| char::from(b)).collect::<String>()),
        b"zTXt" => inflate(rest.get(1..).unwrap_or_default()),
        _ => international(rest),
    };
    let value = value.unwrap_or_default();
    match keyword.as_str() {
        "Author" => report.add_value(Removed::Author, &value),
        "Software" => report.add_value(Removed::Software, &value),
        "Creation Time" => report.add(Removed::Dates),
        "Title" | "Description" | "Comment" | "Copyright" | "Disclaimer" | "Source" => {
            report.add_value(Removed::Description, &value)
        }
        "XML:com.adobe.xmp" => report.add(Removed::Xmp),
        k if k.starts_with("Raw profile type") => report.add(Removed::Unreadable),
        _ => report.add_value(Removed::Text, &keyword),
    }
}

/// An iTXt chunk's text after its keyword: compression flag and method, language tag,
/// translated keyword, text.
fn international(rest: &[u8]) -> Option<String> {
    let (&compressed, rest) = rest.split_first()?;
    let rest = rest.get(1..)?;
    let mut fields = rest.splitn(3, |&b| b == 0);
    let _language = fields.next()?;
    let _translated = fields.next()?;
    let text = fields.next()?;
    if compressed == 1 {
        inflate(text)
    } else {
        Some(String::from_utf8_lossy(text).into_owned())
    }
}

/// The first [`TEXT_SHOWN`] bytes of a zlib stream, inflated.
fn inflate(z: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(z)
        .take(TEXT_SHOWN)
        .read_to_end(&mut out)
        .ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}
