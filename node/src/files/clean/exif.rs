//! EXIF (a TIFF structure inside JPEG, PNG and WebP files): what it says, for the report,
//! and the one field kept — the orientation, without which a photo would show on its side
//! (it says nothing of who, where or when).

use super::{Removed, Report};
use exif::{experimental::Writer, Context, Field, In, Tag, Value};
use std::io::Cursor;

/// Reports what the EXIF block `raw` (a TIFF structure, without the `Exif\0\0` prefix)
/// holds, and returns its orientation (1–8) if it has one. An unreadable block is reported
/// as a whole (it is removed all the same).
pub(super) fn inspect(raw: &[u8], report: &mut Report) -> Option<u16> {
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let parsed = match reader.read_raw(raw.to_vec()) {
        Ok(e) => e,
        Err(exif::Error::PartialResult(p)) => p.into_inner().0,
        Err(_) => {
            report.add(Removed::Unreadable);
            return None;
        }
    };
    let mut model: Option<String> = None;
    let mut serial = false;
    let mut camera = false;
    let mut orientation = None;
    for f in parsed.fields() {
        let Tag(ctx, _) = f.tag;
        if ctx == Context::Gps {
            report.add(Removed::GpsPosition);
            continue;
        }
        match f.tag {
            Tag::Orientation if f.ifd_num == In::PRIMARY => {
                orientation = f
                    .value
                    .get_uint(0)
                    .and_then(|o| u16::try_from(o).ok())
                    .filter(|o| (1..=8).contains(o));
            }
            Tag::Make | Tag::LensMake => camera = true,
            Tag::Model | Tag::LensModel => {
                camera = true;
                if model.is_none() {
                    model = ascii(&f.value).filter(|m| !m.is_empty());
                }
            }
            Tag::BodySerialNumber | Tag::LensSerialNumber | Tag::ImageUniqueID => {
                camera = true;
                serial = true;
            }
            Tag::MakerNote => report.add(Removed::MakerNotes),
            Tag::Artist | Tag::CameraOwnerName => {
                if let Some(a) = ascii(&f.value) {
                    report.add_value(Removed::Author, &a);
                }
            }
            Tag::Software => {
                if let Some(s) = ascii(&f.value) {
                    report.add_value(Removed::Software, &s);
                }
            }
            Tag::DateTime | Tag::DateTimeOriginal | Tag::DateTimeDigitized => {
                report.add(Removed::Dates)
            }
            Tag::ImageDescription | Tag::UserComment | Tag::Copyright => {
                if let Some(d) = ascii(&f.value) {
                    report.add_value(Removed::Description, &d);
                }
            }
            Tag::JPEGInterchangeFormat => report.add(Removed::Thumbnail),
            _ => {}
        }
    }
    if camera {
        report.add(Removed::Camera { model, serial });
    }
    orientation
}

/// The first string of an ASCII value, lossily decoded.
fn ascii(v: &Value) -> Option<String> {
    match v {
        Value::Ascii(parts) => parts
            .first()
            .map(|p| String::from_utf8_lossy(p).trim_end_matches('\0').to_owned()),
        _ => None,
    }
}

/// A TIFF structure holding only `orientation` (little-endian), as an EXIF block carries
/// it. `None` if the library refuses to write it (never for 1–8).
pub(super) fn orientation_only(orientation: u16) -> Option<Vec<u8>> {
    let field = Field {
        tag: Tag::Orientation,
        ifd_num: In::PRIMARY,
        value: Value::Short(vec![orientation]),
    };
    let mut w = Writer::new();
    w.push_field(&field);
    let mut out = Cursor::new(Vec::new());
    w.write(&mut out, true).ok()?;
    Some(out.into_inner())
}
