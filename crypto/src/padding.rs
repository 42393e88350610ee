//! Padding of plaintexts to a small set of bucket sizes, so the wire never reveals
//! the exact length of a message.
//!
//! Scheme: ISO/IEC 7816-4 — append `0x80`, then zero bytes up to the smallest bucket
//! that holds `len + 1` bytes. Unpadding happens only after the AEAD has
//! authenticated the plaintext, so it cannot act as a padding oracle.

use thiserror::Error;

/// Padded sizes, in bytes. Powers of two from 256 B to 64 KiB: an observer learns
/// only the size class (nine classes). Smaller steps would leak more; fewer, larger
/// steps would waste bandwidth on relays and mailboxes.
pub const PADDING_BUCKETS: [usize; 9] = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];

/// The largest plaintext that fits one envelope: the largest bucket minus the
/// padding marker. Larger content needs chunking (file transfer, later).
pub const MAX_PLAINTEXT_LEN: usize = MAX_PADDED_LEN - 1;

/// The largest bucket.
pub const MAX_PADDED_LEN: usize = 65536;
#[allow(clippy::indexing_slicing)] // compile-time check
const _: () = assert!(PADDING_BUCKETS[PADDING_BUCKETS.len() - 1] == MAX_PADDED_LEN);

/// Padding failures.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaddingError {
    /// The plaintext is longer than [`MAX_PLAINTEXT_LEN`].
    #[error("message is {len} bytes; the most one envelope carries is {max} bytes")]
    TooLarge {
        /// The plaintext length.
        len: usize,
        /// [`MAX_PLAINTEXT_LEN`].
        max: usize,
    },
    /// The padded length is not a bucket size, or the padding marker is missing.
    #[error("padding is malformed")]
    Malformed,
}

/// The bucket a plaintext of `len` bytes is padded to.
pub fn padded_len(len: usize) -> Result<usize, PaddingError> {
    PADDING_BUCKETS
        .iter()
        .copied()
        .find(|b| *b > len)
        .ok_or(PaddingError::TooLarge {
            len,
            max: MAX_PLAINTEXT_LEN,
        })
}

/// Appends `plaintext`, padded, to `out`.
pub fn pad_into(plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), PaddingError> {
    let target = padded_len(plaintext.len())?;
    out.reserve(target);
    out.extend_from_slice(plaintext);
    out.push(0x80);
    out.resize(out.len() + (target - plaintext.len() - 1), 0);
    Ok(())
}

/// Pads `plaintext` to its bucket.
pub fn pad(plaintext: &[u8]) -> Result<Vec<u8>, PaddingError> {
    let mut out = Vec::new();
    pad_into(plaintext, &mut out)?;
    Ok(out)
}

/// The length of the content inside a padded buffer.
pub fn unpadded_len(padded: &[u8]) -> Result<usize, PaddingError> {
    if !PADDING_BUCKETS.contains(&padded.len()) {
        return Err(PaddingError::Malformed);
    }
    // Skip the zero tail eight bytes at a time, then byte by byte.
    let mut end = padded.len();
    while let Some(word) = end.checked_sub(8).and_then(|s| padded.get(s..end)) {
        if word != [0u8; 8] {
            break;
        }
        end -= 8;
    }
    match padded
        .get(..end)
        .and_then(|h| h.iter().rposition(|b| *b != 0))
    {
        Some(i) if padded.get(i) == Some(&0x80) => Ok(i),
        _ => Err(PaddingError::Malformed),
    }
}

/// Removes the padding.
pub fn unpad(padded: &[u8]) -> Result<&[u8], PaddingError> {
    let len = unpadded_len(padded)?;
    padded.get(..len).ok_or(PaddingError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches an off-by-one at bucket edges (a 255-byte message must still fit 256).
    #[test]
    fn bucket_edges() {
        assert_eq!(padded_len(0).unwrap(), 256);
        assert_eq!(padded_len(255).unwrap(), 256);
        assert_eq!(padded_len(256).unwrap(), 512);
        assert_eq!(padded_len(MAX_PLAINTEXT_LEN).unwrap(), 65536);
        assert!(matches!(
            padded_len(MAX_PLAINTEXT_LEN + 1),
            Err(PaddingError::TooLarge { .. })
        ));
    }

    /// Catches padding that loses trailing zero bytes of the content or accepts junk.
    #[test]
    fn round_trip_and_rejects() {
        for len in [0usize, 1, 100, 255, 256, 1000, 4095, 4096] {
            let msg: Vec<u8> = (0..len).map(|i| (i % 3) as u8).collect(); // ends in zeros often
            let p = pad(&msg).unwrap();
            assert!(PADDING_BUCKETS.contains(&p.len()));
            assert_eq!(unpad(&p).unwrap(), &msg[..]);
        }
        assert_eq!(unpad(&[0u8; 256]), Err(PaddingError::Malformed));
        assert_eq!(unpad(&[0x80u8; 255]), Err(PaddingError::Malformed));
        let mut bad = pad(b"hi").unwrap();
        bad[2] = 0x81;
        assert_eq!(unpad(&bad), Err(PaddingError::Malformed));
    }
}
