//! Known-answer tests: RFC 7748 (X25519), RFC 8439 (ChaCha20-Poly1305), the Noise
//! vectors for the IK family, and an independent check of snow's IKpsk1.
//! (RFC 5869 HKDF and RFC 4231 HMAC vectors are unit tests in `src/kdf.rs`.)
mod common;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use common::noise_ref;
use x25519_dalek::{PublicKey, StaticSecret};

/// snow's default resolver without an RNG (Cairn's build has none: randomness comes
/// from the caller). The vectors fix every ephemeral key, so no RNG is ever asked.
struct NoRngResolver;
impl snow::resolvers::CryptoResolver for NoRngResolver {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        struct Refuse;
        impl snow::types::Random for Refuse {
            fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), snow::Error> {
                Err(snow::Error::Rng)
            }
        }
        Some(Box::new(Refuse))
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

fn builder(params: snow::params::NoiseParams) -> snow::Builder<'static> {
    snow::Builder::with_resolver(params, Box::new(NoRngResolver))
}

fn h32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// RFC 7748 §5.2 and §6.1: catches a wrong X25519 (clamping, byte order, ladder).
#[test]
fn rfc7748_x25519() {
    let out = x25519_dalek::x25519(
        h32("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        h32("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
    );
    assert_eq!(
        hex::encode(out),
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    );

    let a = StaticSecret::from(h32(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ));
    let b = StaticSecret::from(h32(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    ));
    let pa = PublicKey::from(&a);
    let pb = PublicKey::from(&b);
    assert_eq!(
        hex::encode(pa.as_bytes()),
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
    assert_eq!(
        hex::encode(pb.as_bytes()),
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    );
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    assert_eq!(hex::encode(a.diffie_hellman(&pb).as_bytes()), shared);
    assert_eq!(hex::encode(b.diffie_hellman(&pa).as_bytes()), shared);

    // §5.2 iterated: k = u = 9; after 1 and 1,000 iterations.
    let mut k = [0u8; 32];
    k[0] = 9;
    let mut u = k;
    for i in 1..=1000 {
        let r = x25519_dalek::x25519(k, u);
        u = k;
        k = r;
        if i == 1 {
            assert_eq!(
                hex::encode(k),
                "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"
            );
        }
    }
    assert_eq!(
        hex::encode(k),
        "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"
    );
}

/// RFC 8439 §2.8.2: catches a wrong AEAD (nonce layout, AAD handling, tag).
#[test]
fn rfc8439_chacha20_poly1305() {
    let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
    let nonce = hex::decode("070000004041424344454647").unwrap();
    let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let c = ChaCha20Poly1305::new((&key).into());
    let ct = c
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: pt, aad: &aad })
        .unwrap();
    assert_eq!(
        hex::encode(&ct[..pt.len()]),
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
    );
    assert_eq!(
        hex::encode(&ct[pt.len()..]),
        "1ae10b594f09e26a7e902ecbd0600691"
    );
    let back = c
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ct,
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(&back[..], &pt[..]);
}

#[derive(serde::Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}
#[derive(serde::Deserialize)]
struct Vector {
    protocol_name: String,
    init_prologue: String,
    #[serde(default)]
    init_psks: Vec<String>,
    init_static: String,
    init_ephemeral: String,
    resp_static: String,
    resp_ephemeral: String,
    handshake_hash: String,
    messages: Vec<Msg>,
}
#[derive(serde::Deserialize)]
struct Msg {
    payload: String,
    ciphertext: String,
}

fn vectors() -> Vec<Vector> {
    let v: Vectors = serde_json::from_str(include_str!("data/noise-vectors.json")).unwrap();
    v.vectors
}

