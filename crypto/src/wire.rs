//! Bounds-checked byte reading and writing for every decoder in this crate.
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
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A byte string with a one-byte length prefix, at most `max` long.
    pub(crate) fn bytes_u8(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = usize::from(self.u8()?);
        if len > max {
            return Err(WireError::TooLong);
        }
        self.take(len)
    }

    /// A byte string with a two-byte length prefix, at most `max` long.
    pub(crate) fn bytes_u16(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(WireError::TooLong);
        }
        self.take(len)
    }

    /// A boolean encoded as 0 or 1; anything else is invalid.
    pub(crate) fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Invalid),
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Succeeds only if every byte was consumed.
    pub(crate) fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing)
        }
    }
}

/// Appends fields to a byte vector. Writers are only used on values this crate
/// built and checked, so lengths are validated before writing.
pub(crate) trait Writer {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put(&mut self, bytes: &[u8]);
    /// One-byte length prefix; the caller has checked `bytes.len() <= 255`.
    fn put_bytes_u8(&mut self, bytes: &[u8]);
    /// Two-byte length prefix; the caller has checked `bytes.len() <= 65535`.
    fn put_bytes_u16(&mut self, bytes: &[u8]);
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
}
