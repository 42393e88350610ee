//! Fuzz target bodies for the crypto core, shared by the libFuzzer targets in `fuzz/` and the
//! stable replay test (`tests/tests/fuzz_replay.rs`), so a saved crash replays through exactly
//! the code that found it. See `docs/FUZZING.md`.
//!
//! Each `fuzz_*` function takes arbitrary bytes, must never panic on its own, and **panics on
//! purpose** when an invariant is violated (a round trip that does not round-trip, a forged
//! message that is accepted, a rejected input that changed state). Not for production use.
//!
//! Fixtures (identities, an invite, a finished handshake, a session pair part-way through a
//! conversation) come from a seeded ChaCha20 RNG, so every run and every replay sees the same
//! keys, and [`seed_corpus`] can write real, valid inputs for every target.

use crate::card::ProfileCard;
use crate::envelope::{Envelope, EnvelopeKind, RoutingTag};
use crate::handshake::{
    decode_payload, encode_payload, initiate, respond, AwaitingResponse, KemField,
};
use crate::identity::IdentityKeyPair;
use crate::invite::{Invite, InviteKeys};
use crate::ratchet::header::{Header, HEADER_NONCE_LEN};
use crate::ratchet::keys::HeaderKey;
use crate::ratchet::Session;
use crate::sim::{events_from_bytes, Simulation};
use blake2::{Blake2s256, Digest};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::OnceLock;
use x25519_dalek::PublicKey;

mod file;
mod pq;
pub use file::fuzz_file;
pub use pq::fuzz_pq_fragment;

/// The crypto targets, in the order `fuzz/run-all.sh` runs them.
pub const TARGETS: &[&str] = &[
    "invite",
    "envelope",
    "header",
    "session_decrypt",
    "handshake",
    "session",
    "session_state",
    "card",
    "file",
    "pq_fragment",
];

/// Seed of the fixture RNG.
const FIXTURE_SEED: u64 = 0xCA1B_F022;
/// The fixture's clock (Unix seconds).
const NOW: u64 = 1_800_000_000;

// -------------------------------------------------------------------------------------------
// Header decryption

/// Decrypts an encrypted ratchet header with header key `key` and associated data `ad`:
/// `(ratchet_public, pn, n)`, or `None` if the key did not encrypt it. A thin wrapper
/// around the crate-private `Header::open`.
pub fn header_open(key: [u8; 32], enc: &[u8], ad: &[u8]) -> Option<([u8; 32], u32, u32)> {
    let hk = HeaderKey::from_bytes(key);
    Header::open(&hk, enc, ad).map(|h| (h.dh.to_bytes(), h.pn, h.n))
}

/// Encrypts a ratchet header (the inverse of [`header_open`] for a given nonce).
pub fn header_seal(
    key: [u8; 32],
    nonce: [u8; HEADER_NONCE_LEN],
    header: ([u8; 32], u32, u32),
    ad: &[u8],
) -> Vec<u8> {
    let hk = HeaderKey::from_bytes(key);
    let h = Header {
        dh: PublicKey::from(header.0),
        pn: header.1,
        n: header.2,
    };
    let mut out = Vec::new();
    h.seal_into(&hk, nonce, ad, &mut out);
    out
}

/// Input: `key [32] | ad_len u8 | ad | encrypted header`.
///
/// Invariant: a header that opens re-seals (same key, nonce and ad) to exactly the input,
/// i.e. header encryption is not malleable; a header whose key, ad or any byte differs from
/// what was sealed does not open.
pub fn fuzz_header(data: &[u8]) {
    let Some((key, rest)) = data.split_first_chunk::<32>() else {
        return;
    };
    let Some((&ad_len, rest)) = rest.split_first() else {
        return;
    };
    let Some((ad, enc)) = rest.split_at_checked(usize::from(ad_len)) else {
        return;
    };
    if let Some(h) = header_open(*key, enc, ad) {
        let Some(nonce) = enc.first_chunk::<HEADER_NONCE_LEN>() else {
            panic!("a header without a nonce opened");
        };
        assert_eq!(
            header_seal(*key, *nonce, h, ad),
            enc,
            "an opened header does not re-seal to the same bytes"
        );
    }
}

// -------------------------------------------------------------------------------------------
// Fixtures

