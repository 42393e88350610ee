use super::*;
use cairn_crypto::file::{FileKey, FILE_ID_LEN};
use rand::{RngCore, SeedableRng};

/// Catches a memory vault that keeps what was never synced through a crash (the
/// simulator would then miss a chunk receipted before it was on disk), or loses what was.
#[test]
fn a_crash_keeps_only_what_was_synced() {
    let v = MemVault::default();
    let (a, b) = (Slot([1; 16]), Slot([2; 16]));
    v.write(a, 0, &[1; 20]).unwrap();
    v.sync(a).unwrap();
    v.write(a, 1, &[2; 20]).unwrap();
    v.write(b, 0, &[3; 20]).unwrap();
    v.crash();
    assert_eq!(v.read(a, 0, 20).unwrap(), [1; 20]);
    assert!(v.read(a, 1, 20).is_err());
    assert!(v.read(b, 0, 20).is_err());
    assert_eq!(v.slots().unwrap(), [a]);
    assert_eq!(
        sync_slots(&v, &[b]).map_err(|e| e.kind()),
        Ok(()),
        "a slot gone is fine"
    );
}

fn descriptor(size: u64, sha256: [u8; 32], key: [u8; 32]) -> FileDescriptor {
    FileDescriptor {
        id: [7; FILE_ID_LEN],
        name: "report.pdf".into(),
        media_type: "application/pdf".into(),
        size,
        sha256,
        key: FileKey::from_key_bytes(key),
    }
}

/// Would catch a chunk written at the wrong place, a last chunk cut or padded, a hash
/// of something else than the content, plaintext on disk, or an export that overwrites.
#[test]
fn import_and_export_round_trip_through_a_directory_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let vault = DirVault::new(&crate::store::ProfilePaths::new(dir.path()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for size in [
        0usize,
        1,
        CHUNK_LEN - 1,
        CHUNK_LEN,
        CHUNK_LEN + 1,
        3 * CHUNK_LEN + 17,
    ] {
        let mut content = vec![0u8; size];
        rng.fill_bytes(&mut content);
        // A recognisable run, to look for on disk.
        if size > 64 {
            content[10..42].copy_from_slice(b"SOURCE-NAME-THAT-MUST-NOT-LEAK!!");
        }
        let key = [size as u8; 32];
        let cipher = FileCipher::new(&FileKey::from_key_bytes(key), size as u64).unwrap();
        let mut slot = Slot([0; 16]);
        rng.fill_bytes(&mut slot.0);
        let sha = import(&vault, slot, &cipher, &mut content.as_slice()).unwrap();
        assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(&content)));
        let on_disk = std::fs::read(dir.path().join("files").join(hex::encode(slot.0))).unwrap();
        let chunks = cipher.chunks() as usize;
        assert_eq!(
            on_disk.len(),
            size + chunks * 16,
            "sealed chunks, nothing else"
        );
        assert!(!on_disk
            .windows(32)
            .any(|w| w == b"SOURCE-NAME-THAT-MUST-NOT-LEAK!!"));
        let d = descriptor(size as u64, sha, key);
        let mut out = Vec::new();
        export(&vault, slot, &d, &mut out).unwrap();
        assert_eq!(out, content, "size {size}");
        let target = dir.path().join(format!("out-{size}"));
        export_to_path(&vault, slot, &d, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), content);
        assert!(
            export_to_path(&vault, slot, &d, &target).is_err(),
            "never over an existing file"
        );
        assert!(vault.slots().unwrap().contains(&slot));
        vault.remove(slot).unwrap();
        assert!(!vault.slots().unwrap().contains(&slot));
    }
}

