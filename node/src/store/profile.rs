//! The profile directory: where it is, what is in it, and the lock that keeps it to one process.
//!
//! ```text
//! <profile>/
//!   cairn.key   key file (Argon2id parameters, salt, wrapped master key)
//!   db/         sled database (sealed values under blinded keys)
//!   lock        empty; flock()ed exclusively while a process has the profile open
//!   creating    present only while `Store::create` runs (marks an interrupted create)
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::error::OpenError;
use super::keyfile::MAX_KEY_FILE_LEN;

/// Key file name inside a profile directory.
pub const KEY_FILE_NAME: &str = "cairn.key";
/// Database directory name inside a profile directory.
pub const DB_DIR_NAME: &str = "db";
/// Lock file name inside a profile directory.
pub const LOCK_FILE_NAME: &str = "lock";
/// Marker present only while a profile is being created.
pub const CREATING_MARKER_NAME: &str = "creating";
const KEY_FILE_TMP_NAME: &str = "cairn.key.tmp";

/// Paths of one profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfilePaths {
    /// The profile directory.
    pub dir: PathBuf,
}

impl ProfilePaths {
    /// A profile in `dir` (the `--profile DIR` override).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The default profile: `<XDG data dir>/cairn/profile` (e.g. `~/.local/share/cairn/profile`
    /// on Linux), from the `directories` crate.
    pub fn default_location() -> Result<Self, OpenError> {
        let dirs = directories::ProjectDirs::from("org", "Cairn", "cairn")
            .ok_or(OpenError::NoDefaultDirectory)?;
        Ok(Self::new(dirs.data_dir().join("profile")))
    }

    /// The key file.
    pub fn key_file(&self) -> PathBuf {
        self.dir.join(KEY_FILE_NAME)
    }

    pub(crate) fn key_file_tmp(&self) -> PathBuf {
        self.dir.join(KEY_FILE_TMP_NAME)
    }

    /// The database directory.
    pub fn db_dir(&self) -> PathBuf {
        self.dir.join(DB_DIR_NAME)
    }

    /// The vault: files sent and received, as their sealed chunks (`crate::files::vault`).
    pub fn files_dir(&self) -> PathBuf {
        self.dir.join("files")
    }

    /// Where the node's own tor keeps its state in hidden mode (`cairn run --hidden`).
    pub fn tor_dir(&self) -> PathBuf {
        self.dir.join("tor")
    }

    /// The marker of a create in progress (or interrupted).
    pub fn creating_marker(&self) -> PathBuf {
        self.dir.join(CREATING_MARKER_NAME)
    }

    /// The lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.dir.join(LOCK_FILE_NAME)
    }
}

/// An exclusive advisory lock (flock) on the profile's lock file, held while the profile is
/// open and released when this drops (or when the process dies, so a crash never leaves a
/// stale lock). Works across processes; a second open in the same process also fails because
/// flock locks belong to the open file description.
#[derive(Debug)]
pub(crate) struct ProfileLock {
    file: File,
}

impl ProfileLock {
    /// Takes the lock, creating the lock file if it is missing. Fails with
    /// [`OpenError::InUse`] at once (never waits) if someone else holds it.
    pub(crate) fn acquire(paths: &ProfilePaths) -> Result<Self, OpenError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(paths.lock_file())?;
        match fs4::fs_std::FileExt::try_lock_exclusive(&file) {
            Ok(true) => Ok(Self { file }),
            Ok(false) => Err(OpenError::InUse(paths.dir.clone())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Err(OpenError::InUse(paths.dir.clone()))
            }
            Err(e) => Err(OpenError::Io(e)),
        }
    }
}

impl Drop for ProfileLock {
    fn drop(&mut self) {
        let _ = fs4::fs_std::FileExt::unlock(&self.file);
    }
}

/// Reads the key file, refusing files longer than any valid key file.
pub(crate) fn read_key_file(paths: &ProfilePaths) -> Result<Vec<u8>, OpenError> {
    let file = match File::open(paths.key_file()) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(OpenError::NotFound(paths.dir.clone()))
        }
        Err(e) => return Err(OpenError::Io(e)),
    };
    let mut bytes = Vec::with_capacity(256);
    file.take(MAX_KEY_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Writes the key file atomically: temp file, fsync, rename over the old one, fsync the
/// directory. A crash leaves either the old or the new key file, never a torn one.
pub(crate) fn write_key_file_atomic(paths: &ProfilePaths, bytes: &[u8]) -> io::Result<()> {
    let tmp = paths.key_file_tmp();
    {
        let mut f = create_private_file(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, paths.key_file())?;
    sync_dir(&paths.dir)
}

/// Creates (truncating) a file readable only by its owner.
pub(crate) fn create_private_file(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Creates the profile directory (owner-only on unix).
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path)
}

/// fsyncs a directory so a rename or unlink in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

/// Writes the creation marker durably.
pub(crate) fn write_marker(paths: &ProfilePaths) -> io::Result<()> {
    create_private_file(&paths.creating_marker())?.sync_all()?;
    sync_dir(&paths.dir)
}

/// Removes the creation marker durably.
pub(crate) fn remove_marker(paths: &ProfilePaths) -> io::Result<()> {
    fs::remove_file(paths.creating_marker())?;
    sync_dir(&paths.dir)
}