/// The Noise test vectors (cacophony) for IK and IKpsk2 through snow with Cairn's
/// primitives: catches a snow build or resolver that computes a different Noise.
/// Handshake and transport messages, both directions, and the handshake hash.
#[test]
fn noise_vectors_through_snow() {
    let vs = vectors();
    assert_eq!(vs.len(), 2);
    for v in vs {
        let prologue = hex::decode(&v.init_prologue).unwrap();
        let psk = v.init_psks.first().map(|p| h32(p));
        let rs = noise_ref::public(&h32(&v.resp_static));
        let params: snow::params::NoiseParams = v.protocol_name.parse().unwrap();
        let init_static = hex::decode(&v.init_static).unwrap();
        let init_e = hex::decode(&v.init_ephemeral).unwrap();
        let resp_static = hex::decode(&v.resp_static).unwrap();
        let resp_e = hex::decode(&v.resp_ephemeral).unwrap();
        let mut ib = builder(params.clone())
            .local_private_key(&init_static)
            .unwrap()
            .remote_public_key(&rs)
            .unwrap()
            .prologue(&prologue)
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(&init_e);
        let mut rb = builder(params)
            .local_private_key(&resp_static)
            .unwrap()
            .prologue(&prologue)
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(&resp_e);
        if let Some(p) = psk.as_ref() {
            ib = ib.psk(2, p).unwrap();
            rb = rb.psk(2, p).unwrap();
        }
        let mut i = ib.build_initiator().unwrap();
        let mut r = rb.build_responder().unwrap();
        let mut buf = vec![0u8; 65535];
        let mut out = vec![0u8; 65535];
        for (n, m) in v.messages.iter().take(2).enumerate() {
            let (w, rd) = if n == 0 {
                (&mut i, &mut r)
            } else {
                (&mut r, &mut i)
            };
            let len = w
                .write_message(&hex::decode(&m.payload).unwrap(), &mut buf)
                .unwrap();
            assert_eq!(
                hex::encode(&buf[..len]),
                m.ciphertext,
                "{} msg {n}",
                v.protocol_name
            );
            let plen = rd.read_message(&buf[..len], &mut out).unwrap();
            assert_eq!(hex::encode(&out[..plen]), m.payload);
        }
        assert_eq!(hex::encode(i.get_handshake_hash()), v.handshake_hash);
        assert_eq!(hex::encode(r.get_handshake_hash()), v.handshake_hash);
        let mut i = i.into_transport_mode().unwrap();
        let mut r = r.into_transport_mode().unwrap();
        for (n, m) in v.messages.iter().enumerate().skip(2) {
            let (w, rd) = if n % 2 == 0 {
                (&mut i, &mut r)
            } else {
                (&mut r, &mut i)
            };
            let len = w
                .write_message(&hex::decode(&m.payload).unwrap(), &mut buf)
                .unwrap();
            assert_eq!(
                hex::encode(&buf[..len]),
                m.ciphertext,
                "{} msg {n}",
                v.protocol_name
            );
            let plen = rd.read_message(&buf[..len], &mut out).unwrap();
            assert_eq!(hex::encode(&out[..plen]), m.payload);
        }
    }
}

/// The independent reference reproduces the published vectors: catches a reference
/// that would "confirm" snow by sharing its mistakes.
#[test]
fn reference_noise_matches_vectors() {
    for v in vectors() {
        let prologue = hex::decode(&v.init_prologue).unwrap();
        let p1 = hex::decode(&v.messages[0].payload).unwrap();
        let p2 = hex::decode(&v.messages[1].payload).unwrap();
        let (m1, m2, h, _) = noise_ref::ik(&noise_ref::IkInput {
            name: &v.protocol_name,
            prologue: &prologue,
            psk: v.init_psks.first().map(|p| (h32(p), 2)),
            init_static: h32(&v.init_static),
            init_ephemeral: h32(&v.init_ephemeral),
            resp_static: h32(&v.resp_static),
            resp_ephemeral: h32(&v.resp_ephemeral),
            payload1: &p1,
            payload2: &p2,
        });
        assert_eq!(hex::encode(m1), v.messages[0].ciphertext);
        assert_eq!(hex::encode(m2), v.messages[1].ciphertext);
        assert_eq!(hex::encode(h), v.handshake_hash);
    }
}

