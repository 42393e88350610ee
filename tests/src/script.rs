//! Helpers for scripted simulations (`cairn_node::api::sim::script`) of groups: the tests
//! say what happens, these read what the nodes reported.

use cairn_node::api::sim::script::Script;
use cairn_node::api::{Command, Event, GroupInfo, GroupRef, IntroId};

/// n0 creates the group "desk" with n1 and n2.
pub fn create_desk(s: &mut Script) {
    s.command(
        0,
        Command::GroupCreate {
            name: "desk".into(),
            members: vec!["n1".into(), "n2".into()],
        },
    )
    .unwrap();
}

/// The next group that node `i` reports (its creation, a welcome or a change), within
/// `ms`.
pub fn group_of(s: &mut Script, i: usize, ms: u64) -> GroupInfo {
    let Event::Group { group, .. } = s
        .wait_for(i, ms, |e| matches!(e, Event::Group { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    *group
}

/// The group n0 reported (after [`create_desk`]).
pub fn desk_of_n0(s: &mut Script) -> GroupInfo {
    group_of(s, 0, 5_000)
}

/// Waits (at most `ms`) until node `i` shows the group message `text`.
pub fn shows(s: &mut Script, i: usize, text: &str, ms: u64) {
    s.wait_for(
        i,
        ms,
        |e| matches!(e, Event::GroupMessage { text: t, .. } if t == text),
    )
    .unwrap_or_else(|e| panic!("n{i} did not show {text:?}: {e}"));
}

/// Whether node `i` reported a group change since the last look.
pub fn reported_a_change(s: &mut Script, i: usize) -> bool {
    s.events(i).iter().any(|e| {
        matches!(
            e,
            Event::Group {
                change: Some(_),
                ..
            }
        )
    })
}

/// Whether node `i` showed any group message since the last look.
pub fn showed_a_group_message(s: &mut Script, i: usize) -> bool {
    s.events(i)
        .iter()
        .any(|e| matches!(e, Event::GroupMessage { .. }))
}

/// The next introduction node `i` is asked to answer, within `ms`.
pub fn introduction(s: &mut Script, i: usize, ms: u64) -> IntroId {
    let Event::Introduction { id, .. } = s
        .wait_for(i, ms, |e| matches!(e, Event::Introduction { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    id
}

/// Node `i` accepts introduction `id` (under the name the introduced one chose).
pub fn accept(s: &mut Script, i: usize, id: IntroId) {
    s.command(i, Command::AcceptIntroduction { id, alias: None })
        .unwrap();
}

/// The texts of `group`'s conversation as node `i` stores it, in its order.
pub fn history(s: &mut Script, i: usize, group: &GroupRef) -> Vec<String> {
    s.command(
        i,
        Command::GroupHistory {
            group: group.clone(),
            limit: Some(1_000),
        },
    )
    .unwrap();
    let Event::GroupHistory { messages, .. } = s
        .wait_for(i, 1_000, |e| matches!(e, Event::GroupHistory { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    messages.into_iter().map(|m| m.text).collect()
}
