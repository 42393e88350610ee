//! Crypto benchmarks, each against its baseline in the same run.
//!
//! `cargo bench -p cairn-crypto --bench crypto`
//!
//! Criterion measures every function; then a same-process, interleaved comparison
//! prints each ratio (ours / baseline) with its target, for docs/BENCHMARKS.md.
use cairn_crypto::*;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use criterion::{black_box, criterion_group, BenchmarkId, Criterion, Throughput};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use std::time::{Duration, Instant};
use x25519_dalek::{PublicKey, StaticSecret};

const NOW: u64 = 1_800_000_000;

fn card(name: &str) -> ProfileCard {
    ProfileCard {
        display_name: name.into(),
        peer_id: vec![1; 38],
        addrs: vec![vec![4, 127, 0, 0, 1, 6, 0x1f, 0x90]],
        mailbox: None,
    }
}

struct Fixture {
    rng: ChaCha20Rng,
    alice_id: IdentityKeyPair,
    bob_id: IdentityKeyPair,
    invite: Invite,
    keys: InviteKeys,
    alice_card: ProfileCard,
    bob_card: ProfileCard,
}

fn fixture() -> Fixture {
    fixture_with(Protocol::LATEST)
}

/// A fixture whose invite makes sessions of `protocol` (v2: today's classical handshake
/// before v3, the baseline of the hybrid one).
fn fixture_with(protocol: Protocol) -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let invite = Invite::new(
        bob_id.public(),
        vec![1; 38],
        vec![],
        None,
        NOW + 60,
        &mut rng,
    )
    .unwrap();
    let mut invite = invite;
    invite.protocol = protocol;
    let keys = invite.keys();
    Fixture {
        rng,
        alice_id,
        bob_id,
        invite,
        keys,
        alice_card: card("alice"),
        bob_card: card("bob"),
    }
}

fn establish(f: &mut Fixture) -> (Session, Session) {
    let (pending, m1) = initiate(&f.alice_id, &f.invite, &f.alice_card, &mut f.rng).unwrap();
    let (bob, m2) = respond(&f.bob_id, &f.keys, &f.bob_card, &m1, &mut f.rng).unwrap();
    let alice = pending.finish(&f.alice_id, &m2).unwrap();
    (alice.session, bob.session)
}

/// snow's default primitives with an RNG from the caller (as Cairn's build has no OS RNG).
struct RngResolver(std::sync::Mutex<ChaCha20Rng>);
struct Draw([u8; 32]);
impl snow::types::Random for Draw {
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), snow::Error> {
        d.copy_from_slice(&self.0[..d.len()]);
        Ok(())
    }
}
impl snow::resolvers::CryptoResolver for RngResolver {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        let mut b = [0u8; 32];
        self.0.lock().unwrap().fill_bytes(&mut b);
        Some(Box::new(Draw(b)))
    }
    fn resolve_dh(&self, c: &snow::params::DHChoice) -> Option<Box<dyn snow::types::Dh>> {
        snow::resolvers::DefaultResolver.resolve_dh(c)
    }
    fn resolve_hash(&self, c: &snow::params::HashChoice) -> Option<Box<dyn snow::types::Hash>> {
        snow::resolvers::DefaultResolver.resolve_hash(c)
    }
    fn resolve_cipher(
        &self,
        c: &snow::params::CipherChoice,
    ) -> Option<Box<dyn snow::types::Cipher>> {
        snow::resolvers::DefaultResolver.resolve_cipher(c)
    }
}

