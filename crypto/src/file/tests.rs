use super::*;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;

fn key(seed: u64) -> FileKey {
    FileKey::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(seed))
}

/// A file of `size` bytes whose every byte says where it is.
fn content(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Seals `data` chunk by chunk, as a sender does.
fn seal_all(cipher: &FileCipher, data: &[u8]) -> Vec<Vec<u8>> {
    (0..cipher.chunks())
        .map(|i| {
            let start = cipher.offset(i).unwrap() as usize;
            let len = cipher.chunk_len(i).unwrap();
            cipher.seal(i, &data[start..start + len]).unwrap()
        })
        .collect()
}

/// Catches a chunking that loses or repeats a byte at a chunk boundary, or an empty file
/// without its one (authenticated) chunk: every size around the boundaries comes back.
#[test]
fn files_of_every_boundary_size_come_back_whole() {
    for size in [
        0,
        1,
        CHUNK_LEN - 1,
        CHUNK_LEN,
        CHUNK_LEN + 1,
        2 * CHUNK_LEN,
        3 * CHUNK_LEN + 17,
    ] {
        let data = content(size);
        let cipher = FileCipher::new(&key(1), size as u64).unwrap();
        assert_eq!(cipher.chunks(), chunk_count(size as u64));
        let sealed = seal_all(&cipher, &data);
        assert_eq!(sealed.len() as u64, size.div_ceil(CHUNK_LEN).max(1) as u64);
        let mut back = Vec::new();
        for (i, s) in sealed.iter().enumerate() {
            assert!(s.len() <= SEALED_CHUNK_LEN);
            back.extend_from_slice(&cipher.open(i as u64, s).unwrap());
        }
        assert_eq!(back, data, "size {size}");
    }
}

/// Catches a STREAM nonce that does not bind the index or the last-chunk flag, or an
/// associated data that does not bind the size: a chunk moved to another place, a file cut
/// after a full chunk, or the same chunks claimed for another size never open.
#[test]
fn chunks_moved_cut_or_resized_do_not_open() {
    let size = 3 * CHUNK_LEN;
    let data = content(size);
    let k = key(2);
    let cipher = FileCipher::new(&k, size as u64).unwrap();
    let sealed = seal_all(&cipher, &data);
    // Swapped places (same length).
    assert_eq!(cipher.open(0, &sealed[1]), Err(FileError::Forged));
    assert_eq!(cipher.open(1, &sealed[0]), Err(FileError::Forged));
    // Cut after two chunks: the second is not marked last.
    let shorter = FileCipher::new(&k, 2 * CHUNK_LEN as u64).unwrap();
    assert_eq!(shorter.open(0, &sealed[0]), Err(FileError::Forged));
    assert_eq!(shorter.open(1, &sealed[1]), Err(FileError::Forged));
    // Another key.
    let other = FileCipher::new(&key(3), size as u64).unwrap();
    assert_eq!(other.open(0, &sealed[0]), Err(FileError::Forged));
    // Every single bit flipped in a chunk is caught.
    for bit in [0, 8 * 100 + 3, 8 * SEALED_CHUNK_LEN - 1] {
        let mut bad = sealed[2].clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(cipher.open(2, &bad), Err(FileError::Forged), "bit {bit}");
    }
}

/// Catches a cipher that accepts a chunk of the wrong length or an index past the end
/// (the caller would read or write outside the file).
#[test]
fn wrong_lengths_and_indexes_are_refused() {
    let cipher = FileCipher::new(&key(4), CHUNK_LEN as u64 + 5).unwrap();
    assert_eq!(cipher.chunks(), 2);
    assert_eq!(cipher.chunk_len(1), Ok(5));
    assert_eq!(cipher.chunk_len(2), Err(FileError::BadIndex));
    assert_eq!(cipher.offset(1), Ok(CHUNK_LEN as u64));
    assert_eq!(cipher.offset(2), Err(FileError::BadIndex));
    assert_eq!(cipher.seal(1, &[0; 4]), Err(FileError::BadLength));
    assert_eq!(cipher.seal(0, &[0; 5]), Err(FileError::BadLength));
    assert_eq!(cipher.seal(2, &[]), Err(FileError::BadIndex));
    let last = cipher.seal(1, &[9; 5]).unwrap();
    assert_eq!(last.len(), 5 + CHUNK_TAG_LEN);
    assert_eq!(cipher.open(1, &last[..20]), Err(FileError::BadLength));
    assert_eq!(cipher.open(2, &last), Err(FileError::BadIndex));
    assert_eq!(&cipher.open(1, &last).unwrap()[..], &[9; 5]);
    assert!(FileCipher::new(&key(4), MAX_FILE_LEN).is_ok());
    assert_eq!(
        FileCipher::new(&key(4), MAX_FILE_LEN + 1).unwrap_err(),
        FileError::TooLarge
    );
    assert_eq!(chunk_count(0), 1);
    assert_eq!(chunk_count(1), 1);
    assert_eq!(chunk_count(CHUNK_LEN as u64), 1);
    assert_eq!(chunk_count(CHUNK_LEN as u64 + 1), 2);
}

/// The nonce layout of §25.1, byte for byte: three zero bytes, the index (u64 BE), the
/// last-chunk flag.
#[test]
fn nonces_are_the_index_and_the_last_flag() {
    let cipher = FileCipher::new(&key(5), 2 * CHUNK_LEN as u64).unwrap();
    let n0: [u8; 12] = cipher.nonce_bytes(0);
    let n1: [u8; 12] = cipher.nonce_bytes(1);
    assert_eq!(n0, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(n1, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    let big = FileCipher::new(&key(5), MAX_FILE_LEN).unwrap();
    let n: [u8; 12] = big.nonce_bytes(0x0102_0304);
    assert_eq!(n, [0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0]);
}

fn descriptor() -> FileDescriptor {
    FileDescriptor {
        id: [7; FILE_ID_LEN],
        name: "report 2026.pdf".into(),
        media_type: "application/pdf".into(),
        size: 1_000_000,
        sha256: [9; 32],
        key: key(6),
    }
}

/// Catches a descriptor field lost or reordered on the wire.
#[test]
fn descriptors_round_trip() {
    let d = descriptor();
    let bytes = d.to_bytes().unwrap();
    assert_eq!(bytes.len(), 1 + 16 + 8 + 32 + 32 + 1 + 15 + 1 + 15);
    assert_eq!(FileDescriptor::from_bytes(&bytes).unwrap(), d);
    assert!(crate::wire::round_trips::<FileDescriptor>(&bytes).is_some());
}

/// Catches a decoder that takes what the encoder would refuse: a path, a hidden name, a
/// name that reorders its text, a bad media type, an oversized file, another version,
/// trailing bytes, or a truncation — each a typed error.
#[test]
fn descriptors_that_break_a_rule_are_refused() {
    let good = descriptor().to_bytes().unwrap().to_vec();
    let with_name = |name: &str| {
        let mut d = descriptor();
        d.name = name.into();
        let mut b = Vec::new();
        b.extend_from_slice(&good[..1 + 16 + 8 + 32 + 32]);
        b.put_bytes_u8(name.as_bytes());
        b.put_bytes_u8(b"application/pdf");
        (d, b)
    };
    for name in [
        "",
        "../etc/passwd",
        "a/b",
        "a\\b",
        ".hidden",
        "x.",
        " x",
        "invoice\u{202E}fdp.exe",
        "a\nb",
    ] {
        let (d, b) = with_name(name);
        assert_eq!(d.to_bytes().unwrap_err(), FileError::BadName, "{name:?}");
        assert_eq!(
            FileDescriptor::from_bytes(&b).unwrap_err(),
            FileError::BadName,
            "{name:?}"
        );
    }
    let mut d = descriptor();
    d.media_type = "Image/JPEG".into();
    assert_eq!(d.to_bytes().unwrap_err(), FileError::BadMediaType);
    d.media_type = "image".into();
    assert_eq!(d.to_bytes().unwrap_err(), FileError::BadMediaType);
    d.media_type = String::new();
    assert!(d.to_bytes().is_ok());
    let mut d = descriptor();
    d.size = MAX_FILE_LEN + 1;
    assert_eq!(d.to_bytes().unwrap_err(), FileError::TooLarge);
    let mut b = good.clone();
    b[0] = 2;
    assert_eq!(
        FileDescriptor::from_bytes(&b).unwrap_err(),
        FileError::UnknownVersion(2)
    );
    let mut b = good.clone();
    b.push(0);
    assert_eq!(
        FileDescriptor::from_bytes(&b).unwrap_err(),
        FileError::Wire(WireError::Trailing)
    );
    for cut in 0..good.len() {
        assert!(
            FileDescriptor::from_bytes(&good[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let mut b = good.clone();
    b[1 + 16..1 + 16 + 8].copy_from_slice(&(MAX_FILE_LEN + 1).to_be_bytes());
    assert_eq!(
        FileDescriptor::from_bytes(&b).unwrap_err(),
        FileError::TooLarge
    );
    assert!(FileDescriptor::from_bytes(&vec![1; MAX_DESCRIPTOR_LEN + 1]).is_err());
}

/// Catches a `Debug` that prints the key or the name (logs never carry either).
#[test]
fn debug_prints_neither_key_nor_name() {
    let d = descriptor();
    let shown = format!("{d:?} {:?} {:?}", d.key, d.cipher().unwrap());
    assert!(!shown.contains("report"), "{shown}");
    let key_hex: String = d
        .key
        .key_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!shown.contains(&key_hex[..8]), "{shown}");
    assert!(!shown.contains(&format!("{:?}", d.key.key_bytes())));
    assert!(shown.contains("<redacted>"));
}

/// The sanitised forms of names people send, and of hostile ones.
#[test]
fn names_are_sanitised_as_documented() {
    for (raw, want) in [
        ("photo.jpg", "photo.jpg"),
        ("/home/j/leaks/Board minutes.docx", "Board minutes.docx"),
        ("C:\\Users\\j\\a.pdf", "a.pdf"),
        ("..", FALLBACK_NAME),
        ("", FALLBACK_NAME),
        ("dir/", FALLBACK_NAME),
        ("...hidden", "hidden"),
        ("trailing. . ", "trailing"),
        ("a:b*c?d\"e<f>g|h", "a_b_c_d_e_f_g_h"),
        ("invoice\u{202E}fdp.exe", "invoice_fdp.exe"),
        ("tab\there", "tab_here"),
        ("Привет мир.txt", "Привет мир.txt"),
    ] {
        assert_eq!(sanitise_name(raw), want, "{raw:?}");
        assert!(is_sanitised(want));
    }
    let long = format!("{}.tar.gz", "é".repeat(200));
    let short = sanitise_name(&long);
    assert!(short.len() <= MAX_NAME_LEN);
    assert!(short.ends_with(".gz"), "{short}");
    assert!(is_sanitised(&short));
    let no_ext = "x".repeat(300);
    assert_eq!(sanitise_name(&no_ext).len(), MAX_NAME_LEN);
}

proptest! {
    /// Catches a sanitiser whose output it would change again (the decoder's rule is "the
    /// sanitised form"), or that lets a separator, a control or a leading dot through.
    #[test]
    fn sanitising_is_idempotent_and_safe(raw in ".{0,300}") {
        let s = sanitise_name(&raw);
        prop_assert!(is_sanitised(&s), "{:?} -> {:?}", raw, s);
        prop_assert!(!s.contains(['/', '\\']));
        prop_assert!(!s.starts_with('.'));
        prop_assert!(!s.chars().any(|c| c.is_control() || crate::card::is_deceptive(c)));
    }

    /// Catches a decoder that panics or accepts a descriptor it would not encode the same.
    #[test]
    fn descriptor_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = crate::wire::round_trips::<FileDescriptor>(&bytes);
    }
}
