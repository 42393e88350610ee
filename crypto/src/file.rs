//! Files (docs/PROTOCOL.md §25): each file sent gets its own random key; its content is
//! sealed chunk by chunk with the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár,
//! "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015, as in
//! `age`): ChaCha20-Poly1305 under the file's key, each chunk's nonce made of its index and a
//! flag that marks the last chunk, so that chunks cannot be reordered, dropped, repeated,
//! cut short or extended unnoticed. A [`FileDescriptor`] (name, size, type, hash and key)
//! travels inside the ratchet; the sealed chunks travel as ordinary ratchet content and are
//! stored as they arrive — never as plaintext.
//!
//! Sans-IO like the rest of the crate: the caller reads and writes the chunks; nothing
//! here holds more than one chunk.

use crate::wire::{Codec, Reader, WireError, Writer};
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, CHACHA20_POLY1305};
use thiserror::Error;
use zeroize::Zeroizing;

/// Bytes of a file in each chunk (all but the last, which holds the rest: 0 ..= this).
/// A sealed chunk with its framing fills the largest padding bucket (64 KiB) exactly.
pub const CHUNK_LEN: usize = 64_512;
/// What sealing adds to a chunk: the Poly1305 tag.
pub const CHUNK_TAG_LEN: usize = 16;
/// A full chunk, sealed.
pub const SEALED_CHUNK_LEN: usize = CHUNK_LEN + CHUNK_TAG_LEN;
/// Largest file: 64 GiB (about a million chunks; the index always fits 32 bits).
pub const MAX_FILE_LEN: u64 = 1 << 36;
/// Longest file name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 255;
/// Longest media type (`type/subtype`).
pub const MAX_MEDIA_TYPE_LEN: usize = 127;
/// Length of a file's id.
pub const FILE_ID_LEN: usize = 16;
/// The descriptor format's version byte.
pub const DESCRIPTOR_VERSION: u8 = 1;
/// Longest encoded descriptor.
pub const MAX_DESCRIPTOR_LEN: usize =
    1 + FILE_ID_LEN + 8 + 32 + 32 + 1 + MAX_NAME_LEN + 1 + MAX_MEDIA_TYPE_LEN;
/// The name given to a file whose name sanitises to nothing.
pub const FALLBACK_NAME: &str = "file";

/// Domain separation of the chunks' associated data.
const CHUNK_LABEL: &[u8] = b"cairn/v1 file chunk";

/// Errors for files: sealing, opening and descriptors.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileError {
    /// The file is larger than [`MAX_FILE_LEN`].
    #[error("a file can be at most {MAX_FILE_LEN} bytes")]
    TooLarge,
    /// A chunk index past the file's last chunk.
    #[error("no such chunk in this file")]
    BadIndex,
    /// A chunk of the wrong length for its place in the file.
    #[error("a chunk has the wrong length for its place in the file")]
    BadLength,
    /// A sealed chunk that does not open: altered, of another file, another place or
    /// another size.
    #[error("a chunk failed authentication")]
    Forged,
    /// A file name that is empty, too long, or not in the sanitised form
    /// ([`sanitise_name`]).
    #[error("a file name must be 1 to {MAX_NAME_LEN} bytes of sanitised text")]
    BadName,
    /// A media type that is not `type/subtype` in lower-case ASCII.
    #[error("a media type must be empty or type/subtype, at most {MAX_MEDIA_TYPE_LEN} bytes")]
    BadMediaType,
    /// A descriptor of a version this code does not know.
    #[error("unknown descriptor version {0}")]
    UnknownVersion(u8),
    /// Truncated, trailing or over-long bytes.
    #[error("malformed descriptor: {0}")]
    Wire(#[from] WireError),
}

crate::secret::secret_key_type!(
    /// A file's own key: random, used for that one file (a forwarded file is sealed again
    /// under a new one, so the two transfers cannot be linked by their bytes).
    FileKey
);

impl FileKey {
    /// A fresh key from the caller's RNG.
    pub fn generate(rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng)) -> Self {
        Self(crate::secret::Secret32::random(rng))
    }

    /// The key from its 32 bytes (a stored descriptor).
    pub fn from_key_bytes(bytes: [u8; 32]) -> Self {
        Self::from_bytes(bytes)
    }

    /// The raw bytes, to store the key sealed in the profile.
    pub fn key_bytes(&self) -> &[u8; 32] {
        self.expose()
    }
}

/// Number of chunks of a file of `size` bytes: at least one (an empty file is one empty
/// last chunk, so that even it is authenticated as complete).
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_LEN as u64).max(1)
}

/// Seals and opens the chunks of one file of a known size.
///
/// The AEAD is `ring`'s ChaCha20-Poly1305 (BoringSSL's assembly), not the RustCrypto one
/// the rest of the crate uses: a chunk is 64 KiB, where its vector code is three times as
/// fast as the portable Poly1305 the workspace is built with for its small values
/// (`.cargo/config.toml`), and every byte of every file goes through it. The construction
/// and its vectors are the same (`crypto/tests/known_answers.rs` checks a chunk against the
/// RustCrypto AEAD). `ring` does not zeroize its keys, so this type overwrites its key with
/// a zero key when it drops.
pub struct FileCipher {
    aead: LessSafeKey,
    size: u64,
    chunks: u64,
}