/// A session and the genuine messages it has not received yet.
struct Receiver {
    session: Session,
    /// (wire, plaintext) of messages sent to it and not delivered.
    pending: Vec<(Vec<u8>, Vec<u8>)>,
    /// Wire bytes of messages it already received (replays must fail).
    received: Vec<Vec<u8>>,
}

/// Deterministic keys, handshake and a conversation in progress.
struct Fixture {
    alice: IdentityKeyPair,
    bob: IdentityKeyPair,
    alice_card: ProfileCard,
    bob_card: ProfileCard,
    invite: Invite,
    invite_keys: InviteKeys,
    /// Alice's `AwaitingResponse::to_bytes` after sending message 1.
    pending: Vec<u8>,
    m1: Envelope,
    m2: Envelope,
    /// Receivers: 0 = Alice (initiator), 1 = Bob (responder).
    receivers: [Receiver; 2],
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("fuzz fixture: {what} failed: {e}"),
    }
}

fn card(name: &str, peer: u8) -> ProfileCard {
    ProfileCard {
        display_name: name.into(),
        peer_id: vec![0, 0x24, 8, 1, 0x12, 0x20, peer],
        addrs: vec![vec![4, 127, 0, 0, 1, 6, 0x1f, 0x90]],
        mailbox: Some(vec![4, 10, 0, 0, 1, 6, 0x0f, 0xa0]),
    }
}

fn msg(from: &str, i: usize, len: usize) -> Vec<u8> {
    let mut v = format!("{from} {i}:").into_bytes();
    v.extend((0..len).map(|j| (i + j) as u8));
    v
}

