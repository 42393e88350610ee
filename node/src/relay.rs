//! Relay and mailbox mode (`cairn relay`): a headless node an organisation runs. It
//! serves circuit relay v2 with limits suited to chat, and a mailbox that keeps
//! padded, opaque envelopes for offline recipients under their routing tags.
//!
//! The mailbox hands out and deletes mail only to whoever presents the mailbox key
//! whose hash is the tag (see `cairn_crypto::routing`). Its storage is sealed at rest:
//! values with XChaCha20-Poly1305 under a random key (bound to tree and record key),
//! tags blinded with a keyed hash. The key is in `mailbox.key` beside the database:
//! wrapped under Argon2id(passphrase) like a profile key when the operator gives a
//! passphrase, stored as is otherwise (then sealing protects a copied database, not a
//! seized disk holding both files; see docs/THREAT_MODEL.md). The relay never holds an
//! identity key, alias or plaintext of any user: it never has them.

use crate::api::Event;
use crate::net::protocol::{
    RejectCode, Request, Response, MAX_MAIL_ITEMS, MAX_MAIL_RESPONSE_BYTES,
};
use crate::net::swarm::{self, BehaviourEvent, SwarmOptions};
use crate::store::{KdfParams, KeyFile, MasterKey, Passphrase};
use cairn_crypto::envelope::Envelope;
use cairn_crypto::MailboxKey;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use futures::{FutureExt, StreamExt};
use hmac::{Hmac, Mac};
use libp2p::swarm::SwarmEvent;
use libp2p::{request_response, Multiaddr};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// Default retention of undelivered mail.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);
/// Most envelopes kept for one routing tag.
pub const MAX_PER_TAG: usize = 2000;
/// Most bytes kept for one routing tag.
pub const MAX_BYTES_PER_TAG: u64 = 32 << 20;
/// Most bytes kept in total.
pub const MAX_TOTAL_BYTES: u64 = 2 << 30;