impl Drop for FileCipher {
    fn drop(&mut self) {
        if let Ok(zero) = UnboundKey::new(&CHACHA20_POLY1305, &[0; 32]) {
            // Written in place over the file's key (same variant, same layout); the barrier
            // keeps the store from being removed as dead.
            self.aead = LessSafeKey::new(zero);
            std::hint::black_box(&self.aead);
        }
    }
}

impl std::fmt::Debug for FileCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCipher")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl FileCipher {
    /// The cipher of a file of `size` bytes under `key`.
    pub fn new(key: &FileKey, size: u64) -> Result<Self, FileError> {
        if size > MAX_FILE_LEN {
            return Err(FileError::TooLarge);
        }
        let key =
            UnboundKey::new(&CHACHA20_POLY1305, key.expose()).map_err(|_| FileError::TooLarge)?;
        Ok(Self {
            aead: LessSafeKey::new(key),
            size,
            chunks: chunk_count(size),
        })
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of chunks.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Bytes of the file in chunk `index`.
    pub fn chunk_len(&self, index: u64) -> Result<usize, FileError> {
        if index >= self.chunks {
            return Err(FileError::BadIndex);
        }
        let start = index * CHUNK_LEN as u64;
        let len = (self.size - start).min(CHUNK_LEN as u64);
        usize::try_from(len).map_err(|_| FileError::BadLength)
    }

    /// Where chunk `index` starts in the file.
    pub fn offset(&self, index: u64) -> Result<u64, FileError> {
        if index >= self.chunks {
            return Err(FileError::BadIndex);
        }
        Ok(index * CHUNK_LEN as u64)
    }

    fn nonce(&self, index: u64) -> Nonce {
        Nonce::assume_unique_for_key(self.nonce_bytes(index))
    }

    fn nonce_bytes(&self, index: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        if let Some(counter) = n.get_mut(3..11) {
            counter.copy_from_slice(&index.to_be_bytes());
        }
        if let Some(last) = n.get_mut(11) {
            *last = u8::from(index + 1 == self.chunks);
        }
        n
    }

    fn associated_data(&self) -> [u8; CHUNK_LABEL.len() + 8] {
        let mut ad = [0u8; CHUNK_LABEL.len() + 8];
        let (label, size) = ad.split_at_mut(CHUNK_LABEL.len());
        label.copy_from_slice(CHUNK_LABEL);
        size.copy_from_slice(&self.size.to_be_bytes());
        ad
    }

    /// Seals chunk `index`, whose plaintext must be exactly [`Self::chunk_len`] bytes.
    pub fn seal(&self, index: u64, plaintext: &[u8]) -> Result<Vec<u8>, FileError> {
        if plaintext.len() != self.chunk_len(index)? {
            return Err(FileError::BadLength);
        }
        let mut out = Vec::with_capacity(plaintext.len() + CHUNK_TAG_LEN);
        out.extend_from_slice(plaintext);
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                self.nonce(index),
                Aad::from(self.associated_data()),
                &mut out,
            )
            .map_err(|_| FileError::BadLength)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens sealed chunk `index`: its plaintext, or [`FileError::Forged`] if it was
    /// altered or belongs to another file, place or size.
    pub fn open(&self, index: u64, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, FileError> {
        let len = self.chunk_len(index)?;
        if sealed.len() != len + CHUNK_TAG_LEN {
            return Err(FileError::BadLength);
        }
        let (body, tag) = sealed.split_at(len);
        let tag = Tag::try_from(tag).map_err(|_| FileError::BadLength)?;
        let mut out = Zeroizing::new(body.to_vec());
        self.aead
            .open_in_place_separate_tag(
                self.nonce(index),
                Aad::from(self.associated_data()),
                tag,
                &mut out,
                0..,
            )
            .map_err(|_| FileError::Forged)?;
        Ok(out)
    }
}

/// What a receiver needs to take and open a file: sent inside the ratchet.
#[derive(Clone, PartialEq, Eq)]
pub struct FileDescriptor {
    /// The file's id (random; names the transfer on both sides).
    pub id: [u8; FILE_ID_LEN],
    /// Its name, sanitised ([`sanitise_name`]): a suggestion, never a path.
    pub name: String,
    /// Its media type (`image/jpeg`), or empty.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its content.
    pub sha256: [u8; 32],
    /// The key its chunks are sealed under.
    pub key: FileKey,
}

/// Names and keys are not printed: a file's name can say as much as its content.
impl std::fmt::Debug for FileDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDescriptor")
            .field("size", &self.size)
            .field("media_type", &self.media_type)
            .finish_non_exhaustive()
    }
}

impl FileDescriptor {
    /// Checks every field against the format's rules.
    pub fn validate(&self) -> Result<(), FileError> {
        if self.size > MAX_FILE_LEN {
            return Err(FileError::TooLarge);
        }
        if !is_sanitised(&self.name) {
            return Err(FileError::BadName);
        }
        if !is_media_type(&self.media_type) {
            return Err(FileError::BadMediaType);
        }
        Ok(())
    }