/// Would catch a source that grew or shrank taken as the file, a wrong hash accepted
/// at export (with the partial export left behind), or a swapped chunk opened.
#[test]
fn a_changed_source_a_wrong_hash_and_a_moved_chunk_are_refused() {
    let vault = MemVault::default();
    let key = FileKey::from_key_bytes([3; 32]);
    let size = 2 * CHUNK_LEN as u64 + 5;
    let cipher = FileCipher::new(&key, size).unwrap();
    let content = vec![9u8; size as usize];
    let short = &content[..content.len() - 1];
    assert!(matches!(
        import(&vault, Slot([1; 16]), &cipher, &mut &short[..]),
        Err(VaultError::Changed)
    ));
    let mut long = content.clone();
    long.push(0);
    assert!(matches!(
        import(&vault, Slot([1; 16]), &cipher, &mut long.as_slice()),
        Err(VaultError::Changed)
    ));
    let sha = import(&vault, Slot([2; 16]), &cipher, &mut content.as_slice()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("x");
    let wrong = descriptor(size, [0; 32], [3; 32]);
    assert!(matches!(
        export_to_path(&vault, Slot([2; 16]), &wrong, &target),
        Err(VaultError::HashMismatch)
    ));
    assert!(!target.exists(), "a failed export leaves nothing");
    // Chunk 0 written over chunk 1: it does not open there.
    let c0 = vault.read(Slot([2; 16]), 0, SEALED_CHUNK_LEN).unwrap();
    vault.write(Slot([2; 16]), 1, &c0).unwrap();
    let right = descriptor(size, sha, [3; 32]);
    let mut all = Vec::new();
    ChunkReader::new(&vault, Slot([2; 16]), &right)
        .unwrap()
        .read_to_end(&mut all)
        .unwrap_err();
    assert!(matches!(
        export(&vault, Slot([2; 16]), &right, &mut io::sink()),
        Err(VaultError::Chunk(_))
    ));
}

/// Would catch a reader that loses, repeats or reorders bytes across chunk
/// boundaries, or ends without checking the hash.
#[test]
fn a_chunk_reader_gives_the_plaintext_back_and_checks_the_hash() {
    let vault = MemVault::default();
    let size = 2 * CHUNK_LEN + 333;
    let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let key = FileKey::from_key_bytes([4; 32]);
    let cipher = FileCipher::new(&key, size as u64).unwrap();
    let sha = import(&vault, Slot([5; 16]), &cipher, &mut content.as_slice()).unwrap();
    let d = descriptor(size as u64, sha, [4; 32]);
    let mut r = ChunkReader::new(&vault, Slot([5; 16]), &d).unwrap();
    let mut out = Vec::new();
    let mut small = [0u8; 1000];
    loop {
        let n = r.read(&mut small).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&small[..n]);
    }
    assert_eq!(out, content);
    let wrong = descriptor(size as u64, [0; 32], [4; 32]);
    let mut r = ChunkReader::new(&vault, Slot([5; 16]), &wrong).unwrap();
    assert!(r.read_to_end(&mut Vec::new()).is_err(), "hash not checked");
}

