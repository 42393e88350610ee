//! Who may deposit how much: per-source deposit quotas.

use std::time::Duration;

/// Bytes one source (an IPv4 address or an IPv6 /64 — what one subscriber gets —, or a
/// PeerId when the connection has no address) may deposit into the mailbox per when the connection has no address) may deposit into the mailbox per
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
    Net(crate::net::ip_limits::Network),
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
                vec![
                    (QuotaKey::Source(narrow), 1),
                    (QuotaKey::Net(narrow.network()), DEPOSIT_NETWORK_FACTOR),
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

/// Bytes of mail one source may have in the mailbox at once (deposited and not yet
/// collected or expired); its network (/24, /48) may hold [`DEPOSIT_NETWORK_FACTOR`] times
/// as much. With the total of 2 GiB, one IPv4 address or IPv6 /64 holds at most 1/32 of
/// the mailbox and one /24 or /48 at most 1/8: without this cap, one address that deposits
/// its hourly quota every hour filled the whole mailbox in 32 hours and kept it full for
/// the 14 days junk is kept.
pub const MAX_HELD_PER_SOURCE: u64 = 64 << 20;

/// Who a stored record is charged to, in memory only: a keyed hash of its source and of
/// its source's network, under a key drawn at each start. The relay never writes down who
/// deposited what; after a restart, mail deposited before it is charged to nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Depositor {
    source: u64,
    network: u64,
}

/// What the mailbox holds per source and per network.
#[derive(Debug)]
pub struct HeldBySource {
    /// [`MAX_HELD_PER_SOURCE`] unless set otherwise.
    pub cap: u64,
    hasher: std::collections::hash_map::RandomState,
    per_source: std::collections::HashMap<u64, u64>,
    per_network: std::collections::HashMap<u64, u64>,
}

impl Default for HeldBySource {
    fn default() -> Self {
        Self {
            cap: MAX_HELD_PER_SOURCE,
            hasher: Default::default(),
            per_source: Default::default(),
            per_network: Default::default(),
        }
    }
}

impl HeldBySource {
    /// The depositor `source` is charged as.
    pub fn depositor(&self, source: DepositSource) -> Depositor {
        use std::hash::BuildHasher;
        let keys = QuotaKey::of(source);
        let mut hashes = keys.iter().map(|(k, _)| self.hasher.hash_one(k));
        let source = hashes.next().unwrap_or_default();
        let network = hashes.next().unwrap_or(source);
        Depositor { source, network }
    }

    /// Whether `who` may hold `bytes` more.
    pub fn fits(&self, who: Depositor, bytes: u64) -> bool {
        let src = self.per_source.get(&who.source).copied().unwrap_or(0);
        let net = self.per_network.get(&who.network).copied().unwrap_or(0);
        src.saturating_add(bytes) <= self.cap
            && net.saturating_add(bytes) <= self.cap.saturating_mul(DEPOSIT_NETWORK_FACTOR)
    }

    /// `who` now holds `bytes` more.
    pub fn add(&mut self, who: Depositor, bytes: u64) {
        *self.per_source.entry(who.source).or_default() += bytes;
        if who.network != who.source {
            *self.per_network.entry(who.network).or_default() += bytes;
        }
    }

    /// `who` holds `bytes` less (collected or expired).
    pub fn remove(&mut self, who: Depositor, bytes: u64) {
        fn take(map: &mut std::collections::HashMap<u64, u64>, k: u64, bytes: u64) {
            if let Some(n) = map.get_mut(&k) {
                *n = n.saturating_sub(bytes);
                if *n == 0 {
                    map.remove(&k);
                }
            }
        }
        take(&mut self.per_source, who.source, bytes);
        if who.network != who.source {
            take(&mut self.per_network, who.network, bytes);
        }
    }
}

/// A token bucket: `rate` units a second, at most `burst` saved up. A cost may take the
/// balance below zero (a response's size is known only once built): the debt is paid
/// before anything more is allowed.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    last_ms: u64,
}

/// Token buckets per key, forgetting full ones when the table grows.
#[derive(Debug)]
pub struct RateLimit<K> {
    rate: f64,
    burst: f64,
    buckets: std::collections::HashMap<K, Bucket>,
}

/// Most keys a [`RateLimit`] tracks; full buckets are dropped first (they are the default).
const MAX_RATE_KEYS: usize = 65_536;

