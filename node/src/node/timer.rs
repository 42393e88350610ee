//! The disappearing-messages timer shared with the contact (content kind 4): when it was
//! last set, and storing a new setting.

use super::*;

impl<S: Shell> Runtime<S> {
    /// When the timer of `cid` was last set (Unix ms, by the setter's clock); 0 if never.
    pub(super) fn timer_set_at(&self, cid: &ContactId) -> u64 {
        self.profile
            .store
            .setting(&timer_setting(cid))
            .ok()
            .flatten()
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, u64::from_be_bytes)
    }

    /// Stores the timer of `cid` and when it was set (durable).
    pub(super) fn store_timer(
        &self,
        cid: &ContactId,
        seconds: Option<u64>,
        set_at_ms: u64,
    ) -> Result<(), crate::store::StoreError> {
        self.profile
            .store
            .set_disappearing_timer(cid, seconds.map(|s| s.saturating_mul(1000)))?;
        self.profile
            .store
            .set_setting(&timer_setting(cid), &set_at_ms.to_be_bytes())
    }
}

impl<S: Shell> Runtime<S> {
    /// A contact moved to a new id (a re-key with a new identity key): so does the record
    /// of when its timer was last set.
    pub(super) fn move_timer_setting(&self, old: &ContactId, new: &ContactId) {
        let store = &self.profile.store;
        if let Ok(Some(v)) = store.setting(&timer_setting(old)) {
            if store.set_setting(&timer_setting(new), &v).is_ok() {
                let _ = store.remove_setting(&timer_setting(old));
            }
        }
    }
}

/// The setting holding when the disappearing timer of `cid` was last set (Unix ms).
fn timer_setting(cid: &ContactId) -> String {
    format!("timer-set-at/{}", hex(&cid.0))
}