/// Mailbox failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MailboxError {
    /// Storage failed.
    #[error("mailbox storage: {0}")]
    Storage(#[from] sled::Error),
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
#[derive(Clone, Copy, Debug, Default)]
struct TagUse {
    count: usize,
    bytes: u64,
    /// The sequence number of the next deposit under this tag.
    next_seq: u64,
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
    db: sled::Db,
    mail: sled::Tree,
    key: Zeroizing<[u8; 32]>,
    blind: Zeroizing<[u8; 32]>,
    retention_ms: u64,
    total: u64,
    tags: std::collections::HashMap<[u8; 16], TagUse>,
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
        let db = sled::Config::new().path(dir.join("mailbox.db")).open()?;
        let mail = db.open_tree("mail")?;
        let mut mb = Self {
            key: Zeroizing::new(hmac32(master.as_ref(), &[b"cairn/v1 mailbox values"])),
            blind: Zeroizing::new(hmac32(master.as_ref(), &[b"cairn/v1 mailbox tags"])),
            db,
            mail,
            retention_ms: u64::try_from(retention.as_millis()).unwrap_or(u64::MAX),
            total: 0,
            tags: std::collections::HashMap::new(),
        };
        for (k, v) in mb.mail.iter().flatten() {
            let (Some(prefix), Some(seq)) = (record_prefix(&k), record_seq(&k)) else {
                continue;
            };
            let len = v.len() as u64;
            mb.total += len;
            let t = mb.tags.entry(prefix).or_default();
            t.count += 1;
            t.bytes += len;
            t.next_seq = t.next_seq.max(seq.saturating_add(1));
        }
        Ok(mb)
    }

    /// Forgets `len` bytes of one record under `prefix`.
    fn release(&mut self, prefix: &[u8; 16], len: u64) {
        self.total = self.total.saturating_sub(len);
        if let Some(t) = self.tags.get_mut(prefix) {
            t.count = t.count.saturating_sub(1);
            t.bytes = t.bytes.saturating_sub(len);
            if t.count == 0 {
                self.tags.remove(prefix);
            }
        }
    }

    fn blinded(&self, tag: &[u8; 16]) -> [u8; 16] {
        let h = hmac32(self.blind.as_ref(), &[tag]);
        let mut out = [0u8; 16];
        out.iter_mut().zip(h.iter()).for_each(|(o, b)| *o = *b);
        out
    }

    fn seal(&self, key: &[u8], created: u64, env: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let mut plain = created.to_be_bytes().to_vec();
        plain.extend_from_slice(env);
        let c = XChaCha20Poly1305::new(self.key.as_ref().into());
        let ct = c
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: key,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        out
    }

    fn open_value(&self, key: &[u8], sealed: &[u8]) -> Result<(u64, Vec<u8>), MailboxError> {
        let (nonce, ct) = sealed.split_at_checked(24).ok_or(MailboxError::Damaged)?;
        let c = XChaCha20Poly1305::new(self.key.as_ref().into());
        let plain = c
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: key })
            .map_err(|_| MailboxError::Damaged)?;
        let (ts, env) = plain.split_at_checked(8).ok_or(MailboxError::Damaged)?;
        let ts = u64::from_be_bytes(ts.try_into().map_err(|_| MailboxError::Damaged)?);
        Ok((ts, env.to_vec()))
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
    pub fn flush(&self) -> Result<(), MailboxError> {
        self.db.flush()?;
        Ok(())
    }

    /// Writes an envelope under its tag without making it durable (see [`Mailbox::flush`]);
    /// `Ok(false)` when a quota is full.
    pub fn stage(&mut self, envelope: &Envelope, bytes: &[u8]) -> Result<bool, MailboxError> {
        let prefix = self.blinded(&envelope.tag.0);
        let used = self.tags.get(&prefix).copied().unwrap_or_default();
        let len = bytes.len() as u64;
        if used.count >= MAX_PER_TAG
            || used.bytes + len > MAX_BYTES_PER_TAG
            || self.total + len > MAX_TOTAL_BYTES
        {
            return Ok(false);
        }
        let mut key = prefix.to_vec();
        key.extend_from_slice(&used.next_seq.to_be_bytes());
        let mut salt = [0u8; 8];
        OsRng.fill_bytes(&mut salt);
        key.extend_from_slice(&salt);
        let sealed = self.seal(&key, now_ms(), bytes);
        let sealed_len = sealed.len() as u64;
        self.mail.insert(key, sealed)?;
        self.total += sealed_len;
        let t = self.tags.entry(prefix).or_default();
        t.count += 1;
        t.bytes += sealed_len;
        t.next_seq = used.next_seq.saturating_add(1);
        Ok(true)
    }

    /// Mail for the tags these keys open, up to the response limits: the keys in the
    /// order given, each tag's mail in the order it was deposited.
    pub fn fetch(&self, keys: &[[u8; 32]]) -> Vec<([u8; 16], Vec<u8>)> {
        let mut out = Vec::new();
        let mut size = 0usize;
        for k in keys {
            let tag = MailboxKey::from_array(*k).tag();
            let prefix = self.blinded(&tag.0);
            for (key, value) in self.mail.scan_prefix(prefix).flatten() {
                let Ok((_, env)) = self.open_value(&key, &value) else {
                    tracing::warn!("damaged mailbox record skipped");
                    continue;
                };
                if out.len() >= MAX_MAIL_ITEMS || size + env.len() + 64 > MAX_MAIL_RESPONSE_BYTES {
                    return out;
                }
                let Some(id) = key.get(16..32).and_then(|s| <[u8; 16]>::try_from(s).ok()) else {
                    continue;
                };
                size += env.len() + 20;
                out.push((id, env));
            }
        }
        out
    }

    /// Deletes mail the key holder has collected.
    pub fn ack(&mut self, key: &[u8; 32], ids: &[[u8; 16]]) -> Result<u32, MailboxError> {
        let tag = MailboxKey::from_array(*key).tag();
        let prefix = self.blinded(&tag.0);
        let mut n = 0;
        for id in ids {
            let mut k = prefix.to_vec();
            k.extend_from_slice(id);
            if let Some(v) = self.mail.remove(k)? {
                self.release(&prefix, v.len() as u64);
                n += 1;
            }
        }
        self.db.flush()?;
        Ok(n)
    }

    /// Removes mail older than the retention limit. Returns how many.
    pub fn sweep(&mut self) -> Result<usize, MailboxError> {
        let cutoff = now_ms().saturating_sub(self.retention_ms);
        let mut old = Vec::new();
        for (k, v) in self.mail.iter().flatten() {
            match self.open_value(&k, &v) {
                Ok((ts, _)) if ts < cutoff => old.push((k, v.len())),
                Ok(_) => {}
                Err(_) => old.push((k, v.len())),
            }
        }
        for (k, len) in &old {
            if self.mail.remove(k)?.is_some() {
                if let Some(prefix) = record_prefix(k) {
                    self.release(&prefix, *len as u64);
                }
            }
        }
        self.db.flush()?;
        Ok(old.len())
    }

    /// Number of envelopes held.
    pub fn len(&self) -> usize {
        self.mail.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.mail.is_empty()
    }
}

