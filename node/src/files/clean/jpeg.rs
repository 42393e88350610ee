//! JPEG: the segments that carry metadata (EXIF, XMP, IPTC, comments, thumbnails, further
//! images, makers' private data) are dropped; the image's own segments (tables, frame,
//! scans), its colour profile and Adobe's colour-transform flag are kept byte for byte. An
//! EXIF orientation other than "upright" is written back alone.

use super::{exif, Out, Removed, Report};
use bytes::Bytes;
use img_parts::jpeg::{markers, Jpeg, JpegSegment};

const EXIF: &[u8] = b"Exif\0\0";
const JFIF: &[u8] = b"JFIF\0";
/// A JFIF header without its thumbnail: identifier, version, units, densities, and a
/// thumbnail of 0 × 0.
const JFIF_LEN: usize = 14;

/// What becomes of one marker segment.
enum Fate {
    Keep,
    Drop,
    Replace(Bytes),
}

pub(super) fn clean(bytes: &[u8], report: &mut Report) -> Result<Out, &'static str> {
    let jpeg =
        Jpeg::from_bytes(Bytes::copy_from_slice(bytes)).map_err(|_| "not a JPEG structure")?;
    let mut orientation = None;
    let mut kept: Vec<JpegSegment> = Vec::new();
    let mut scanned = false;
    for seg in jpeg.segments() {
        if seg.has_entropy() {
            // The first scan: what follows it (further scans, the end of the image, and
            // whatever was appended after it) is one block to walk.
            // The scan's data is the rest of the file (img-parts keeps it whole).
            let data_len = seg.len_with_entropy().saturating_sub(seg.len());
            let data = bytes
                .get(bytes.len().saturating_sub(data_len)..)
                .ok_or("truncated")?;
            let tail = entropy_tail(data, report, &mut orientation)?;
            kept.push(JpegSegment::new_with_entropy(
                seg.marker(),
                seg.contents().clone(),
                Bytes::from(tail),
            ));
            scanned = true;
            break;
        }
        match fate(seg.marker(), seg.contents(), report, &mut orientation) {
            Fate::Keep => kept.push(seg.clone()),
            Fate::Drop => {}
            Fate::Replace(c) => kept.push(JpegSegment::new_with_contents(seg.marker(), c)),
        }
    }
    if !scanned {
        return Err("no image data");
    }
    if let Some(o) = orientation.filter(|&o| o != 1) {
        let tiff = exif::orientation_only(o).ok_or("orientation")?;
        let mut contents = EXIF.to_vec();
        contents.extend_from_slice(&tiff);
        let at = usize::from(
            kept.first()
                .is_some_and(|s| s.marker() == markers::APP0 && s.contents().starts_with(JFIF)),
        );
        kept.insert(
            at,
            JpegSegment::new_with_contents(markers::APP1, Bytes::from(contents)),
        );
    }
    let mut out =
        Jpeg::from_bytes(Bytes::from_static(&[0xff, 0xd8, 0xff, 0xd9])).map_err(|_| "internal")?;
    *out.segments_mut() = kept;
    Ok(Out::Bytes(out.encoder().bytes().to_vec()))
}

/// Decides one segment's fate, reporting what it held.
fn fate(marker: u8, contents: &[u8], report: &mut Report, orientation: &mut Option<u16>) -> Fate {
    match marker {
        markers::APP0 if contents.starts_with(JFIF) => {
            if contents.len() > JFIF_LEN {
                report.add(Removed::Thumbnail);
                let mut c = contents.get(..JFIF_LEN).unwrap_or(contents).to_vec();
                if let Some(t) = c.get_mut(12..14) {
                    t.fill(0);
                }
                Fate::Replace(Bytes::from(c))
            } else {
                Fate::Keep
            }
        }
        markers::APP0 if contents.starts_with(b"JFXX\0") => {
            report.add(Removed::Thumbnail);
            Fate::Drop
        }
        markers::APP1 if contents.starts_with(EXIF) => {
            let raw = contents.get(EXIF.len()..).unwrap_or_default();
            *orientation = exif::inspect(raw, report).or(*orientation);
            Fate::Drop
        }
        markers::APP1 if contents.starts_with(b"http://ns.adobe.com/") => {
            report.add(Removed::Xmp);
            Fate::Drop
        }
        markers::APP2 if contents.starts_with(b"ICC_PROFILE\0") => Fate::Keep,
        markers::APP2 if contents.starts_with(b"MPF\0") => {
            report.add(Removed::EmbeddedImages);
            Fate::Drop
        }
        markers::APP13 => {
            report.add(Removed::Iptc);
            Fate::Drop
        }
        markers::APP14 if contents.starts_with(b"Adobe") => Fate::Keep,
        markers::COM => {
            report.add_value(Removed::Description, &String::from_utf8_lossy(contents));
            Fate::Drop
        }
        markers::APP0..=markers::APP15 => {
            report.add(Removed::PrivateData);
            Fate::Drop
        }
        _ => Fate::Keep,
    }
}

/// Walks what follows the first scan's header: entropy-coded data, the marker segments of
/// further scans (kept, but for metadata ones), up to the end-of-image marker, which ends
/// the result. Anything after it (a second image, a maker's trailer) is dropped.
fn entropy_tail(
    e: &[u8],
    report: &mut Report,
    orientation: &mut Option<u16>,
) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(e.len());
    let (mut i, mut start) = (0usize, 0usize);
    while let Some(&b) = e.get(i) {
        if b != 0xff {
            i += 1;
            continue;
        }
        let next = *e.get(i + 1).ok_or("truncated")?;
        match next {
            // Stuffed 0xff, restart markers, fill bytes: part of the data.
            0x00 | markers::RST0..=markers::RST7 => i += 2,
            0xff => i += 1,
            markers::EOI => {
                out.extend_from_slice(e.get(start..i + 2).ok_or("truncated")?);
                if e.get(i + 2..)
                    .is_some_and(|rest| rest.iter().any(|&b| b != 0))
                {
                    report.add(Removed::EmbeddedImages);
                }
                return Ok(out);
            }
            markers::SOI | 0x01 => return Err("unexpected marker"),
            marker => {
                let len = e
                    .get(i + 2..i + 4)
                    .and_then(|l| <[u8; 2]>::try_from(l).ok())
                    .ok_or("truncated")?;
                let len = usize::from(u16::from_be_bytes(len));
                let end = (i + 2).checked_add(len).ok_or("truncated")?;
                let contents = e.get(i + 4..end).ok_or("truncated")?;
                let metadata = matches!(marker, markers::APP0..=markers::APP15 | markers::COM);
                if metadata && !matches!(fate(marker, contents, report, orientation), Fate::Keep) {
                    out.extend_from_slice(e.get(start..i).ok_or("truncated")?);
                    start = end;
                }
                i = end;
            }
        }
    }
    Err("no end of image")
}
