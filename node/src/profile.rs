//! A profile on disk, unlocked: the store plus the identity, the libp2p key and the
//! profile card it holds.

use crate::store::{
    KdfParams, OpenError, OpenOptions, Passphrase, ProfilePaths, SecretBytes, Store, StoreError,
};
use cairn_crypto::{IdentityKeyPair, ProfileCard};
use rand::rngs::OsRng;
use thiserror::Error;

const LIBP2P_KEY_SETTING: &str = "libp2p-keypair";

/// Profile failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// Opening or creating the store failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The profile lacks its identity or keys (damaged or half-created).
    #[error("the profile is incomplete: {0}")]
    Incomplete(&'static str),
    /// The display name is not acceptable.
    #[error("invalid display name: use 1 to 64 bytes without control characters")]
    BadName,
}

/// An unlocked profile.
pub struct Profile {
    /// The encrypted store (shared with the node's flush thread).
    pub store: std::sync::Arc<Store>,
    /// The long-term identity.
    pub identity: IdentityKeyPair,
    /// The libp2p key (stable PeerId).
    pub libp2p_key: libp2p::identity::Keypair,
    /// Display name.
    pub display_name: String,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Profile(..)")
    }
}

impl Profile {
    /// Creates a new profile in `paths` with `name`.
    pub fn create(
        paths: &ProfilePaths,
        passphrase: &Passphrase,
        name: &str,
        kdf: KdfParams,
        options: &OpenOptions,
    ) -> Result<Self, ProfileError> {
        let card = ProfileCard {
            display_name: name.to_owned(),
            ..ProfileCard::default()
        };
        card.validate().map_err(|_| ProfileError::BadName)?;
        let store = Store::create(paths, passphrase, kdf, options)?;
        let identity = IdentityKeyPair::generate(&mut OsRng);
        store.set_identity(&SecretBytes::from_slice(identity.secret_bytes().as_ref()))?;
        let libp2p_key = libp2p::identity::Keypair::generate_ed25519();
        let encoded = libp2p_key
            .to_protobuf_encoding()
            .map_err(|_| ProfileError::Incomplete("libp2p key"))?;
        store.set_setting(LIBP2P_KEY_SETTING, &encoded)?;
        store.set_profile_card(name.as_bytes())?;
        Ok(Self {
            store: std::sync::Arc::new(store),
            identity,
            libp2p_key,
            display_name: name.to_owned(),
        })
    }

    /// Opens and unlocks an existing profile.
    pub fn open(
        paths: &ProfilePaths,
        passphrase: &Passphrase,
        options: &OpenOptions,
    ) -> Result<Self, ProfileError> {
        let store = Store::open(paths, passphrase, options)?;
        Self::from_store(store)
    }

    /// A profile on a simulated machine (`store` over its in-memory disk), its identity and
    /// keys made from `rng` on first use.
    #[cfg(feature = "sim")]
    pub fn in_store(
        store: Store,
        name: &str,
        rng: &mut (impl rand::RngCore + rand::CryptoRng),
    ) -> Result<Self, ProfileError> {
        if store.identity()?.is_none() {
            let identity = IdentityKeyPair::generate(rng);
            store.set_identity(&SecretBytes::from_slice(identity.secret_bytes().as_ref()))?;
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let libp2p_key = libp2p::identity::Keypair::ed25519_from_bytes(seed)
                .map_err(|_| ProfileError::Incomplete("libp2p key"))?;
            let encoded = libp2p_key
                .to_protobuf_encoding()
                .map_err(|_| ProfileError::Incomplete("libp2p key"))?;
            store.set_setting(LIBP2P_KEY_SETTING, &encoded)?;
            store.set_profile_card(name.as_bytes())?;
            store.make_durable()?;
        }
        Self::from_store(store)
    }

    fn from_store(store: Store) -> Result<Self, ProfileError> {
        let secret = store
            .identity()?
            .ok_or(ProfileError::Incomplete("identity"))?;
        let bytes: [u8; 32] = secret
            .expose_secret()
            .try_into()
            .map_err(|_| ProfileError::Incomplete("identity"))?;
        let identity = IdentityKeyPair::from_secret_bytes(bytes);
        let encoded = store
            .setting(LIBP2P_KEY_SETTING)?
            .ok_or(ProfileError::Incomplete("libp2p key"))?;
        let libp2p_key = libp2p::identity::Keypair::from_protobuf_encoding(&encoded)
            .map_err(|_| ProfileError::Incomplete("libp2p key"))?;
        let name = store
            .profile_card()?
            .ok_or(ProfileError::Incomplete("profile card"))?;
        let display_name =
            String::from_utf8(name).map_err(|_| ProfileError::Incomplete("profile card"))?;
        Ok(Self {
            store: std::sync::Arc::new(store),
            identity,
            libp2p_key,
            display_name,
        })
    }
}
