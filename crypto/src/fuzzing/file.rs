//! The `file` target: file descriptors and sealed chunks (docs/PROTOCOL.md §25).

use crate::file::{FileCipher, FileDescriptor, FileKey, CHUNK_LEN};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The fixture's file key.
fn key() -> FileKey {
    FileKey::generate(&mut ChaCha20Rng::seed_from_u64(
        super::FIXTURE_SEED ^ 0xF11E,
    ))
}

/// Input: `mode u8 | rest`. `mode % 2`:
///
/// - 0: `rest` is a descriptor. Invariant: an accepted one is valid and re-encodes to `rest`.
/// - 1: `rest` is `size u32 | index u32 | sealed chunk` under the fixture's key (sizes up to
///   4 GiB, so that indexes past the end, short last chunks and full ones are all reached).
///   Invariant: a chunk that opens has its place's length and seals back to exactly the
///   input (STREAM is deterministic, so anything else is a forgery that was accepted); a
///   chunk that does not open is a typed error.
pub fn fuzz_file(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Some(d) = crate::wire::round_trips::<FileDescriptor>(rest) {
            assert!(d.validate().is_ok(), "decoded an invalid descriptor");
        }
        return;
    }
    let (Some(size), Some(index), Some(sealed)) = (rest.get(..4), rest.get(4..8), rest.get(8..))
    else {
        return;
    };
    let size = u64::from(u32::from_be_bytes(size.try_into().unwrap_or_default()));
    let index = u64::from(u32::from_be_bytes(index.try_into().unwrap_or_default()));
    let Ok(cipher) = FileCipher::new(&key(), size) else {
        return;
    };
    if let Ok(plain) = cipher.open(index, sealed) {
        assert_eq!(Ok(plain.len()), cipher.chunk_len(index), "chunk length");
        let again = cipher.seal(index, &plain);
        assert_eq!(
            again.as_deref(),
            Ok(sealed),
            "an opened chunk seals differently"
        );
    }
}

/// Valid inputs: descriptors of a few shapes, and sealed chunks of files around the chunk
/// boundary (a short last chunk, an empty file, a full chunk).
pub(super) fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (name, media, size) in [
        ("report.pdf", "application/pdf", 1_000_000u64),
        ("IMG_0001.jpg", "image/jpeg", 3_500_000),
        ("file", "", 0),
        (
            "Протокол заседания.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            40_000,
        ),
    ] {
        let d = FileDescriptor {
            id: [0x42; 16],
            name: name.into(),
            media_type: media.into(),
            size,
            sha256: [0x17; 32],
            key: key(),
        };
        if let Ok(bytes) = d.to_bytes() {
            out.push(super::with(0, &bytes));
        }
    }
    let chunk = CHUNK_LEN as u32;
    for (size, index) in [
        (0u32, 0u32),
        (10, 0),
        (chunk + 3, 1),
        (chunk, 0),
        (2 * chunk + 1, 1),
    ] {
        let Ok(cipher) = FileCipher::new(&key(), u64::from(size)) else {
            continue;
        };
        let Ok(len) = cipher.chunk_len(u64::from(index)) else {
            continue;
        };
        let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
        if let Ok(sealed) = cipher.seal(u64::from(index), &plain) {
            let mut v = vec![1];
            v.extend_from_slice(&size.to_be_bytes());
            v.extend_from_slice(&index.to_be_bytes());
            v.extend_from_slice(&sealed);
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches seeds that the decoders reject (they would not reach the invariants): every
    /// descriptor decodes, every chunk opens.
    #[test]
    fn seeds_are_accepted() {
        let seeds = seeds();
        assert_eq!(seeds.len(), 9);
        for s in seeds {
            if s[0] == 0 {
                assert!(FileDescriptor::from_bytes(&s[1..]).is_ok());
            } else {
                let size = u64::from(u32::from_be_bytes(s[1..5].try_into().unwrap()));
                let index = u64::from(u32::from_be_bytes(s[5..9].try_into().unwrap()));
                let cipher = FileCipher::new(&key(), size).unwrap();
                assert!(cipher.open(index, &s[9..]).is_ok());
            }
        }
    }
}
