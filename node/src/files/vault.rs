//! Where a profile keeps the files it sends and receives: as their **sealed** chunks
//! (`cairn_crypto::file`, under each file's own key), never as plaintext. The key lives in the
//! encrypted store; without it a slot is noise of a known length, and deleting the key and
//! the slot deletes the file.
//!
//! A slot is one file in `<profile>/files/`, named by 16 random bytes (not by the file's id,
//! which only the two ends know), with chunk `i` at offset `i × SEALED_CHUNK_LEN`. Reading,
//! sealing, opening and writing go a chunk at a time: nothing holds a whole file in memory.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cairn_crypto::file::{FileCipher, FileDescriptor, CHUNK_LEN, SEALED_CHUNK_LEN};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

/// A slot's name: 16 random bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Slot(pub [u8; 16]);

impl Slot {
    fn file_name(&self) -> String {
        hex::encode(self.0)
    }
}

/// Where sealed chunks are kept: the profile's directory, or memory for the simulator and
/// tests.
pub trait Vault: Send + Sync {
    /// Writes sealed chunk `index` of `slot` (creating the slot).
    fn write(&self, slot: Slot, index: u64, sealed: &[u8]) -> io::Result<()>;
    /// Reads `len` bytes of sealed chunk `index` of `slot`.
    fn read(&self, slot: Slot, index: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Makes what was written to `slot` durable.
    fn sync(&self, slot: Slot) -> io::Result<()>;
    /// Lets the system drop `slot`'s synced pages from its memory (a hint; nothing is
    /// lost): all of them if `whole` (nothing more is written to it), else those well
    /// before its end. A received file is read again only when it is exported, so the
    /// chunks of a transfer need not stay cached once on disk: see [`sync_slots`].
    fn uncache(&self, _slot: Slot, _whole: bool) -> io::Result<()> {
        Ok(())
    }
    /// Deletes `slot` (absent is fine).
    fn remove(&self, slot: Slot) -> io::Result<()>;
    /// Every slot held (to find slots no record names after a crash).
    fn slots(&self) -> io::Result<Vec<Slot>>;
}

/// Slots as files in a directory.
///
/// The last few slots used stay open (a transfer reads or writes its slot a chunk at a time,
/// and opening and closing it for each cost more system calls than the copy). Reads and
/// writes of a slot hold the lock for that one chunk; a sync does not hold it.
#[derive(Debug, Clone)]
pub struct DirVault {
    dir: PathBuf,
    open: Arc<Mutex<OpenSlots>>,
    /// Slots whose name in the directory this vault has synced (once is enough).
    named: Arc<Mutex<std::collections::BTreeSet<Slot>>>,
    /// How far each slot's pages were let go from the page cache ([`Vault::uncache`]).
    dropped: Arc<Mutex<BTreeMap<Slot, u64>>>,
}

/// How far short of a slot's end [`Vault::uncache`] stops: two bulk spans of sealed chunks
/// (16 MiB), past anything written since the last sync.
const UNCACHE_LAG: u64 = 2 * crate::files::transfer::BULK_SPAN * SEALED_CHUNK_LEN as u64;

/// The least [`Vault::uncache`] lets go at once (8 MiB).
const UNCACHE_BATCH: u64 = crate::files::transfer::BULK_SPAN * SEALED_CHUNK_LEN as u64;

/// Slots a [`DirVault`] keeps open, the most recently used.
const OPEN_SLOTS: usize = 8;

/// The open slots, the most recently used last.
type OpenSlots = Vec<(Slot, Arc<File>)>;

impl DirVault {
    /// The vault of a profile (`<profile>/files`).
    pub fn new(paths: &crate::store::ProfilePaths) -> Self {
        Self {
            dir: paths.files_dir(),
            open: Arc::new(Mutex::new(Vec::new())),
            named: Arc::new(Mutex::new(std::collections::BTreeSet::new())),
            dropped: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn path(&self, slot: Slot) -> PathBuf {
        self.dir.join(slot.file_name())
    }

    fn opened(&self) -> std::sync::MutexGuard<'_, OpenSlots> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `slot`'s file: the open one, else opened for reading (for a sync or a hint; not
    /// kept open).
    fn handle(&self, slot: Slot) -> io::Result<Arc<File>> {
        let open = self
            .opened()
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, f)| Arc::clone(f));
        match open {
            Some(f) => Ok(f),
            None => Ok(Arc::new(File::open(self.path(slot))?)),
        }
    }

    /// Runs `f` on `slot`'s file (opened, or created if `create`), with the lock held.
    fn with_file<T>(
        &self,
        slot: Slot,
        create: bool,
        f: impl FnOnce(&File) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut open = self.opened();
        let file = match open.iter().position(|(s, _)| *s == slot) {
            Some(i) => {
                let entry = open.remove(i);
                let file = Arc::clone(&entry.1);
                open.push(entry);
                file
            }
            None => {
                let mut options = OpenOptions::new();
                options.read(true).write(true);
                if create {
                    options.create(true).truncate(false);
                }
                let file = match options.open(self.path(slot)) {
                    Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                        std::fs::create_dir_all(&self.dir)?;
                        options.open(self.path(slot))?
                    }
                    other => other?,
                };
                let file = Arc::new(file);
                if open.len() >= OPEN_SLOTS {
                    open.remove(0);
                }
                open.push((slot, Arc::clone(&file)));
                file
            }
        };
        f(&file)
    }
}

fn offset(index: u64) -> io::Result<u64> {
    index
        .checked_mul(SEALED_CHUNK_LEN as u64)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "chunk index too large"))
}

