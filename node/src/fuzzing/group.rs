//! The `group` target: membership ops (docs/PROTOCOL.md §24.2).

use super::*;

/// Input: group membership ops, each `len u8 | encoded op` (docs/PROTOCOL.md §24.2), as a
/// member might receive them from many authors. The same bytes also go to the decoders of a
/// stored log (`Log::from_bytes`) and of the introductions settings (`crate::intro`).
///
/// Invariants: an accepted op re-encodes to its input; a log refusing an op is left as it
/// was; two members given the accepted ops in opposite orders hold the same group, which
/// never has more than `MAX_MEMBERS` members nor members without an admin; a stored log or
/// introductions setting that decodes encodes back to exactly its bytes.
pub fn fuzz_group(data: &[u8]) {
    use crate::group::membership::MAX_MEMBERS;
    use crate::group::{Log, Op};
    let mut r = cairn_crypto::wire::Reader::new(data);
    let mut ops: Vec<Op> = Vec::new();
    while let Ok(bytes) = r.bytes_u8(usize::from(u8::MAX)) {
        if let Some(op) = round_trips::<Op>(bytes) {
            ops.push(op);
        }
    }
    let mut forward = Log::new();
    for op in &ops {
        let before = (forward.state().clone(), forward.len(), forward.clock());
        if forward.insert(op.clone()).is_err() {
            assert_eq!(
                (forward.state().clone(), forward.len(), forward.clock()),
                before,
                "a refused op changed the log"
            );
        }
    }
    let mut backward = Log::new();
    for op in ops.iter().rev() {
        let _ = backward.insert(op.clone());
    }
    // Conflicting ops (one stamp, two changes) keep whichever came first: compare only
    // when the input has none.
    let stamps: std::collections::BTreeSet<_> = ops.iter().map(|o| o.stamp).collect();
    let distinct: std::collections::BTreeSet<_> =
        ops.iter().map(|o| (o.stamp, o.to_wire().ok())).collect();
    if stamps.len() == distinct.len() {
        assert_eq!(forward.state(), backward.state(), "order changed the group");
    }
    let state = forward.state();
    assert!(state.members.len() <= MAX_MEMBERS);
    assert!(state.members.is_empty() || state.admins() >= 1);
    // The same bytes as the group decoders read from disk: a stored log, the pending and
    // accepted introductions. Whatever they accept writes back to exactly the input.
    if let Ok(log) = Log::from_bytes(data, 0) {
        assert_eq!(log.to_bytes(), data, "a stored log does not round-trip");
    }
    if let Ok(pending) = crate::intro::decode_pending(data) {
        let again = crate::intro::encode_pending(pending.iter().map(|(by, i)| (*by, i)));
        assert_eq!(&again[..], data, "pending introductions do not round-trip");
    }
    if let Ok(answers) = crate::intro::decode_answers(data) {
        assert_eq!(
            crate::intro::encode_answers(&answers),
            data,
            "accepted introductions do not round-trip"
        );
    }
}

/// Inputs for the `group` target: a group's life (create, adds, promotions, a rename,
/// two admins removing each other, a leave), whole and in parts.
pub(super) fn group_seeds() -> Vec<Vec<u8>> {
    use crate::group::{Change, MemberKey, Op, Stamp};
    let op = |clock: u64, author: u8, change: Change| Op {
        stamp: Stamp {
            clock,
            author: MemberKey([author; 32]),
        },
        change,
    };
    let key = |n: u8| MemberKey([n; 32]);
    let life = [
        op(
            1,
            1,
            Change::Create {
                name: "desk".into(),
            },
        ),
        op(2, 1, Change::Add(key(2))),
        op(3, 1, Change::Add(key(3))),
        op(4, 1, Change::Promote(key(2))),
        op(5, 2, Change::Rename("newsroom".into())),
        op(6, 1, Change::Remove(key(2))),
        op(6, 2, Change::Remove(key(1))),
        op(7, 3, Change::Leave),
        op(8, 1, Change::Demote(key(2))),
    ];
    let frame = |ops: &[Op]| -> Vec<u8> {
        use cairn_crypto::wire::Writer;
        let mut out = Vec::new();
        for o in ops {
            if let Ok(bytes) = o.to_wire() {
                out.put_bytes_u8(&bytes);
            }
        }
        out
    };
    let mut reversed = life.to_vec();
    reversed.reverse();
    vec![
        frame(&life),
        frame(&reversed),
        frame(life.get(..4).unwrap_or_default()),
        frame(life.get(4..).unwrap_or_default()),
    ]
}