/// The bare snow handshake of the same pattern and prologue, both sides, with
/// payloads of the same size as Cairn's.
fn bare_snow(f: &mut Fixture, payload_len: usize) {
    let params: snow::params::NoiseParams = handshake::NOISE_PATTERN.parse().unwrap();
    let psk = [7u8; 32];
    let (a, b) = (f.alice_id.secret_bytes(), f.bob_id.secret_bytes());
    let mut seed = [0u8; 32];
    f.rng.fill_bytes(&mut seed);
    let res = || {
        Box::new(RngResolver(std::sync::Mutex::new(ChaCha20Rng::from_seed(
            seed,
        ))))
    };
    let mut i = snow::Builder::with_resolver(params.clone(), res())
        .local_private_key(a.as_ref())
        .unwrap()
        .remote_public_key(f.bob_id.public().as_bytes())
        .unwrap()
        .psk(1, &psk)
        .unwrap()
        .prologue(handshake::PROLOGUE)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut r = snow::Builder::with_resolver(params, res())
        .local_private_key(b.as_ref())
        .unwrap()
        .psk(1, &psk)
        .unwrap()
        .prologue(handshake::PROLOGUE)
        .unwrap()
        .build_responder()
        .unwrap();
    let payload = vec![0u8; payload_len];
    let mut buf = vec![0u8; payload_len + 128];
    let mut out = vec![0u8; payload_len + 128];
    let n = i.write_message(&payload, &mut buf).unwrap();
    r.read_message(&buf[..n], &mut out).unwrap();
    let n = r.write_message(&payload, &mut buf).unwrap();
    i.read_message(&buf[..n], &mut out).unwrap();
    black_box((i.get_handshake_hash()[0], r.get_handshake_hash()[0]));
}

fn raw_aead(buf: &mut [u8], key: &[u8; 32]) {
    let c = ChaCha20Poly1305::new(key.into());
    let tag = c
        .encrypt_in_place_detached(&Nonce::default(), b"ad", buf)
        .unwrap();
    let c = ChaCha20Poly1305::new(key.into());
    c.decrypt_in_place_detached(&Nonce::default(), b"ad", buf, &tag)
        .unwrap();
}

fn one_way(a: &mut Session, b: &mut Session, msg: &[u8], rng: &mut ChaCha20Rng) {
    let e = a.encrypt(msg, NOW, rng).unwrap();
    black_box(b.decrypt(&e, 1_800_000_000).unwrap());
}

fn ping_pong_msg(a: &mut Session, b: &mut Session, rng: &mut ChaCha20Rng) {
    let e = a.encrypt(b"ping", NOW, rng).unwrap();
    black_box(b.decrypt(&e, 1_800_000_000).unwrap());
}

fn dh_baseline(rng: &mut ChaCha20Rng, peer: &PublicKey) {
    // What one ping-pong message must cost at least: 2 X25519 DH + 1 key pair.
    let mut s = [0u8; 32];
    rng.fill_bytes(&mut s);
    let own = StaticSecret::from(s);
    let pk = PublicKey::from(&own);
    black_box(own.diffie_hellman(peer));
    black_box(own.diffie_hellman(&pk));
}

