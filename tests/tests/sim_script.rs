//! Scripted simulations (`sim::script`): the runtime's rules that the random
//! workload does not reach, checked deterministically in simulated time — an invite's
//! lifetime, the disappearing-messages timer, and a file's transfer across crashes of
//! either side.

use cairn_node::api::sim::script::Script;
use cairn_node::api::{Command, ErrorCode, Event, FileStateName};

fn error(code: ErrorCode) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Error { code: c, .. } if *c == code)
}

/// Would catch an invite that expires at another time than its lifetime says (a mutation
/// testing survivor: `now * ttl` for `now + ttl`).
#[test]
fn an_invite_expires_when_its_lifetime_is_over() {
    let mut s = Script::new(1, 2, false).unwrap();
    s.command(
        0,
        Command::Invite {
            ttl_secs: Some(60),
            for_contact: None,
        },
    )
    .unwrap();
    let Event::Invite { code } = s
        .wait_for(0, 1_000, |e| matches!(e, Event::Invite { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    s.run_for(30_000).unwrap();
    let accept = |alias: &str| Command::Accept {
        code: code.clone(),
        alias: alias.into(),
    };
    // Still valid (n1 already has n0 as a contact: refused for that, not for its age).
    s.command(1, accept("again")).unwrap();
    s.wait_for(1, 1_000, error(ErrorCode::AlreadyContact))
        .unwrap();
    s.run_for(31_000).unwrap();
    s.command(1, accept("again")).unwrap();
    s.wait_for(1, 1_000, error(ErrorCode::InviteExpired))
        .unwrap();
}

/// Would catch a timer above the limit accepted, one within it refused, or a timer not
/// applied by the contact (the random workload never sets one).
#[test]
fn the_disappearing_timer_is_bounded_and_reaches_the_contact() {
    let mut s = Script::new(2, 2, false).unwrap();
    let year = 31_622_400;
    s.command(
        0,
        Command::Expire {
            alias: "n1".into(),
            seconds: Some(year + 1),
        },
    )
    .unwrap();
    s.wait_for(0, 1_000, error(ErrorCode::BadArguments))
        .unwrap();
    s.command(
        0,
        Command::Expire {
            alias: "n1".into(),
            seconds: Some(year),
        },
    )
    .unwrap();
    s.wait_for(
        0,
        1_000,
        |e| matches!(e, Event::ExpireSet { seconds: Some(t), by_contact: false, .. } if *t == year),
    )
    .unwrap();
    s.wait_for(
        1,
        30_000,
        |e| matches!(e, Event::ExpireSet { seconds: Some(t), by_contact: true, .. } if *t == year),
    )
    .unwrap();
}

fn file_state(file: &cairn_node::api::FileId, st: FileStateName) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::FileState { file: f, state, .. } if f == file && *state == st)
}

/// Would catch a transfer that loses or repeats chunks, restarts from nothing or stalls
/// when the recipient crashes mid-way (unflushed writes lost) and then the sender does,
/// or that arrives altered; in simulated time, replayable by its seed.
#[test]
fn a_file_survives_crashes_of_both_sides_mid_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.bin");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let mut s = Script::new(3, 2, true).unwrap();
    s.command(
        0,
        Command::SendFile {
            to: "n1".into(),
            path: path.to_string_lossy().into_owned(),
            original: true,
            client_ref: None,
        },
    )
    .unwrap();
    let Event::FileQueued { file, .. } = s
        .wait_for(0, 5_000, |e| matches!(e, Event::FileQueued { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    s.wait_for(1, 10_000, |e| matches!(e, Event::FileOffered { .. }))
        .unwrap();
    s.command(1, Command::AcceptFile { file: file.clone() })
        .unwrap();
    s.wait_for(
        1,
        30_000,
        |e| matches!(e, Event::FileProgress { bytes, .. } if *bytes > 500_000),
    )
    .unwrap();
    s.crash(1).unwrap();
    s.run_for(3_000).unwrap();
    s.restart(1).unwrap();
    s.wait_for(
        1,
        60_000,
        |e| matches!(e, Event::FileProgress { bytes, .. } if *bytes > 1_500_000),
    )
    .unwrap();
    s.crash(0).unwrap();
    s.run_for(3_000).unwrap();
    s.restart(0).unwrap();
    s.wait_for(1, 600_000, file_state(&file, FileStateName::Complete))
        .unwrap();
    s.wait_for(0, 600_000, file_state(&file, FileStateName::Complete))
        .unwrap();
    let out = dir.path().join("out.bin");
    s.command(
        1,
        Command::ExportFile {
            file,
            path: out.to_string_lossy().into_owned(),
        },
    )
    .unwrap();
    s.wait_for(1, 5_000, |e| matches!(e, Event::FileExported { .. }))
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}

/// Would catch introductions waiting for the user's answer lost by a restart (the mutation
/// survivor "their setting encodes nothing"), or an introduction that never ends in a
/// session of its own.
#[test]
fn an_introduction_waits_for_its_answer_across_a_restart() {
    let mut s = Script::with_contacts(4, 3, false, Some(&[(0, 1), (0, 2)])).unwrap();
    s.command(
        0,
        Command::Introduce {
            alias: "n1".into(),
            to: "n2".into(),
        },
    )
    .unwrap();
    let intro = |e: &Event| matches!(e, Event::Introduction { .. });
    let Event::Introduction { id: a, .. } = s.wait_for(1, 30_000, intro).unwrap() else {
        unreachable!()
    };
    let Event::Introduction { id: b, .. } = s.wait_for(2, 30_000, intro).unwrap() else {
        unreachable!()
    };
    s.run_for(2_000).unwrap();
    s.crash(1).unwrap();
    s.run_for(1_000).unwrap();
    s.restart(1).unwrap();
    s.run_for(2_000).unwrap();
    for (i, id) in [(1, a), (2, b)] {
        s.command(i, Command::AcceptIntroduction { id, alias: None })
            .unwrap();
    }
    for i in [1, 2] {
        s.wait_for(i, 60_000, |e| matches!(e, Event::SessionEstablished { .. }))
            .unwrap();
    }
}
