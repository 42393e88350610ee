//! Golden transcripts: a seeded run of invite → handshake → 40 ratchet messages (20
//! each way), one per session protocol, committed as `docs/vectors/transcript-v1.json`
//! and `docs/vectors/transcript-v2.json`. This test rebuilds it
//! and compares byte for byte, so any change to the wire format, a key derivation or
//! the order of random draws shows up as a diff. A second implementation replays
//! the recorded RNG draws and must produce the same bytes.
//!
//! Regenerate (only for a deliberate protocol change, with a version bump):
//! `CAIRN_REGENERATE_VECTORS=1 cargo test -p cairn-crypto --test golden`
mod common;
use cairn_crypto::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::rc::Rc;

/// Records every draw so the transcript lists them in order.
struct Recording {
    inner: ChaCha20Rng,
    draws: Rc<RefCell<Vec<String>>>,
}
impl RngCore for Recording {
    fn next_u32(&mut self) -> u32 {
        unimplemented_draw()
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented_draw()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.inner.fill_bytes(dest);
        self.draws.borrow_mut().push(hex::encode(&*dest));
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Recording {}

fn unimplemented_draw() -> ! {
    panic!("cairn-crypto only draws with fill_bytes")
}

fn transcript(protocol: Protocol) -> Value {
    let draws = Rc::new(RefCell::new(Vec::new()));
    let seed = [0x42u8; 32];
    let mut rng = Recording {
        inner: ChaCha20Rng::from_seed(seed),
        draws: draws.clone(),
    };
    let now = 1_800_000_000u64;
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_card = ProfileCard {
        display_name: "Bob".into(),
        peer_id: hex::decode("002408011220").unwrap(),
        addrs: vec![hex::decode("047f000001061f90").unwrap()],
        mailbox: Some(hex::decode("040a000001060fa0").unwrap()),
    };
    let alice_card = ProfileCard {
        display_name: "Alice".into(),
        peer_id: hex::decode("002408011221").unwrap(),
        addrs: vec![hex::decode("047f000001061f91").unwrap()],
        mailbox: None,
    };
    let mut invite = Invite::new(
        bob_id.public(),
        bob_card.peer_id.clone(),
        bob_card.addrs.clone(),
        bob_card.mailbox.clone(),
        now + 7 * 86400,
        &mut rng,
    )
    .unwrap();
    invite.protocol = protocol;
    let code = invite.encode().unwrap().to_string();
    let decoded = Invite::decode(&code, now).unwrap();
    assert_eq!(decoded, invite);

    let (pending, m1) = initiate(&alice_id, &decoded, &alice_card, &mut rng).unwrap();
    let (bob, m2) = respond(&bob_id, &invite.keys(), &bob_card, &m1, &mut rng).unwrap();
    let alice = pending.finish(&alice_id, &m2).unwrap();
    assert_eq!(alice.peer_card, bob_card);
    assert_eq!(bob.peer_card, alice_card);
    assert_eq!(bob.peer_identity, alice_id.public());
    let (mut a, mut b) = (alice.session, bob.session);

    // 20 messages each way in uneven turns; time advances so the tag rotates.
    let pattern = [
        ("A", 3),
        ("B", 2),
        ("A", 1),
        ("B", 4),
        ("A", 5),
        ("B", 1),
        ("A", 2),
        ("B", 6),
        ("A", 4),
        ("B", 2),
        ("A", 5),
        ("B", 5),
    ];
    let mut msgs = Vec::new();
    let mut t = now;
    let mut i = 0;
    for (who, count) in pattern {
        for _ in 0..count {
            t += 1800;
            let text = format!("message {i} from {who}");
            let (from, to) = if who == "A" {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            let env = from.encrypt(text.as_bytes(), t, &mut rng).unwrap();
            let wire = env.encode();
            let got = to.decrypt(&Envelope::decode(&wire).unwrap(), t).unwrap();
            assert_eq!(got, text.as_bytes());
            msgs.push(json!({
                "from": who,
                "now": t,
                "plaintext": text,
                "envelope": hex::encode(&wire),
            }));
            i += 1;
        }
    }
    assert_eq!(msgs.len(), 40);
    let sn = SafetyNumber::new(&alice_id.public(), &bob_id.public());
    let mut out = json!({
        "description": format!("Cairn protocol v{} golden transcript. Random values are listed in rng_draws in the order they are drawn (each a fill_bytes call); a second implementation feeds exactly these and must reproduce every byte below. final_state_sha256 hashes the session state in the format this build writes (docs/STORE.md), not a wire format.", protocol.as_u8()),
        "rng": "ChaCha20Rng::from_seed(seed) (rand_chacha 0.3): ChaCha20 keystream, key = seed, nonce 0",
        "seed": hex::encode(seed),
        "noise_pattern": handshake::NOISE_PATTERN,
        "now": now,
        "bob_identity_public": hex::encode(bob_id.public().as_bytes()),
        "alice_identity_public": hex::encode(alice_id.public().as_bytes()),
        "invite_code": code,
        "invite_bytes": hex::encode(&*invite.to_bytes().unwrap()),
        "handshake_init": hex::encode(m1.encode()),
        "handshake_response": hex::encode(m2.encode()),
        "handshake_hash": hex::encode(a.associated_data()),
        "safety_number": sn.digits(),
        "messages": msgs,
        "final_state_sha256": {
            "alice": hex::encode(Sha256::digest(&*a.to_bytes())),
            "bob": hex::encode(Sha256::digest(&*b.to_bytes())),
        },
        "rng_draws": *draws.borrow(),
    });
    // Protocol 4: the post-quantum epochs both sides mixed in (the transcript carries one
    // whole epoch: key and ciphertext fragments and a marked chain).
    if let (Some(ea), Some(eb), Some(obj)) = (a.pq_epoch(), b.pq_epoch(), out.as_object_mut()) {
        obj.insert("final_pq_epochs".into(), json!({ "alice": ea, "bob": eb }));
    }
    out
}

fn path(protocol: Protocol) -> String {
    format!(
        "{}/../docs/vectors/transcript-v{}.json",
        env!("CARGO_MANIFEST_DIR"),
        protocol.as_u8()
    )
}

/// Catches any change to the wire format, key schedule, padding, tags or RNG use, in
/// either protocol version (v1 must stay byte for byte what older builds speak).
#[test]
fn golden_transcripts_reproduce_byte_for_byte() {
    for protocol in Protocol::ALL {
        check_transcript(protocol);
    }
}

fn check_transcript(protocol: Protocol) {
    let path = path(protocol);
    let fresh = serde_json::to_string_pretty(&transcript(protocol)).unwrap() + "\n";
    if std::env::var_os("CAIRN_REGENERATE_VECTORS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).expect("committed transcript");
    let (c, f): (Value, Value) = (
        serde_json::from_str(&committed).unwrap(),
        serde_json::from_str(&fresh).unwrap(),
    );
    for key in c.as_object().unwrap().keys() {
        assert_eq!(
            c[key],
            f[key],
            "field {key} differs from the committed v{} transcript",
            protocol.as_u8()
        );
    }
    assert_eq!(committed, fresh);
}

/// Catches a transcript that no longer decrypts from the committed bytes alone
/// (a receiver-side check independent of the sender code path).
#[test]
fn committed_envelopes_decode() {
    for protocol in Protocol::ALL {
        let committed: Value =
            serde_json::from_str(&std::fs::read_to_string(path(protocol)).expect("transcript"))
                .unwrap();
        assert_eq!(
            committed["invite_bytes"].as_str().unwrap()[..2],
            format!("{:02x}", protocol.as_u8())
        );
        for m in committed["messages"].as_array().unwrap() {
            let wire = hex::decode(m["envelope"].as_str().unwrap()).unwrap();
            let env = Envelope::decode(&wire).unwrap();
            assert_eq!(env.kind, EnvelopeKind::Message);
            assert_eq!(wire.len() % 2, 0);
        }
    }
}