/// The blinded tag of a record key (its first 16 bytes).
fn record_prefix(key: &[u8]) -> Option<[u8; 16]> {
    key.get(..16)?.try_into().ok()
}

/// The deposit sequence number of a record key (bytes 16..24).
fn record_seq(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(16..24)?.try_into().ok()?))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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

/// Bytes one source (an IPv4 address or an IPv6 /64 — what one subscriber gets —, or a
/// PeerId when the connection has no address) may deposit into the mailbox per
/// [`DEPOSIT_WINDOW`]: 32,768 chat envelopes of 2 KiB. Without it one stranger could fill
/// the mailbox's total quota with junk under random tags and lock every offline user out
/// of their mail. The wider network around a source (the IPv4 /24, the IPv6 /48) may
/// deposit [`DEPOSIT_NETWORK_FACTOR`] times as much, so that one machine with many
/// addresses cannot multiply its quota either.
pub const DEPOSIT_BYTES_PER_WINDOW: u64 = 64 << 20;
/// How many sources' worth a whole /24 or /48 may deposit.
pub const DEPOSIT_NETWORK_FACTOR: u64 = 4;
/// The window of [`DEPOSIT_BYTES_PER_WINDOW`].
pub const DEPOSIT_WINDOW: Duration = Duration::from_secs(3600);
/// Most sources tracked at once (the oldest windows are dropped first when full).
const MAX_DEPOSIT_SOURCES: usize = 65_536;

/// Who deposits: the remote IP address of the connection, or its PeerId if it has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DepositSource {
    /// An IP address.
    Ip(std::net::IpAddr),
    /// A peer without a known IP address (e.g. reached through another relay).
    Peer(libp2p::PeerId),
}

/// Per-source deposit accounting, in memory only: the relay never writes down who
/// deposited what, and forgets a source when its window ends.
#[derive(Debug)]
pub struct DepositQuota {
    limit: u64,
    window_ms: u64,
    used: std::collections::HashMap<QuotaKey, (u64, u64)>,
}

/// What a deposit is charged to: a source, and for an IP address also its network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum QuotaKey {
    Source(crate::net::ip_limits::Source),
    V4Net([u8; 3]),
    V6Net([u8; 6]),
    Peer(libp2p::PeerId),
}

impl QuotaKey {
    /// The keys `source` is charged to, each with its limit factor.
    fn of(source: DepositSource) -> Vec<(QuotaKey, u64)> {
        use crate::net::ip_limits::Source;
        match source {
            DepositSource::Peer(p) => vec![(QuotaKey::Peer(p), 1)],
            DepositSource::Ip(ip) => {
                let narrow = Source::from_ip(ip);
                let wide = match narrow {
                    Source::V4([a, b, c, _]) => QuotaKey::V4Net([a, b, c]),
                    Source::V6([a, b, c, d, e, f, _, _]) => QuotaKey::V6Net([a, b, c, d, e, f]),
                };
                vec![
                    (QuotaKey::Source(narrow), 1),
                    (wide, DEPOSIT_NETWORK_FACTOR),
                ]
            }
        }
    }
}

impl DepositQuota {
    /// A quota of `limit` bytes per `window` and source.
    pub fn new(limit: u64, window: Duration) -> Self {
        Self {
            limit,
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            used: std::collections::HashMap::new(),
        }
    }

    /// Charges `bytes` to `source` at `now_ms` if that stays within its quota; false (and
    /// nothing charged) if it would not.
    pub fn allow(&mut self, source: DepositSource, bytes: u64, now_ms: u64) -> bool {
        let keys = QuotaKey::of(source);
        for (key, _) in &keys {
            self.make_room(key, now_ms);
        }
        let window = self.window_ms;
        let fits = keys.iter().all(|(key, factor)| {
            let used = self.used.get(key).map_or(0, |(start, used)| {
                if now_ms.saturating_sub(*start) >= window {
                    0
                } else {
                    *used
                }
            });
            used.saturating_add(bytes) <= self.limit.saturating_mul(*factor)
        });
        if !fits {
            return false;
        }
        for (key, _) in keys {
            let entry = self.used.entry(key).or_insert((now_ms, 0));
            if now_ms.saturating_sub(entry.0) >= window {
                *entry = (now_ms, 0);
            }
            entry.1 += bytes;
        }
        true
    }

