//! Panic wipe: crypto-shredding first, then the data.
//!
//! 1. Overwrite the key file with random bytes, fsync, delete it, fsync the directory. From here
//!    on the database is undecryptable: the master key existed only wrapped in that file.
//! 2. Remove the database directory.
//! 3. Remove the lock file and the (now empty) profile directory.
//!
//! Every step tolerates "already gone", so the wipe is idempotent and resumes a half-done wipe.
//! It does not wait for the profile lock: a panic wipe must never be refused.
//!
//! Limits (also in docs/STORE.md): on SSDs and copy-on-write or journaling filesystems an
//! overwrite may land in a new block while the old one survives until the device reuses it. The
//! key file is 158 bytes and held no plaintext, only the master key sealed under the passphrase
//! key, so a surviving copy is as strong as the passphrase and the Argon2id parameters.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};

use rand::RngCore;

use super::error::WipeError;
use super::profile::{sync_dir, ProfilePaths};
use super::sled_backend::{wait_until_released, RELEASE_TIMEOUT};

fn step<T>(step: &'static str, r: io::Result<T>) -> Result<Option<T>, WipeError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(WipeError::Io { step, source }),
    }
}

/// What a wipe found and removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WipeReport {
    /// A key file was present and was overwritten and deleted.
    pub key_file_destroyed: bool,
    /// A leftover temporary key file (from an interrupted passphrase change) was destroyed.
    pub temp_key_file_destroyed: bool,
    /// A database directory was present and was removed.
    pub database_removed: bool,
    /// A vault of files was present and was removed (sealed chunks whose keys were in the
    /// database).
    pub files_removed: bool,
    /// Hidden mode's tor state (`<profile>/tor`: consensus cache, guards, which say that
    /// this profile used Tor) was present and was removed.
    pub tor_removed: bool,
}

fn shred(path: &std::path::Path, what: &'static str) -> Result<bool, WipeError> {
    let Some(meta) = step(what, fs::metadata(path))? else {
        return Ok(false);
    };
    // A key file is tiny; a longer file (damaged or replaced) is overwritten up to 1 MiB,
    // which covers any key file this store ever wrote.
    let len = usize::try_from(meta.len())
        .unwrap_or(usize::MAX)
        .clamp(256, 1 << 20);
    if let Some(mut f) = step(what, OpenOptions::new().write(true).open(path))? {
        let mut noise = vec![0u8; len];
        rand::rngs::OsRng.fill_bytes(&mut noise);
        step(what, f.write_all(&noise))?;
        step(what, f.sync_all())?;
    }
    step(what, fs::remove_file(path))?;
    Ok(true)
}

/// Wipes the profile at `paths`. Idempotent; safe on a half-wiped or damaged profile.
pub fn wipe_profile(paths: &ProfilePaths) -> Result<WipeReport, WipeError> {
    let mut report = WipeReport {
        key_file_destroyed: shred(&paths.key_file(), "destroying the key file")?,
        temp_key_file_destroyed: shred(&paths.key_file_tmp(), "destroying the temporary key file")?,
        database_removed: false,
        files_removed: false,
        tor_removed: false,
    };
    step("syncing the profile directory", sync_dir(&paths.dir))?;
    // The files and tor's state first: nothing waits on them (a running node's wipe waits
    // for its own database below, up to RELEASE_TIMEOUT).
    report.files_removed =
        step("removing the files", fs::remove_dir_all(paths.files_dir()))?.is_some();
    report.tor_removed = step(
        "removing hidden mode's tor state",
        fs::remove_dir_all(paths.tor_dir()),
    )?
    .is_some();
    // If the database was just closed in this process, let sled's background threads finish
    // before its files are removed (otherwise they may write into the directory we delete).
    let _ = wait_until_released(&paths.db_dir(), RELEASE_TIMEOUT);
    report.database_removed =
        step("removing the database", fs::remove_dir_all(paths.db_dir()))?.is_some();
    step(
        "removing the creation marker",
        fs::remove_file(paths.creating_marker()),
    )?;
    step("removing the lock file", fs::remove_file(paths.lock_file()))?;
    // Only removes the directory if it is now empty; anything else there is not ours.
    match fs::remove_dir(&paths.dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(_) => {}
    }
    Ok(report)
}

/// Clears what an interrupted `create` left (key file, temp key file, database), keeping the
/// directory, the lock file and the marker. The caller holds the profile lock.
pub(crate) fn wipe_leftovers(paths: &ProfilePaths) -> Result<(), WipeError> {
    shred(&paths.key_file(), "destroying the key file")?;
    shred(&paths.key_file_tmp(), "destroying the temporary key file")?;
    step("removing the database", fs::remove_dir_all(paths.db_dir()))?;
    step("syncing the profile directory", sync_dir(&paths.dir))?;
    Ok(())
}
