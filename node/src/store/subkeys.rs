//! Per-purpose subkeys derived from the master key with HKDF-SHA256, and the keyed hash that
//! blinds record keys.

use std::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::secret::MasterKey;

/// HKDF info label for the value-sealing key. Distinct labels give independent keys.
const LABEL_VALUES: &[u8] = b"cairn/store/v1/values";
/// HKDF info label for the record-key blinding key.
const LABEL_BLIND: &[u8] = b"cairn/store/v1/blind-keys";

/// The subkeys one open profile uses. Zeroized on drop; `Debug` prints no key material.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SubKeys {
    values: [u8; 32],
    blind: [u8; 32],
}

impl SubKeys {
    pub(crate) fn derive(master: &MasterKey) -> Self {
        let hk = Hkdf::<Sha256>::new(None, master.as_bytes());
        let mut values = [0u8; 32];
        let mut blind = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8160-byte output limit: expand cannot fail.
        let _ = hk.expand(LABEL_VALUES, &mut values);
        let _ = hk.expand(LABEL_BLIND, &mut blind);
        Self { values, blind }
    }

    pub(crate) fn value_key(&self) -> &[u8; 32] {
        &self.values
    }

    /// Keyed hash (HMAC-SHA256) of `data` under the blinding key, domain-separated by `purpose`
    /// (so the same alias, PeerId or message id blinds differently in different trees).
    pub(crate) fn blind(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length: new_from_slice cannot fail.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.blind) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        };
        mac.update(&(purpose.len() as u32).to_be_bytes());
        mac.update(purpose.as_bytes());
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // HMAC::new_from_slice only fails for fixed-size-key MACs; Hmac<Sha256> takes any length.
    panic!("HMAC-SHA256 rejected a 32-byte key")
}

impl fmt::Debug for SubKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubKeys(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches labels that collide (same key for two purposes) or blinding that ignores purpose.
    #[test]
    fn subkeys_are_independent() {
        let k = SubKeys::derive(&MasterKey::from_bytes([7; 32]));
        assert_ne!(k.values, k.blind);
        assert_ne!(k.values, [7; 32]);
        assert_ne!(k.blind("contact", b"x"), k.blind("peer", b"x"));
        assert_eq!(k.blind("contact", b"x"), k.blind("contact", b"x"));
        let other = SubKeys::derive(&MasterKey::from_bytes([8; 32]));
        assert_ne!(k.blind("contact", b"x"), other.blind("contact", b"x"));
        assert_eq!(format!("{k:?}"), "SubKeys(..)");
    }
}