    /// Keeps the table within [`MAX_DEPOSIT_SOURCES`] before `key` is added.
    fn make_room(&mut self, key: &QuotaKey, now_ms: u64) {
        if self.used.len() < MAX_DEPOSIT_SOURCES || self.used.contains_key(key) {
            return;
        }
        let window = self.window_ms;
        self.used
            .retain(|_, (start, _)| now_ms.saturating_sub(*start) < window);
        if self.used.len() >= MAX_DEPOSIT_SOURCES {
            // Still full of live windows: drop the oldest one.
            if let Some(oldest) = self
                .used
                .iter()
                .min_by_key(|(_, (start, _))| *start)
                .map(|(k, _)| *k)
            {
                self.used.remove(&oldest);
            }
        }
    }
}

fn ip_of(addr: &Multiaddr) -> Option<std::net::IpAddr> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => Some(std::net::IpAddr::V4(ip)),
        libp2p::multiaddr::Protocol::Ip6(ip) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    })
}

/// Relay configuration.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Data directory (mailbox and the relay's libp2p key).
    pub data: PathBuf,
    /// Mail retention.
    pub retention: Duration,
    /// Protect the mailbox key with this passphrase (Argon2id with these parameters).
    pub passphrase: Option<(Passphrase, KdfParams)>,
    /// Test hook: accept every deposit and throw it away, as a hostile or broken mailbox
    /// would (the `cairn` binary offers it only in its `test-hooks` build).
    pub discard_mail: bool,
}

/// Runs a relay until `stop` fires. Events (ready, errors) go to `events`.
pub async fn run(
    config: RelayConfig,
    events: mpsc::UnboundedSender<Event>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), String> {
    std::fs::create_dir_all(&config.data).map_err(|e| e.to_string())?;
    let key_path = config.data.join("relay-libp2p.key");
    let key = match std::fs::read(&key_path) {
        Ok(b) => {
            libp2p::identity::Keypair::from_protobuf_encoding(&b).map_err(|e| e.to_string())?
        }
        Err(_) => {
            let k = libp2p::identity::Keypair::generate_ed25519();
            let enc = k.to_protobuf_encoding().map_err(|e| e.to_string())?;
            write_private(&key_path, &enc).map_err(|e| e.to_string())?;
            k
        }
    };
    let protect = config.passphrase.as_ref().map(|(p, k)| (p, *k));
    let mailbox =
        Mailbox::open_with(&config.data, config.retention, protect).map_err(|e| e.to_string())?;
    let swarm = swarm::build(
        key,
        &SwarmOptions {
            lan: false,
            relay_server: true,
        },
    )?;
    let mut relay = RelayLoop {
        swarm,
        mailbox,
        quota: DepositQuota::new(DEPOSIT_BYTES_PER_WINDOW, DEPOSIT_WINDOW),
        peer_ips: std::collections::HashMap::new(),
        addrs: Vec::new(),
        staged: Vec::new(),
        discard_mail: config.discard_mail,
        in_flight: MailInFlight::default(),
    };
    for a in &config.listen {
        relay
            .swarm
            .listen_on(a.clone())
            .map_err(|e| format!("cannot listen on {a}: {e}"))?;
    }
    let mut ready = false;
    let mut sweep = tokio::time::interval(Duration::from_secs(600));
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = sweep.tick() => {
                if let Err(e) = relay.mailbox.sweep() {
                    tracing::warn!(error = %e, "mailbox sweep failed");
                }
            }
            _ = tick.tick() => {
                if !ready && !relay.addrs.is_empty() {
                    ready = true;
                    let peer = *relay.swarm.local_peer_id();
                    let _ = events.send(Event::Ready {
                        peer_id: peer.to_string(),
                        addrs: relay.addrs.iter().map(|a| a.clone().with(libp2p::multiaddr::Protocol::P2p(peer)).to_string()).collect(),
                    });
                }
            }
            ev = relay.swarm.select_next_some() => {
                relay.event(ev);
                // Group commit: take whatever else is ready (deposits from other
                // connections too), then make every staged deposit durable with one flush.
                for _ in 0..GROUP_COMMIT_EVENTS {
                    match relay.swarm.select_next_some().now_or_never() {
                        Some(ev) => relay.event(ev),
                        None => break,
                    }
                }
                relay.commit();
            }
        }
    }
    relay.commit();
    Ok(())
}

