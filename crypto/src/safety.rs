//! Safety numbers: a fingerprint of both identities that two people compare, read
//! aloud or by scanning a QR code, to rule out a machine-in-the-middle.
//!
//! As in Signal: each identity key gets a 30-digit fingerprint, and the safety number
//! is both fingerprints in a fixed order (the numerically smaller first), so it is
//! the same on both sides.
//!
//! ```text
//! h_0 = SHA-512(version_u16 | "cairn/v1 safety number" | key)
//! h_i = SHA-512(h_{i-1} | key)          for i in 1..SAFETY_NUMBER_ITERATIONS
//! digits(key) = for each of the first six 5-byte chunks c of h_last: (c as u40) mod 100000, 5 digits
//! ```
//!
//! The iterations make finding a key with a chosen fingerprint about 2¹² times
//! harder; 30 digits per side are about 99.7 bits.

use crate::identity::IdentityPublicKey;
use crate::kdf::label;
use sha2::{Digest, Sha512};
use thiserror::Error;

/// Fingerprint format version.
pub const SAFETY_NUMBER_VERSION: u16 = 1;
/// Hash iterations per fingerprint (Signal uses 5200).
pub const SAFETY_NUMBER_ITERATIONS: usize = 5200;
/// Digits per side.
pub const DIGITS_PER_SIDE: usize = 30;
/// Prefix of the QR payload.
pub const QR_PREFIX: &[u8] = b"CAIRN-SN";

/// A safety number for two identities.
#[derive(Clone, PartialEq, Eq)]
pub struct SafetyNumber {
    digits: String,
}

/// Errors when comparing a scanned safety-number code.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SafetyNumberError {
    /// The scanned code is not a Cairn safety-number code.
    #[error("this is not a Cairn safety number code")]
    NotASafetyNumber,
    /// A safety-number version this code does not know.
    #[error("the other device uses a different safety number version")]
    UnsupportedVersion,
    /// The numbers differ: the identities are not the ones this device sees.
    #[error("safety numbers do not match")]
    Mismatch,
}

impl std::fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SafetyNumber(..)")
    }
}

fn fingerprint(key: &IdentityPublicKey) -> String {
    let mut h = Sha512::new();
    h.update(SAFETY_NUMBER_VERSION.to_be_bytes());
    h.update(label::SAFETY_NUMBER);
    h.update(key.as_bytes());
    let mut d = h.finalize();
    for _ in 1..SAFETY_NUMBER_ITERATIONS {
        let mut h = Sha512::new();
        h.update(d);
        h.update(key.as_bytes());
        d = h.finalize();
    }
    let mut s = String::with_capacity(DIGITS_PER_SIDE);
    for chunk in d.chunks_exact(5).take(DIGITS_PER_SIDE / 5) {
        let v = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        s.push_str(&format!("{:05}", v % 100_000));
    }
    s
}

impl SafetyNumber {
    /// The safety number of two identities; the argument order does not matter.
    pub fn new(a: &IdentityPublicKey, b: &IdentityPublicKey) -> Self {
        let (fa, fb) = (fingerprint(a), fingerprint(b));
        let digits = if fa <= fb { fa + &fb } else { fb + &fa };
        Self { digits }
    }

    /// The 60 digits.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The digits in twelve groups of five, for reading aloud: `12345 67890 …`.
    pub fn groups(&self) -> Vec<&str> {
        (0..self.digits.len() / 5)
            .filter_map(|i| self.digits.get(i * 5..i * 5 + 5))
            .collect()
    }

    /// Groups joined by spaces, in three lines of four groups.
    pub fn display(&self) -> String {
        self.groups()
            .chunks(4)
            .map(|line| line.join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The QR payload: `CAIRN-SN` | version (2 digits) | the 60 digits. Text in QR
    /// numeric/alphanumeric range; identical on both devices.
    pub fn qr_payload(&self) -> String {
        format!(
            "{}{:02}{}",
            std::str::from_utf8(QR_PREFIX).unwrap_or("CAIRN-SN"),
            SAFETY_NUMBER_VERSION,
            self.digits
        )
    }

    /// A QR code of [`SafetyNumber::qr_payload`].
    pub fn to_qr(&self) -> Option<qrcode::QrCode> {
        qrcode::QrCode::with_error_correction_level(self.qr_payload(), qrcode::EcLevel::M).ok()
    }

    /// Compares a payload scanned from the other device with this number.
    pub fn verify_scanned(&self, scanned: &str) -> Result<(), SafetyNumberError> {
        let rest = scanned
            .trim()
            .as_bytes()
            .strip_prefix(QR_PREFIX)
            .ok_or(SafetyNumberError::NotASafetyNumber)?;
        let (version, digits) = rest
            .split_at_checked(2)
            .ok_or(SafetyNumberError::NotASafetyNumber)?;
        if version != format!("{SAFETY_NUMBER_VERSION:02}").as_bytes() {
            return Err(SafetyNumberError::UnsupportedVersion);
        }
        if bool::from(subtle::ConstantTimeEq::ct_eq(
            digits,
            self.digits.as_bytes(),
        )) {
            Ok(())
        } else {
            Err(SafetyNumberError::Mismatch)
        }
    }
}