impl<K: std::hash::Hash + Eq + Copy> RateLimit<K> {
    /// `rate` units a second, bursts of `burst`.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            buckets: std::collections::HashMap::new(),
        }
    }

    fn refill(&mut self, key: K, now_ms: u64) -> &mut Bucket {
        if self.buckets.len() >= MAX_RATE_KEYS && !self.buckets.contains_key(&key) {
            let (rate, burst) = (self.rate, self.burst);
            self.buckets.retain(|_, b| {
                b.tokens + rate * now_ms.saturating_sub(b.last_ms) as f64 / 1000.0 < burst
            });
            if self.buckets.len() >= MAX_RATE_KEYS {
                // Still full of live buckets: forget the eighth least recently used.
                let mut times: Vec<u64> = self.buckets.values().map(|b| b.last_ms).collect();
                let cut = times.len() / 8;
                let (_, nth, _) = times.select_nth_unstable(cut);
                let nth = *nth;
                self.buckets.retain(|_, b| b.last_ms > nth);
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        let b = self.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            last_ms: now_ms,
        });
        let dt = now_ms.saturating_sub(b.last_ms) as f64 / 1000.0;
        b.tokens = (b.tokens + rate * dt).min(burst);
        b.last_ms = b.last_ms.max(now_ms);
        b
    }

    /// Takes `cost` if the balance is positive (the cost may overdraw it); false, and
    /// nothing taken, if it is not.
    pub fn try_take(&mut self, key: K, cost: f64, now_ms: u64) -> bool {
        let b = self.refill(key, now_ms);
        if b.tokens <= 0.0 {
            return false;
        }
        b.tokens -= cost;
        true
    }

    /// Whether the balance of `key` is positive.
    pub fn has(&mut self, key: K, now_ms: u64) -> bool {
        self.refill(key, now_ms).tokens > 0.0
    }

    /// Charges `cost` after the fact.
    pub fn charge(&mut self, key: K, cost: f64, now_ms: u64) {
        self.refill(key, now_ms).tokens -= cost;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Catches a held cap that one source can exceed, that a network multiplies without
    /// bound, or that is not given back when mail is collected.
    #[test]
    fn held_per_source_and_network() {
        let mut h = HeldBySource::default();
        let hasher = HeldBySource::default();
        // Depositors are the same under any table sharing the hash key.
        let hasher = HeldBySource {
            hasher: h.hasher.clone(),
            ..hasher
        };
        let ip = |s: &str| hasher.depositor(DepositSource::Ip(s.parse().unwrap()));
        let a = ip("2001:db8:0:1::1");
        let a2 = ip("2001:db8:0:1::9");
        assert_eq!(a, a2, "one /64 is one source");
        assert!(h.fits(a, MAX_HELD_PER_SOURCE));
        h.add(a, MAX_HELD_PER_SOURCE);
        assert!(!h.fits(a2, 1), "the /64 holds its share");
        for i in 2..=DEPOSIT_NETWORK_FACTOR {
            let o = ip(&format!("2001:db8:0:{i}::1"));
            assert!(h.fits(o, MAX_HELD_PER_SOURCE), "/64 {i} of the /48");
            h.add(o, MAX_HELD_PER_SOURCE);
        }
        assert!(
            !h.fits(ip("2001:db8:0:99::1"), 1),
            "the /48 holds its share"
        );
        assert!(
            h.fits(ip("2001:db8:1:1::1"), MAX_HELD_PER_SOURCE),
            "another /48"
        );
        h.remove(a, 1 << 20);
        assert!(h.fits(a, 1 << 20), "collected mail frees the share");
        assert!(!h.fits(a, (1 << 20) + 1));
        let peer = hasher.depositor(DepositSource::Peer(libp2p::PeerId::random()));
        assert!(h.fits(peer, MAX_HELD_PER_SOURCE));
    }

    /// Catches a rate limit that lets a burst through without end, never refills, or
    /// forgets a debt.
    #[test]
    fn rate_limit_burst_refill_and_debt() {
        let mut r = RateLimit::new(10.0, 20.0);
        for _ in 0..20 {
            assert!(r.try_take(1u8, 1.0, 0));
        }
        assert!(!r.try_take(1, 1.0, 0), "burst spent");
        assert!(r.try_take(2, 1.0, 0), "another key has its own");
        assert!(r.try_take(1, 1.0, 200), "two units back after 200 ms");
        r.charge(1, 100.0, 200);
        assert!(
            !r.try_take(1, 1.0, 5_000),
            "a debt of 100 takes 10 s to pay"
        );
        assert!(r.try_take(1, 1.0, 11_000));
    }
}
