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
}

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
        let open = self
            .opened()
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, f)| Arc::clone(f));
        match open {
            Some(f) => f.sync_all()?,
            None => File::open(self.path(slot))?.sync_all()?,
        }
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

    fn remove(&self, slot: Slot) -> io::Result<()> {
        self.opened().retain(|(s, _)| *s != slot);
        self.named
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

/// Makes what was written to each of `slots` durable; a slot removed since is fine.
pub fn sync_slots(vault: &dyn Vault, slots: &[Slot]) -> io::Result<()> {
    for s in slots {
        match vault.sync(*s) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            r => r?,
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
mod tests {

    /// Catches a memory vault that keeps what was never synced through a crash (the
    /// simulator would then miss a chunk receipted before it was on disk), or loses what was.
    #[test]
    fn a_crash_keeps_only_what_was_synced() {
        let v = MemVault::default();
        let (a, b) = (Slot([1; 16]), Slot([2; 16]));
        v.write(a, 0, &[1; 20]).unwrap();
        v.sync(a).unwrap();
        v.write(a, 1, &[2; 20]).unwrap();
        v.write(b, 0, &[3; 20]).unwrap();
        v.crash();
        assert_eq!(v.read(a, 0, 20).unwrap(), [1; 20]);
        assert!(v.read(a, 1, 20).is_err());
        assert!(v.read(b, 0, 20).is_err());
        assert_eq!(v.slots().unwrap(), [a]);
        assert_eq!(
            sync_slots(&v, &[b]).map_err(|e| e.kind()),
            Ok(()),
            "a slot gone is fine"
        );
    }
    use super::*;
    use cairn_crypto::file::{FileKey, FILE_ID_LEN};
    use rand::{RngCore, SeedableRng};

    fn descriptor(size: u64, sha256: [u8; 32], key: [u8; 32]) -> FileDescriptor {
        FileDescriptor {
            id: [7; FILE_ID_LEN],
            name: "report.pdf".into(),
            media_type: "application/pdf".into(),
            size,
            sha256,
            key: FileKey::from_key_bytes(key),
        }
    }

    /// Would catch a chunk written at the wrong place, a last chunk cut or padded, a hash
    /// of something else than the content, plaintext on disk, or an export that overwrites.
    #[test]
    fn import_and_export_round_trip_through_a_directory_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let vault = DirVault::new(&crate::store::ProfilePaths::new(dir.path()));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for size in [
            0usize,
            1,
            CHUNK_LEN - 1,
            CHUNK_LEN,
            CHUNK_LEN + 1,
            3 * CHUNK_LEN + 17,
        ] {
            let mut content = vec![0u8; size];
            rng.fill_bytes(&mut content);
            // A recognisable run, to look for on disk.
            if size > 64 {
                content[10..42].copy_from_slice(b"SOURCE-NAME-THAT-MUST-NOT-LEAK!!");
            }
            let key = [size as u8; 32];
            let cipher = FileCipher::new(&FileKey::from_key_bytes(key), size as u64).unwrap();
            let mut slot = Slot([0; 16]);
            rng.fill_bytes(&mut slot.0);
            let sha = import(&vault, slot, &cipher, &mut content.as_slice()).unwrap();
            assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(&content)));
            let on_disk =
                std::fs::read(dir.path().join("files").join(hex::encode(slot.0))).unwrap();
            let chunks = cipher.chunks() as usize;
            assert_eq!(
                on_disk.len(),
                size + chunks * 16,
                "sealed chunks, nothing else"
            );
            assert!(!on_disk
                .windows(32)
                .any(|w| w == b"SOURCE-NAME-THAT-MUST-NOT-LEAK!!"));
            let d = descriptor(size as u64, sha, key);
            let mut out = Vec::new();
            export(&vault, slot, &d, &mut out).unwrap();
            assert_eq!(out, content, "size {size}");
            let target = dir.path().join(format!("out-{size}"));
            export_to_path(&vault, slot, &d, &target).unwrap();
            assert_eq!(std::fs::read(&target).unwrap(), content);
            assert!(
                export_to_path(&vault, slot, &d, &target).is_err(),
                "never over an existing file"
            );
            assert!(vault.slots().unwrap().contains(&slot));
            vault.remove(slot).unwrap();
            assert!(!vault.slots().unwrap().contains(&slot));
        }
    }

    /// Would catch a source that grew or shrank taken as the file, a wrong hash accepted
    /// at export (with the partial export left behind), or a swapped chunk opened.
    #[test]
    fn a_changed_source_a_wrong_hash_and_a_moved_chunk_are_refused() {
        let vault = MemVault::default();
        let key = FileKey::from_key_bytes([3; 32]);
        let size = 2 * CHUNK_LEN as u64 + 5;
        let cipher = FileCipher::new(&key, size).unwrap();
        let content = vec![9u8; size as usize];
        let short = &content[..content.len() - 1];
        assert!(matches!(
            import(&vault, Slot([1; 16]), &cipher, &mut &short[..]),
            Err(VaultError::Changed)
        ));
        let mut long = content.clone();
        long.push(0);
        assert!(matches!(
            import(&vault, Slot([1; 16]), &cipher, &mut long.as_slice()),
            Err(VaultError::Changed)
        ));
        let sha = import(&vault, Slot([2; 16]), &cipher, &mut content.as_slice()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x");
        let wrong = descriptor(size, [0; 32], [3; 32]);
        assert!(matches!(
            export_to_path(&vault, Slot([2; 16]), &wrong, &target),
            Err(VaultError::HashMismatch)
        ));
        assert!(!target.exists(), "a failed export leaves nothing");
        // Chunk 0 written over chunk 1: it does not open there.
        let c0 = vault.read(Slot([2; 16]), 0, SEALED_CHUNK_LEN).unwrap();
        vault.write(Slot([2; 16]), 1, &c0).unwrap();
        let right = descriptor(size, sha, [3; 32]);
        let mut all = Vec::new();
        ChunkReader::new(&vault, Slot([2; 16]), &right)
            .unwrap()
            .read_to_end(&mut all)
            .unwrap_err();
        assert!(matches!(
            export(&vault, Slot([2; 16]), &right, &mut io::sink()),
            Err(VaultError::Chunk(_))
        ));
    }

    /// Would catch a reader that loses, repeats or reorders bytes across chunk
    /// boundaries, or ends without checking the hash.
    #[test]
    fn a_chunk_reader_gives_the_plaintext_back_and_checks_the_hash() {
        let vault = MemVault::default();
        let size = 2 * CHUNK_LEN + 333;
        let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let key = FileKey::from_key_bytes([4; 32]);
        let cipher = FileCipher::new(&key, size as u64).unwrap();
        let sha = import(&vault, Slot([5; 16]), &cipher, &mut content.as_slice()).unwrap();
        let d = descriptor(size as u64, sha, [4; 32]);
        let mut r = ChunkReader::new(&vault, Slot([5; 16]), &d).unwrap();
        let mut out = Vec::new();
        let mut small = [0u8; 1000];
        loop {
            let n = r.read(&mut small).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&small[..n]);
        }
        assert_eq!(out, content);
        let wrong = descriptor(size as u64, [0; 32], [4; 32]);
        let mut r = ChunkReader::new(&vault, Slot([5; 16]), &wrong).unwrap();
        assert!(r.read_to_end(&mut Vec::new()).is_err(), "hash not checked");
    }

    /// Would catch chunks that arrived ahead of a gap left out of the hash (every later
    /// chunk opened again at the end), hashed twice or out of order, more than [`AHEAD`]
    /// kept in memory, a catch-up from the vault past a chunk not held, or one that reads
    /// more than it is allowed at once.
    #[test]
    fn chunks_ahead_of_a_gap_are_hashed_in_order_once_it_fills() {
        let vault = MemVault::default();
        let chunks = AHEAD as u64 + 12;
        let size = (chunks - 1) as usize * CHUNK_LEN + 9;
        let content: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let cipher = FileCipher::new(&FileKey::from_key_bytes([6; 32]), size as u64).unwrap();
        let slot = Slot([8; 16]);
        let sha = import(&vault, slot, &cipher, &mut content.as_slice()).unwrap();
        let plain = |i: u64| {
            cipher
                .open(i, &read_sealed(&vault, slot, &cipher, i).unwrap())
                .unwrap()
        };
        let all = |_: u64| true;
        // In memory: 0, then 2..=5 wait for 1.
        let mut h = Hashed::default();
        let mut nexts = Vec::new();
        for i in [0u64, 2, 3, 4, 5, 1, 6] {
            h.take(i, plain(i));
            nexts.push(h.next);
        }
        assert_eq!(nexts, [1, 1, 1, 1, 1, 6, 7]);
        h.take(3, plain(3));
        assert_eq!(h.next, 7, "a chunk hashed before is not hashed again");
        // Past the room in memory: of 9.. (waiting for 8) AHEAD are kept, the last three
        // are not, and are read back from the vault.
        for i in 7..chunks {
            if i != 8 {
                h.take(i, plain(i));
            }
        }
        assert_eq!(h.ahead.len(), AHEAD);
        h.take(8, plain(8));
        assert_eq!(
            h.next,
            9 + AHEAD as u64,
            "everything kept was hashed once 8 came"
        );
        h.catch_up(&vault, slot, &cipher, all, 64).unwrap();
        assert_eq!(h.next, chunks);
        assert_eq!(<[u8; 32]>::from(h.hash.finalize()), sha);
        // From the vault (chunks a node held before it started), at most `most` at once,
        // never past one not held.
        let mut h = Hashed::default();
        h.take(0, plain(0));
        h.catch_up(&vault, slot, &cipher, all, 2).unwrap();
        assert_eq!(h.next, 3);
        h.catch_up(&vault, slot, &cipher, |i| i != 5, 64).unwrap();
        assert_eq!(h.next, 5);
        h.catch_up(&vault, slot, &cipher, all, u64::MAX).unwrap();
        assert_eq!(h.next, chunks);
        assert_eq!(<[u8; 32]>::from(h.hash.finalize()), sha);
    }
}
