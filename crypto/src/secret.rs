//! A 32-byte secret that is zeroized on drop and never printed.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// 32 bytes of secret key material: zeroized on drop, compared in constant time,
/// and redacted from `Debug`. Each key role in the ratchet wraps this type so that
/// keys of different roles cannot be mixed up.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret32([u8; 32]);

impl Secret32 {
    /// Wraps raw bytes; the caller's copy should be zeroized by the caller.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Draws a fresh secret from the caller's RNG.
    pub fn random(rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng)) -> Self {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// The raw bytes, for key derivation and serialisation only.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for Secret32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for Secret32 {}

impl std::fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret32(<redacted>)")
    }
}

/// Declares a newtype around [`Secret32`] for one key role, with a redacted `Debug`.
macro_rules! secret_key_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
        pub struct $name(pub(crate) $crate::secret::Secret32);

        impl $name {
            /// Wraps raw bytes (from a KDF or a decoder).
            pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
                Self($crate::secret::Secret32::from_bytes(bytes))
            }
            /// The raw bytes, for key derivation and serialisation only.
            pub(crate) fn expose(&self) -> &[u8; 32] {
                self.0.expose()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}
pub(crate) use secret_key_type;

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a `Debug` that prints nothing (or the key): it names the type, and no more
    /// (a survivor of mutation testing, docs/FUZZING.md).
    #[test]
    fn debug_names_the_type_and_redacts() {
        let s = Secret32::from_bytes([0x42; 32]);
        assert_eq!(format!("{s:?}"), "Secret32(<redacted>)");
    }
}
