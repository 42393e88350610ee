//! Bounds-checked byte reading and writing for every binary format of Cairn: this crate's
//! (envelopes, headers, invites, cards, session state), the node's wire protocol and
//! message content, and the store's records all read through one [`Reader`] and write
//! through one [`Writer`], and the formats that stand alone implement [`Codec`].
//!
//! Every decoder of untrusted bytes goes through [`Reader`], which never panics and
//! never indexes out of bounds: a short input is [`WireError::Truncated`], a length
//! over its limit is [`WireError::TooLong`].

use thiserror::Error;

/// A low-level decoding failure, wrapped by each operation's own error type.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended before the field was complete.
    #[error("input is truncated")]
    Truncated,
    /// A length prefix is larger than the limit for that field.
    #[error("a field is longer than its limit")]
    TooLong,
    /// Bytes remain after the last field.
    #[error("unexpected trailing bytes")]
    Trailing,
    /// A field holds a value the format does not allow.
    #[error("a field holds an invalid value")]
    Invalid,
}

/// Reads fields from a byte slice, front to back.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A byte string with a one-byte length prefix, at most `max` long.
    pub fn bytes_u8(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = usize::from(self.u8()?);
        if len > max {
            return Err(WireError::TooLong);
        }
        self.take(len)
    }

    /// A byte string with a two-byte length prefix, at most `max` long.
    pub fn bytes_u16(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(WireError::TooLong);
        }
        self.take(len)
    }

    /// A byte string with a four-byte length prefix, at most `max` long.
    pub fn bytes_u32(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(self.u32()?).map_err(|_| WireError::TooLong)?;
        if len > max {
            return Err(WireError::TooLong);
        }
        self.take(len)
    }

    /// A boolean encoded as 0 or 1; anything else is invalid.
    pub fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Invalid),
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Every byte not read yet (the reader is then at the end).
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Succeeds only if every byte was consumed.
    pub fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing)
        }
    }
}

/// Appends fields to a byte vector. Writers are only used on values this crate
/// built and checked, so lengths are validated before writing.
pub trait Writer {
    /// One byte.
    fn put_u8(&mut self, v: u8);
    /// A big-endian `u16`.
    fn put_u16(&mut self, v: u16);
    /// A big-endian `u32`.
    fn put_u32(&mut self, v: u32);
    /// A big-endian `u64`.
    fn put_u64(&mut self, v: u64);
    /// Raw bytes.
    fn put(&mut self, bytes: &[u8]);
    /// One-byte length prefix; the caller has checked `bytes.len() <= 255`.
    fn put_bytes_u8(&mut self, bytes: &[u8]);
    /// Two-byte length prefix; the caller has checked `bytes.len() <= 65535`.
    fn put_bytes_u16(&mut self, bytes: &[u8]);
    /// Four-byte length prefix; the caller has checked `bytes.len() <= u32::MAX`.
    fn put_bytes_u32(&mut self, bytes: &[u8]);
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn put_bytes_u8(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.len() <= usize::from(u8::MAX));
        self.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
        self.extend_from_slice(bytes);
    }
    fn put_bytes_u16(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.len() <= usize::from(u16::MAX));
        self.put_u16(u16::try_from(bytes.len()).unwrap_or(u16::MAX));
        self.extend_from_slice(bytes);
    }
    fn put_bytes_u32(&mut self, bytes: &[u8]) {
        self.put_u32(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        self.extend_from_slice(bytes);
    }
}

/// A binary format that stands on its own: one encoder, one decoder of untrusted bytes
/// with a typed error and a length limit. Envelopes, cards and invites here; the node's
/// requests, responses and message content. Every implementation is canonical — what the
/// decoder accepts, the encoder gives back byte for byte — which [`round_trips`] checks
/// in the fuzz targets and the property tests of every format alike.
pub trait Codec: Sized {
    /// Why a value could not be decoded (or was outside the format's limits to encode).
    type Error: std::fmt::Debug;
    /// Longest input the decoder accepts.
    const MAX_LEN: usize;
    /// Encodes the value (fails only for a value outside the format's limits).
    fn to_wire(&self) -> Result<Vec<u8>, Self::Error>;
    /// Decodes untrusted bytes: a typed error, never a panic.
    fn from_wire(bytes: &[u8]) -> Result<Self, Self::Error>;
}