/// Cairn's pattern, IKpsk1, has no published vector: snow must agree byte for byte
/// with the reference validated above. Catches snow placing the PSK token wrongly.
#[test]
fn ikpsk1_snow_matches_reference() {
    let v = &vectors()[1];
    let psk = h32(&v.init_psks[0]);
    let name = cairn_crypto::handshake::NOISE_PATTERN;
    let prologue = cairn_crypto::handshake::PROLOGUE;
    let (is, ie, rs_, re) = (
        h32(&v.init_static),
        h32(&v.init_ephemeral),
        h32(&v.resp_static),
        h32(&v.resp_ephemeral),
    );
    let (m1, m2, h, (k1, k2)) = noise_ref::ik(&noise_ref::IkInput {
        name,
        prologue,
        psk: Some((psk, 1)),
        init_static: is,
        init_ephemeral: ie,
        resp_static: rs_,
        resp_ephemeral: re,
        payload1: b"first payload",
        payload2: b"second payload",
    });
    let params: snow::params::NoiseParams = name.parse().unwrap();
    let mut i = builder(params.clone())
        .local_private_key(&is)
        .unwrap()
        .remote_public_key(&noise_ref::public(&rs_))
        .unwrap()
        .psk(1, &psk)
        .unwrap()
        .prologue(prologue)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&ie)
        .build_initiator()
        .unwrap();
    let mut r = builder(params)
        .local_private_key(&rs_)
        .unwrap()
        .psk(1, &psk)
        .unwrap()
        .prologue(prologue)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&re)
        .build_responder()
        .unwrap();
    let mut buf = [0u8; 1024];
    let mut out = [0u8; 1024];
    let n = i.write_message(b"first payload", &mut buf).unwrap();
    assert_eq!(&buf[..n], &m1[..]);
    r.read_message(&buf[..n], &mut out).unwrap();
    let n = r.write_message(b"second payload", &mut buf).unwrap();
    assert_eq!(&buf[..n], &m2[..]);
    i.read_message(&buf[..n], &mut out).unwrap();
    assert_eq!(i.get_handshake_hash(), &h[..]);
    assert_eq!(i.dangerously_get_raw_split(), (k1, k2));
    assert_eq!(r.dangerously_get_raw_split(), (k1, k2));
}

/// File chunks (PROTOCOL.md §25.1) computed independently from the specification — plain
/// ChaCha20-Poly1305 with the documented nonce (three zero bytes, the index as u64 BE, the
/// last-chunk flag) and associated data (label, size as u64 BE) — and the published vector.
/// Catches a nonce or associated data that differs from the text, e.g. a last-chunk flag
/// set on the wrong chunk or a size left out.
#[test]
fn file_chunks_follow_the_specification() {
    use cairn_crypto::file::{FileCipher, FileKey, CHUNK_LEN};
    let key_bytes = [0x42u8; 32];
    let key = FileKey::from_key_bytes(key_bytes);
    let size = CHUNK_LEN as u64 + 5;
    let cipher = FileCipher::new(&key, size).unwrap();
    let aead = ChaCha20Poly1305::new(&key_bytes.into());
    let mut ad = b"cairn/v1 file chunk".to_vec();
    ad.extend_from_slice(&size.to_be_bytes());
    let first: Vec<u8> = (0..CHUNK_LEN).map(|i| i as u8).collect();
    for (index, plain, last) in [(0u64, &first[..], 0u8), (1, &b"hello"[..], 1)] {
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&index.to_be_bytes());
        nonce[11] = last;
        let want = aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &ad,
                },
            )
            .unwrap();
        assert_eq!(cipher.seal(index, plain).unwrap(), want, "chunk {index}");
    }
    // The vector of §25.1: a five-byte file, its only chunk.
    let one = FileCipher::new(&key, 5).unwrap();
    let sealed = one.seal(0, b"hello").unwrap();
    let hex: String = sealed.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "785b05512c89770ce6461110157b0fc3a4f4b2dec4", "vector");
}

