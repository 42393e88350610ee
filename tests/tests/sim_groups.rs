//! Scripted simulations of groups (`sim::script`): what the random workload never does —
//! a member that forges changes, a member removed and added again while others write, a
//! message's delivery counted member by member across a restart. Deterministic, in
//! simulated time.

use cairn_node::api::sim::script::{Forged, Script};
use cairn_node::api::{Command, Event};
use cairn_tests::script::{
    accept, create_desk, desk_of_n0, group_of, history, introduction, reported_a_change,
    showed_a_group_message, shows,
};

/// A member (n1, not an admin) that makes up changes: would catch a node that takes a
/// change from a member other than its author outside a welcome (n1 claims the admin n0
/// removed n2), or that takes a part as a welcome when it does not come from the member
/// that adds us (n1 sends n3, no member, a "welcome" in which n0 adds it, with a change of
/// its own beside it) — the authorisation of incoming changes (`inbound_group`), mutation
/// survivors.
#[test]
fn a_member_cannot_forge_another_members_changes() {
    // n1 is a contact of n3; n3 is in no group.
    let mut s =
        Script::with_contacts(21, 4, false, Some(&[(0, 1), (0, 2), (1, 2), (1, 3)])).unwrap();
    create_desk(&mut s);
    let desk = desk_of_n0(&mut s).id;
    group_of(&mut s, 1, 30_000);
    group_of(&mut s, 2, 30_000);
    s.run_for(5_000).unwrap();
    s.events(2);

    // "n0 removes n2", from n1.
    s.forge_group_ops(1, 2, &desk, &[(0, Forged::Remove(2))])
        .unwrap();
    s.run_for(10_000).unwrap();
    assert!(!reported_a_change(&mut s, 2), "n2 took a forged removal");
    // Still a member: the admin's next message reaches it.
    let text = s.group_send(0, &desk, " after the forgery").unwrap();
    shows(&mut s, 2, &text, 30_000);

    // A welcome that is not one: n0's creation and addition of n3, and a promotion of n1 by
    // itself, all from n1.
    s.forge_group_ops(
        1,
        3,
        &desk,
        &[
            (0, Forged::Create("desk".into())),
            (0, Forged::Add(3)),
            (1, Forged::Promote(1)),
        ],
    )
    .unwrap();
    s.run_for(30_000).unwrap();
    let took = s
        .events(3)
        .into_iter()
        .filter(|e| matches!(e, Event::Group { .. }))
        .count();
    assert_eq!(took, 0, "n3 took a welcome n1 made up");
}

