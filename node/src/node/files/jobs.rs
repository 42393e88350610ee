//! The slow parts of a transfer — reading a file from disk, cleaning it, sealing it into the
//! vault, checking or writing out a received one — as jobs the shell runs away from the event
//! loop (`Shell::start_job`: a blocking thread in `cairn run`, at once in the simulator). Each
//! reads and writes a chunk at a time, except cleaning, which works on a copy of at most
//! `MAX_CLEAN_LEN` bytes.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use cairn_crypto::file::{sanitise_name, FileCipher, FileDescriptor, FileKey, MAX_FILE_LEN};

use crate::api::ErrorCode;
use crate::files::clean::{self, Format, MAX_CLEAN_LEN};
use crate::files::vault::{self, Slot, Vault, VaultError};

/// Work for a blocking thread.
pub enum FileJob {
    /// Read the file at `path`, clean it (unless `original`), and seal it into `slot`.
    Import {
        /// The file.
        path: PathBuf,
        /// Send it as it is.
        original: bool,
        /// Where to seal it.
        vault: Arc<dyn Vault>,
        /// Its slot.
        slot: Slot,
        /// Its new key.
        key: FileKey,
    },
    /// Only look at what cleaning the file at `path` would remove.
    Inspect {
        /// The file.
        path: PathBuf,
    },
    /// Open every chunk of a received file and check the whole against its hash.
    Verify {
        /// The vault.
        vault: Arc<dyn Vault>,
        /// Its slot.
        slot: Slot,
        /// Its descriptor.
        descriptor: FileDescriptor,
    },
    /// Write a received file out to a new file at `path`.
    Export {
        /// The vault.
        vault: Arc<dyn Vault>,
        /// Its slot.
        slot: Slot,
        /// Its descriptor.
        descriptor: FileDescriptor,
        /// Where.
        path: PathBuf,
    },
}

/// A file taken in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Its size as sealed (after cleaning).
    pub size: u64,
    /// SHA-256 of what was sealed.
    pub sha256: [u8; 32],
    /// Its name, sanitised.
    pub name: String,
    /// Its media type, or empty.
    pub media_type: String,
    /// What cleaning removed.
    pub removed: Vec<String>,
}

/// What cleaning a file would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The format recognised.
    pub format: Option<Format>,
    /// What would be removed.
    pub removed: Vec<String>,
    /// Why it cannot be cleaned, if it cannot.
    pub refused: Option<String>,
}

/// A job's outcome, for `Runtime::job_completed`.
#[derive(Debug)]
pub enum JobOutcome {
    /// `Import`.
    Imported(Result<Imported, (ErrorCode, String)>),
    /// `Inspect`.
    Inspected(Result<Inspection, String>),
    /// `Verify`: whether the file matched its hash.
    Verified(Result<bool, String>),
    /// `Export`.
    Exported(Result<(), String>),
}

impl FileJob {
    /// Does the work (blocking).
    pub fn run(self) -> JobOutcome {
        match self {
            FileJob::Import {
                path,
                original,
                vault,
                slot,
                key,
            } => JobOutcome::Imported(import(&path, original, vault.as_ref(), slot, &key)),
            FileJob::Inspect { path } => JobOutcome::Inspected(inspect(&path)),
            FileJob::Verify {
                vault,
                slot,
                descriptor,
            } => JobOutcome::Verified(
                match vault::export(vault.as_ref(), slot, &descriptor, &mut std::io::sink()) {
                    Ok(()) => Ok(true),
                    Err(VaultError::HashMismatch | VaultError::Chunk(_)) => Ok(false),
                    Err(e) => Err(e.to_string()),
                },
            ),
            FileJob::Export {
                vault,
                slot,
                descriptor,
                path,
            } => JobOutcome::Exported(
                vault::export_to_path(vault.as_ref(), slot, &descriptor, &path)
                    .map_err(|e| e.to_string()),
            ),
        }
    }
}

fn unreadable(e: impl std::fmt::Display) -> (ErrorCode, String) {
    (ErrorCode::FileUnreadable, e.to_string())
}

/// Opens `path` as a regular file of at most `MAX_FILE_LEN` bytes.
fn open(path: &PathBuf) -> Result<(File, u64), (ErrorCode, String)> {
    let f = File::open(path).map_err(unreadable)?;
    let meta = f.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(unreadable("not a regular file"));
    }
    if meta.len() > MAX_FILE_LEN {
        return Err(unreadable(format!(
            "larger than the {} GiB Cairn carries",
            MAX_FILE_LEN >> 30
        )));
    }
    Ok((f, meta.len()))
}