/// Decodes `bytes` as a `T`; if accepted, checks that it encodes back to exactly `bytes`
/// and that the input was within [`Codec::MAX_LEN`]. Panics (it is for fuzz targets and
/// tests) when the format is not canonical.
pub fn round_trips<T: Codec>(bytes: &[u8]) -> Option<T> {
    let value = T::from_wire(bytes).ok()?;
    assert!(
        bytes.len() <= T::MAX_LEN,
        "{} accepted {} bytes, over its limit of {}",
        std::any::type_name::<T>(),
        bytes.len(),
        T::MAX_LEN
    );
    match value.to_wire() {
        Ok(again) => assert_eq!(
            again,
            bytes,
            "{} does not round-trip",
            std::any::type_name::<T>()
        ),
        Err(e) => panic!(
            "{} decoded but does not encode: {e:?}",
            std::any::type_name::<T>()
        ),
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format whose decoder ignores a trailing byte: not canonical.
    #[derive(Debug)]
    struct Lax(u8);

    impl Codec for Lax {
        type Error = WireError;
        const MAX_LEN: usize = 2;
        fn to_wire(&self) -> Result<Vec<u8>, WireError> {
            Ok(vec![self.0])
        }
        fn from_wire(bytes: &[u8]) -> Result<Self, WireError> {
            Reader::new(bytes).u8().map(Lax)
        }
    }

    /// Catches a round-trip check that lets a non-canonical decoder through.
    #[test]
    #[should_panic(expected = "does not round-trip")]
    fn a_decoder_that_ignores_bytes_is_caught() {
        // Within MAX_LEN, but the second byte is ignored.
        let _ = round_trips::<Lax>(&[7, 9]);
    }

    /// Catches a decoder that accepts more than its stated limit.
    #[test]
    #[should_panic(expected = "over its limit")]
    fn a_decoder_past_its_limit_is_caught() {
        let _ = round_trips::<Lax>(&[7, 9, 9]);
    }

    /// Catches a limit that is not checked, and a refused input taken for an accepted one.
    #[test]
    fn limits_and_refusals() {
        assert!(round_trips::<Lax>(&[]).is_none());
        assert_eq!(round_trips::<Lax>(&[7]).map(|l| l.0), Some(7));
        let mut r = Reader::new(&[0, 0, 0, 9, 1, 2]);
        assert_eq!(r.bytes_u32(8), Err(WireError::TooLong));
        let mut r = Reader::new(&[0, 0, 0, 3, 1, 2]);
        assert_eq!(r.bytes_u32(8), Err(WireError::Truncated));
        let mut v = Vec::new();
        v.put_bytes_u32(&[1, 2]);
        let mut r = Reader::new(&v);
        assert_eq!(r.bytes_u32(2), Ok(&[1u8, 2][..]));
        assert!(r.finish().is_ok());
    }

    /// Catches a length limit off by one in the one- and two-byte length prefixes (found by
    /// mutation testing): a string exactly at its limit is read, one byte more is refused.
    #[test]
    fn strings_exactly_at_their_limit_are_read() {
        for len in [0usize, 1, 200, 255] {
            let s = vec![7u8; len];
            let mut v = Vec::new();
            v.put_bytes_u8(&s);
            assert_eq!(Reader::new(&v).bytes_u8(len), Ok(&s[..]), "u8 {len}");
            if len > 0 {
                assert_eq!(Reader::new(&v).bytes_u8(len - 1), Err(WireError::TooLong));
            }
            let mut v = Vec::new();
            v.put_bytes_u16(&s);
            assert_eq!(Reader::new(&v).bytes_u16(len), Ok(&s[..]), "u16 {len}");
            if len > 0 {
                assert_eq!(Reader::new(&v).bytes_u16(len - 1), Err(WireError::TooLong));
            }
        }
    }
}