impl Vault for DirVault {
    fn write(&self, slot: Slot, index: u64, sealed: &[u8]) -> io::Result<()> {
        let at = offset(index)?;
        self.with_file(slot, true, |mut f| {
            f.seek(SeekFrom::Start(at))?;
            f.write_all(sealed)
        })
    }

    fn read(&self, slot: Slot, index: u64, len: usize) -> io::Result<Vec<u8>> {
        let at = offset(index)?;
        self.with_file(slot, false, |mut f| {
            f.seek(SeekFrom::Start(at))?;
            let mut buf = vec![0u8; len];
            f.read_exact(&mut buf)?;
            Ok(buf)
        })
    }

    fn sync(&self, slot: Slot) -> io::Result<()> {
        // Not under the lock: the loop goes on writing while the disk catches up.
        self.handle(slot)?.sync_all()?;
        // The slot's name in the directory, too, the first time.
        let mut named = self
            .named
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !named.contains(&slot) {
            File::open(&self.dir)?.sync_all()?;
            named.insert(slot);
        }
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn uncache(&self, slot: Slot, whole: bool) -> io::Result<()> {
        let file = self.handle(slot)?;
        // Unless `whole`, up to `UNCACHE_LAG` short of the end: chunks below it were
        // written before the sync that just ended (a sender keeps at most a bulk span in
        // flight), so their pages are clean and go at once; a dirty page would only be
        // queued for writing. A batch at a time: each call walks its range.
        let len = file.metadata()?.len();
        let (end, batch) = if whole {
            (len, 1)
        } else {
            (len.saturating_sub(UNCACHE_LAG), UNCACHE_BATCH)
        };
        let mut dropped = self
            .dropped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let from = dropped.get(&slot).copied().unwrap_or(0);
        let Some(len) = end.checked_sub(from).filter(|l| *l >= batch) else {
            return Ok(());
        };
        rustix::fs::fadvise(
            &*file,
            from,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::DontNeed,
        )?;
        // A whole file is done with: nothing to remember for it.
        if whole {
            dropped.remove(&slot);
        } else {
            dropped.insert(slot, end);
        }
        Ok(())
    }

    fn remove(&self, slot: Slot) -> io::Result<()> {
        self.opened().retain(|(s, _)| *s != slot);
        self.named
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&slot);
        self.dropped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&slot);
        match std::fs::remove_file(self.path(slot)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn slots(&self) -> io::Result<Vec<Slot>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in entries {
            let name = e?.file_name();
            if let Some(b) = name
                .to_str()
                .and_then(|n| hex::decode(n).ok())
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
            {
                out.push(Slot(b));
            }
        }
        Ok(out)
    }
}

