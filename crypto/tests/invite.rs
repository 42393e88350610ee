//! Invite codes: round trip, QR, and every way a code can be wrong.
mod common;
use cairn_crypto::invite::*;
use cairn_crypto::*;
use common::*;

fn sample(seed: u64) -> Invite {
    let mut r = rng(seed);
    let id = IdentityKeyPair::generate(&mut r);
    Invite::new(
        id.public(),
        vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 9, 9, 9],
        vec![
            vec![0x04, 192, 168, 1, 20, 0x06, 0x1f, 0x90],
            vec![0x04, 127, 0, 0, 1, 0x91, 0x02, 0x1f, 0x90],
        ],
        Some(vec![0x04, 10, 0, 0, 1, 0x06, 0x10, 0x00]),
        NOW + 3600,
        &mut r,
    )
    .unwrap()
}

/// Catches an encoder/decoder mismatch or an unpasteable code.
#[test]
fn round_trip_one_line() {
    let inv = sample(1);
    let code = inv.encode().unwrap();
    assert!(code.starts_with(INVITE_PREFIX));
    assert!(!code.contains(char::is_whitespace));
    assert!(code.len() < 400, "code is {} chars", code.len());
    assert_eq!(Invite::decode(&code, NOW).unwrap(), inv);
    // Pasted with line breaks and in lower case: still the same invite.
    let messy: String = code
        .to_lowercase()
        .chars()
        .enumerate()
        .flat_map(|(i, c)| if i % 40 == 39 { vec![c, '\n'] } else { vec![c] })
        .collect();
    assert_eq!(Invite::decode(&format!("  {messy}  "), NOW).unwrap(), inv);
}

/// Catches a code that cannot be shown as a QR code.
#[test]
fn fits_a_qr_code() {
    let qr = sample(2).to_qr().unwrap();
    assert!(qr.width() <= 117, "QR width {}", qr.width());
}

/// Catches a mistyped character being misread as a different valid invite: every
/// position, every other alphabet character.
#[test]
fn every_single_typo_is_detected() {
    let code = sample(3).encode().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let prefix = INVITE_PREFIX.len();
    let mut tried = 0;
    for pos in prefix..code.len() {
        for c in alphabet.chars() {
            if code.as_bytes()[pos] == c as u8 {
                continue;
            }
            let mut typo = code.to_string();
            typo.replace_range(pos..pos + 1, &c.to_string());
            let err = Invite::decode(&typo, NOW).unwrap_err();
            assert!(
                matches!(
                    err,
                    InviteError::BadChecksum | InviteError::Truncated | InviteError::TrailingBytes
                ),
                "typo at {pos} gave {err:?}"
            );
            tried += 1;
        }
    }
    assert_eq!(tried, (code.len() - prefix) * 31);
}