/// Most further events taken into one group commit of the relay's mailbox.
const GROUP_COMMIT_EVENTS: usize = 256;

/// The relay's event loop state.
struct RelayLoop {
    swarm: libp2p::Swarm<swarm::Behaviour>,
    mailbox: Mailbox,
    quota: DepositQuota,
    /// The remote IP of each connected peer (relayed connections carry the other relay's).
    peer_ips: std::collections::HashMap<libp2p::PeerId, std::net::IpAddr>,
    addrs: Vec<Multiaddr>,
    /// Deposits written but not yet flushed, with the response each waits for.
    staged: Vec<(request_response::ResponseChannel<Response>, Response)>,
    discard_mail: bool,
    /// Mail responses built and not yet taken by their peer (see [`MailInFlight`]).
    in_flight: MailInFlight,
}

/// Bytes of mail responses a relay holds for peers that have not read them yet, in total.
/// A peer that asks and does not read can otherwise make the relay build response after
/// response (the review took one from 22 to 1,035 MiB with one connection).
pub const MAIL_IN_FLIGHT_TOTAL: usize = 64 << 20;
/// The same per peer: a node keeps at most 4 fetches in flight, of at most 1 MiB each.
pub const MAIL_IN_FLIGHT_PER_PEER: usize = 4 << 20;

/// Accounting of mail responses in flight: reserved when a fetch is answered, released when
/// libp2p reports the response sent or the request failed. A fetch that would go over a
/// budget is answered "try later" without reading the mailbox.
pub struct MailInFlight<K = request_response::InboundRequestId> {
    total: usize,
    per_peer: std::collections::HashMap<libp2p::PeerId, usize>,
    requests: std::collections::HashMap<K, (libp2p::PeerId, usize)>,
}

