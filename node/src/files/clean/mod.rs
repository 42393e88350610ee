//! Removing identifying metadata from a file before it is sent (docs/PROTOCOL.md §25.4).
//!
//! A photo sent as is carries the GPS position where it was taken and the camera's serial
//! number; a PDF carries its author's name. [`clean`] recognises a file by its content (not
//! its name), takes out what identifies a person, a place, a device or a moment, and says
//! what it took out ([`Removed`], shown to the sender before anything is sent). The formats'
//! containers are rewritten with well-kept libraries (`img-parts`, `kamadak-exif`, `lopdf`,
//! `zip`, `quick-xml`); images are never re-encoded, so their pixels stay identical.
//!
//! The input is untrusted (a journalist forwards what a source sent): every cleaner returns
//! a typed [`CleanError`] for a malformed file, reads at most [`MAX_CLEAN_LEN`] bytes and
//! inflates at most [`MAX_INFLATED_LEN`], and has a fuzz target (`fuzz/fuzz_targets/clean.rs`).
//! Cleaning works on a copy in memory: a file larger than [`MAX_CLEAN_LEN`] of a format
//! Cairn cleans is refused with [`CleanError::TooLarge`], and the sender is warned as for
//! a format Cairn cannot clean.

mod exif;
mod jpeg;
mod office;
mod pdf;
mod png;
mod webp;

#[cfg(test)]
mod readers;
#[cfg(test)]
pub(crate) mod tests;

use std::fmt;

/// The largest file cleaned (in memory): 128 MiB.
pub const MAX_CLEAN_LEN: usize = 128 << 20;

/// The most an Office or OpenDocument file may inflate to while it is cleaned (a zip bomb
/// is refused, not expanded): 512 MiB.
pub const MAX_INFLATED_LEN: u64 = 512 << 20;

/// The longest value quoted in a [`Removed`] (the rest is cut and marked with `…`).
pub const MAX_SHOWN_CHARS: usize = 64;

/// A format Cairn can clean, recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    WebP,
    Pdf,
    /// Office Open XML: `.docx`, `.xlsx`, `.pptx`.
    Ooxml,
    /// OpenDocument: `.odt`, `.ods`, `.odp`.
    Odf,
}

impl Format {
    /// The format of a file from its content, or `None` for one Cairn cannot clean. A zip
    /// archive is looked into to tell Office from OpenDocument from any other archive.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(Format::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
            Some(Format::WebP)
        } else if bytes.starts_with(b"%PDF-") {
            Some(Format::Pdf)
        } else if bytes.starts_with(b"PK\x03\x04") {
            office::sniff(bytes)
        } else {
            None
        }
    }

    /// The format's name, as shown to the user.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG image",
            Format::Png => "PNG image",
            Format::WebP => "WebP image",
            Format::Pdf => "PDF document",
            Format::Ooxml => "Office document",
            Format::Odf => "OpenDocument file",
        }
    }
}

/// One kind of identifying information taken out of a file, as shown to the sender
/// (`Display`: "GPS position", "camera model and serial", "author 'J. Doe'"). Values quoted
/// come from the file and are cut to [`MAX_SHOWN_CHARS`], control characters replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// Where a photo was taken.
    GpsPosition,
    /// The camera or phone: make and model, and whether a serial number was there.
    Camera { model: Option<String>, serial: bool },
    /// Notes of the camera's maker (often serial numbers, sometimes a position).
    MakerNotes,
    /// A person named as the author or creator.
    Author(String),
    /// A person named as the last to modify the file.
    LastModifiedBy(String),
    /// The program (and often its version and platform) that made or edited the file.
    Software(String),
    /// The organisation a document was made for or by.
    Company(String),
    /// When the file was made, taken or modified.
    Dates,
    /// A title, subject, description, keywords or comment.
    Description(String),
    /// A smaller copy of the image inside the file (which the rest of the cleaning may not
    /// have touched in other tools: it can show what the image was before it was cropped).
    Thumbnail,
    /// Further images inside the file (previews, depth maps, a second exposure).
    EmbeddedImages,
    /// An XMP packet (any of the above, and editing history).
    Xmp,
    /// IPTC or Photoshop data (captions, bylines, locations).
    Iptc,
    /// Unique identifiers of the document or its editing sessions.
    DocumentIds,
    /// Custom properties set by a person or an organisation's software.
    CustomProperties,
    /// A text entry of another name (a PNG text chunk's keyword).
    Text(String),
    /// Data only a particular program reads, kept in the file for it.
    PrivateData,
    /// Metadata Cairn could not read (removed all the same).
    Unreadable,
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Removed::GpsPosition => f.write_str("GPS position"),
            Removed::Camera { model, serial } => {
                f.write_str("camera model")?;
                if let Some(m) = model {
                    write!(f, " '{m}'")?;
                }
                if *serial {
                    f.write_str(" and serial")?;
                }
                Ok(())
            }
            Removed::MakerNotes => f.write_str("maker notes of the camera"),
            Removed::Author(a) => write!(f, "author '{a}'"),
            Removed::LastModifiedBy(a) => write!(f, "last modified by '{a}'"),
            Removed::Software(s) => write!(f, "software '{s}'"),
            Removed::Company(c) => write!(f, "company '{c}'"),
            Removed::Dates => f.write_str("dates of creation and modification"),
            Removed::Description(d) => write!(f, "description '{d}'"),
            Removed::Thumbnail => f.write_str("thumbnail"),
            Removed::EmbeddedImages => f.write_str("embedded preview images"),
            Removed::Xmp => f.write_str("XMP metadata"),
            Removed::Iptc => f.write_str("IPTC metadata"),
            Removed::DocumentIds => f.write_str("document identifiers"),
            Removed::CustomProperties => f.write_str("custom properties"),
            Removed::Text(k) => write!(f, "text '{k}'"),
            Removed::PrivateData => f.write_str("application-private data"),
            Removed::Unreadable => f.write_str("metadata Cairn could not read"),
        }
    }
}

