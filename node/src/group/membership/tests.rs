//! Tests of the membership rule: examples of each change, the concurrent cases, and a
//! property test that members who received the same ops agree whatever the order.

use super::*;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn key(n: u8) -> MemberKey {
    MemberKey([n; 32])
}

fn op(clock: u64, author: u8, change: Change) -> Op {
    Op {
        stamp: Stamp {
            clock,
            author: key(author),
        },
        change,
    }
}

fn create() -> Change {
    Change::Create {
        name: "desk".into(),
    }
}

fn members(log: &Log) -> Vec<(u8, bool)> {
    log.state()
        .members
        .iter()
        .map(|(k, m)| (k.0[0], m.admin))
        .collect()
}

/// Catches a change let through without its author's role, or an example of each change
/// doing something other than what PROTOCOL §24.2 says.
#[test]
fn a_group_grows_and_shrinks_by_its_admins() {
    let mut log = Log::new();
    log.propose(key(1), create()).unwrap();
    log.propose(key(1), Change::Add(key(2))).unwrap();
    log.propose(key(1), Change::Add(key(3))).unwrap();
    assert_eq!(members(&log), [(1, true), (2, false), (3, false)]);
    // A member who is not an admin changes nothing.
    assert_eq!(
        log.propose(key(2), Change::Add(key(4))),
        Err(ChangeError::NotAdmin)
    );
    assert_eq!(
        log.propose(key(2), Change::Rename("x".into())),
        Err(ChangeError::NotAdmin)
    );
    // An outsider neither.
    assert_eq!(
        log.propose(key(9), Change::Leave),
        Err(ChangeError::NotMember)
    );
    log.propose(key(1), Change::Promote(key(2))).unwrap();
    log.propose(key(2), Change::Add(key(4))).unwrap();
    log.propose(key(2), Change::Remove(key(3))).unwrap();
    log.propose(key(2), Change::Rename("newsroom".into()))
        .unwrap();
    assert_eq!(members(&log), [(1, true), (2, true), (4, false)]);
    assert_eq!(log.state().name, "newsroom");
    log.propose(key(1), Change::Demote(key(2))).unwrap();
    log.propose(key(4), Change::Leave).unwrap();
    assert_eq!(members(&log), [(1, true), (2, false)]);
    assert_eq!(log.state().creator, Some(key(1)));
    assert_eq!(log.len(), 9);
    // Stamps rise with every change.
    let clocks: Vec<u64> = log.ops().map(|o| o.stamp.clock).collect();
    assert_eq!(clocks, (1..=9).collect::<Vec<_>>());
}

/// Catches a proposal the rule would skip being sent anyway: each refusal is typed.
#[test]
fn a_change_is_checked_before_it_is_proposed() {
    let mut log = Log::new();
    assert_eq!(
        log.propose(key(1), Change::Add(key(2))),
        Err(ChangeError::NotCreated)
    );
    assert_eq!(
        log.propose(key(1), Change::Create { name: " ".into() }),
        Err(ChangeError::BadName)
    );
    log.propose(key(1), create()).unwrap();
    assert_eq!(
        log.propose(key(1), create()),
        Err(ChangeError::AlreadyCreated)
    );
    assert_eq!(
        log.propose(key(1), Change::Remove(key(1))),
        Err(ChangeError::RemoveSelf)
    );
    assert_eq!(
        log.propose(key(1), Change::Demote(key(1))),
        Err(ChangeError::LastAdmin)
    );
    assert_eq!(
        log.propose(key(1), Change::Remove(key(5))),
        Err(ChangeError::NoSuchMember)
    );
    log.propose(key(1), Change::Add(key(2))).unwrap();
    assert_eq!(
        log.propose(key(1), Change::Add(key(2))),
        Err(ChangeError::AlreadyMember)
    );
    assert_eq!(
        log.propose(key(1), Change::Demote(key(2))),
        Err(ChangeError::NotAnAdmin)
    );
    log.propose(key(1), Change::Promote(key(2))).unwrap();
    assert_eq!(
        log.propose(key(1), Change::Promote(key(2))),
        Err(ChangeError::AlreadyAdmin)
    );
    assert_eq!(
        log.propose(key(1), Change::Rename("a\u{202E}b".into())),
        Err(ChangeError::BadName)
    );
    assert_eq!(
        log.propose(key(1), Change::Rename("n".repeat(MAX_GROUP_NAME_LEN + 1))),
        Err(ChangeError::BadName)
    );
    // Up to MAX_MEMBERS, not one more.
    for n in 3..=u8::try_from(MAX_MEMBERS).unwrap() {
        log.propose(key(1), Change::Add(key(n))).unwrap();
    }
    assert_eq!(log.state().members.len(), MAX_MEMBERS);
    assert_eq!(
        log.propose(key(1), Change::Add(key(200))),
        Err(ChangeError::GroupFull)
    );
    // A refused proposal leaves no trace in the log.
    assert_eq!(log.len(), 3 + MAX_MEMBERS - 2);
}