/// Slots in memory (the simulator, tests). Clones share the same slots. Like a disk, it
/// keeps what was written apart from what was synced: [`MemVault::crash`] goes back to the
/// synced bytes.
#[derive(Debug, Clone, Default)]
pub struct MemVault {
    slots: Arc<Mutex<MemSlots>>,
}

#[derive(Debug, Default)]
struct MemSlots {
    written: BTreeMap<Slot, Vec<u8>>,
    synced: BTreeMap<Slot, Vec<u8>>,
}

impl MemVault {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemSlots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loses what was written but not synced (a crash of the machine).
    pub fn crash(&self) {
        let mut s = self.lock();
        s.written = s.synced.clone();
    }
}

impl Vault for MemVault {
    fn write(&self, slot: Slot, index: u64, sealed: &[u8]) -> io::Result<()> {
        let at = usize::try_from(offset(index)?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset"))?;
        let mut slots = self.lock();
        let v = slots.written.entry(slot).or_default();
        if v.len() < at + sealed.len() {
            v.resize(at + sealed.len(), 0);
        }
        if let Some(dst) = v.get_mut(at..at + sealed.len()) {
            dst.copy_from_slice(sealed);
        }
        Ok(())
    }

    fn read(&self, slot: Slot, index: u64, len: usize) -> io::Result<Vec<u8>> {
        let at = usize::try_from(offset(index)?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset"))?;
        self.lock()
            .written
            .get(&slot)
            .and_then(|v| v.get(at..at + len))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
    }

    fn sync(&self, slot: Slot) -> io::Result<()> {
        let mut s = self.lock();
        let v = s
            .written
            .get(&slot)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        s.synced.insert(slot, v);
        Ok(())
    }

    fn remove(&self, slot: Slot) -> io::Result<()> {
        let mut s = self.lock();
        s.written.remove(&slot);
        s.synced.remove(&slot);
        Ok(())
    }

    fn slots(&self) -> io::Result<Vec<Slot>> {
        Ok(self.lock().written.keys().copied().collect())
    }
}

/// Why a file could not be taken in, checked or given out.
#[derive(Debug, Error)]
pub enum VaultError {
    /// Reading the source or writing the destination failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The source file changed size while it was read.
    #[error("the file changed while it was read")]
    Changed,
    /// A stored chunk does not open (the profile's files were altered).
    #[error("a stored chunk does not open: {0}")]
    Chunk(#[from] cairn_crypto::file::FileError),
    /// Every chunk opened but the whole does not hash to what the sender said.
    #[error("the file does not match its hash")]
    HashMismatch,
}

/// Reads `size` bytes from `source` a chunk at a time, seals each under `cipher` into
/// `slot`, and returns the SHA-256 of what was read. Makes the slot durable.
pub fn import(
    vault: &dyn Vault,
    slot: Slot,
    cipher: &FileCipher,
    source: &mut dyn Read,
) -> Result<[u8; 32], VaultError> {
    let mut hash = Sha256::new();
    let mut buf = Zeroizing::new(vec![0u8; CHUNK_LEN]);
    for index in 0..cipher.chunks() {
        let len = cipher.chunk_len(index)?;
        let chunk = buf.get_mut(..len).ok_or(VaultError::Changed)?;
        source.read_exact(chunk).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => VaultError::Changed,
            _ => VaultError::Io(e),
        })?;
        hash.update(&*chunk);
        vault.write(slot, index, &cipher.seal(index, chunk)?)?;
    }
    // Nothing may follow: a file that grew is not the file the size was taken of.
    let mut probe = [0u8; 1];
    if source.read(&mut probe)? != 0 {
        return Err(VaultError::Changed);
    }
    vault.sync(slot)?;
    Ok(hash.finalize().into())
}

/// Makes what was written to each of `slots` durable (the chunks a transfer received); a
/// slot removed since is fine. Then lets the system drop those pages from its cache
/// ([`Vault::uncache`]): nothing reads them before an export, a 1 GiB transfer would
/// otherwise push 1 GiB of the user's other cached data out, and reusing the few pages just
/// released is cheaper than taking new ones. On a virtual machine whose host takes back the
/// guest's free memory (a balloon's free page reporting, as on the machine the benchmarks
/// run on) every new page costs the host a fault: the copy into the cache ran 17 times slower once the cache
/// had grown into such pages (docs/BENCHMARKS.md).
pub fn sync_slots(vault: &dyn Vault, slots: &[Slot]) -> io::Result<()> {
    for s in slots {
        match vault.sync(*s) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            r => r?,
        }
        if let Err(e) = vault.uncache(*s, false) {
            tracing::debug!(error = %e, "synced chunks left in the page cache");
        }
    }
    Ok(())
}