/// Catches each malformation mapping to the wrong (or no) typed error.
#[test]
fn typed_errors() {
    let inv = sample(4);
    let code = inv.encode().unwrap();
    assert_eq!(
        Invite::decode("hello", NOW).unwrap_err(),
        InviteError::NotAnInvite
    );
    assert_eq!(
        Invite::decode(&format!("{}!{}", &code[..10], &code[11..]), NOW).unwrap_err(),
        InviteError::BadCharacter { position: 4 }
    );
    // Truncation: cut at every length (whole base32 groups and partial ones).
    for cut in INVITE_PREFIX.len() + 1..code.len() {
        let e = Invite::decode(&code[..cut], NOW).unwrap_err();
        assert!(
            matches!(e, InviteError::Truncated | InviteError::BadChecksum),
            "cut at {cut}: {e:?}"
        );
    }
    assert_eq!(
        Invite::decode(&code[..code.len() - 8], NOW).unwrap_err(),
        InviteError::Truncated
    );
    // A cut that leaves an impossible base32 length (1, 3 or 6 characters in the last
    // group) is a truncation too, not a typo.
    let payload = code.len() - INVITE_PREFIX.len();
    let cut = (1..=8)
        .find(|k| [1, 3, 6].contains(&((payload - k) % 8)))
        .unwrap();
    assert_eq!(
        Invite::decode(&code[..code.len() - cut], NOW).unwrap_err(),
        InviteError::Truncated
    );
    // Trailing bytes: a whole base32 group appended.
    assert_eq!(
        Invite::decode(&format!("{}AAAAAAAA", &*code), NOW).unwrap_err(),
        InviteError::TrailingBytes
    );
    // Wrong version with a correct checksum (a future format).
    let with_version = |v: u8| {
        let mut bytes = inv.to_bytes().unwrap().to_vec();
        bytes[0] = v;
        let n = bytes.len() - INVITE_CHECKSUM_LEN;
        let sum = {
            use blake2::Digest;
            let mut h = blake2::Blake2s256::new();
            h.update(b"cairn/v1 invite checksum");
            h.update(&bytes[..n]);
            h.finalize()
        };
        bytes[n..].copy_from_slice(&sum[..INVITE_CHECKSUM_LEN]);
        bytes
    };
    assert_eq!(
        Invite::from_bytes(&with_version(5)).unwrap_err(),
        InviteError::UnsupportedVersion(5)
    );
    // Codes from builds before protocols v2, v3 and v4 (versions 1 to 3, same body) are
    // still read, as sessions of their protocol.
    for (v, p) in [
        (1, cairn_crypto::Protocol::V1),
        (2, cairn_crypto::Protocol::V2),
        (3, cairn_crypto::Protocol::V3),
    ] {
        let old = Invite::from_bytes(&with_version(v)).unwrap();
        assert_eq!(old.protocol, p);
        assert_eq!(old.keys().protocol(), p);
    }
    assert_eq!(inv.protocol, cairn_crypto::Protocol::LATEST);
    // Bad checksum.
    let mut bytes = inv.to_bytes().unwrap().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert_eq!(
        Invite::from_bytes(&bytes).unwrap_err(),
        InviteError::BadChecksum
    );
    // Expired, and expiring exactly now.
    assert_eq!(
        Invite::decode(&code, NOW + 3600).unwrap_err(),
        InviteError::Expired
    );
    assert!(Invite::decode(&code, NOW + 3599).is_ok());
    assert!(Invite::decode_ignoring_expiry(&code).is_ok());
    // Too long text.
    assert_eq!(
        Invite::decode(&"A".repeat(MAX_INVITE_TEXT_LEN + 1), NOW).unwrap_err(),
        InviteError::TooLong
    );
}

/// Catches an invite that would not fit a QR code being produced anyway.
#[test]
fn oversize_invite_refused() {
    let mut r = rng(5);
    let id = IdentityKeyPair::generate(&mut r);
    let addrs = vec![vec![7u8; card::MAX_ADDR_LEN]; card::MAX_ADDRS];
    assert_eq!(
        Invite::new(id.public(), vec![1; 38], addrs, None, NOW, &mut r).unwrap_err(),
        InviteError::TooLarge
    );
    let too_many = vec![vec![7u8; 8]; card::MAX_ADDRS + 1];
    assert_eq!(
        Invite::new(id.public(), vec![1; 38], too_many, None, NOW, &mut r).unwrap_err(),
        InviteError::TooLarge
    );
}

/// Catches display names that could impersonate another contact.
#[test]
fn deceptive_display_names_refused() {
    for bad in ["ali\u{202E}ecb", "bob\u{200B}", " ", "a\nb", ""] {
        let c = ProfileCard {
            display_name: bad.into(),
            ..ProfileCard::default()
        };
        assert!(c.validate().is_err(), "{bad:?} accepted");
    }
    let ok = ProfileCard {
        display_name: "Zoë Ndiaye".into(),
        ..ProfileCard::default()
    };
    assert!(ok.validate().is_ok());
}

