//! The mailbox store: padded, opaque envelopes kept for offline recipients under their
//! routing tags, sealed at rest (see the `relay` module).
//!
//! It keeps its records through the store's [`Backend`] (sled on a relay, the simulator's
//! in-memory disk in a simulation) in the tree [`TreeName::Mail`], each value sealed by the
//! store's [`Sealer`] under a key of its own, bound to its record key: the same storage and
//! sealing as a profile, not a second copy of them.

use super::quota::{Depositor, HeldBySource};
use crate::net::protocol::{MAX_MAIL_ITEMS, MAX_MAIL_RESPONSE_BYTES};
use crate::store::seal::{Sealer, SEAL_OVERHEAD};
use crate::store::{
    Backend, BackendError, KdfParams, KeyFile, MasterKey, Passphrase, SledBackend, TreeName,
    WriteBatch,
};
use cairn_crypto::envelope::Envelope;
use cairn_crypto::MailboxKey;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use zeroize::Zeroizing;

/// Default retention of undelivered mail.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);
/// Most envelopes kept for one routing tag.
pub const MAX_PER_TAG: usize = 2000;
/// Most bytes kept for one routing tag.
pub const MAX_BYTES_PER_TAG: u64 = 32 << 20;
/// Most bytes kept in total.
pub const MAX_TOTAL_BYTES: u64 = 2 << 30;
/// Mail for tags that no owner has claimed (see [`Mailbox::claim`]) may fill this share of
/// [`MAX_TOTAL_BYTES`], in percent; the rest is kept for mail to claimed tags, so a mailbox
/// that strangers filled with junk under tags of their own choosing still takes mail for
/// its users.
pub const OPEN_SHARE_PERCENT: u64 = 75;
/// Most claimed tags remembered (the least recently claimed are forgotten first).
pub const MAX_CLAIMED_TAGS: usize = 262_144;

/// Why a deposit was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The tag holds [`MAX_PER_TAG`] envelopes or [`MAX_BYTES_PER_TAG`] bytes.
    TagFull,
    /// The depositor's source or network holds its share
    /// ([`super::quota::MAX_HELD_PER_SOURCE`]).
    SourceFull,
    /// The mailbox is past its open share and no owner claimed the tag, or it is full.
    Full,
}