/// A file with its identifying metadata removed.
#[derive(Clone, PartialEq, Eq)]
pub struct Cleaned {
    pub format: Format,
    /// The cleaned file.
    pub bytes: Vec<u8>,
    /// What was removed, each kind once, in the order found.
    pub removed: Vec<Removed>,
}

impl fmt::Debug for Cleaned {
    /// The file's content is not printed (it is a user's document).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cleaned")
            .field("format", &self.format)
            .field("len", &self.bytes.len())
            .field("removed", &self.removed.len())
            .finish()
    }
}

/// Why a file could not be cleaned. Nothing is sent until the user chooses to send the
/// original.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CleanError {
    #[error("the file is larger than the {} MiB Cairn can clean", MAX_CLEAN_LEN >> 20)]
    TooLarge,
    #[error("the {} cannot be cleaned: {}", .0.name(), .1)]
    Malformed(Format, &'static str),
    #[error("the {} inflates to more than {} MiB", .0.name(), MAX_INFLATED_LEN >> 20)]
    Inflates(Format),
}

/// Cleans `bytes`: `Ok(None)` for a format Cairn cannot clean (the sender is warned; the
/// file is sent only if they choose to send it as it is), else the cleaned file and what
/// was removed. Never changes what a viewer shows: image pixels stay byte-identical, a
/// PDF's pages and an Office document's content are kept as they were.
pub fn clean(bytes: &[u8]) -> Result<Option<Cleaned>, CleanError> {
    let Some(format) = Format::sniff(bytes) else {
        return Ok(None);
    };
    if bytes.len() > MAX_CLEAN_LEN {
        return Err(CleanError::TooLarge);
    }
    let mut report = Report::default();
    let out = match format {
        Format::Jpeg => jpeg::clean(bytes, &mut report),
        Format::Png => png::clean(bytes, &mut report),
        Format::WebP => webp::clean(bytes, &mut report),
        Format::Pdf => pdf::clean(bytes, &mut report),
        Format::Ooxml | Format::Odf => office::clean(bytes, format, &mut report),
    }
    .map_err(|why| CleanError::Malformed(format, why))?;
    let bytes = match out {
        Out::Bytes(b) => b,
        Out::TooMuch => return Err(CleanError::Inflates(format)),
    };
    Ok(Some(Cleaned {
        format,
        bytes,
        removed: report.removed,
    }))
}

/// What a format's cleaner gives back.
enum Out {
    Bytes(Vec<u8>),
    /// An archive that inflates beyond [`MAX_INFLATED_LEN`].
    TooMuch,
}

/// What a cleaner found and removed, each kind once.
#[derive(Default)]
struct Report {
    removed: Vec<Removed>,
}

impl Report {
    fn add(&mut self, r: Removed) {
        if !self.removed.contains(&r) {
            self.removed.push(r);
        }
    }

    /// Adds a value-carrying entry if the value is not empty once shown.
    fn add_value(&mut self, make: fn(String) -> Removed, raw: &str) {
        let s = shown(raw);
        if !s.is_empty() {
            self.add(make(s));
        }
    }
}

/// A value from a file as it may be shown in a terminal: trimmed, control characters (a
/// terminal's escape sequences among them) replaced by spaces, cut to [`MAX_SHOWN_CHARS`].
pub(crate) fn shown(raw: &str) -> String {
    let clean: String = raw
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() > MAX_SHOWN_CHARS {
        let mut cut: String = clean.chars().take(MAX_SHOWN_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        clean.to_owned()
    }
}