/// NIST's ACVP vectors for ML-KEM-768 (FIPS 203; `tests/data/ml-kem-768-acvp.json`, whose
/// `source` says where they come from): 25 key generations from `d ‖ z`, 25
/// encapsulations from `m`, and 10 decapsulations, half of them of modified ciphertexts
/// (implicit rejection: a secret unrelated to the sender's, never an error). Catches a
/// wrong or misused ML-KEM: seeds in the wrong order, a key or ciphertext encoding, the
/// rejection secret.
#[test]
fn acvp_ml_kem_768() {
    use cairn_crypto::kem::{EncapsulationKey, KemCiphertext, KemKeyPair};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ml-kem-768-acvp.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let h = |x: &serde_json::Value| hex::decode(x.as_str().unwrap()).unwrap();
    let mut cases = 0;
    for t in v["keyGen"].as_array().unwrap() {
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(&h(&t["d"]));
        seed[32..].copy_from_slice(&h(&t["z"]));
        let pair = KemKeyPair::from_seed(&seed);
        assert_eq!(
            pair.encapsulation_key().as_bytes()[..],
            h(&t["ek"])[..],
            "{t}"
        );
        assert_eq!(pair.to_bytes()[..], h(&t["dk"])[..], "tcId {}", t["tcId"]);
        cases += 1;
    }
    for t in v["encapsulation"].as_array().unwrap() {
        let ek = EncapsulationKey::from_bytes(&h(&t["ek"])).unwrap();
        let m: [u8; 32] = h(&t["m"]).try_into().unwrap();
        let (ct, ss) = ek.encapsulate_with(&m);
        assert_eq!(ct.as_bytes()[..], h(&t["c"])[..], "tcId {}", t["tcId"]);
        assert_eq!(ss.expose_secret()[..], h(&t["k"])[..], "tcId {}", t["tcId"]);
        cases += 1;
    }
    let d = &v["decapsulation"];
    let pair = KemKeyPair::from_bytes(&h(&d["dk"])).unwrap();
    assert_eq!(pair.encapsulation_key().as_bytes()[..], h(&d["ek"])[..]);
    let mut rejected = 0;
    for t in d["tests"].as_array().unwrap() {
        let ct = KemCiphertext::from_bytes(&h(&t["c"])).unwrap();
        let ss = pair.decapsulate(&ct);
        assert_eq!(ss.expose_secret()[..], h(&t["k"])[..], "tcId {}", t["tcId"]);
        rejected += usize::from(t["reason"] == "modify ciphertext");
        cases += 1;
    }
    assert_eq!((cases, rejected), (60, 5));
}

/// A bulk chunk's tag (PROTOCOL §25.5) computed from the text with plain HMAC-SHA256:
/// catches a tag made without the transfer's id (which another group member could make) or
/// under another label or key.
#[test]
fn bulk_tags_follow_the_specification() {
    use cairn_crypto::file::{FileDescriptor, FileKey};
    use hmac::{Hmac, Mac};
    let d = |id: [u8; 16], key: [u8; 32]| FileDescriptor {
        id,
        name: "a.bin".into(),
        media_type: String::new(),
        size: 5,
        sha256: [0; 32],
        key: FileKey::from_key_bytes(key),
    };
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&[0x42; 32]).unwrap();
    mac.update(b"cairn/v1 file bulk tag");
    mac.update(&[7; 16]);
    let want = mac.finalize().into_bytes();
    let tag = d([7; 16], [0x42; 32]).bulk_tag();
    assert_eq!(&tag[..], &want[..16]);
    assert_ne!(
        d([8; 16], [0x42; 32]).bulk_tag(),
        tag,
        "another transfer's id"
    );
    assert_ne!(d([7; 16], [0x43; 32]).bulk_tag(), tag, "another key");
}