/// Reads sealed chunk `index` of `slot` (its length from `cipher`).
pub fn read_sealed(
    vault: &dyn Vault,
    slot: Slot,
    cipher: &FileCipher,
    index: u64,
) -> Result<Vec<u8>, VaultError> {
    let len = cipher.chunk_len(index)? + cairn_crypto::file::CHUNK_TAG_LEN;
    Ok(vault.read(slot, index, len)?)
}

/// The SHA-256 of a file's first `next` chunks, taken as they arrived (so that the check of a
/// whole file need not open them again). Chunks arrive somewhat out of order (the requests
/// in flight share one connection): up to [`AHEAD`] opened chunks past a gap wait here for
/// it to fill.
#[derive(Clone, Default)]
pub struct Hashed {
    /// Chunks hashed.
    pub next: u64,
    /// Their hash so far.
    pub hash: Sha256,
    /// Plaintexts of chunks past `next` that came first (zeroized when dropped).
    ahead: BTreeMap<u64, Zeroizing<Vec<u8>>>,
}

/// Most opened chunks [`Hashed`] keeps past a gap: a bulk span's worth (8 MiB, what a
/// sender keeps in flight at most). Beyond it, a chunk is left to [`Hashed::catch_up`]
/// from the vault.
pub const AHEAD: usize = crate::files::transfer::BULK_SPAN as usize;

impl std::fmt::Debug for Hashed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashed")
            .field("next", &self.next)
            .field("ahead", &self.ahead.len())
            .finish_non_exhaustive()
    }
}

impl Hashed {
    /// Takes chunk `index`'s plaintext: hashed if it is the next one (with the ones kept
    /// that follow it), kept if it comes after a gap and there is room.
    pub fn take(&mut self, index: u64, plain: Zeroizing<Vec<u8>>) {
        if index == self.next {
            self.hash.update(&*plain);
            self.next += 1;
            while let Some(p) = self.ahead.remove(&self.next) {
                self.hash.update(&*p);
                self.next += 1;
            }
        } else if index > self.next && self.ahead.len() < AHEAD {
            self.ahead.insert(index, plain);
        }
    }