/// Catches two admins removing each other ending differently on different members: the
/// lower stamp goes first, the other's author is then no longer a member.
#[test]
fn two_admins_removing_each_other_converge_on_the_lower_stamp() {
    let base = [
        op(1, 1, create()),
        op(2, 1, Change::Add(key(2))),
        op(3, 1, Change::Promote(key(2))),
        op(4, 1, Change::Add(key(3))),
    ];
    let a = op(5, 1, Change::Remove(key(2)));
    let b = op(5, 2, Change::Remove(key(1)));
    let mut one = Log::new();
    let mut two = Log::new();
    for o in &base {
        one.insert(o.clone()).unwrap();
        two.insert(o.clone()).unwrap();
    }
    one.insert(a.clone()).unwrap();
    one.insert(b.clone()).unwrap();
    two.insert(b).unwrap();
    assert_eq!(members(&two), [(2, true), (3, false)], "before 1's arrives");
    two.insert(a).unwrap();
    assert_eq!(one.state(), two.state());
    assert_eq!(members(&one), [(1, true), (3, false)]);
}

/// Catches an op that arrives late (stamped before ops already applied) not being folded
/// in its place: an admin's add made before it was demoted counts; one made after does not.
#[test]
fn a_late_op_is_folded_in_its_place() {
    let mut log = Log::new();
    for o in [
        op(1, 1, create()),
        op(2, 1, Change::Add(key(2))),
        op(3, 1, Change::Promote(key(2))),
        op(5, 1, Change::Demote(key(2))),
    ] {
        log.insert(o).unwrap();
    }
    // 2 added 3 at clock 4 (before its demotion at 5) and 4 at clock 6 (after).
    log.insert(op(6, 2, Change::Add(key(4)))).unwrap();
    log.insert(op(4, 2, Change::Add(key(3)))).unwrap();
    assert_eq!(members(&log), [(1, true), (2, false), (3, false)]);
    // Membership just before a stamp (for messages): a message at (4, key 1) comes before
    // 2's add at (4, key 2): 3 was not yet a member.
    let before = log.state_before(Stamp {
        clock: 4,
        author: key(1),
    });
    assert!(!before.is_member(&key(3)));
    assert!(log
        .state_before(Stamp {
            clock: 5,
            author: key(3)
        })
        .is_member(&key(3)));
}

/// Catches the last admin leaving a group with nobody able to manage it, or the new admin
/// chosen differently on different members.
#[test]
fn the_last_admin_leaving_hands_over_to_the_longest_standing_member() {
    let mut log = Log::new();
    log.propose(key(5), create()).unwrap();
    log.propose(key(5), Change::Add(key(9))).unwrap();
    log.propose(key(5), Change::Add(key(2))).unwrap();
    log.propose(key(5), Change::Leave).unwrap();
    // 9 joined before 2 (its key is higher: the order of joining decides, not the key).
    assert_eq!(members(&log), [(2, false), (9, true)]);
    // A group whose last member left is empty; nobody can change it.
    log.propose(key(9), Change::Leave).unwrap();
    log.propose(key(2), Change::Leave).unwrap();
    assert!(log.state().members.is_empty());
    assert_eq!(
        log.propose(key(2), Change::Add(key(3))),
        Err(ChangeError::NotMember)
    );
}

/// Catches an op the log refuses changing it anyway, a duplicate counted twice, or a
/// second change under one stamp replacing the first.
#[test]
fn a_refused_op_leaves_the_log_as_it_was() {
    let mut log = Log::new();
    log.insert(op(1, 1, create())).unwrap();
    log.insert(op(2, 1, Change::Add(key(2)))).unwrap();
    let before = (log.state().clone(), log.len(), log.clock());
    assert_eq!(
        log.insert(op(2, 1, Change::Add(key(2)))),
        Ok(Inserted::Known)
    );
    assert_eq!(
        log.insert(op(2, 1, Change::Add(key(3)))),
        Err(LogError::Conflict)
    );
    assert_eq!(
        log.insert(op(0, 1, Change::Add(key(3)))),
        Err(LogError::BadClock)
    );
    assert_eq!(
        log.insert(op(MAX_CLOCK + 1, 1, Change::Add(key(3)))),
        Err(LogError::BadClock)
    );
    assert_eq!((log.state().clone(), log.len(), log.clock()), before);
    // Full: the log takes MAX_OPS ops (skipped ones count), then refuses.
    let mut full = Log::new();
    for c in 1..=u64::try_from(MAX_OPS).unwrap() {
        full.insert(op(c, 7, Change::Leave)).unwrap();
    }
    assert_eq!(full.insert(op(1, 8, Change::Leave)), Err(LogError::Full));
    assert_eq!(full.len(), MAX_OPS);
}