impl<K> Default for MailInFlight<K> {
    fn default() -> Self {
        Self {
            total: 0,
            per_peer: std::collections::HashMap::new(),
            requests: std::collections::HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq> MailInFlight<K> {
    /// Whether `peer` may have one more response of up to `MAX_MAIL_RESPONSE_BYTES`.
    pub fn has_room(&self, peer: &libp2p::PeerId) -> bool {
        let mine = self.per_peer.get(peer).copied().unwrap_or(0);
        mine + MAX_MAIL_RESPONSE_BYTES <= MAIL_IN_FLIGHT_PER_PEER
            && self.total + MAX_MAIL_RESPONSE_BYTES <= MAIL_IN_FLIGHT_TOTAL
    }

    /// Counts a response of `bytes` to `peer` for request `id`.
    pub fn reserve(&mut self, id: K, peer: libp2p::PeerId, bytes: usize) {
        self.total += bytes;
        *self.per_peer.entry(peer).or_default() += bytes;
        self.requests.insert(id, (peer, bytes));
    }

    /// The response to `id` was sent or failed.
    pub fn release(&mut self, id: &K) {
        let Some((peer, bytes)) = self.requests.remove(id) else {
            return;
        };
        self.total = self.total.saturating_sub(bytes);
        if let Some(n) = self.per_peer.get_mut(&peer) {
            *n = n.saturating_sub(bytes);
            if *n == 0 {
                self.per_peer.remove(&peer);
            }
        }
    }

    /// Bytes in flight in total.
    pub fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod in_flight_tests {
    use super::*;

    /// Catches a budget that one peer can exceed, that one peer's use blocks for others
    /// below the total, or that is never given back.
    #[test]
    fn mail_in_flight_budget_per_peer_and_total() {
        let mut b = MailInFlight::<u64>::default();
        let a = libp2p::PeerId::random();
        let per = MAIL_IN_FLIGHT_PER_PEER / MAX_MAIL_RESPONSE_BYTES;
        for i in 0..per {
            assert!(b.has_room(&a));
            b.reserve(i as u64, a, MAX_MAIL_RESPONSE_BYTES);
        }
        assert!(!b.has_room(&a), "a peer's budget is spent");
        let other = libp2p::PeerId::random();
        assert!(b.has_room(&other));
        b.release(&0);
        assert!(b.has_room(&a), "released when sent");
        // The total binds many peers.
        let mut n = 100;
        while b.has_room(&libp2p::PeerId::random()) {
            b.reserve(n, libp2p::PeerId::random(), MAX_MAIL_RESPONSE_BYTES);
            n += 1;
        }
        assert!(b.total() <= MAIL_IN_FLIGHT_TOTAL);
        assert!(b.total() + MAX_MAIL_RESPONSE_BYTES > MAIL_IN_FLIGHT_TOTAL);
    }
}

impl RelayLoop {
    fn event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                self.swarm.add_external_address(address.clone());
                self.addrs.push(address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                let relayed = endpoint
                    .get_remote_address()
                    .iter()
                    .any(|p| matches!(p, libp2p::multiaddr::Protocol::P2pCircuit));
                match ip_of(endpoint.get_remote_address()) {
                    Some(ip) if !relayed => {
                        self.peer_ips.insert(peer_id, ip);
                    }
                    _ => {}
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.peer_ips.remove(&peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            })) => self.request(peer, request_id, request, channel),
            SwarmEvent::Behaviour(BehaviourEvent::Rr(
                request_response::Event::ResponseSent { request_id, .. }
                | request_response::Event::InboundFailure { request_id, .. },
            )) => self.in_flight.release(&request_id),
            _ => {}
        }
    }

    fn request(
        &mut self,
        peer: libp2p::PeerId,
        request_id: request_response::InboundRequestId,
        request: Request,
        channel: request_response::ResponseChannel<Response>,
    ) {
        let source = self
            .peer_ips
            .get(&peer)
            .map_or(DepositSource::Peer(peer), |ip| DepositSource::Ip(*ip));
        let now = now_ms();
        match request {
            Request::MailboxPut(bytes) => {
                let r = self.deposit(source, &bytes, now);
                self.staged
                    .push((channel, r.map_or(Response::Accepted, Response::Rejected)));
            }
            Request::MailboxPutBatch(items) => {
                let codes = items
                    .iter()
                    .map(|bytes| self.deposit(source, bytes, now))
                    .collect();
                self.staged.push((channel, Response::Results(codes)));
            }
            Request::MailboxFetch(_) if !self.in_flight.has_room(&peer) => {
                tracing::debug!("mail responses in flight over budget: try later");
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_response(channel, Response::Rejected(RejectCode::TryLater));
            }
            other => {
                let response = serve(&mut self.mailbox, other);
                let bytes = match &response {
                    Response::Mail(items) => items.iter().map(|(_, e)| e.len() + 20).sum(),
                    _ => 0,
                };
                // Counted until libp2p reports it sent or failed (never, if not queued).
                let queued = self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_response(channel, response)
                    .is_ok();
                if queued && bytes > 0 {
                    self.in_flight.reserve(request_id, peer, bytes);
                }
            }
        }
    }

    /// Writes one deposit (not yet durable): `None` if taken, or why not.
    fn deposit(&mut self, source: DepositSource, bytes: &[u8], now: u64) -> Option<RejectCode> {
        if !self.quota.allow(source, bytes.len() as u64, now) {
            tracing::info!("mailbox deposit over the per-source quota");
            return Some(RejectCode::QuotaExceeded);
        }
        let Ok(env) = Envelope::decode(bytes) else {
            return Some(RejectCode::Malformed);
        };
        if self.discard_mail {
            return None;
        }
        match self.mailbox.stage(&env, bytes) {
            Ok(true) => None,
            Ok(false) => Some(RejectCode::QuotaExceeded),
            Err(e) => {
                tracing::warn!(error = %e, "mailbox put failed");
                Some(RejectCode::TryLater)
            }
        }
    }

    /// Makes every staged deposit durable with one flush, then answers them; if the flush
    /// fails, each is answered "try later" (a retry is deduplicated by its recipient).
    fn commit(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let durable = self.mailbox.flush();
        if let Err(e) = &durable {
            tracing::warn!(error = %e, "mailbox flush failed");
        }
        for (channel, response) in std::mem::take(&mut self.staged) {
            let response = match (&durable, response) {
                (Ok(()), r) => r,
                (Err(_), Response::Results(codes)) => Response::Results(
                    codes
                        .into_iter()
                        .map(|c| c.or(Some(RejectCode::TryLater)))
                        .collect(),
                ),
                (Err(_), _) => Response::Rejected(RejectCode::TryLater),
            };
            let _ = self
                .swarm
                .behaviour_mut()
                .rr
                .send_response(channel, response);
        }
    }
}

/// Answers the requests that need no group commit (deposits go through
/// `RelayLoop::deposit` and `commit`).
fn serve(mailbox: &mut Mailbox, request: Request) -> Response {
    match request {
        Request::MailboxFetch(keys) => Response::Mail(mailbox.fetch(&keys)),
        Request::MailboxAck { key, ids } => match mailbox.ack(&key, &ids) {
            Ok(n) => Response::Acked(n),
            Err(_) => Response::Rejected(RejectCode::TryLater),
        },
        Request::Deliver(_) | Request::DeliverBatch(_) => {
            Response::Rejected(RejectCode::Unsupported)
        }
        // Handled by the caller; never reaches here.
        Request::MailboxPut(_) | Request::MailboxPutBatch(_) => {
            Response::Rejected(RejectCode::TryLater)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_crypto::envelope::EnvelopeKind;

    fn mail_for(key: [u8; 32]) -> (Envelope, Vec<u8>) {
        let env = Envelope {
            kind: EnvelopeKind::Message,
            tag: MailboxKey::from_array(key).tag(),
            body: vec![0x5a; 300],
        };
        let bytes = env.encode();
        (env, bytes)
    }

    /// Catches a passphrase-protected mailbox key that is not really needed, a wrong
    /// passphrase that opens it, or mail lost across a protected reopen.
    #[test]
    fn passphrase_protects_the_mailbox_key() {
        let dir = tempfile::tempdir().unwrap();
        let pass = Passphrase::new("relay operator passphrase");
        let kdf = KdfParams::insecure_fast_for_tests();
        let key = [7u8; 32];
        {
            let mut mb =
                Mailbox::open_with(dir.path(), DEFAULT_RETENTION, Some((&pass, kdf))).unwrap();
            let (env, bytes) = mail_for(key);
            assert!(mb.put(&env, &bytes).unwrap());
        }
        let file = std::fs::read(dir.path().join("mailbox.key")).unwrap();
        assert!(KeyFile::parse(&file).is_ok(), "wrapped like a profile key");
        // sled may hold its lock a moment after the drop.
        std::thread::sleep(Duration::from_millis(200));
        assert!(matches!(
            Mailbox::open_with(dir.path(), DEFAULT_RETENTION, None),
            Err(MailboxError::PassphraseRequired)
        ));
        let wrong = Passphrase::new("not it");
        assert!(matches!(
            Mailbox::open_with(dir.path(), DEFAULT_RETENTION, Some((&wrong, kdf))),
            Err(MailboxError::WrongPassphrase)
        ));
        assert_eq!(std::fs::read(dir.path().join("mailbox.key")).unwrap(), file);
        let mb = Mailbox::open_with(dir.path(), DEFAULT_RETENTION, Some((&pass, kdf))).unwrap();
        let got = mb.fetch(&[key]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, mail_for(key).1);
    }

    /// Catches mail read back out of deposit order (a backlog then arrives shuffled and
    /// overruns the recipient's skipped-key window), per-tag counters that drift from
    /// what is stored, and a sequence that restarts below existing records on reopen.
    #[test]
    fn mail_comes_back_in_deposit_order_and_counters_hold() {
        let dir = tempfile::tempdir().unwrap();
        let key = [9u8; 32];
        let tag = MailboxKey::from_array(key).tag();
        let env = |i: u32| {
            let mut body = vec![0u8; 200];
            body[..4].copy_from_slice(&i.to_be_bytes());
            let e = Envelope {
                kind: EnvelopeKind::Message,
                tag,
                body,
            };
            let b = e.encode();
            (e, b)
        };
        let index_of = |bytes: &[u8]| (0..1000u32).find(|i| env(*i).1 == bytes).unwrap();
        // Reads everything back, one response at a time, acknowledging `ack` of each.
        let drain = |mb: &mut Mailbox, ack: usize| -> Vec<u32> {
            let mut got = Vec::new();
            loop {
                let batch = mb.fetch(&[key]);
                if batch.is_empty() || got.len() >= ack {
                    return got;
                }
                let n = batch.len().min(ack - got.len());
                got.extend(batch[..n].iter().map(|(_, b)| index_of(b)));
                let ids: Vec<[u8; 16]> = batch[..n].iter().map(|(id, _)| *id).collect();
                assert_eq!(mb.ack(&key, &ids).unwrap(), n as u32);
            }
        };
        {
            let mut mb = Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap();
            for i in 0..300 {
                let (e, b) = env(i);
                assert!(mb.put(&e, &b).unwrap());
            }
            assert_eq!(drain(&mut mb, 200), (0..200).collect::<Vec<_>>());
            let prefix = mb.blinded(&tag.0);
            assert_eq!(mb.tags[&prefix].count, 100);
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut mb = Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap();
        let prefix = mb.blinded(&tag.0);
        assert_eq!(mb.tags[&prefix].count, 100, "counted again at open");
        assert_eq!(mb.tags[&prefix].next_seq, 300);
        for i in 300..310 {
            let (e, b) = env(i);
            assert!(mb.put(&e, &b).unwrap());
        }
        let stored: u64 = mb
            .mail
            .iter()
            .values()
            .flatten()
            .map(|v| v.len() as u64)
            .sum();
        assert_eq!(mb.total, stored);
        assert_eq!(mb.tags[&prefix].bytes, stored);
        assert_eq!(drain(&mut mb, usize::MAX), (200..310).collect::<Vec<_>>());
        assert!(mb.tags.is_empty() && mb.total == 0, "all released");
    }

    /// Catches a per-tag quota that the in-memory counters no longer enforce.
    #[test]
    fn per_tag_quota_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut mb = Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap();
        let key = [3u8; 32];
        let (env, bytes) = mail_for(key);
        for _ in 0..MAX_PER_TAG {
            assert!(mb.put(&env, &bytes).unwrap());
        }
        assert!(!mb.put(&env, &bytes).unwrap(), "tag full");
        let (other, other_bytes) = mail_for([4u8; 32]);
        assert!(mb.put(&other, &other_bytes).unwrap(), "another tag is not");
    }

    /// Catches a quota that does not stop one source, stops others with it, charges a
    /// refused deposit, or never renews.
    #[test]
    fn deposit_quota_per_source_and_window() {
        let mut q = DepositQuota::new(10_000, Duration::from_secs(3600));
        let a = DepositSource::Ip("192.0.2.1".parse().unwrap());
        let b = DepositSource::Ip("192.0.2.2".parse().unwrap());
        for _ in 0..5 {
            assert!(q.allow(a, 2_000, 1_000));
        }
        assert!(!q.allow(a, 1, 2_000), "a is over its quota");
        assert!(!q.allow(a, 2_000, 3_000), "and a refusal charges nothing");
        assert!(q.allow(b, 10_000, 3_000), "b has its own quota");
        assert!(q.allow(a, 2_000, 1_000 + 3_600_000), "a new window");
        let peer = DepositSource::Peer(libp2p::PeerId::random());
        assert!(
            !q.allow(peer, 10_001, 0),
            "one deposit larger than the quota"
        );
    }

    /// Catches a quota that every address of one IPv6 /64 (one subscriber) gets afresh, or
    /// that a machine with a whole /24 or /48 multiplies without bound.
    #[test]
    fn deposit_quota_per_slash_64_and_network() {
        let mut q = DepositQuota::new(10_000, Duration::from_secs(3600));
        let v6 = |s: &str| DepositSource::Ip(s.parse().unwrap());
        assert!(q.allow(v6("2001:db8:0:1::1"), 10_000, 0));
        assert!(
            !q.allow(v6("2001:db8:0:1::2"), 1, 0),
            "another address of the same /64 shares its quota"
        );
        // Other /64s of the same /48 each get a quota, up to the network's.
        for i in 2..=4 {
            assert!(
                q.allow(v6(&format!("2001:db8:0:{i}::1")), 10_000, 0),
                "/64 {i}"
            );
        }
        assert!(
            !q.allow(v6("2001:db8:0:5::1"), 1, 0),
            "the /48 has had DEPOSIT_NETWORK_FACTOR sources' worth"
        );
        assert!(
            q.allow(v6("2001:db8:1:5::1"), 10_000, 0),
            "another /48 has its own"
        );
        let v4 = |s: &str| DepositSource::Ip(s.parse().unwrap());
        for i in 1..=4 {
            assert!(q.allow(v4(&format!("198.51.100.{i}")), 10_000, 0));
        }
        assert!(!q.allow(v4("198.51.100.9"), 1, 0), "the /24 is spent");
        assert!(q.allow(v4("198.51.101.9"), 1, 0));
    }

    /// Catches a passphrase silently ignored for an unprotected key.
    #[test]
    fn unprotected_key_refuses_a_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        drop(Mailbox::open(dir.path(), DEFAULT_RETENTION).unwrap());
        std::thread::sleep(Duration::from_millis(200));
        let pass = Passphrase::new("late passphrase");
        assert!(matches!(
            Mailbox::open_with(
                dir.path(),
                DEFAULT_RETENTION,
                Some((&pass, KdfParams::insecure_fast_for_tests()))
            ),
            Err(MailboxError::NotProtected)
        ));
    }
}
