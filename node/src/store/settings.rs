//! The profile's own records: its identity, its profile card, and named settings.

use super::*;

impl Store {
    // -----------------------------------------------------------------------------------------
    // Identity and profile card

    /// Stores the own identity secret (opaque bytes serialised by cairn-crypto). Durable.
    pub fn set_identity(&self, secret: &SecretBytes) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::Identity,
            IDENTITY_KEY.to_vec(),
            &Record::Identity(secret.clone()),
        )?;
        self.commit(&b)
    }

    /// The own identity secret, if set.
    pub fn identity(&self) -> Result<Option<SecretBytes>, StoreError> {
        match self.get_record(TreeName::Identity, IDENTITY_KEY)? {
            None => Ok(None),
            Some(Record::Identity(s)) => Ok(Some(s)),
            Some(_) => Err(Self::wrong_type(TreeName::Identity, IDENTITY_KEY)),
        }
    }

    /// Stores the own profile card (opaque bytes serialised by cairn-crypto). Durable.
    pub fn set_profile_card(&self, card: &[u8]) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.put(
            &mut b,
            TreeName::Identity,
            CARD_KEY.to_vec(),
            &Record::ProfileCard(card.to_vec()),
        )?;
        self.commit(&b)
    }

    /// The own profile card, if set.
    pub fn profile_card(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.get_record(TreeName::Identity, CARD_KEY)? {
            None => Ok(None),
            Some(Record::ProfileCard(c)) => Ok(Some(c)),
            Some(_) => Err(Self::wrong_type(TreeName::Identity, CARD_KEY)),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Settings

    /// A setting's value.
    pub fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.keys.blind(purpose::SETTING, name.as_bytes());
        match self.get_record(TreeName::Settings, &key)? {
            None => Ok(None),
            Some(Record::Setting(v)) => Ok(Some(v)),
            Some(_) => Err(Self::wrong_type(TreeName::Settings, &key)),
        }
    }

    /// Sets a setting (name blinded, value sealed). Durable.
    pub fn set_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        self.stage_setting(&mut b, name, value)?;
        self.commit(&b)
    }

    /// Adds a setting's write to `b`.
    pub(super) fn stage_setting(
        &self,
        b: &mut WriteBatch,
        name: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.put(
            b,
            TreeName::Settings,
            self.keys.blind(purpose::SETTING, name.as_bytes()).to_vec(),
            &Record::Setting(value.to_vec()),
        )
    }

    /// Removes a setting. Durable.
    pub fn remove_setting(&self, name: &str) -> Result<(), StoreError> {
        let mut b = WriteBatch::new();
        b.remove(
            TreeName::Settings,
            self.keys.blind(purpose::SETTING, name.as_bytes()).to_vec(),
        );
        self.commit(&b)
    }
}
