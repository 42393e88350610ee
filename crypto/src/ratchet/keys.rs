//! The ratchet's key schedule: root key, chain keys, message keys and header keys.
//!
//! - `KDF_RK(rk, dh) = HKDF-SHA256(salt = rk, ikm = dh, info = "cairn/v1 ratchet root")`
//!   → 96 bytes: new root key | chain key | next header key.
//! - `KDF_CK(ck)`: message key = `HMAC-SHA256(ck, 0x01)`, next chain key =
//!   `HMAC-SHA256(ck, 0x02)` (the Signal specification's recommendation).

use crate::kdf::{hkdf_keys, keyed, label};
use crate::secret::secret_key_type;
use hmac::Mac;

secret_key_type!(
    /// The root key (RK): advanced by every DH ratchet step.
    RootKey
);
secret_key_type!(
    /// A sending or receiving chain key (CKs, CKr).
    ChainKey
);
secret_key_type!(
    /// A message key: encrypts exactly one message body, then is discarded.
    MessageKey
);
secret_key_type!(
    /// A header key (HKs, HKr, NHKs, NHKr): encrypts the headers of one chain.
    HeaderKey
);

impl RootKey {
    /// One root-key step with a fresh DH output.
    pub(crate) fn step(&self, dh_out: &[u8; 32]) -> (RootKey, ChainKey, HeaderKey) {
        let [rk, ck, nhk] = *hkdf_keys::<3>(self.expose(), dh_out, label::RATCHET_ROOT);
        (
            RootKey::from_bytes(rk),
            ChainKey::from_bytes(ck),
            HeaderKey::from_bytes(nhk),
        )
    }
}

impl RootKey {
    /// Protocol v4: a root-key step that also mixes a post-quantum secret
    /// (`HKDF-SHA256(salt = rk, ikm = dh ‖ secret, info = "cairn/v4 pq ratchet root")`).
    pub(crate) fn step_pq(
        &self,
        dh_out: &[u8; 32],
        secret: &[u8; 32],
    ) -> (RootKey, ChainKey, HeaderKey) {
        let mut ikm = zeroize::Zeroizing::new(Vec::with_capacity(64));
        ikm.extend_from_slice(dh_out);
        ikm.extend_from_slice(secret);
        let [rk, ck, nhk] = *hkdf_keys::<3>(self.expose(), &ikm, label::PQ_RATCHET_ROOT);
        (
            RootKey::from_bytes(rk),
            ChainKey::from_bytes(ck),
            HeaderKey::from_bytes(nhk),
        )
    }
}

impl ChainKey {
    /// One symmetric-ratchet step: the message key for this position and the next
    /// chain key.
    pub(crate) fn step(&self) -> (ChainKey, MessageKey) {
        let mac = keyed(self.expose());
        let mut m1 = mac.clone();
        m1.update(&[0x01]);
        let mut m2 = mac;
        m2.update(&[0x02]);
        let mk = MessageKey::from_bytes(m1.finalize().into_bytes().into());
        let ck = ChainKey::from_bytes(m2.finalize().into_bytes().into());
        (ck, mk)
    }

    /// The next chain key only, for a position whose message key is not kept (one HMAC
    /// instead of two).
    pub(crate) fn next(&self) -> ChainKey {
        let mut mac = keyed(self.expose());
        mac.update(&[0x02]);
        ChainKey::from_bytes(mac.finalize().into_bytes().into())
    }
}