    /// Hashes, in order, the chunks after those hashed that `held` says are stored — the
    /// ones that arrived ahead of the one just taken — reading them back from `slot` (at
    /// most `most` of them): without it, one chunk out of order left every later chunk to
    /// be opened again at the end.
    pub fn catch_up(
        &mut self,
        vault: &dyn Vault,
        slot: Slot,
        cipher: &FileCipher,
        held: impl Fn(u64) -> bool,
        most: u64,
    ) -> Result<(), VaultError> {
        let end = cipher.chunks().min(self.next.saturating_add(most));
        while self.next < end && held(self.next) {
            let plain = match self.ahead.remove(&self.next) {
                Some(p) => p,
                None => cipher.open(self.next, &read_sealed(vault, slot, cipher, self.next)?)?,
            };
            self.take(self.next, plain);
        }
        Ok(())
    }
}

/// Opens every chunk of `slot` in order, writes the plaintext to `dest`, and checks the
/// whole against the descriptor's hash (`HashMismatch`: the caller removes what it wrote).
pub fn export(
    vault: &dyn Vault,
    slot: Slot,
    descriptor: &FileDescriptor,
    dest: &mut dyn Write,
) -> Result<(), VaultError> {
    verify_from(vault, slot, descriptor, Hashed::default(), dest)
}

/// [`export`] of the chunks after those `from` hashed (nothing is written of those).
pub fn verify_from(
    vault: &dyn Vault,
    slot: Slot,
    descriptor: &FileDescriptor,
    from: Hashed,
    dest: &mut dyn Write,
) -> Result<(), VaultError> {
    let cipher = descriptor.cipher()?;
    let Hashed { next, mut hash, .. } = from;
    for index in next..cipher.chunks() {
        let plain = cipher.open(index, &read_sealed(vault, slot, &cipher, index)?)?;
        hash.update(&*plain);
        dest.write_all(&plain)?;
    }
    if <[u8; 32]>::from(hash.finalize()) != descriptor.sha256 {
        return Err(VaultError::HashMismatch);
    }
    Ok(())
}

/// Reads a stored file's plaintext in order, a chunk at a time (to seal it again under
/// another key when it is forwarded); at its end the whole is checked against the
/// descriptor's hash, and a mismatch is an error (`InvalidData`), not an end.
pub struct ChunkReader<'a> {
    vault: &'a dyn Vault,
    slot: Slot,
    cipher: FileCipher,
    expected: [u8; 32],
    hash: Sha256,
    next: u64,
    buf: Zeroizing<Vec<u8>>,
    at: usize,
}

impl<'a> ChunkReader<'a> {
    /// A reader of the file in `slot`.
    pub fn new(
        vault: &'a dyn Vault,
        slot: Slot,
        descriptor: &FileDescriptor,
    ) -> Result<Self, VaultError> {
        Ok(Self {
            vault,
            slot,
            cipher: descriptor.cipher()?,
            expected: descriptor.sha256,
            hash: Sha256::new(),
            next: 0,
            buf: Zeroizing::new(Vec::new()),
            at: 0,
        })
    }
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.buf.len() {
            if self.next >= self.cipher.chunks() {
                let h: [u8; 32] = self.hash.clone().finalize().into();
                if h != self.expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the file does not match its hash",
                    ));
                }
                return Ok(0);
            }
            let sealed = read_sealed(self.vault, self.slot, &self.cipher, self.next)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let plain = self
                .cipher
                .open(self.next, &sealed)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            self.hash.update(&*plain);
            self.buf = plain;
            self.at = 0;
            self.next += 1;
        }
        let rest = self.buf.get(self.at..).unwrap_or(&[]);
        let n = rest.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.at += n;
        Ok(n)
    }
}

/// Writes the file in `slot` to a new file at `path` (never over an existing one), made
/// durable; on any failure nothing is left at `path`.
pub fn export_to_path(
    vault: &dyn Vault,
    slot: Slot,
    descriptor: &FileDescriptor,
    path: &Path,
) -> Result<(), VaultError> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    let result = export(vault, slot, descriptor, &mut f).and_then(|()| Ok(f.sync_all()?));
    if result.is_err() {
        drop(f);
        let _ = std::fs::remove_file(path);
    }
    result
}

#[cfg(test)]
mod tests;