/// Catches a clock that a message's stamp does not advance (a reply sorting before what it
/// answers), or one pushed past its range by a hostile stamp.
#[test]
fn what_a_member_writes_comes_after_what_it_saw() {
    let mut log = Log::new();
    log.propose(key(1), create()).unwrap();
    log.observe(41);
    assert_eq!(log.next_stamp(key(3)).clock, 42);
    log.observe(7);
    assert_eq!(log.next_stamp(key(3)).clock, 42);
    log.observe(u64::MAX);
    assert_eq!(log.next_stamp(key(3)).clock, MAX_CLOCK);
}

/// Catches an op encoding that does not round-trip, or a decoder that takes junk: bad
/// clocks, unknown kinds, bad names, trailing bytes.
#[test]
fn ops_round_trip_and_junk_is_refused() {
    let all = [
        op(1, 1, create()),
        op(2, 1, Change::Add(key(2))),
        op(3, 1, Change::Remove(key(2))),
        op(4, 1, Change::Promote(key(2))),
        op(5, 1, Change::Demote(key(2))),
        op(6, 1, Change::Leave),
        op(MAX_CLOCK, 1, Change::Rename("n".repeat(MAX_GROUP_NAME_LEN))),
    ];
    for o in &all {
        let bytes = o.to_wire().unwrap();
        assert!(bytes.len() <= MAX_OP_LEN);
        assert_eq!(
            cairn_crypto::wire::round_trips::<Op>(&bytes).as_ref(),
            Some(o)
        );
    }
    let longest = all[6].to_wire().unwrap();
    assert_eq!(longest.len(), MAX_OP_LEN);
    let mut bad_clock = all[1].to_wire().unwrap();
    bad_clock[..8].copy_from_slice(&0u64.to_be_bytes());
    assert_eq!(Op::from_wire(&bad_clock), Err(OpDecodeError::BadClock));
    let mut kind = all[5].to_wire().unwrap();
    kind[40] = 8;
    assert_eq!(Op::from_wire(&kind), Err(OpDecodeError::UnknownKind));
    let mut name = all[0].to_wire().unwrap();
    name[42] = 0xff;
    assert_eq!(Op::from_wire(&name), Err(OpDecodeError::BadName));
    let mut trailing = all[5].to_wire().unwrap();
    trailing.push(0);
    assert!(Op::from_wire(&trailing).is_err());
    for n in 0..longest.len() {
        assert!(Op::from_wire(&longest[..n]).is_err());
    }
    assert!(op(1, 1, Change::Rename(String::new())).to_wire().is_err());
}

#[derive(Clone, Debug)]
enum Step {
    /// Member `actor` tries a change (`kind` picks it, `target` whom).
    Propose { actor: u8, kind: u8, target: u8 },
    /// Member `to` receives every op member `from` has.
    Sync { from: u8, to: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..5, 0u8..7, 0u8..6).prop_map(|(actor, kind, target)| Step::Propose { actor, kind, target }),
        2 => (0u8..5, 0u8..5).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

fn change(kind: u8, target: u8) -> Change {
    let m = key(target + 1);
    match kind {
        0 => Change::Add(m),
        1 => Change::Remove(m),
        2 => Change::Promote(m),
        3 => Change::Demote(m),
        4 => Change::Leave,
        5 => Change::Rename(format!("g{target}")),
        _ => Change::Add(m),
    }
}

proptest! {
    /// Catches members that received the same ops but disagree on the group: five members
    /// (the first creates) make changes on partial views, pass ops around, then each gets
    /// every op in its own random order (duplicates included). All must end with the state
    /// the ops make in stamp order, which keeps its invariants.
    #[test]
    fn members_with_the_same_ops_agree(
        steps in prop::collection::vec(step(), 0..80),
        seed in any::<u64>(),
    ) {
        let mut logs: Vec<Log> = (0..5).map(|_| Log::new()).collect();
        logs[0].propose(key(1), create()).unwrap();
        for s in &steps {
            match *s {
                Step::Propose { actor, kind, target } => {
                    let a = usize::from(actor);
                    let _ = logs[a].propose(key(actor + 1), change(kind, target));
                }
                Step::Sync { from, to } => {
                    let ops: Vec<Op> = logs[usize::from(from)].ops().collect();
                    for o in ops {
                        logs[usize::from(to)].insert(o).unwrap();
                    }
                }
            }
        }
        let mut all: BTreeMap<Stamp, Op> = BTreeMap::new();
        for l in &logs {
            for o in l.ops() {
                all.insert(o.stamp, o);
            }
        }
        let mut reference = Log::new();
        for o in all.values() {
            reference.insert(o.clone()).unwrap();
        }
        let state = reference.state();
        prop_assert!(state.members.len() <= MAX_MEMBERS);
        prop_assert!(state.members.is_empty() || state.admins() >= 1, "{state:?}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for l in &mut logs {
            let mut ops: Vec<Op> = all.values().cloned().collect();
            let again: Vec<Op> = ops.iter().take(5).cloned().collect();
            ops.extend(again);
            ops.shuffle(&mut rng);
            for o in ops {
                l.insert(o).unwrap();
            }
            prop_assert_eq!(l.state(), state);
            prop_assert_eq!(l.len(), all.len());
        }
    }
}
