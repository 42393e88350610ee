//! Events owed to the front end ([`Report`]): kept in the write that stored what they tell
//! of, removed once told, told again at start if a crash came in between.

use super::*;

/// Where one write keeps its reports (one record per [`MAX_REPORTS`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportKeys(Vec<[u8; 32]>);

impl ReportKeys {
    /// True if the write kept no report.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Store {
    /// Adds `reports` to `b`, under keys derived from `nonce` (unique to the write: a fresh
    /// random id, or a message id that can be confirmed only once).
    pub(super) fn stage_reports(
        &self,
        b: &mut WriteBatch,
        nonce: &[u8; 16],
        reports: &[Report],
    ) -> Result<ReportKeys, StoreError> {
        let mut keys = Vec::new();
        for (i, chunk) in reports.chunks(MAX_REPORTS).enumerate() {
            let mut data = [0u8; 20];
            data[..16].copy_from_slice(nonce);
            data[16..].copy_from_slice(&(i as u32).to_be_bytes());
            let key = self.keys.blind(purpose::UNREPORTED, &data);
            self.put(
                b,
                TreeName::Settings,
                key.to_vec(),
                &Record::Unreported(chunk.to_vec()),
            )?;
            keys.push(key);
        }
        Ok(ReportKeys(keys))
    }

    /// The reports not yet marked made, each with the keys that keep them. A damaged
    /// record is passed over (its events are lost, the history still shows them).
    pub fn unreported(&self) -> Result<Vec<(ReportKeys, Vec<Report>)>, StoreError> {
        let listing = self.scan_records(TreeName::Settings, &[])?;
        let mut out = Vec::new();
        for (key, record) in listing.items {
            if let Record::Unreported(reports) = record {
                let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else {
                    continue;
                };
                out.push((ReportKeys(vec![key]), reports));
            }
        }
        Ok(out)
    }

    /// Forgets reports that were made. Staged: lost in a crash, they are made again at the
    /// next start (a repeat the front end recognises by the message id).
    pub fn reported(&self, made: &[ReportKeys]) -> Result<Staged<()>, StoreError> {
        if made.iter().all(ReportKeys::is_empty) {
            return Ok(Staged::new(()));
        }
        let _w = lock_ignoring_poison(&self.writer);
        let mut b = WriteBatch::new();
        for k in made.iter().flat_map(|keys| &keys.0) {
            b.remove(TreeName::Settings, k.to_vec());
        }
        self.backend.apply(&b)?;
        Ok(Staged::new(()))
    }
}