/// Mailbox failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MailboxError {
    /// Storage failed.
    #[error("mailbox storage: {0}")]
    Storage(#[from] BackendError),
    /// File system failure.
    #[error("mailbox files: {0}")]
    Io(#[from] std::io::Error),
    /// The key file is damaged.
    #[error("mailbox key file is damaged")]
    BadKeyFile,
    /// The key file is protected by a passphrase and none was given.
    #[error("the mailbox key is protected by a passphrase: pass --passphrase-file")]
    PassphraseRequired,
    /// A passphrase was given but the existing key file is not protected by one.
    #[error("the mailbox key is not protected by a passphrase; start without --passphrase-file (or start afresh with an empty --data directory)")]
    NotProtected,
    /// The passphrase does not open the key file (after the full Argon2id cost).
    #[error("wrong passphrase for the mailbox key")]
    WrongPassphrase,
    /// A record failed authentication or is malformed.
    #[error("mailbox record damaged")]
    Damaged,
}

/// What the mailbox holds under one (blinded) tag, kept in memory so a deposit's quota
/// check is one map lookup instead of a scan of the tag.
#[derive(Clone, Debug, Default)]
struct TagUse {
    count: usize,
    bytes: u64,
    /// The sequence number of the next deposit under this tag.
    next_seq: u64,
    /// Who each record deposited since this start is charged to, by sequence number.
    held: std::collections::BTreeMap<u64, (Depositor, u64)>,
}

/// The mailbox store.
///
/// A record's key is `blind(tag) ‖ seq ‖ random`: `seq` (8 bytes, big-endian) counts the
/// deposits under that tag, so a tag's mail is read back in the order it was deposited
/// (a backlog arrives in conversation order, not shuffled); the 8 random bytes keep the
/// record id unguessable. The counter is per tag, so the keys reveal no order between
/// different tags. Records written before this layout (16 random bytes) are still
/// read, before the newer ones of their tag.
pub struct Mailbox {
    backend: Box<dyn Backend>,
    sealer: Sealer,
    blind: Zeroizing<[u8; 32]>,
    /// Records held.
    records: usize,
    /// Deposits staged since the last write, applied together (one sled batch for a group
    /// of deposits) before any read and at every flush, with what each added to the counts
    /// (blinded tag, sequence number, bytes) to take back if the write fails.
    pending: WriteBatch,
    pending_counts: Vec<([u8; 16], u64, u64)>,
    retention_ms: u64,
    total: u64,
    capacity: u64,
    tags: std::collections::HashMap<[u8; 16], TagUse>,
    /// What each source holds (in memory only).
    held: HeldBySource,
    /// Blinded tags whose owner fetched them, with when (in memory only).
    claimed: std::collections::HashMap<[u8; 16], u64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn hmac32(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl Mailbox {
    /// Opens (or creates) the mailbox in `dir`, its key unprotected (see
    /// [`Mailbox::open_with`]).
    pub fn open(dir: &Path, retention: Duration) -> Result<Self, MailboxError> {
        Self::open_with(dir, retention, None)
    }

    /// Opens (or creates) the mailbox in `dir`. With a passphrase, the mailbox's random
    /// master key is kept wrapped under Argon2id(passphrase) exactly like a profile's key
    /// file (`mailbox.key` in the `CAIRNKEY` format): a seized relay disk then yields no
    /// routing tag, time or envelope without the passphrase. Without one, the key is
    /// stored as is (readable by whoever reads the disk), for relays that must start
    /// unattended.
    pub fn open_with(
        dir: &Path,
        retention: Duration,
        protect: Option<(&Passphrase, KdfParams)>,
    ) -> Result<Self, MailboxError> {
        std::fs::create_dir_all(dir)?;
        let key_path = dir.join("mailbox.key");
        let master: Zeroizing<[u8; 32]> = match std::fs::read(&key_path) {
            Ok(b) if b.len() == 32 => {
                if protect.is_some() {
                    return Err(MailboxError::NotProtected);
                }
                let mut k = Zeroizing::new([0u8; 32]);
                k.copy_from_slice(&b);
                k
            }
            Ok(b) => {
                let file = KeyFile::parse(&b).map_err(|_| MailboxError::BadKeyFile)?;
                let Some((pass, _)) = protect else {
                    return Err(MailboxError::PassphraseRequired);
                };
                let m = file
                    .unwrap_master(pass)
                    .map_err(|_| MailboxError::WrongPassphrase)?;
                Zeroizing::new(*m.as_bytes())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = Zeroizing::new([0u8; 32]);
                OsRng.fill_bytes(k.as_mut());
                match protect {
                    Some((pass, params)) => {
                        let file = KeyFile::wrap(&MasterKey::from_bytes(*k), pass, params)
                            .map_err(|_| MailboxError::BadKeyFile)?;
                        write_private(&key_path, &file.to_bytes())?;
                    }
                    None => write_private(&key_path, k.as_ref())?,
                }
                k
            }
            Err(e) => return Err(e.into()),
        };
        let backend = SledBackend::open(&dir.join("mailbox.db"))?;
        let value_key = value_key(&master);
        migrate_legacy(&backend, &value_key)?;
        Self::over(Box::new(backend), &master, retention)
    }

    /// The mailbox kept in `backend` under `master`, its counts rebuilt from what it holds.
    pub fn over(
        backend: Box<dyn Backend>,
        master: &[u8; 32],
        retention: Duration,
    ) -> Result<Self, MailboxError> {
        let mut mb = Self {
            sealer: Sealer::new(&value_key(master)),
            blind: Zeroizing::new(hmac32(master, &[b"cairn/v1 mailbox tags"])),
            backend,
            records: 0,
            pending: WriteBatch::new(),
            pending_counts: Vec::new(),
            retention_ms: u64::try_from(retention.as_millis()).unwrap_or(u64::MAX),
            total: 0,
            capacity: MAX_TOTAL_BYTES,
            tags: std::collections::HashMap::new(),
            held: HeldBySource::default(),
            claimed: std::collections::HashMap::new(),
        };
        let mut counts = Vec::new();
        mb.backend.visit_prefix(TreeName::Mail, &[], &mut |k, v| {
            if let (Some(prefix), Some(seq)) = (record_prefix(k), record_seq(k)) {
                counts.push((prefix, seq, v.len() as u64));
            }
            true
        })?;
        for (prefix, seq, len) in counts {
            mb.total += len;
            mb.records += 1;
            let t = mb.tags.entry(prefix).or_default();
            t.count += 1;
            t.bytes += len;
            t.next_seq = t.next_seq.max(seq.saturating_add(1));
        }
        Ok(mb)
    }

    /// Forgets `len` bytes of the record `seq` under `prefix`.
    fn release(&mut self, prefix: &[u8; 16], seq: Option<u64>, len: u64) {
        self.total = self.total.saturating_sub(len);
        self.records = self.records.saturating_sub(1);
        if let Some(t) = self.tags.get_mut(prefix) {
            t.count = t.count.saturating_sub(1);
            t.bytes = t.bytes.saturating_sub(len);
            if let Some((who, n)) = seq.and_then(|s| t.held.remove(&s)) {
                self.held.remove(who, n);
            }
            if t.count == 0 {
                self.tags.remove(prefix);
            }
        }
    }

    /// Records that the owner of each key's tag fetched it at `now_ms` (they hold the
    /// mailbox key): past the open share, only mail for claimed tags is taken. The relay
    /// loop claims only for peers that hold a reservation here — a user whose home relay
    /// this is — so a stranger cannot claim tags without taking a reservation, which is
    /// limited per address and network.
    pub fn claim(&mut self, keys: &[[u8; 32]], now_ms: u64) {
        if self.claimed.len() + keys.len() > MAX_CLAIMED_TAGS {
            // Forget the least recently claimed eighth (and anything expired).
            let mut times: Vec<u64> = self.claimed.values().copied().collect();
            let cut = times.len() / 8;
            let (_, nth, _) = times.select_nth_unstable(cut);
            let nth = *nth;
            let expired = now_ms.saturating_sub(self.retention_ms);
            self.claimed.retain(|_, t| *t > nth && *t >= expired);
        }
        for k in keys {
            let prefix = self.blinded(&MailboxKey::from_array(*k).tag().0);
            self.claimed.insert(prefix, now_ms);
        }
    }

    fn is_claimed(&self, prefix: &[u8; 16], now_ms: u64) -> bool {
        self.claimed
            .get(prefix)
            .is_some_and(|t| now_ms.saturating_sub(*t) < self.retention_ms)
    }

    /// Who a deposit from `source` is charged to (see [`HeldBySource`]).
    pub fn depositor(&self, source: super::quota::DepositSource) -> Depositor {
        self.held.depositor(source)
    }

    /// Holds at most `total` bytes, at most `per_source` from one source (defaults
    /// [`MAX_TOTAL_BYTES`] and [`super::quota::MAX_HELD_PER_SOURCE`]).
    pub fn set_capacity(&mut self, total: u64, per_source: u64) {
        self.capacity = total;
        self.held.cap = per_source;
    }

    /// Bytes held in total.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    fn blinded(&self, tag: &[u8; 16]) -> [u8; 16] {
        let h = hmac32(self.blind.as_ref(), &[tag]);
        let mut out = [0u8; 16];
        out.iter_mut().zip(h.iter()).for_each(|(o, b)| *o = *b);
        out
    }

    /// A record's value: the deposit time and the envelope, sealed for its key.
    fn seal(&self, key: &[u8], created: u64, env: &[u8]) -> Vec<u8> {
        let mut plain = Vec::with_capacity(8 + env.len());
        plain.extend_from_slice(&created.to_be_bytes());
        plain.extend_from_slice(env);
        self.sealer.seal(TreeName::Mail, key, &plain)
    }

    /// The deposit time and envelope of the record `key`.
    fn open_value(&self, key: &[u8], sealed: &[u8]) -> Result<(u64, Vec<u8>), MailboxError> {
        let mut buf = sealed.to_vec();
        let plain = self
            .sealer
            .open_in_place(TreeName::Mail, key, &mut buf)
            .map_err(|_| MailboxError::Damaged)?;
        let (ts, env) = plain.split_at_checked(8).ok_or(MailboxError::Damaged)?;
        let ts = u64::from_be_bytes(ts.try_into().map_err(|_| MailboxError::Damaged)?);
        Ok((ts, env.to_vec()))
    }

    fn write(&mut self, batch: &WriteBatch) -> Result<(), MailboxError> {
        self.apply_pending()?;
        Ok(self.backend.apply(batch)?)
    }

    /// Writes the staged deposits. If that fails, they are taken back out of the counts
    /// (as if refused) and the error returned.
    fn apply_pending(&mut self) -> Result<(), MailboxError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let counted = std::mem::take(&mut self.pending_counts);
        if let Err(e) = self.backend.apply(&batch) {
            for (prefix, seq, len) in counted {
                self.release(&prefix, Some(seq), len);
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Stores an envelope under its tag. Durable when it returns `Ok(true)`;
    /// `Ok(false)` when a quota is full.
    pub fn put(&mut self, envelope: &Envelope, bytes: &[u8]) -> Result<bool, MailboxError> {
        let taken = self.stage(envelope, bytes)?;
        if taken {
            self.flush()?;
        }
        Ok(taken)
    }

    /// Stores several envelopes, made durable together with one flush: for each, whether
    /// it was taken (false: a quota is full).
    pub fn put_many(&mut self, items: &[(Envelope, Vec<u8>)]) -> Result<Vec<bool>, MailboxError> {
        let taken = items
            .iter()
            .map(|(e, b)| self.stage(e, b))
            .collect::<Result<Vec<bool>, _>>()?;
        self.flush()?;
        Ok(taken)
    }

    /// Makes every staged envelope durable.
    pub fn flush(&mut self) -> Result<(), MailboxError> {
        self.apply_pending()?;
        Ok(self.backend.flush()?)
    }

    /// Writes an envelope under its tag without making it durable (see [`Mailbox::flush`]);
    /// `Ok(false)` when a quota is full.
    pub fn stage(&mut self, envelope: &Envelope, bytes: &[u8]) -> Result<bool, MailboxError> {
        Ok(self.stage_from(envelope, bytes, None, now_ms())?.is_none())
    }

    /// Writes an envelope from `from` under its tag without making it durable: `None` if
    /// stored, or why not. Checked in order: the tag's quota, the depositor's share, and —
    /// past [`OPEN_SHARE_PERCENT`] of the total — whether the tag's owner claimed it.
    pub fn stage_from(
        &mut self,
        envelope: &Envelope,
        bytes: &[u8],
        from: Option<Depositor>,
        now_ms: u64,
    ) -> Result<Option<Refusal>, MailboxError> {
        // What a record adds beyond the envelope: the seal and the deposit time.
        const RECORD_OVERHEAD: u64 = SEAL_OVERHEAD as u64 + 8;
        let prefix = self.blinded(&envelope.tag.0);
        let (count, tag_bytes, seq) = self
            .tags
            .get(&prefix)
            .map_or((0, 0, 0), |t| (t.count, t.bytes, t.next_seq));
        let len = bytes.len() as u64 + RECORD_OVERHEAD;
        if count >= MAX_PER_TAG || tag_bytes + len > MAX_BYTES_PER_TAG {
            return Ok(Some(Refusal::TagFull));
        }
        if from.is_some_and(|who| !self.held.fits(who, len)) {
            return Ok(Some(Refusal::SourceFull));
        }
        let open = self.capacity / 100 * OPEN_SHARE_PERCENT;
        if self.total + len > self.capacity
            || (self.total + len > open && !self.is_claimed(&prefix, now_ms))
        {
            return Ok(Some(Refusal::Full));
        }
        let mut key = prefix.to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        let mut salt = [0u8; 8];
        OsRng.fill_bytes(&mut salt);
        key.extend_from_slice(&salt);
        let sealed = self.seal(&key, now_ms, bytes);
        let sealed_len = sealed.len() as u64;
        self.pending.put(TreeName::Mail, key, sealed);
        self.pending_counts.push((prefix, seq, sealed_len));
        self.total += sealed_len;
        self.records += 1;
        let t = self.tags.entry(prefix).or_default();
        t.count += 1;
        t.bytes += sealed_len;
        t.next_seq = seq.saturating_add(1);
        if let Some(who) = from {
            t.held.insert(seq, (who, sealed_len));
            self.held.add(who, sealed_len);
        }
        Ok(None)
    }

    /// Mail for the tags these keys open, up to the response limits: the keys in the
    /// order given, each tag's mail in the order it was deposited.
    pub fn fetch(&mut self, keys: &[[u8; 32]]) -> Vec<([u8; 16], Vec<u8>)> {
        if let Err(e) = self.apply_pending() {
            tracing::warn!(error = %e, "mailbox write failed");
        }
        let mut out = Vec::new();
        let mut size = 0usize;
        let mut full = false;
        for k in keys {
            let tag = MailboxKey::from_array(*k).tag();
            let prefix = self.blinded(&tag.0);
            let read = self
                .backend
                .visit_prefix(TreeName::Mail, &prefix, &mut |key, value| {
                    let Ok((_, env)) = self.open_value(key, value) else {
                        tracing::warn!("damaged mailbox record skipped");
                        return true;
                    };
                    if out.len() >= MAX_MAIL_ITEMS
                        || size + env.len() + 64 > MAX_MAIL_RESPONSE_BYTES
                    {
                        full = true;
                        return false;
                    }
                    let Some(id) = key.get(16..32).and_then(|s| <[u8; 16]>::try_from(s).ok())
                    else {
                        return true;
                    };
                    size += env.len() + 20;
                    out.push((id, env));
                    true
                });
            if let Err(e) = read {
                tracing::warn!(error = %e, "mailbox read failed");
            }
            if full {
                break;
            }
        }
        out
    }

    /// Deletes mail the key holder has collected, durably.
    pub fn ack(&mut self, key: &[u8; 32], ids: &[[u8; 16]]) -> Result<u32, MailboxError> {
        let n = self.ack_staged(key, ids)?;
        self.flush()?;
        Ok(n)
    }

    /// Deletes mail the key holder has collected, without making it durable (see
    /// [`Mailbox::flush`]; mail handed out twice after a crash is deduplicated by its
    /// recipient).
    pub fn ack_staged(&mut self, key: &[u8; 32], ids: &[[u8; 16]]) -> Result<u32, MailboxError> {
        self.apply_pending()?;
        let tag = MailboxKey::from_array(*key).tag();
        let prefix = self.blinded(&tag.0);
        let mut found = Vec::new();
        let mut batch = WriteBatch::new();
        for id in ids {
            let mut k = prefix.to_vec();
            k.extend_from_slice(id);
            if let Some(v) = self.backend.get(TreeName::Mail, &k)? {
                if !found.iter().any(|(f, _)| *f == k) {
                    batch.remove(TreeName::Mail, k.clone());
                    found.push((k, v.len() as u64));
                }
            }
        }
        self.write(&batch)?;
        for (k, len) in &found {
            self.release(&prefix, record_seq(k), *len);
        }
        Ok(u32::try_from(found.len()).unwrap_or(u32::MAX))
    }

    /// Removes mail older than the retention limit, all at once. Returns how many.
    pub fn sweep(&mut self) -> Result<usize, MailboxError> {
        self.sweep_at(now_ms())
    }

    /// [`Mailbox::sweep`] as it would run at `now_ms` (Unix ms).
    pub fn sweep_at(&mut self, now_ms: u64) -> Result<usize, MailboxError> {
        let mut removed = 0;
        let mut cursor = Vec::new();
        loop {
            let (n, next) = self.sweep_step(&cursor, SWEEP_STEP, now_ms)?;
            removed += n;
            match next {
                Some(k) => cursor = k,
                None => break,
            }
        }
        Ok(removed)
    }

    /// Removes expired mail among the `limit` records after `after` (from the start if
    /// empty), durably: how many, and where to go on (`None` once the end is reached). The
    /// relay sweeps in such steps between requests, so a large mailbox never holds up
    /// deposits and fetches for the time a full pass takes.
    pub fn sweep_step(
        &mut self,
        after: &[u8],
        limit: usize,
        now_ms: u64,
    ) -> Result<(usize, Option<Vec<u8>>), MailboxError> {
        self.apply_pending()?;
        let cutoff = now_ms.saturating_sub(self.retention_ms);
        let mut old = Vec::new();
        let mut last = None;
        let mut seen = 0;
        self.backend
            .visit_after(TreeName::Mail, after, &mut |k, v| {
                match self.open_value(k, v) {
                    Ok((ts, _)) if ts < cutoff => old.push((k.to_vec(), v.len())),
                    Ok(_) => {}
                    Err(_) => old.push((k.to_vec(), v.len())),
                }
                last = Some(k.to_vec());
                seen += 1;
                seen < limit
            })?;
        if !old.is_empty() {
            let mut batch = WriteBatch::new();
            for (k, _) in &old {
                batch.remove(TreeName::Mail, k.clone());
            }
            self.write(&batch)?;
            for (k, len) in &old {
                if let Some(prefix) = record_prefix(k) {
                    self.release(&prefix, record_seq(k), *len as u64);
                }
            }
            self.flush()?;
        }
        if seen < limit {
            last = None;
            let expired = now_ms.saturating_sub(self.retention_ms);
            self.claimed.retain(|_, t| *t >= expired);
        }
        Ok((old.len(), last))
    }

    /// Number of envelopes held.
    pub fn len(&self) -> usize {
        self.records
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }
}

/// The key that seals the mailbox's values.
fn value_key(master: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(hmac32(master, &[b"cairn/v1 mailbox values"]))
}

/// Moves the records of a mailbox written before the mailbox went through the store's
/// backend (sled tree `mail`, values `nonce (24) ‖ XChaCha20-Poly1305(time ‖ envelope)`
/// with the record key as associated data) into [`TreeName::Mail`], resealed, in steps of
/// [`SWEEP_STEP`] records: each step is written and flushed before its old records are
/// removed, so a crash half-way loses nothing (the next start moves the rest again). A
/// record that does not open is dropped, as a sweep would drop it.
fn migrate_legacy(backend: &SledBackend, value_key: &[u8; 32]) -> Result<(), MailboxError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let Some(old) = backend.legacy_tree("mail")? else {
        return Ok(());
    };
    let legacy = XChaCha20Poly1305::new(value_key.into());
    let sealer = Sealer::new(value_key);
    let sled_err = crate::store::sled_error;
    let mut moved = 0usize;
    loop {
        let step: Vec<(sled::IVec, sled::IVec)> = old
            .iter()
            .take(SWEEP_STEP)
            .collect::<Result<_, _>>()
            .map_err(sled_err)?;
        if step.is_empty() {
            break;
        }
        let mut batch = WriteBatch::new();
        for (k, v) in &step {
            let plain = v.split_at_checked(24).and_then(|(nonce, ct)| {
                legacy
                    .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: k })
                    .ok()
            });
            if let Some(plain) = plain.map(Zeroizing::new) {
                batch.put(
                    TreeName::Mail,
                    k.to_vec(),
                    sealer.seal(TreeName::Mail, k, &plain),
                );
                moved += 1;
            }
        }
        backend.apply(&batch)?;
        backend.flush()?;
        for (k, _) in &step {
            old.remove(k).map_err(sled_err)?;
        }
    }
    backend.drop_legacy_tree("mail")?;
    backend.flush()?;
    tracing::info!(moved, "mailbox records moved to the current layout");
    Ok(())
}

/// Records examined per sweep step.
pub const SWEEP_STEP: usize = 512;

/// The blinded tag of a record key (its first 16 bytes).
fn record_prefix(key: &[u8]) -> Option<[u8; 16]> {
    key.get(..16)?.try_into().ok()
}

/// The deposit sequence number of a record key (bytes 16..24).
fn record_seq(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(16..24)?.try_into().ok()?))
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests;