/// n2 is removed while n1 writes without knowing, and added back while n1 writes without
/// knowing again. Would catch (the group log's reconciliation, mutation survivors): a
/// removed member keeping a message written after its removal that reached it before it
/// knew; a member going on sending copies of its messages to a member the log says was
/// removed before they were written (they are never acknowledged: the run does not
/// settle); a member added back by another admin never sent what was written for the
/// group after its return by members that learned of it late.
#[test]
fn a_member_removed_and_added_back_sees_what_it_should_and_no_more() {
    let mut s = Script::new(22, 3, false).unwrap();
    create_desk(&mut s);
    let desk = desk_of_n0(&mut s).id;
    group_of(&mut s, 1, 30_000);
    group_of(&mut s, 2, 30_000);
    let before = s.group_send(1, &desk, " before").unwrap();
    shows(&mut s, 2, &before, 30_000);
    shows(&mut s, 0, &before, 30_000);

    // n0, cut off from both, removes n2; n1 writes twice, not knowing: the second is
    // after the removal whatever the first's place (their clocks tie at most once).
    s.cut(0, 1).unwrap();
    s.cut(0, 2).unwrap();
    s.command(
        0,
        Command::GroupRemove {
            group: desk.clone(),
            member: "n2".into(),
        },
    )
    .unwrap();
    group_of(&mut s, 0, 1_000);
    let a = s.group_send(1, &desk, " a").unwrap();
    let b = s.group_send(1, &desk, " b").unwrap();
    shows(&mut s, 2, &a, 30_000);
    shows(&mut s, 2, &b, 30_000);
    // n2 now unreachable too; n1 writes a third, a copy for n2 waiting in its outbox.
    s.cut(1, 2).unwrap();
    let c = s.group_send(1, &desk, " c").unwrap();
    s.run_for(5_000).unwrap();
    s.heal(0, 1).unwrap();
    for t in [&a, &b, &c] {
        shows(&mut s, 0, t, 60_000);
    }
    let at_n1 = group_of(&mut s, 1, 60_000);
    assert_eq!(
        at_n1.members.len(),
        2,
        "n1 learned of the removal: {at_n1:?}"
    );
    // n2 learns of its removal: what it showed from after it is not kept.
    s.heal(0, 2).unwrap();
    let at_n2 = group_of(&mut s, 2, 60_000);
    assert!(
        !at_n2.members.iter().any(|m| m.you),
        "n2 learned it was removed: {at_n2:?}"
    );
    let kept = history(&mut s, 2, &desk);
    assert!(kept.contains(&before), "{kept:?}");
    assert!(
        !kept.contains(&b),
        "n2 shows a message from after its removal: {kept:?}"
    );
    // Not shown, and not kept at rest either.
    let stored = s.stored_group_texts(2, &desk).unwrap();
    assert!(stored.contains(&before), "{stored:?}");
    assert!(
        !stored.contains(&b),
        "n2 keeps a message from after its removal: {stored:?}"
    );
    // n1's copy of c for n2 is not sent: it never shows, and nothing stays queued.
    s.heal(1, 2).unwrap();
    s.run_for(120_000).unwrap();
    assert!(
        !showed_a_group_message(&mut s, 2),
        "n2 was sent a message from after its removal"
    );
    s.check_settled().unwrap();

    // n0, cut off from n1, adds n2 back; n1 writes twice, not knowing.
    s.cut(0, 1).unwrap();
    s.command(
        0,
        Command::GroupAdd {
            group: desk.clone(),
            alias: "n2".into(),
        },
    )
    .unwrap();
    let back = group_of(&mut s, 2, 30_000);
    assert!(back.members.iter().any(|m| m.you), "n2 is back: {back:?}");
    let d = s.group_send(1, &desk, " d").unwrap();
    let e = s.group_send(1, &desk, " e").unwrap();
    s.run_for(5_000).unwrap();
    // Once n1 learns n2 is back, it sends n2 what it wrote since.
    s.heal(0, 1).unwrap();
    shows(&mut s, 2, &e, 60_000);
    shows(&mut s, 0, &d, 60_000);
    shows(&mut s, 0, &e, 60_000);
    let kept = history(&mut s, 2, &desk);
    assert!(kept.contains(&e), "{kept:?}");
    for gone in [&b, &c] {
        assert!(!kept.contains(gone), "n2 holds {gone:?}: {kept:?}");
    }
    s.run_for(120_000).unwrap();
    s.check_settled().unwrap();
}

/// Would catch a group message's delivery counted wrongly — a member counted twice, more
/// members than it was sent to, "delivered to all" too early — or the count lost across
/// the sender's restart (it then starts from the receipts in its store).
#[test]
fn a_group_messages_delivery_is_counted_member_by_member_across_a_restart() {
    let mut s = Script::new(23, 3, false).unwrap();
    create_desk(&mut s);
    let desk = desk_of_n0(&mut s).id;
    group_of(&mut s, 1, 30_000);
    group_of(&mut s, 2, 30_000);
    s.cut(0, 2).unwrap();
    let text = s.group_send(0, &desk, " counted").unwrap();
    shows(&mut s, 1, &text, 30_000);
    let delivered = |s: &mut Script, ms| {
        let Event::GroupDelivered { delivered, of, .. } = s
            .wait_for(0, ms, |e| matches!(e, Event::GroupDelivered { .. }))
            .unwrap()
        else {
            unreachable!()
        };
        (delivered, of)
    };
    assert_eq!(delivered(&mut s, 30_000), (1, 2));
    s.run_for(5_000).unwrap();
    assert!(
        !s.events(0)
            .iter()
            .any(|e| matches!(e, Event::GroupDelivered { .. })),
        "counted again without a new receipt"
    );
    s.crash(0).unwrap();
    s.restart(0).unwrap();
    s.heal(0, 2).unwrap();
    shows(&mut s, 2, &text, 60_000);
    assert_eq!(delivered(&mut s, 60_000), (2, 2));
    let listed = history(&mut s, 0, &desk);
    assert!(listed.contains(&text), "{listed:?}");
}