/// Would catch chunks that arrived ahead of a gap left out of the hash (every later
/// chunk opened again at the end), hashed twice or out of order, more than [`AHEAD`]
/// kept in memory, a catch-up from the vault past a chunk not held, or one that reads
/// more than it is allowed at once.
#[test]
fn chunks_ahead_of_a_gap_are_hashed_in_order_once_it_fills() {
    let vault = MemVault::default();
    let chunks = AHEAD as u64 + 12;
    let size = (chunks - 1) as usize * CHUNK_LEN + 9;
    let content: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
    let cipher = FileCipher::new(&FileKey::from_key_bytes([6; 32]), size as u64).unwrap();
    let slot = Slot([8; 16]);
    let sha = import(&vault, slot, &cipher, &mut content.as_slice()).unwrap();
    let plain = |i: u64| {
        cipher
            .open(i, &read_sealed(&vault, slot, &cipher, i).unwrap())
            .unwrap()
    };
    let all = |_: u64| true;
    // In memory: 0, then 2..=5 wait for 1.
    let mut h = Hashed::default();
    let mut nexts = Vec::new();
    for i in [0u64, 2, 3, 4, 5, 1, 6] {
        h.take(i, plain(i));
        nexts.push(h.next);
    }
    assert_eq!(nexts, [1, 1, 1, 1, 1, 6, 7]);
    h.take(3, plain(3));
    assert_eq!(h.next, 7, "a chunk hashed before is not hashed again");
    // Past the room in memory: of 9.. (waiting for 8) AHEAD are kept, the last three
    // are not, and are read back from the vault.
    for i in 7..chunks {
        if i != 8 {
            h.take(i, plain(i));
        }
    }
    assert_eq!(h.ahead.len(), AHEAD);
    h.take(8, plain(8));
    assert_eq!(
        h.next,
        9 + AHEAD as u64,
        "everything kept was hashed once 8 came"
    );
    h.catch_up(&vault, slot, &cipher, all, 64).unwrap();
    assert_eq!(h.next, chunks);
    assert_eq!(<[u8; 32]>::from(h.hash.finalize()), sha);
    // From the vault (chunks a node held before it started), at most `most` at once,
    // never past one not held.
    let mut h = Hashed::default();
    h.take(0, plain(0));
    h.catch_up(&vault, slot, &cipher, all, 2).unwrap();
    assert_eq!(h.next, 3);
    h.catch_up(&vault, slot, &cipher, |i| i != 5, 64).unwrap();
    assert_eq!(h.next, 5);
    h.catch_up(&vault, slot, &cipher, all, u64::MAX).unwrap();
    assert_eq!(h.next, chunks);
    assert_eq!(<[u8; 32]>::from(h.hash.finalize()), sha);
}

/// Catches `uncache` letting go of pages near the end, where chunks may still be written
/// (it must stop two bulk spans short, and let go only a batch at a time), losing what it
/// lets go, or not letting go of the whole once asked to. Pages themselves cannot be seen
/// from here; what it let go is what it records.
#[cfg(target_os = "linux")]
#[test]
fn uncache_lets_go_of_synced_chunks_in_batches_short_of_the_end_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let vault = DirVault::new(&crate::store::ProfilePaths::new(dir.path()));
    let slot = Slot([5; 16]);
    let dropped = |v: &DirVault| v.dropped.lock().unwrap().get(&slot).copied();
    let chunk = |i: u64| vec![(i % 251) as u8; SEALED_CHUNK_LEN];
    let span = crate::files::transfer::BULK_SPAN;
    let mut written = 0;
    let mut write_to = |v: &DirVault, n: u64| {
        for i in written..n {
            v.write(slot, i, &chunk(i)).unwrap();
        }
        written = n;
        sync_slots(v, &[slot]).unwrap();
    };
    // Less than the lag and a batch: nothing goes.
    write_to(&vault, 2 * span + span / 2);
    assert_eq!(dropped(&vault), None);
    // A batch past the lag: everything up to the lag goes.
    write_to(&vault, 3 * span + 1);
    let at = |chunks: u64| chunks * SEALED_CHUNK_LEN as u64;
    assert_eq!(dropped(&vault), Some(at(span + 1)));
    // Less than a batch more: nothing more goes.
    write_to(&vault, 4 * span);
    assert_eq!(dropped(&vault), Some(at(span + 1)));
    write_to(&vault, 4 * span + 1);
    assert_eq!(dropped(&vault), Some(at(2 * span + 1)));
    // The whole, once the file is complete; then nothing is remembered of it.
    vault.uncache(slot, true).unwrap();
    assert_eq!(dropped(&vault), None);
    // Nothing was lost.
    for i in 0..written {
        assert_eq!(
            vault.read(slot, i, SEALED_CHUNK_LEN).unwrap(),
            chunk(i),
            "{i}"
        );
    }
    // A removed slot is forgotten; a hint for it is an error, which a flush only logs.
    vault.uncache(slot, false).unwrap();
    assert_eq!(dropped(&vault), Some(at(2 * span + 1)));
    vault.remove(slot).unwrap();
    assert_eq!(dropped(&vault), None);
    assert!(vault.uncache(slot, false).is_err());
    sync_slots(&vault, &[slot]).unwrap();
}
