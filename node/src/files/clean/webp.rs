//! WebP: the EXIF and XMP chunks and unknown chunks are dropped (the extended header's flags
//! updated to match); the image, its alpha, animation and colour profile are kept byte for
//! byte. An EXIF orientation other than "upright" is written back alone.

use super::{exif, Out, Removed, Report};
use bytes::Bytes;
use img_parts::webp::{
    WebP, CHUNK_ALPH, CHUNK_ANIM, CHUNK_ANMF, CHUNK_EXIF, CHUNK_ICCP, CHUNK_VP8, CHUNK_VP8L,
    CHUNK_VP8X, CHUNK_XMP,
};
use img_parts::ImageEXIF;

const KEPT: [[u8; 4]; 7] = [
    CHUNK_VP8X, CHUNK_VP8, CHUNK_VP8L, CHUNK_ALPH, CHUNK_ANIM, CHUNK_ANMF, CHUNK_ICCP,
];

pub(super) fn clean(bytes: &[u8], report: &mut Report) -> Result<Out, &'static str> {
    let mut webp =
        WebP::from_bytes(Bytes::copy_from_slice(bytes)).map_err(|_| "not a WebP structure")?;
    if !webp.has_chunk(CHUNK_VP8) && !webp.has_chunk(CHUNK_VP8L) && !webp.has_chunk(CHUNK_ANMF) {
        return Err("no image data");
    }
    let mut orientation = None;
    if let Some(raw) = webp.exif() {
        orientation = exif::inspect(&raw, report);
    } else if webp.has_chunk(CHUNK_EXIF) {
        report.add(Removed::Unreadable);
    }
    for c in webp.chunks() {
        match c.id() {
            CHUNK_XMP => report.add(Removed::Xmp),
            id if id == CHUNK_EXIF || KEPT.contains(&id) => {}
            _ => report.add(Removed::PrivateData),
        }
    }
    webp.chunks_mut()
        .retain(|c| KEPT.contains(&c.id()) || c.id() == CHUNK_EXIF);
    // Setting the EXIF (to the orientation alone, or to nothing) also brings the extended
    // header's flags in line with the chunks that are left.
    let kept_exif = match orientation.filter(|&o| o != 1) {
        Some(o) => Some(Bytes::from(exif::orientation_only(o).ok_or("orientation")?)),
        None => None,
    };
    webp.set_exif(kept_exif);
    Ok(Out::Bytes(webp.encoder().bytes().to_vec()))
}