fn build_fixture() -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(FIXTURE_SEED);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let alice_card = card("Alice", 1);
    let bob_card = card("Bob", 2);
    let invite = ok(
        Invite::new(
            bob.public(),
            bob_card.peer_id.clone(),
            bob_card.addrs.clone(),
            bob_card.mailbox.clone(),
            NOW + 7 * 86_400,
            &mut rng,
        ),
        "invite",
    );
    let invite_keys = invite.keys();
    let (pending, m1) = ok(initiate(&alice, &invite, &alice_card, &mut rng), "initiate");
    let pending_bytes = pending.to_bytes().to_vec();
    let (b, m2) = ok(
        respond(&bob, &invite_keys, &bob_card, &m1, &mut rng),
        "respond",
    );
    let a = match pending.finish(&alice, &m2) {
        Ok(a) => a,
        Err(r) => panic!("fuzz fixture: finish failed: {}", r.error),
    };
    let (mut a, mut b) = (a.session, b.session);
    let mut to_a = Vec::new();
    let mut to_b = Vec::new();
    let mut now = NOW;
    let mut send = |s: &mut Session, from: &str, i: usize, len: usize, out: &mut Vec<_>| {
        now += 1;
        let pt = msg(from, i, len);
        let env = ok(s.encrypt(&pt, now, &mut rng), "encrypt");
        out.push((env.encode(), pt));
    };
    // Alice's first chain: Bob receives 0 and 2, so 1 is a skipped key and 3, 4 are ahead.
    for (i, len) in [(0, 5), (1, 300), (2, 0), (3, 40), (4, 700)] {
        send(&mut a, "a", i, len, &mut to_b);
    }
    let deliver = |s: &mut Session, q: &mut Vec<(Vec<u8>, Vec<u8>)>, i: usize| {
        let (wire, pt) = q.remove(i);
        let env = ok(Envelope::decode(&wire), "decode");
        assert_eq!(ok(s.decrypt(&env, NOW), "decrypt"), pt, "fuzz fixture");
        wire
    };
    let mut b_received = vec![deliver(&mut b, &mut to_b, 0)];
    // Message 2 (index 1 once message 0 is gone); message 1 becomes a skipped key.
    b_received.push(deliver(&mut b, &mut to_b, 1));
    // Bob answers (a DH step); Alice receives the first answer only.
    for (i, len) in [(0, 10), (1, 2000), (2, 3)] {
        send(&mut b, "b", i, len, &mut to_a);
    }
    let a_received = vec![deliver(&mut a, &mut to_a, 0)];
    // Alice's second chain: Bob has not seen its header key yet (the "next header key" path).
    for (i, len) in [(5, 1), (6, 100)] {
        send(&mut a, "a", i, len, &mut to_b);
    }
    Fixture {
        alice,
        bob,
        alice_card,
        bob_card,
        invite,
        invite_keys,
        pending: pending_bytes,
        m1,
        m2,
        receivers: [
            Receiver {
                session: a,
                pending: to_a,
                received: a_received,
            },
            Receiver {
                session: b,
                pending: to_b,
                received: b_received,
            },
        ],
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

// -------------------------------------------------------------------------------------------
// Session decryption

/// Input: `receiver u8 (even: Alice, odd: Bob) | envelope`.
///
/// Decrypts the envelope with an established session part-way through a conversation (with
/// a skipped key, messages ahead in the current chain, and a chain whose header key the
/// receiver has not used yet). Invariants: a rejected message leaves `Session::to_bytes`
/// unchanged; an accepted one is byte-for-byte a genuine undelivered message and decrypts to
/// its plaintext (nothing forged, nothing replayed is accepted); delivering it again fails
/// and changes nothing.
pub fn fuzz_session_decrypt(data: &[u8]) {
    let Some((&who, wire)) = data.split_first() else {
        return;
    };
    let Ok(env) = Envelope::decode(wire) else {
        return;
    };
    let [alice, bob] = &fixture().receivers;
    let r = if who & 1 == 0 { alice } else { bob };
    let mut s = r.session.clone();
    let before = s.to_bytes();
    match s.decrypt(&env, NOW) {
        Err(_) => assert!(
            s.to_bytes() == before,
            "a rejected message changed the session"
        ),
        Ok(pt) => {
            assert!(
                !r.received.iter().any(|w| w == wire),
                "a replayed message was accepted"
            );
            let genuine = r.pending.iter().find(|(w, _)| w == wire);
            match genuine {
                Some((_, expected)) => assert_eq!(&pt, expected, "decrypted to the wrong text"),
                None => panic!("a forged message was accepted"),
            }
            let after = s.to_bytes();
            assert!(
                s.decrypt(&env, NOW).is_err(),
                "a message was accepted a second time"
            );
            assert!(s.to_bytes() == after, "a replay changed the session");
        }
    }
}

// -------------------------------------------------------------------------------------------
// Handshake

/// Input: `step u8 | bytes`. `step % 4`:
///
/// - 0: the responder (inviter) reads message 1 (`bytes` is an envelope) with `respond`.
///   Invariant: it succeeds only for the genuine message 1, and then reports the
///   acceptor's identity and card.
/// - 1: the initiator (acceptor) reads message 2 (`bytes` is an envelope) with
///   `AwaitingResponse::finish`. Invariants: it succeeds only for the genuine message 2 and
///   then reports the inviter's identity and card; on `Rejected` the returned state's
///   `to_bytes` is unchanged, and the genuine message 2 still finishes it.
/// - 2: `AwaitingResponse::from_bytes(bytes)`. Invariant: on success `to_bytes` gives back
///   exactly `bytes` (for the current version; an older one is upgraded, and what is
///   written reads back the same).
/// - 3: the decrypted payload's decoder, which sits behind Noise's AEAD (unreachable by
///   mutating whole messages): `bytes = layout u8 | padded payload`, layout `% 3` = classical
///   (v1, v2), hybrid message 1 (ML-KEM encapsulation key), hybrid message 2 (ciphertext).
///   Invariants: no panic; an accepted payload carries a KEM value of exactly the layout's
///   length and encodes back to the same unpadded bytes.
pub fn fuzz_handshake(data: &[u8]) {
    let Some((&step, bytes)) = data.split_first() else {
        return;
    };
    if step % 4 == 3 {
        return fuzz_handshake_payload(bytes);
    }
    let f = fixture();
    match step % 4 {
        0 => {
            let Ok(env) = Envelope::decode(bytes) else {
                return;
            };
            let mut rng = ChaCha20Rng::seed_from_u64(u64::from(step));
            if let Ok((est, _m2)) = respond(&f.bob, &f.invite_keys, &f.bob_card, &env, &mut rng) {
                assert!(env == f.m1, "respond accepted a forged message 1");
                assert!(est.peer_identity == f.alice.public(), "wrong identity");
                assert!(est.peer_card == f.alice_card, "wrong card");
            }
        }
        1 => {
            let Ok(env) = Envelope::decode(bytes) else {
                return;
            };
            let state = ok(AwaitingResponse::from_bytes(&f.pending), "pending state");
            match state.finish(&f.alice, &env) {
                Ok(est) => {
                    assert!(env == f.m2, "finish accepted a forged message 2");
                    assert!(est.peer_identity == f.bob.public(), "wrong identity");
                    assert!(est.peer_card == f.bob_card, "wrong card");
                }
                Err(rejected) => {
                    assert!(
                        *rejected.state.to_bytes() == f.pending[..],
                        "a rejected message 2 changed the handshake state"
                    );
                    assert!(
                        rejected.state.finish(&f.alice, &f.m2).is_ok(),
                        "after a rejected message 2 the genuine one no longer finishes"
                    );
                }
            }
        }
        _ => {
            if let Ok(state) = AwaitingResponse::from_bytes(bytes) {
                let written = state.to_bytes();
                if bytes.first() == Some(&crate::handshake::PENDING_HANDSHAKE_VERSION) {
                    assert!(*written == *bytes, "AwaitingResponse does not round-trip");
                } else {
                    // An older version is upgraded: what is written reads back the same.
                    let again = ok(AwaitingResponse::from_bytes(&written), "upgraded state");
                    assert!(
                        *again.to_bytes() == *written,
                        "an upgraded AwaitingResponse does not round-trip"
                    );
                }
            }
        }
    }
}

const PAYLOAD_LAYOUTS: [KemField; 3] = [
    KemField::None,
    KemField::EncapsulationKey,
    KemField::Ciphertext,
];

fn fuzz_handshake_payload(bytes: &[u8]) {
    let Some((&layout, padded)) = bytes.split_first() else {
        return;
    };
    let Some(&field) = PAYLOAD_LAYOUTS.get(usize::from(layout) % PAYLOAD_LAYOUTS.len()) else {
        return;
    };
    if let Ok(p) = decode_payload(padded, field) {
        let again = ok(
            encode_payload(&p.ratchet, field, &p.kem, &p.card),
            "re-encoding an accepted payload",
        );
        assert!(
            crate::padding::unpad(&again).ok() == crate::padding::unpad(padded).ok(),
            "a handshake payload does not round-trip"
        );
    }
}

// -------------------------------------------------------------------------------------------
// Session state machine

/// Input: `seed u8 | events` (4 bytes per event, [`events_from_bytes`]).
///
/// Runs the two-party simulation; its oracle checks that every message delivered for the
/// first time decrypts to what was sent, that duplicated, replayed, tampered and truncated
/// messages are rejected without changing the session, that serialise/restore round-trips,
/// and that both directions still work at the end.
pub fn fuzz_session(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let events = events_from_bytes(rest);
    if let Err(v) = Simulation::run(u64::from(seed % 4), &events) {
        panic!("session oracle violated: {}", v.0);
    }
}

/// Input: a serialised session.
///
/// Invariants: `Session::from_bytes` succeeds only on bytes that `to_bytes` gives back
/// exactly (for the current versions, 3 and 4; an older state is rewritten as version 3,
/// which then round-trips); a restored session (however odd its state) can encrypt or refuse to
/// without panicking, and rejects a message it did not send.
pub fn fuzz_session_state(data: &[u8]) {
    let Ok(mut s) = Session::from_bytes(data) else {
        return;
    };
    let written = s.to_bytes();
    // Versions 3 (protocols 1 to 3) and 4 (protocol 4) are both current.
    if data.first().is_some_and(|v| *v >= 3) {
        assert!(*written == *data, "session state does not round-trip");
    } else {
        let again = Session::from_bytes(&written);
        assert!(
            again.is_ok_and(|a| *a.to_bytes() == *written),
            "an upgraded session state does not round-trip"
        );
    }
    let _ = s.receive_tags(NOW, 14 * 86_400);
    let _ = s.send_tag(NOW);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    if let Ok(env) = s.encrypt(b"fuzz", NOW, &mut rng) {
        let before = s.to_bytes();
        // A session never accepts its own sending chain's message (different header keys).
        if s.decrypt(&env, NOW).is_err() {
            assert!(
                s.to_bytes() == before,
                "a rejected message changed the session"
            );
        }
    }
}

// -------------------------------------------------------------------------------------------
// Decoders

/// Input: an envelope. Invariant: decode ∘ encode = identity on accepted input.
pub fn fuzz_envelope(data: &[u8]) {
    crate::wire::round_trips::<Envelope>(data);
}

/// Input: a profile card. Invariant: an accepted card is valid and re-encodes to the input.
pub fn fuzz_card(data: &[u8]) {
    if let Some(card) = crate::wire::round_trips::<ProfileCard>(data) {
        assert!(card.validate().is_ok(), "decoded an invalid card");
    }
}

/// The invite checksum (`BLAKE2s-256(label | bytes)[..4]`, PROTOCOL.md §6.1), so the
/// fuzzer can reach the body decoder without guessing a hash.
fn invite_checksum(bytes: &[u8]) -> [u8; 4] {
    let mut h = Blake2s256::new();
    h.update(crate::kdf::label::INVITE_CHECKSUM);
    h.update(bytes);
    crate::kdf::truncate(&h.finalize())
}

fn check_invite_bytes(bytes: &[u8]) {
    if let Ok(inv) = Invite::from_bytes(bytes) {
        let again = ok(inv.to_bytes(), "invite to_bytes");
        assert_eq!(&again[..], bytes, "invite binary form does not round-trip");
    }
}

/// Input: `mode u8 | rest`. `mode % 3`:
///
/// - 0: `rest` is text for `Invite::decode_ignoring_expiry` (lossy UTF-8). Invariant: an
///   accepted code re-encodes to the input with whitespace removed and letters upper-cased,
///   and its binary form decodes to the same invite.
/// - 1: `rest` is the binary form for `Invite::from_bytes`. Invariant: re-encodes to `rest`.
/// - 2: `rest` is `version | body`; the harness adds the length and a correct checksum so
///   the body decoder is reached. Same invariant as 1.
pub fn fuzz_invite(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(inv) = Invite::decode_ignoring_expiry(&text) {
                let normal: String = text
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .map(|c| c.to_ascii_uppercase())
                    .collect();
                let code = ok(inv.encode(), "invite encode");
                assert_eq!(*code, normal, "invite code does not round-trip");
                let bytes = ok(inv.to_bytes(), "invite to_bytes");
                assert!(
                    Invite::from_bytes(&bytes).ok() == Some(inv),
                    "invite binary form differs from the code"
                );
            }
        }
        1 => check_invite_bytes(rest),
        _ => {
            let Some((&version, body)) = rest.split_first() else {
                return;
            };
            let Ok(len) = u16::try_from(body.len()) else {
                return;
            };
            let mut bytes = vec![version];
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(body);
            let sum = invite_checksum(&bytes);
            bytes.extend_from_slice(&sum);
            check_invite_bytes(&bytes);
        }
    }
}

