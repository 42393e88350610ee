//! Passphrase -> wrapping key, with Argon2id.
//!
//! The parameters are stored in the key file beside the salt, so they can be raised later by
//! changing the passphrase (which rewraps the master key under new parameters).

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use super::error::KdfError;
use super::secret::Passphrase;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism (lanes).
    pub p_cost: u32,
}

impl KdfParams {
    /// The minimum the store accepts in production: RFC 9106's second recommended option
    /// (64 MiB, t = 3, p = 4). Lower memory makes offline guessing on GPUs cheaper; higher costs
    /// unlock time on small laptops.
    pub const MINIMUM: KdfParams = KdfParams {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 4,
    };

    /// Upper bounds accepted from a key file, so that a crafted key file cannot make opening a
    /// profile allocate without limit: 4 GiB of memory, 64 passes, 64 lanes.
    pub const MAXIMUM: KdfParams = KdfParams {
        m_cost_kib: 4 * 1024 * 1024,
        t_cost: 64,
        p_cost: 64,
    };

    /// What a new profile gets by default (currently [`KdfParams::MINIMUM`]).
    pub fn recommended() -> Self {
        Self::MINIMUM
    }

    /// INSECURE, FOR TESTS ONLY: a tiny Argon2id cost (64 KiB, t = 1, p = 1) so that tests and
    /// benchmarks can create and open many profiles quickly. A profile created with these
    /// parameters can be brute-forced offline. [`super::Store::open`] refuses key files below
    /// [`KdfParams::MINIMUM`] unless [`super::OpenOptions::allow_insecure_kdf_for_tests`] is set.
    /// No production code path calls this.
    pub fn insecure_fast_for_tests() -> Self {
        KdfParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }

    /// True when every parameter is at least [`KdfParams::MINIMUM`].
    pub fn meets_minimum(&self) -> bool {
        self.m_cost_kib >= Self::MINIMUM.m_cost_kib
            && self.t_cost >= Self::MINIMUM.t_cost
            && self.p_cost >= Self::MINIMUM.p_cost
    }

    /// True when no parameter exceeds [`KdfParams::MAXIMUM`] and Argon2 accepts them.
    pub fn is_within_bounds(&self) -> bool {
        self.m_cost_kib <= Self::MAXIMUM.m_cost_kib
            && self.t_cost <= Self::MAXIMUM.t_cost
            && self.p_cost <= Self::MAXIMUM.p_cost
            && self.to_argon2().is_ok()
    }

    fn to_argon2(self) -> Result<Params, KdfError> {
        Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|_| KdfError::InvalidParams)
    }
}

/// Derives the 256-bit key-wrapping key from a passphrase (Argon2id v0x13).
pub(crate) fn derive_wrapping_key(
    passphrase: &Passphrase,
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, KdfError> {
    if !params.is_within_bounds() {
        return Err(KdfError::InvalidParams);
    }
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.to_argon2()?);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|_| KdfError::InvalidParams)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches someone lowering the production floor below RFC 9106's second recommendation.
    #[test]
    fn minimum_is_rfc9106_second_option() {
        assert_eq!(KdfParams::MINIMUM.m_cost_kib, 65536);
        assert_eq!(KdfParams::MINIMUM.t_cost, 3);
        assert_eq!(KdfParams::MINIMUM.p_cost, 4);
        assert!(KdfParams::recommended().meets_minimum());
        assert!(!KdfParams::insecure_fast_for_tests().meets_minimum());
    }

    /// Catches a KDF that ignores the passphrase, the salt or the parameters.
    #[test]
    fn derivation_depends_on_all_inputs() {
        let p = KdfParams::insecure_fast_for_tests();
        let a = derive_wrapping_key(&"pw".into(), &[1; 32], p).unwrap();
        let b = derive_wrapping_key(&"pw2".into(), &[1; 32], p).unwrap();
        let c = derive_wrapping_key(&"pw".into(), &[2; 32], p).unwrap();
        let d = derive_wrapping_key(&"pw".into(), &[1; 32], KdfParams { t_cost: 2, ..p }).unwrap();
        assert_ne!(*a, *b);
        assert_ne!(*a, *c);
        assert_ne!(*a, *d);
        let again = derive_wrapping_key(&"pw".into(), &[1; 32], p).unwrap();
        assert_eq!(*a, *again);
    }

    /// Catches a crafted key file asking for unbounded memory.
    #[test]
    fn out_of_bounds_params_rejected() {
        let huge = KdfParams {
            m_cost_kib: u32::MAX,
            t_cost: 3,
            p_cost: 4,
        };
        assert!(derive_wrapping_key(&"pw".into(), &[0; 32], huge).is_err());
        let zero = KdfParams {
            m_cost_kib: 64,
            t_cost: 0,
            p_cost: 1,
        };
        assert!(derive_wrapping_key(&"pw".into(), &[0; 32], zero).is_err());
    }
}
