//! Property test of what members show (docs/PROTOCOL.md §24.3): whatever order a group's
//! changes and messages reach each member in, every member ends showing exactly the messages
//! the final membership says it should, and a member never keeps one from a time it was
//! not a member.

use super::membership::{Change, Log};
use super::{visibility, MemberKey, Op, Stamp, Visibility};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};

const N: u8 = 5;

fn key(n: u8) -> MemberKey {
    MemberKey([n; 32])
}

#[derive(Clone, Debug)]
enum Step {
    /// Member `actor` (0-based) changes the group as it sees it.
    Change { actor: u8, kind: u8, target: u8 },
    /// Member `actor` writes a message.
    Write { actor: u8 },
    /// Member `to` learns everything `from` knows.
    Sync { from: u8, to: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..N, 0..4u8, 0..N).prop_map(|(actor, kind, target)| Step::Change {
            actor,
            kind,
            target
        }),
        (0..N).prop_map(|actor| Step::Write { actor }),
        (0..N, 0..N).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

fn change(kind: u8, target: u8) -> Change {
    let t = key(target + 1);
    match kind {
        0 => Change::Add(t),
        1 => Change::Remove(t),
        2 => Change::Promote(t),
        _ => Change::Leave,
    }
}

/// What reaches a member: a change, or a message (its stamp).
#[derive(Clone, Debug)]
enum Item {
    Op(Op),
    Text(Stamp),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Catches members that show different messages once everything arrived, a message
    /// shown that the final membership excludes (its author not a member then), and a
    /// message kept by a member that was not a member when it was written (a removed
    /// member must keep nothing sent after its removal). Each member gets every change and
    /// the messages sent to it in its own random order; a message it cannot take yet
    /// (`NotForUs` while the log may still change) waits, as an unacknowledged copy does.
    #[test]
    fn every_member_ends_showing_what_the_final_membership_says(
        steps in prop::collection::vec(step(), 0..60),
        seed in any::<u64>(),
    ) {
        let mut logs: Vec<Log> = (0..N).map(|_| Log::new()).collect();
        logs[0].propose(key(1), Change::Create { name: "desk".into() }).unwrap();
        // Who each message was first sent to: the members in its author's view.
        let mut sent: BTreeMap<Stamp, BTreeSet<MemberKey>> = BTreeMap::new();
        for s in &steps {
            match *s {
                Step::Change { actor, kind, target } => {
                    let _ = logs[usize::from(actor)].propose(key(actor + 1), change(kind, target));
                }
                Step::Write { actor } => {
                    let me = key(actor + 1);
                    let log = &mut logs[usize::from(actor)];
                    if log.state().is_member(&me) {
                        let stamp = log.next_stamp(me);
                        log.observe(stamp.clock);
                        sent.insert(stamp, log.state().members.keys().copied().collect());
                    }
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
            all.extend(l.ops().map(|o| (o.stamp, o)));
        }
        let mut last = Log::new();
        for o in all.values() {
            last.insert(o.clone()).unwrap();
        }
        // Once its author knows everything, each message also goes to the members the final
        // order says it is for (a late copy: the author learned of an addition after it
        // wrote, or got a session later).
        for (stamp, to) in &mut sent {
            let before = last.state_before(*stamp);
            to.extend(before.members.keys().copied());
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for m in 1..=N {
            let me = key(m);
            let mut queue: Vec<Item> = all.values().cloned().map(Item::Op).collect();
            queue.extend(
                sent.iter().filter(|(_, to)| to.contains(&me)).map(|(s, _)| Item::Text(*s)),
            );
            queue.shuffle(&mut rng);
            let mut log = Log::new();
            let mut kept: BTreeSet<Stamp> = BTreeSet::new();
            let mut waiting: Vec<Stamp> = Vec::new();
            for item in queue {
                match item {
                    Item::Op(o) => {
                        log.insert(o).unwrap();
                        kept.retain(|s| visibility(&log, *s, &me) != Visibility::NotForUs);
                        // Copies that waited are tried again (a renewal).
                        for s in std::mem::take(&mut waiting) {
                            match visibility(&log, s, &me) {
                                Visibility::NotForUs => waiting.push(s),
                                _ => { kept.insert(s); }
                            }
                        }
                    }
                    Item::Text(s) => match visibility(&log, s, &me) {
                        Visibility::NotForUs => waiting.push(s),
                        _ => { kept.insert(s); }
                    },
                }
            }
            let shown: BTreeSet<Stamp> = kept
                .iter()
                .copied()
                .filter(|s| visibility(&log, *s, &me) == Visibility::Shown)
                .collect();
            // The rule, stated on its own: its author and this member were both members
            // just before it, in the final order.
            let should: BTreeSet<Stamp> = sent
                .keys()
                .copied()
                .filter(|s| {
                    let before = last.state_before(*s);
                    before.is_member(&s.author) && before.is_member(&me)
                })
                .collect();
            prop_assert_eq!(&shown, &should, "member {} shows other messages", m);
            for s in &kept {
                prop_assert!(
                    last.state_before(*s).is_member(&me),
                    "member {} kept a message from when it was not a member", m
                );
            }
        }
    }
}

/// Catches a message shown although its author had been removed just before it in the
/// group's order (it wrote without knowing), or kept by that author's own node once it
/// learns it: Alice removes Bob at the clock Bob writes at; her key is lower, so the removal
/// comes first.
#[test]
fn a_message_written_across_its_authors_removal_is_not_shown() {
    let (alice, bob, carol) = (key(1), key(2), key(3));
    let mut a = Log::new();
    a.propose(
        alice,
        Change::Create {
            name: "desk".into(),
        },
    )
    .unwrap();
    a.propose(alice, Change::Add(bob)).unwrap();
    a.propose(alice, Change::Add(carol)).unwrap();
    let mut b = a.clone();
    let removal = a.propose(alice, Change::Remove(bob)).unwrap();
    let written = b.next_stamp(bob);
    assert_eq!(written.clock, removal.stamp.clock);
    assert!(removal.stamp < written);
    // Before Carol knows of the removal she shows it; after, she holds it.
    let mut c = b.clone();
    assert_eq!(visibility(&c, written, &carol), Visibility::Shown);
    c.insert(removal.clone()).unwrap();
    assert_eq!(visibility(&c, written, &carol), Visibility::Held);
    assert_eq!(visibility(&a, written, &alice), Visibility::Held);
    b.insert(removal).unwrap();
    assert_eq!(visibility(&b, written, &bob), Visibility::NotForUs);
}

/// Catches a hostile member's stamp near the end of the clock being taken: the clock would
/// be used up for everyone (every later stamp equal, no change possible).
#[test]
fn a_clock_far_ahead_is_refused() {
    use super::{plausible_clock, MAX_CLOCK, MAX_CLOCK_STEP};
    assert!(plausible_clock(5, 5 + MAX_CLOCK_STEP));
    assert!(!plausible_clock(5, 6 + MAX_CLOCK_STEP));
    assert!(!plausible_clock(0, MAX_CLOCK));
    assert!(
        plausible_clock(MAX_CLOCK, MAX_CLOCK),
        "no overflow at the end"
    );
    // What a member that took such a stamp would be left with: no change possible.
    let mut log = Log::new();
    log.propose(
        key(1),
        Change::Create {
            name: "desk".into(),
        },
    )
    .unwrap();
    log.observe(MAX_CLOCK);
    log.propose(key(1), Change::Add(key(2))).unwrap();
    assert!(log.propose(key(1), Change::Add(key(3))).is_err());
}