/// Reads the whole of a file Cairn may clean (at most `MAX_CLEAN_LEN`).
fn read_for_cleaning(f: File, size: u64) -> Result<Vec<u8>, (ErrorCode, String)> {
    if size > MAX_CLEAN_LEN as u64 {
        return Err((
            ErrorCode::NotCleaned,
            clean::CleanError::TooLarge.to_string(),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    f.take(MAX_CLEAN_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() > MAX_CLEAN_LEN {
        return Err((
            ErrorCode::NotCleaned,
            clean::CleanError::TooLarge.to_string(),
        ));
    }
    Ok(bytes)
}

fn import(
    path: &PathBuf,
    original: bool,
    vault: &dyn Vault,
    slot: Slot,
    key: &FileKey,
) -> Result<Imported, (ErrorCode, String)> {
    let (mut f, size) = open(path)?;
    let name = sanitise_name(
        &path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let sealed = |bytes: &mut dyn Read, size: u64| {
        let cipher = FileCipher::new(key, size).map_err(unreadable)?;
        vault::import(vault, slot, &cipher, bytes).map_err(|e| match e {
            VaultError::Changed => unreadable("the file changed while it was read"),
            e => (ErrorCode::StoreFailed, e.to_string()),
        })
    };
    if original {
        let mut head = [0u8; 4096];
        let n = read_head(&mut f, &mut head)?;
        let format = head.get(..n).and_then(Format::sniff);
        let mut rest = std::io::Cursor::new(head.get(..n).unwrap_or(&[]).to_vec()).chain(f);
        let sha256 = sealed(&mut rest, size)?;
        return Ok(Imported {
            size,
            sha256,
            media_type: media_type(format, &name),
            name,
            removed: Vec::new(),
        });
    }
    let bytes = read_for_cleaning(f, size)?;
    let cleaned = match clean::clean(&bytes) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err((
                ErrorCode::NotCleaned,
                "Cairn cannot remove metadata from this type of file".into(),
            ))
        }
        Err(e) => return Err((ErrorCode::NotCleaned, e.to_string())),
    };
    drop(bytes);
    let size = cleaned.bytes.len() as u64;
    let sha256 = sealed(&mut cleaned.bytes.as_slice(), size)?;
    Ok(Imported {
        size,
        sha256,
        media_type: media_type(Some(cleaned.format), &name),
        name,
        removed: cleaned.removed.iter().map(ToString::to_string).collect(),
    })
}

fn read_head(f: &mut File, head: &mut [u8]) -> Result<usize, (ErrorCode, String)> {
    let mut n = 0;
    while n < head.len() {
        match f.read(head.get_mut(n..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(unreadable(e)),
        }
    }
    Ok(n)
}

fn inspect(path: &PathBuf) -> Result<Inspection, String> {
    let (mut f, size) = open(path).map_err(|(_, e)| e)?;
    let mut head = [0u8; 4096];
    let n = read_head(&mut f, &mut head).map_err(|(_, e)| e)?;
    let format = head.get(..n).and_then(Format::sniff);
    if format.is_none() {
        return Ok(Inspection {
            format: None,
            removed: Vec::new(),
            refused: Some("Cairn cannot remove metadata from this type of file".into()),
        });
    }
    let mut bytes = head.get(..n).unwrap_or(&[]).to_vec();
    let rest = match read_for_cleaning(f, size.saturating_sub(n as u64)) {
        Ok(r) => r,
        Err((_, why)) => {
            return Ok(Inspection {
                format,
                removed: Vec::new(),
                refused: Some(why),
            })
        }
    };
    bytes.extend_from_slice(&rest);
    Ok(match clean::clean(&bytes) {
        Ok(Some(c)) => Inspection {
            format,
            removed: c.removed.iter().map(ToString::to_string).collect(),
            refused: None,
        },
        Ok(None) => Inspection {
            format,
            removed: Vec::new(),
            refused: Some("Cairn cannot remove metadata from this type of file".into()),
        },
        Err(e) => Inspection {
            format,
            removed: Vec::new(),
            refused: Some(e.to_string()),
        },
    })
}

/// A media type from the format recognised, else from the name's extension (a hint for the
/// recipient's display; nothing is opened by it).
pub fn media_type(format: Option<Format>, name: &str) -> String {
    let t = match format {
        Some(Format::Jpeg) => "image/jpeg",
        Some(Format::Png) => "image/png",
        Some(Format::WebP) => "image/webp",
        Some(Format::Pdf) => "application/pdf",
        Some(Format::Ooxml) | Some(Format::Odf) | None => {
            let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
            match ext.as_deref() {
                Some("docx") => {
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
                }
                Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                Some("pptx") => {
                    "application/vnd.openxmlformats-officedocument.presentationml.presentation"
                }
                Some("odt") => "application/vnd.oasis.opendocument.text",
                Some("ods") => "application/vnd.oasis.opendocument.spreadsheet",
                Some("odp") => "application/vnd.oasis.opendocument.presentation",
                Some("txt") => "text/plain",
                Some("mp3") => "audio/mpeg",
                Some("ogg" | "oga") => "audio/ogg",
                Some("m4a") => "audio/mp4",
                Some("mp4") => "video/mp4",
                Some("zip") => "application/zip",
                _ => "",
            }
        }
    };
    t.to_owned()
}