/// n1 writes to the group before it has a session with n2 (their introduction not yet
/// accepted): would catch a member that, once the session exists, does not send the new
/// contact what it wrote for the group meanwhile (`group_catch_up`, a mutation survivor).
#[test]
fn a_member_reached_only_after_an_introduction_gets_what_was_written_before() {
    let mut s = Script::with_contacts(24, 3, false, Some(&[(0, 1), (0, 2)])).unwrap();
    create_desk(&mut s);
    let desk = desk_of_n0(&mut s).id;
    group_of(&mut s, 1, 30_000);
    group_of(&mut s, 2, 30_000);
    let intros: Vec<_> = [1, 2]
        .map(|i| (i, introduction(&mut s, i, 30_000)))
        .to_vec();
    let early = s.group_send(1, &desk, " before the introduction").unwrap();
    shows(&mut s, 0, &early, 30_000);
    s.run_for(5_000).unwrap();
    assert!(
        !showed_a_group_message(&mut s, 2),
        "n2 has no session with n1 yet"
    );
    for (i, id) in intros {
        accept(&mut s, i, id);
    }
    shows(&mut s, 2, &early, 60_000);
}

/// n3, just added by n0, writes before n1 has heard of its addition: would catch a member
/// that never shows a message it held for its author's addition once that addition
/// arrives (the group log's reconciliation, a mutation survivor), or shows it before.
#[test]
fn a_message_from_a_member_not_yet_known_as_one_is_shown_once_its_addition_arrives() {
    let pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)];
    let mut s = Script::with_contacts(25, 4, false, Some(&pairs)).unwrap();
    create_desk(&mut s);
    let desk = desk_of_n0(&mut s).id;
    group_of(&mut s, 1, 30_000);
    group_of(&mut s, 2, 30_000);
    s.run_for(2_000).unwrap();
    s.cut(0, 1).unwrap();
    s.command(
        0,
        Command::GroupAdd {
            group: desk.clone(),
            alias: "n3".into(),
        },
    )
    .unwrap();
    group_of(&mut s, 3, 30_000);
    s.run_for(2_000).unwrap();
    let text = s.group_send(3, &desk, " from the newcomer").unwrap();
    shows(&mut s, 2, &text, 30_000);
    s.run_for(5_000).unwrap();
    assert!(
        !showed_a_group_message(&mut s, 1),
        "n1 showed a message from someone it does not know as a member"
    );
    s.heal(0, 1).unwrap();
    shows(&mut s, 1, &text, 60_000);
    let listed = history(&mut s, 1, &desk);
    assert!(listed.contains(&text), "{listed:?}");
}

/// Would catch a group message that cannot be forwarded (the node looked received
/// messages up by the id of the copy each member receives, which is not the message's id
/// that `group_message` reports), or a forward that carries its author's name: n0
/// forwards what n1 wrote in the group to n2 as a message of its own.
#[test]
fn a_group_message_is_forwarded_to_a_contact_without_its_author() {
    let mut s = Script::new(12, 3, false).unwrap();
    create_desk(&mut s);
    let group = desk_of_n0(&mut s);
    s.wait_for(1, 30_000, |e| matches!(e, Event::Group { .. }))
        .unwrap();
    s.run_for(5_000).unwrap();
    let text = s.group_send(1, &group.id, "from the field").unwrap();
    let Event::GroupMessage { id, from, .. } = s
        .wait_for(
            0,
            30_000,
            |e| matches!(e, Event::GroupMessage { text: t, .. } if *t == text),
        )
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(from.as_str(), "n1");
    s.events(2);
    s.forward(0, 2, id, &text).unwrap();
    s.wait_for(0, 1_000, |e| matches!(e, Event::Queued { .. }))
        .unwrap();
    let got = s
        .wait_for(
            2,
            30_000,
            |e| matches!(e, Event::Message { text: t, .. } if *t == text),
        )
        .unwrap();
    let Event::Message { from, .. } = got else {
        unreachable!()
    };
    assert_eq!(from.as_str(), "n0", "forwarded as n0's own");
}