/// Catches a low-order identity key in a crafted invite being accepted.
#[test]
fn low_order_identity_refused() {
    let mut inv = sample(6);
    inv.identity = IdentityPublicKey::from_bytes([0; 32]);
    let code = inv.encode().unwrap();
    assert_eq!(
        Invite::decode(&code, NOW).unwrap_err(),
        InviteError::BadIdentity
    );
}

/// Catches a buffer holding secrets (an invite with its secret, a pending handshake with
/// its ephemeral and ratchet keys, invite keys) that grows while it is written: each
/// reallocation would leave a copy of the keys in freed memory. Each must be allocated once,
/// at its final size.
#[test]
fn secret_buffers_are_allocated_once_at_their_size() {
    let mut r = rng(31);
    let invite = sample(32);
    let bytes = invite.to_bytes().unwrap();
    assert_eq!(bytes.len(), bytes.capacity());
    let keys = invite.keys().to_bytes();
    assert_eq!(keys.len(), keys.capacity());
    let alice = IdentityKeyPair::generate(&mut r);
    let (pending, _) = initiate(&alice, &invite, &card("alice"), &mut r).unwrap();
    let state = pending.to_bytes();
    assert_eq!(state.len(), state.capacity());
}

/// Catches the text limit (`MAX_INVITE_TEXT_LEN`) set so low that the longest invite, spread
/// out with a space after every character (as a code copied from a chat may be), is refused
/// as too long, or so high that a text twice that is read (found by mutation testing).
#[test]
fn the_text_limit_fits_the_longest_spaced_invite_and_little_more() {
    let mut r = rng(8);
    let id = IdentityKeyPair::generate(&mut r);
    // The longest invite: grow the last address until the encoder refuses.
    let mut longest = None;
    for len in 1..=card::MAX_ADDR_LEN {
        let addrs = vec![
            vec![7u8; card::MAX_ADDR_LEN],
            vec![7u8; card::MAX_ADDR_LEN],
            vec![7u8; card::MAX_ADDR_LEN],
            vec![7u8; len],
        ];
        match Invite::new(id.public(), vec![1; 38], addrs, None, NOW + 60, &mut r) {
            Ok(i) => longest = Some(i),
            Err(_) => break,
        }
    }
    let longest = longest.unwrap();
    let len = longest.to_bytes().unwrap().len();
    // Exactly at the limit (a decoder refusing it would refuse real invites).
    assert_eq!(len, MAX_INVITE_LEN);
    let code = longest.encode().unwrap();
    let spaced: String = code.chars().flat_map(|c| [c, ' ']).collect();
    assert!(spaced.len() <= MAX_INVITE_TEXT_LEN);
    assert_eq!(Invite::decode(&spaced, NOW).unwrap(), longest);
    // Exactly at the limit (spaces added) is read; one byte more is not.
    let at_limit = format!("{spaced}{}", " ".repeat(MAX_INVITE_TEXT_LEN - spaced.len()));
    assert_eq!(Invite::decode(&at_limit, NOW).unwrap(), longest);
    assert_eq!(
        Invite::decode(&format!("{at_limit} "), NOW).unwrap_err(),
        InviteError::TooLong
    );
    // Twice the spaced longest invite is refused before any decoding.
    let twice = format!("{spaced}{spaced}");
    assert_eq!(
        Invite::decode(&twice, NOW).unwrap_err(),
        InviteError::TooLong
    );
}

/// Catches an invite id or routing tags that do not depend on the secret (every invite
/// would share them: one invite's answer would reach another's inviter).
#[test]
fn each_secret_has_its_own_id_and_tags() {
    let (a, b) = (sample(1).keys(), sample(2).keys());
    assert_ne!(a.id, b.id);
    assert_ne!(a.init_tag, b.init_tag);
    assert_ne!(a.response_tag, b.response_tag);
    assert_ne!(a.id, [0; 16]);
    // Derived, not drawn: the same secret gives the same keys.
    assert_eq!(sample(1).keys(), a);
}