// -------------------------------------------------------------------------------------------
// Dispatch and seeds

/// Runs the crypto target called `name` on `data`; `false` if there is no such target.
pub fn run_target(name: &str, data: &[u8]) -> bool {
    match name {
        "invite" => fuzz_invite(data),
        "envelope" => fuzz_envelope(data),
        "header" => fuzz_header(data),
        "session_decrypt" => fuzz_session_decrypt(data),
        "handshake" => fuzz_handshake(data),
        "session" => fuzz_session(data),
        "session_state" => fuzz_session_state(data),
        "card" => fuzz_card(data),
        "file" => fuzz_file(data),
        "pq_fragment" => fuzz_pq_fragment(data),
        _ => return false,
    }
    true
}

fn with(prefix: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![prefix];
    v.extend_from_slice(bytes);
    v
}

/// Valid inputs for each crypto target, made from real encodings (the fixture's invite,
/// handshake messages, sessions and ratchet messages): `(target, input)`. The replay test
/// writes them to `fuzz/corpus/<target>/` when asked to regenerate the corpus.
pub fn seed_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let f = fixture();
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut rng = ChaCha20Rng::seed_from_u64(FIXTURE_SEED ^ 1);

    // Invites: the fixture's and a few shapes (no routing, many addresses, no mailbox).
    let mut invites = vec![f.invite.clone()];
    type Routing = (Vec<u8>, Vec<Vec<u8>>, Option<Vec<u8>>);
    let shapes: [Routing; 4] = [
        (vec![], vec![], None),
        (vec![1; 38], vec![vec![4, 127, 0, 0, 1]; 6], None),
        (vec![2; 64], vec![vec![0xaa; 160]], Some(vec![0xbb; 160])),
        (vec![3; 5], vec![], Some(vec![6])),
    ];
    for (peer, addrs, mailbox) in shapes {
        invites.push(ok(
            Invite::new(f.bob.public(), peer, addrs, mailbox, NOW + 60, &mut rng),
            "seed invite",
        ));
    }
    // A protocol 1 code, as older builds make (version byte 1).
    let mut v1 = f.invite.clone();
    v1.protocol = crate::Protocol::V1;
    invites.push(v1.clone());
    for inv in &invites {
        let bytes = ok(inv.to_bytes(), "seed invite bytes");
        let code = ok(inv.encode(), "seed invite code");
        out.push(("invite", with(0, code.as_bytes())));
        out.push(("invite", with(0, code.to_lowercase().as_bytes())));
        out.push(("invite", with(1, &bytes)));
        // Mode 2: version | body (without length and checksum).
        let body_end = bytes.len().saturating_sub(4);
        if let (Some(v), Some(body)) = (bytes.first(), bytes.get(3..body_end)) {
            out.push(("invite", with(2, &[&[*v], body].concat())));
        }
    }
    let spaced: String = ok(f.invite.encode(), "code")
        .chars()
        .enumerate()
        .flat_map(|(i, c)| (i % 4 == 3).then_some(' ').into_iter().chain([c]))
        .collect();
    out.push(("invite", with(0, spaced.as_bytes())));

    // Cards.
    let cards = [
        f.alice_card.clone(),
        f.bob_card.clone(),
        ProfileCard {
            display_name: "Zoë 🌍".into(),
            peer_id: vec![],
            addrs: vec![],
            mailbox: None,
        },
        ProfileCard {
            display_name: "x".repeat(64),
            peer_id: vec![9; 64],
            addrs: vec![vec![1; 160]; 6],
            mailbox: Some(vec![2; 160]),
        },
    ];
    for c in &cards {
        out.push(("card", ok(c.to_bytes(), "seed card")));
    }

    // Envelopes of every kind: handshake messages and ratchet messages.
    let mut wires = vec![f.m1.encode(), f.m2.encode()];
    for (i, r) in f.receivers.iter().enumerate() {
        for (w, _) in &r.pending {
            wires.push(w.clone());
            out.push(("session_decrypt", with(i as u8, w)));
        }
        for w in &r.received {
            out.push(("session_decrypt", with(i as u8, w)));
        }
    }
    for w in &wires {
        out.push(("envelope", w.clone()));
    }
    // A bulk chunk (PROTOCOL §25.5): its one length.
    let bulk = Envelope {
        kind: EnvelopeKind::BulkChunk,
        tag: RoutingTag([9; 16]),
        body: vec![0; crate::envelope::BULK_BODY_LEN],
    };
    out.push(("envelope", bulk.encode()));
    out.push(("session_decrypt", with(1, &f.m1.encode())));

    // Handshake steps.
    out.push(("handshake", with(0, &f.m1.encode())));
    out.push(("handshake", with(1, &f.m2.encode())));
    out.push(("handshake", with(0, &f.m2.encode())));
    out.push(("handshake", with(1, &f.m1.encode())));
    out.push(("handshake", with(2, &f.pending)));
    let mut wrong_tag = f.m2.clone();
    wrong_tag.tag = RoutingTag([0; 16]);
    out.push(("handshake", with(1, &wrong_tag.encode())));
    let mut wrong_kind = f.m1.clone();
    wrong_kind.kind = EnvelopeKind::Message;
    out.push(("handshake", with(0, &wrong_kind.encode())));
    // Decrypted payloads of each layout (step 3): real ML-KEM values and a short card.
    let kem_pair = crate::kem::KemKeyPair::generate(&mut rng);
    let (ct, _) = kem_pair.encapsulation_key().encapsulate(&mut rng);
    let ratchet = crate::dh::RatchetKeyPair::generate(&mut rng).public;
    let values: [&[u8]; 3] = [&[], kem_pair.encapsulation_key().as_bytes(), ct.as_bytes()];
    for (layout, (field, value)) in PAYLOAD_LAYOUTS.iter().zip(values).enumerate() {
        let payload = ok(
            encode_payload(&ratchet, *field, value, &f.alice_card),
            "seed payload",
        );
        out.push((
            "handshake",
            with(3, &[&[layout as u8][..], &payload[..]].concat()),
        ));
    }

    // Session states at several points.
    for r in &f.receivers {
        out.push(("session_state", r.session.to_bytes().to_vec()));
        let mut s = r.session.clone();
        for (w, _) in &r.pending {
            if let Ok(env) = Envelope::decode(w) {
                let _ = s.decrypt(&env, NOW);
            }
            out.push(("session_state", s.to_bytes().to_vec()));
        }
    }

    // A protocol 1 session (a contact on an older build), before and after a message.
    if let Ok((pending, m1)) = crate::initiate(&f.alice, &v1, &f.alice_card, &mut rng) {
        if let Ok((mut bob, m2)) = crate::respond(&f.bob, &v1.keys(), &f.bob_card, &m1, &mut rng) {
            out.push(("session_state", bob.session.to_bytes().to_vec()));
            if let Ok(alice) = pending.finish(&f.alice, &m2) {
                let mut a = alice.session;
                if let Ok(env) = a.encrypt(b"protocol 1", NOW, &mut rng) {
                    out.push(("session_decrypt", with(1, &env.encode())));
                    let _ = bob.session.decrypt(&env, NOW);
                    out.push(("session_state", bob.session.to_bytes().to_vec()));
                }
            }
        }
    }

    // Headers: sealed with known keys, as `key | ad_len | ad | enc`.
    for i in 0..6u8 {
        let key = [i.wrapping_mul(37); 32];
        let ad: Vec<u8> = (0..i * 10).collect();
        let nonce = [i; HEADER_NONCE_LEN];
        let dh = f.alice.public();
        let enc = header_seal(key, nonce, (*dh.as_bytes(), u32::from(i), 7), &ad);
        let mut v = key.to_vec();
        v.push(ad.len() as u8);
        v.extend_from_slice(&ad);
        v.extend_from_slice(&enc);
        out.push(("header", v));
    }

    // Session event scripts: each 4 bytes is one event (see `sim::events_from_bytes`).
    let scripts: [&[[u8; 4]]; 6] = [
        &[[0, 0, 0, 10], [2, 0, 0, 0], [1, 1, 0, 20], [3, 0, 0, 0]],
        &[
            [0, 0, 0, 5],
            [0, 0, 0, 6],
            [0, 0, 0, 7],
            [6, 0, 2, 0],
            [2, 0, 0, 0],
            [2, 1, 0, 0],
            [2, 0, 0, 0],
        ],
        &[
            [0, 0, 1, 0],
            [5, 0, 0, 0],
            [2, 0, 0, 0],
            [2, 0, 0, 0],
            [8, 0, 1, 0],
        ],
        &[
            [0, 1, 0, 9],
            [7, 0, 3, 1],
            [8, 0, 0, 9],
            [4, 0, 0, 0],
            [0, 0, 0, 1],
            [9, 1, 0, 0],
            [3, 0, 0, 0],
        ],
        &[
            [0, 0, 0, 1],
            [1, 1, 0, 2],
            [0, 0, 0, 3],
            [1, 1, 0, 4],
            [8, 0, 2, 0],
            [8, 1, 2, 0],
            [2, 3, 0, 0],
            [2, 0, 0, 0],
            [8, 0, 1, 0],
        ],
        &[
            [0, 0, 0x0f, 0xff],
            [2, 0, 0, 0],
            [1, 1, 0x0b, 0xb8],
            [7, 0, 0xff, 0xff],
            [8, 0, 0x30, 0],
            [3, 0, 0, 0],
        ],
    ];
    for (i, s) in scripts.iter().enumerate() {
        let mut v = vec![i as u8];
        v.extend(s.iter().flatten());
        out.push(("session", v));
    }
    out.extend(file::seeds().into_iter().map(|v| ("file", v)));
    out.extend(pq::seeds().into_iter().map(|v| ("pq_fragment", v)));
    out
}

#[cfg(test)]
mod tests;
