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
    /// Read a stored file (to forward it), clean it again (unless `original`), and seal it
    /// under a new key into a new slot.
    Reseal {
        /// The vault (both slots are in it).
        vault: Arc<dyn Vault>,
        /// The stored file's slot.
        from: Slot,
        /// Its descriptor.
        descriptor: FileDescriptor,
        /// Forward a type Cairn cannot clean as it is.
        original: bool,
        /// The new slot.
        slot: Slot,
        /// The new key.
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
        /// The chunks hashed as they arrived (opened only once).
        from: vault::Hashed,
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
            FileJob::Reseal {
                vault,
                from,
                descriptor,
                original,
                slot,
                key,
            } => JobOutcome::Imported(reseal(
                vault.as_ref(),
                from,
                &descriptor,
                original,
                slot,
                &key,
            )),
            FileJob::Inspect { path } => JobOutcome::Inspected(inspect(&path)),
            FileJob::Verify {
                vault,
                slot,
                descriptor,
                from,
            } => JobOutcome::Verified(
                // Synced first: a file is complete only once all of it is on disk.
                match vault.sync(slot).map_err(VaultError::Io).and_then(|()| {
                    vault::verify_from(
                        vault.as_ref(),
                        slot,
                        &descriptor,
                        from,
                        &mut std::io::sink(),
                    )
                }) {
                    Ok(()) => {
                        // Complete and on disk: none of it need stay cached (`sync_slots`).
                        if let Err(e) = vault.uncache(slot, true) {
                            tracing::debug!(error = %e, "a received file left in the page cache");
                        }
                        Ok(true)
                    }
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
    let cleaned = cleaned(&bytes)?;
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

/// A stored file sealed again for forwarding: cleaned again when its type allows (the first
/// sender may have sent an original), under a new key, so the two transfers share no byte.
fn reseal(
    vault: &dyn Vault,
    from: Slot,
    descriptor: &FileDescriptor,
    original: bool,
    slot: Slot,
    key: &FileKey,
) -> Result<Imported, (ErrorCode, String)> {
    let stored = |e: std::io::Error| (ErrorCode::StoreFailed, e.to_string());
    let mut reader = vault::ChunkReader::new(vault, from, descriptor)
        .map_err(|e| (ErrorCode::StoreFailed, e.to_string()))?;
    let seal = |bytes: &mut dyn Read, size: u64| {
        let cipher = FileCipher::new(key, size).map_err(unreadable)?;
        vault::import(vault, slot, &cipher, bytes)
            .map_err(|e| (ErrorCode::StoreFailed, e.to_string()))
    };
    let mut head = Vec::new();
    (&mut reader)
        .take(4096)
        .read_to_end(&mut head)
        .map_err(stored)?;
    let format = Format::sniff(&head);
    let name = descriptor.name.clone();
    if format.is_none() || descriptor.size > MAX_CLEAN_LEN as u64 {
        if !original {
            return Err((
                ErrorCode::NotCleaned,
                match format {
                    None => UNKNOWN_TYPE.into(),
                    Some(_) => clean::CleanError::TooLarge.to_string(),
                },
            ));
        }
        let mut all = std::io::Cursor::new(head).chain(reader);
        let sha256 = seal(&mut all, descriptor.size)?;
        return Ok(Imported {
            size: descriptor.size,
            sha256,
            media_type: descriptor.media_type.clone(),
            name,
            removed: Vec::new(),
        });
    }
    let mut bytes = head;
    reader.read_to_end(&mut bytes).map_err(stored)?;
    let cleaned = cleaned(&bytes)?;
    drop(bytes);
    let size = cleaned.bytes.len() as u64;
    let sha256 = seal(&mut cleaned.bytes.as_slice(), size)?;
    Ok(Imported {
        size,
        sha256,
        media_type: media_type(Some(cleaned.format), &name),
        name,
        removed: cleaned.removed.iter().map(ToString::to_string).collect(),
    })
}

/// `bytes` cleaned, or why not (`NotCleaned`: the user may send the original instead).
fn cleaned(bytes: &[u8]) -> Result<clean::Cleaned, (ErrorCode, String)> {
    match clean::clean(bytes) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err((ErrorCode::NotCleaned, UNKNOWN_TYPE.into())),
        Err(e) => Err((ErrorCode::NotCleaned, e.to_string())),
    }
}

const UNKNOWN_TYPE: &str = "Cairn cannot remove metadata from this type of file";

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
            refused: Some(UNKNOWN_TYPE.into()),
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
            refused: Some(UNKNOWN_TYPE.into()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::vault::{ChunkReader, MemVault};
    use cairn_crypto::file::FILE_ID_LEN;

    fn imported(outcome: JobOutcome) -> Result<Imported, (ErrorCode, String)> {
        match outcome {
            JobOutcome::Imported(r) => r,
            other => panic!("not an import: {other:?}"),
        }
    }

    fn read_back(vault: &MemVault, slot: Slot, i: &Imported, key: [u8; 32]) -> Vec<u8> {
        let d = FileDescriptor {
            id: [0; FILE_ID_LEN],
            name: i.name.clone(),
            media_type: i.media_type.clone(),
            size: i.size,
            sha256: i.sha256,
            key: FileKey::from_key_bytes(key),
        };
        let mut out = Vec::new();
        ChunkReader::new(vault, slot, &d)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Would catch a photo sent with its GPS position, a type Cairn cannot clean sent
    /// without the user's explicit choice, a name taken as a path, or a forwarded file
    /// that keeps the first sender's metadata (sent as an original) or its key.
    #[test]
    fn import_cleans_refuses_unknown_types_and_forwarding_cleans_again() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Arc::new(MemVault::default());
        let photo = crate::files::clean::tests::a_phone_photo();
        let path = dir.path().join("IMG_0001.jpg");
        std::fs::write(&path, &photo).unwrap();
        let job = |path: &std::path::Path, original, slot: u8, key: u8| FileJob::Import {
            path: path.to_path_buf(),
            original,
            vault: vault.clone(),
            slot: Slot([slot; 16]),
            key: FileKey::from_key_bytes([key; 32]),
        };
        let cleaned = imported(job(&path, false, 1, 1).run()).unwrap();
        assert!(
            cleaned.removed.iter().any(|r| r == "GPS position"),
            "{:?}",
            cleaned.removed
        );
        assert_eq!(
            (cleaned.name.as_str(), cleaned.media_type.as_str()),
            ("IMG_0001.jpg", "image/jpeg")
        );
        let sealed = read_back(&vault, Slot([1; 16]), &cleaned, [1; 32]);
        assert!(crate::files::clean::clean(&sealed)
            .unwrap()
            .unwrap()
            .removed
            .is_empty());
        // The original as it is, then forwarded: cleaned again, under another key.
        let original = imported(job(&path, true, 2, 2).run()).unwrap();
        assert!(original.removed.is_empty());
        assert_eq!(read_back(&vault, Slot([2; 16]), &original, [2; 32]), photo);
        let descriptor = FileDescriptor {
            id: [9; FILE_ID_LEN],
            name: original.name.clone(),
            media_type: original.media_type.clone(),
            size: original.size,
            sha256: original.sha256,
            key: FileKey::from_key_bytes([2; 32]),
        };
        let forwarded = imported(
            FileJob::Reseal {
                vault: vault.clone(),
                from: Slot([2; 16]),
                descriptor: descriptor.clone(),
                original: false,
                slot: Slot([3; 16]),
                key: FileKey::from_key_bytes([3; 32]),
            }
            .run(),
        )
        .unwrap();
        assert!(forwarded.removed.iter().any(|r| r == "GPS position"));
        assert_eq!(forwarded.sha256, cleaned.sha256, "the same clean file");
        assert_ne!(
            vault.read(Slot([3; 16]), 0, 64).unwrap(),
            vault.read(Slot([1; 16]), 0, 64).unwrap(),
            "sealed under its own key"
        );
        // Not a type Cairn cleans: refused unless sent as it is.
        let odd = dir.path().join("notes.bin");
        std::fs::write(&odd, b"\x00\x01 not a known format").unwrap();
        let refused = imported(job(&odd, false, 4, 4).run()).unwrap_err();
        assert_eq!(refused.0, ErrorCode::NotCleaned);
        assert!(imported(job(&odd, true, 5, 5).run()).is_ok());
        let missing = imported(job(&dir.path().join("gone"), true, 6, 6).run()).unwrap_err();
        assert_eq!(missing.0, ErrorCode::FileUnreadable);
        let a_dir = imported(job(dir.path(), true, 7, 7).run()).unwrap_err();
        assert_eq!(a_dir.0, ErrorCode::FileUnreadable);
    }
}
