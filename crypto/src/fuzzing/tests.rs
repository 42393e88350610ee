//! Tests of the fuzz targets' seeds.
use super::*;

/// Catches a seed that fails its own target (the corpus would start from a crash) and
/// a target function that is not wired to its name.
#[test]
fn seeds_pass_their_targets() {
    let seeds = seed_corpus();
    for t in TARGETS {
        assert!(seeds.iter().any(|(n, _)| n == t), "no seed for {t}");
    }
    for (t, input) in seeds {
        assert!(run_target(t, &input), "{t}");
    }
}

/// Catches seeds that do not reach the success paths the invariants are about.
#[test]
fn seeds_are_accepted() {
    let f = fixture();
    assert!(Envelope::decode(&f.m1.encode()).is_ok());
    let (k, rest) = seed_corpus()
        .into_iter()
        .find(|(t, _)| *t == "header")
        .map(|(_, v)| (<[u8; 32]>::try_from(&v[..32]).unwrap(), v[32..].to_vec()))
        .unwrap();
    let (ad, enc) = rest[1..].split_at(usize::from(rest[0]));
    assert!(header_open(k, enc, ad).is_some());
    assert!(Session::from_bytes(&f.receivers[1].session.to_bytes()).is_ok());
    assert!(AwaitingResponse::from_bytes(&f.pending).is_ok());
}