fn benches(c: &mut Criterion) {
    let mut f = fixture();
    let (mut a, mut b) = establish(&mut f);
    let key = [9u8; 32];
    for (label, len) in [("1KiB", 1024usize), ("16KiB", 16384)] {
        let padded = padding::padded_len(len).unwrap();
        let mut g = c.benchmark_group(format!("ratchet_{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        let mut buf = vec![0u8; padded];
        g.bench_function(
            BenchmarkId::new("raw_aead_seal_open_padded", padded),
            |bch| bch.iter(|| raw_aead(&mut buf, &key)),
        );
        let msg = vec![0x61u8; len];
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        g.bench_function("ratchet_encrypt_decrypt", |bch| {
            bch.iter(|| one_way(&mut a, &mut b, &msg, &mut rng))
        });
        g.finish();
    }
    let mut g = c.benchmark_group("ping_pong");
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let peer = PublicKey::from(&StaticSecret::from([5u8; 32]));
    g.bench_function("baseline_2dh_1keypair", |bch| {
        bch.iter(|| dh_baseline(&mut rng, &peer))
    });
    let mut turn = false;
    g.bench_function("ratchet_message_with_dh_step", |bch| {
        bch.iter(|| {
            turn = !turn;
            if turn {
                ping_pong_msg(&mut a, &mut b, &mut rng)
            } else {
                ping_pong_msg(&mut b, &mut a, &mut rng)
            }
        })
    });
    g.finish();
    let mut g = c.benchmark_group("establishment");
    let payload_len = padding::padded_len(80).unwrap();
    g.bench_function("bare_snow_ikpsk1", |bch| {
        bch.iter(|| bare_snow(&mut f, payload_len))
    });
    g.bench_function("cairn_session_establishment", |bch| {
        bch.iter(|| black_box(establish(&mut f)))
    });
    let mut classical = fixture_with(Protocol::V2);
    g.bench_function("cairn_session_establishment_classical_v2", |bch| {
        bch.iter(|| black_box(establish(&mut classical)))
    });
    g.finish();
    let mut g = c.benchmark_group("primitives");
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    g.bench_function("x25519_keypair", |bch| {
        bch.iter(|| black_box(PublicKey::from(&StaticSecret::random_from_rng(&mut rng))))
    });
    let s = StaticSecret::from([3u8; 32]);
    g.bench_function("x25519_dh", |bch| {
        bch.iter(|| black_box(s.diffie_hellman(&peer)))
    });
    g.bench_function("safety_number", |bch| {
        bch.iter(|| black_box(SafetyNumber::new(&f.alice_id.public(), &f.bob_id.public())))
    });
    g.finish();
}

/// Median time per call of `f`, over `rounds` batches of `batch` calls.
fn sample(batch: u32, f: &mut dyn FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..batch {
        f();
    }
    t.elapsed() / batch
}

/// Interleaves batches of `ours` and `base` so drift affects both, and returns the
/// median per-call times.
fn compare(
    batch: u32,
    rounds: usize,
    ours: &mut dyn FnMut(),
    base: &mut dyn FnMut(),
) -> (Duration, Duration) {
    let (mut o, mut b) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        ours();
        base();
    }
    for _ in 0..rounds {
        o.push(sample(batch, ours));
        b.push(sample(batch, base));
    }
    o.sort();
    b.sort();
    (o[rounds / 2], b[rounds / 2])
}

/// Times every message of a protocol v4 ping-pong and sorts them by what the post-quantum
/// ratchet did in it: nothing (a DH step only), a key pair drawn, an encapsulation, a
/// decapsulation, a secret mixed. Median per kind, in µs, with the count.
fn pq_step_costs(messages: usize) -> Vec<(&'static str, f64, usize)> {
    let mut f = fixture_with(Protocol::V4);
    let (mut a, mut b) = establish(&mut f);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut kinds: std::collections::BTreeMap<&'static str, Vec<Duration>> = Default::default();
    for i in 0..messages {
        let (from, to) = if i % 2 == 0 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let before = (from.pq_stage(), to.pq_stage(), from.pq_epoch());
        let t = Instant::now();
        let e = from.encrypt(b"ping", NOW, &mut rng).unwrap();
        black_box(to.decrypt(&e, 1_800_000_000).unwrap());
        let took = t.elapsed();
        let after = (from.pq_stage(), to.pq_stage(), from.pq_epoch());
        let kind = match (before, after) {
            ((_, _, e0), (_, _, e1)) if e1 != e0 => "a secret mixed (extra HKDF input)",
            ((Some("wait"), _, _), (Some("key"), _, _)) => "ML-KEM key pair drawn",
            ((Some("collect"), _, _), (Some("ciphertext"), _, _)) => "encapsulation",
            ((_, Some("key"), _), (_, Some("ready"), _)) => "decapsulation",
            _ => "DH step only",
        };
        kinds.entry(kind).or_default().push(took);
    }
    kinds
        .into_iter()
        .map(|(k, mut v)| {
            v.sort();
            (k, v[v.len() / 2].as_secs_f64() * 1e6, v.len())
        })
        .collect()
}

fn ratios() {
    let mut f = fixture_with(Protocol::V3);
    let (mut a, mut b) = establish(&mut f);
    let key = [9u8; 32];
    let mut rows = Vec::new();
    for (label, len) in [("1 KiB", 1024usize), ("16 KiB", 16384)] {
        let padded = padding::padded_len(len).unwrap();
        let mut buf = vec![0u8; padded];
        let msg = vec![0x61u8; len];
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let (o, bs) = compare(
            2000,
            31,
            &mut || one_way(&mut a, &mut b, &msg, &mut rng),
            &mut || raw_aead(&mut buf, &key),
        );
        rows.push((
            format!("ratchet encrypt+decrypt {label} vs raw AEAD seal+open {padded} B"),
            o,
            bs,
            2.5,
        ));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut rng2 = ChaCha20Rng::seed_from_u64(4);
    let peer = PublicKey::from(&StaticSecret::from([5u8; 32]));
    let mut turn = false;
    let (o, bs) = compare(
        100,
        31,
        &mut || {
            turn = !turn;
            if turn {
                ping_pong_msg(&mut a, &mut b, &mut rng)
            } else {
                ping_pong_msg(&mut b, &mut a, &mut rng)
            }
        },
        &mut || dh_baseline(&mut rng2, &peer),
    );
    rows.push((
        "ping-pong message (DH step each) vs 2 DH + 1 keypair".into(),
        o,
        bs,
        1.15,
    ));
    // The post-quantum ratchet's cost, spread over a long conversation: batches of 400
    // ping-pong messages (several epochs each) with protocol 4 against protocol 3.
    let mut fq = fixture_with(Protocol::V4);
    let (mut qa, mut qb) = establish(&mut fq);
    let mut fc = fixture_with(Protocol::V3);
    let (mut ca, mut cb) = establish(&mut fc);
    let (mut rq, mut rc) = (ChaCha20Rng::seed_from_u64(5), ChaCha20Rng::seed_from_u64(5));
    let (mut tq, mut tc) = (false, false);
    let (o, bs) = compare(
        400,
        31,
        &mut || {
            tq = !tq;
            if tq {
                ping_pong_msg(&mut qa, &mut qb, &mut rq)
            } else {
                ping_pong_msg(&mut qb, &mut qa, &mut rq)
            }
        },
        &mut || {
            tc = !tc;
            if tc {
                ping_pong_msg(&mut ca, &mut cb, &mut rc)
            } else {
                ping_pong_msg(&mut cb, &mut ca, &mut rc)
            }
        },
    );
    rows.push((
        format!(
            "ping-pong message, amortised (post-quantum ratchet, v4, {} epochs) vs v3",
            qa.pq_epoch().unwrap_or(0)
        ),
        o,
        bs,
        1.1,
    ));
    let payload_len = padding::padded_len(80).unwrap();
    let mut f2 = fixture();
    let mut classical = fixture_with(Protocol::V2);
    let (o, bs) = compare(
        30,
        31,
        &mut || {
            black_box(establish(&mut classical));
        },
        &mut || bare_snow(&mut f2, payload_len),
    );
    rows.push((
        "classical session establishment (v2, both sides) vs bare snow IKpsk1".into(),
        o,
        bs,
        1.3,
    ));
    let mut classical = fixture_with(Protocol::V2);
    let (o, bs) = compare(
        30,
        31,
        &mut || {
            black_box(establish(&mut f));
        },
        &mut || {
            black_box(establish(&mut classical));
        },
    );
    rows.push((
        "hybrid session establishment (v3, ML-KEM-768) vs classical (v2)".into(),
        o,
        bs,
        1.5,
    ));
    for protocol in [Protocol::V2, Protocol::V3] {
        let mut f = fixture_with(protocol);
        let (_, m1) = initiate(&f.alice_id, &f.invite, &f.alice_card, &mut f.rng).unwrap();
        let (_, m2) = respond(&f.bob_id, &f.keys, &f.bob_card, &m1, &mut f.rng).unwrap();
        println!(
            "handshake sizes, protocol {}: message 1 {} B, message 2 {} B (envelopes)",
            protocol.as_u8(),
            m1.encode().len(),
            m2.encode().len()
        );
    }
    println!("\nProtocol 4 ping-pong, 4,000 messages, median time of one message (encrypt + decrypt) by what the post-quantum ratchet did in it:");
    println!("| message | median | count |");
    println!("|---|---|---|");
    for (kind, us, n) in pq_step_costs(4000) {
        println!("| {kind} | {us:.2} µs | {n} |");
    }
    println!("\nSame-process comparison (median of 31 interleaved batches):");
    println!("| benchmark | ours | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    for (name, o, b, target) in rows {
        let r = o.as_secs_f64() / b.as_secs_f64();
        println!(
            "| {name} | {:.2} µs | {:.2} µs | {r:.2}× | ≤ {target}× {} |",
            o.as_secs_f64() * 1e6,
            b.as_secs_f64() * 1e6,
            if r <= target { "✔" } else { "✘" }
        );
    }
}

criterion_group! {
    name = group;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}

fn main() {
    let quick = std::env::args().any(|a| a == "--ratios-only");
    if !quick {
        group();
        Criterion::default().configure_from_args().final_summary();
    }
    // Profiling one benchmark (`--profile-time`) should not also run the comparisons.
    if !std::env::args().any(|a| a == "--profile-time") {
        ratios();
    }
}