    /// The routing tag of this transfer's bulk chunks (§25.5): `HMAC-SHA256(key, "cairn/v1
    /// file bulk tag" | id)`, first 16 bytes. Only the two ends can make it (another member
    /// of a group shares the key, not this transfer's id).
    pub fn bulk_tag(&self) -> [u8; 16] {
        let mac = crate::kdf::hmac(self.key.key_bytes(), &[b"cairn/v1 file bulk tag", &self.id]);
        let mut t = [0u8; 16];
        for (t, m) in t.iter_mut().zip(mac.iter()) {
            *t = *m;
        }
        t
    }

    /// The cipher of this file's chunks.
    pub fn cipher(&self) -> Result<FileCipher, FileError> {
        FileCipher::new(&self.key, self.size)
    }

    /// The wire form (§25.2); refuses a descriptor that breaks a rule.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, FileError> {
        self.validate()?;
        let mut out = Zeroizing::new(Vec::with_capacity(MAX_DESCRIPTOR_LEN));
        out.put_u8(DESCRIPTOR_VERSION);
        out.put(&self.id);
        out.put_u64(self.size);
        out.put(&self.sha256);
        out.put(self.key.expose());
        out.put_bytes_u8(self.name.as_bytes());
        out.put_bytes_u8(self.media_type.as_bytes());
        Ok(out)
    }

    /// Decodes untrusted bytes: a typed error for anything the encoder would not write.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FileError> {
        if bytes.len() > MAX_DESCRIPTOR_LEN {
            return Err(WireError::TooLong.into());
        }
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != DESCRIPTOR_VERSION {
            return Err(FileError::UnknownVersion(version));
        }
        let id = r.array::<FILE_ID_LEN>()?;
        let size = r.u64()?;
        let sha256 = r.array::<32>()?;
        let key = Zeroizing::new(r.array::<32>()?);
        let name = std::str::from_utf8(r.bytes_u8(MAX_NAME_LEN)?)
            .map_err(|_| FileError::BadName)?
            .to_owned();
        let media_type = std::str::from_utf8(r.bytes_u8(MAX_MEDIA_TYPE_LEN)?)
            .map_err(|_| FileError::BadMediaType)?
            .to_owned();
        r.finish()?;
        let d = Self {
            id,
            name,
            media_type,
            size,
            sha256,
            key: FileKey::from_bytes(*key),
        };
        d.validate()?;
        Ok(d)
    }
}

impl Codec for FileDescriptor {
    type Error = FileError;
    const MAX_LEN: usize = MAX_DESCRIPTOR_LEN;
    fn to_wire(&self) -> Result<Vec<u8>, FileError> {
        self.to_bytes().map(|b| b.to_vec())
    }
    fn from_wire(bytes: &[u8]) -> Result<Self, FileError> {
        Self::from_bytes(bytes)
    }
}

/// Characters a file name never keeps: path separators, characters some systems refuse
/// in names, controls, and characters that reorder or hide text (a name like
/// `invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`).
fn is_refused_in_name(c: char) -> bool {
    c.is_control()
        || crate::card::is_deceptive(c)
        || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
}

/// A file name as it may travel: the last component of `raw` (never a path), refused
/// characters replaced by `_`, no leading dots or spaces (no hidden files, no `..`), no
/// trailing dots or spaces, at most [`MAX_NAME_LEN`] bytes (cut at a character, keeping the
/// extension when it is short); [`FALLBACK_NAME`] if nothing is left.
pub fn sanitise_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let replaced: String = last
        .chars()
        .map(|c| if is_refused_in_name(c) { '_' } else { c })
        .collect();
    let trimmed = replaced
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    let name = shorten(trimmed);
    if name.is_empty() {
        FALLBACK_NAME.to_owned()
    } else {
        name
    }
}

/// `name` cut to [`MAX_NAME_LEN`] bytes at a character boundary, keeping an extension of
/// up to 16 bytes.
fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME_LEN {
        return name.to_owned();
    }
    let ext = name
        .rfind('.')
        .map(|i| name.get(i..).unwrap_or(""))
        .filter(|e| e.len() <= 16)
        .unwrap_or("");
    let mut out = String::with_capacity(MAX_NAME_LEN);
    for c in name.chars() {
        if out.len() + c.len_utf8() + ext.len() > MAX_NAME_LEN {
            break;
        }
        out.push(c);
    }
    let out = out.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    format!("{out}{ext}")
}

/// Whether `name` is already in the form [`sanitise_name`] gives.
pub fn is_sanitised(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && sanitise_name(name) == name
}

/// Whether `t` is empty or `type/subtype` in lower-case ASCII letters, digits and
/// `.+-` (what the node derives from a file's content; nothing a client can use to choose
/// how to open a file).
pub fn is_media_type(t: &str) -> bool {
    if t.is_empty() {
        return true;
    }
    let allowed = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-')
            })
    };
    t.len() <= MAX_MEDIA_TYPE_LEN
        && t.split_once('/')
            .is_some_and(|(a, b)| allowed(a) && allowed(b))
}

#[cfg(test)]
mod tests;
