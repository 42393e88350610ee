//! `Debug` of every secret-holding type prints no key material. Snapshot tests make a
//! leak show up as a diff; the byte scan catches key bytes in any common encoding.
mod common;
use cairn_crypto::*;
use common::*;

fn encodings(secret: &[u8]) -> Vec<String> {
    let mut v = vec![
        hex::encode(secret),
        hex::encode_upper(secret),
        format!("{secret:?}"),
    ];
    // Any 4-byte window in decimal-list form, as a derived Debug of [u8; 32] prints.
    for w in secret.windows(4) {
        v.push(format!("{}, {}, {}, {}", w[0], w[1], w[2], w[3]));
        v.push(hex::encode(w));
    }
    v
}

fn assert_no_secret(debug: &str, secret: &[u8]) {
    for e in encodings(secret) {
        assert!(
            !debug.contains(&e),
            "Debug output leaks key material: {debug}"
        );
    }
}

/// Catches a derived or careless Debug on secret types.
#[test]
fn debug_prints_no_key_material() {
    let mut r = rng(99);
    let id = IdentityKeyPair::generate(&mut r);
    let secret = id.secret_bytes();
    let bob = IdentityKeyPair::generate(&mut r);
    let invite = Invite::new(bob.public(), vec![1; 38], vec![], None, NOW + 60, &mut r).unwrap();
    let (pending, m1) = initiate(&id, &invite, &card("alice"), &mut r).unwrap();
    let (est, m2) = respond(&bob, &invite.keys(), &card("bob"), &m1, &mut r).unwrap();
    let session_bytes = est.session.to_bytes();

    let outputs = [
        format!("{id:?}"),
        format!("{:?}", id.public()),
        format!("{invite:?}"),
        format!("{:?}", invite.secret),
        format!("{:?}", invite.keys()),
        format!("{pending:?}"),
        format!("{est:?}"),
        format!("{:?}", est.session),
        format!("{m1:?}"),
    ];
    for out in &outputs {
        assert!(
            !out.contains("alice") && !out.contains("bob"),
            "names leak: {out}"
        );
        assert_no_secret(out, secret.as_ref());
        assert_no_secret(out, id.public().as_bytes());
        assert_no_secret(out, &invite.to_bytes().unwrap()[35..67]); // the invite secret
                                                                    // Every 32-byte field of the session state (keys) must be absent.
        for chunk in session_bytes[2..].chunks(32) {
            if chunk.len() == 32 {
                assert_no_secret(out, chunk);
            }
        }
    }
    insta::assert_snapshot!("identity", outputs[0]);
    insta::assert_snapshot!("identity_public", outputs[1]);
    insta::assert_snapshot!("invite", outputs[2]);
    insta::assert_snapshot!("invite_secret", outputs[3]);
    insta::assert_snapshot!("invite_keys", outputs[4]);
    insta::assert_snapshot!("awaiting_response", outputs[5]);
    insta::assert_snapshot!("established", outputs[6]);
    insta::assert_snapshot!("session", outputs[7]);

    // A rejected answer: its Debug names the error and nothing of the state it hands back.
    assert_eq!(pending.invite_id(), invite.keys().id);
    let mut bad = m2.clone();
    let last = bad.body.len() - 1;
    bad.body[last] ^= 1;
    let rejected = pending.finish(&id, &bad).unwrap_err();
    let out = format!("{rejected:?}");
    assert_eq!(
        out,
        format!("Rejected {{ error: {:?}, .. }}", rejected.error)
    );
    assert_no_secret(&out, secret.as_ref());
}

/// Catches an ML-KEM decapsulation key or shared secret in `Debug` output (the key pair
/// prints its public half's first bytes only).
#[test]
fn kem_debug_prints_no_key_material() {
    use cairn_crypto::kem::KemKeyPair;
    let mut r = rng(5);
    let pair = KemKeyPair::generate(&mut r);
    let (ct, ss) = pair.encapsulation_key().encapsulate(&mut r);
    let dk = pair.to_bytes();
    let outputs = [
        format!("{pair:?}"),
        format!("{ss:?}"),
        format!("{:?}", pair.decapsulate(&ct)),
        format!("{ct:?}"),
    ];
    for out in &outputs {
        assert_no_secret(out, ss.expose_secret());
        // The private part of the decapsulation key (before its copy of the public key),
        // and its implicit-rejection secret z (the last 32 bytes).
        for chunk in dk[..1152].chunks(32).chain([&dk[2368..]]) {
            assert_no_secret(out, chunk);
        }
    }
    assert_eq!(outputs[1], "SharedSecret(<redacted>)");
    assert!(
        outputs[0].contains("<redacted>") && outputs[0].len() < 120,
        "{}",
        outputs[0]
    );
}
