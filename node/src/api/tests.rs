//! Tests of the command parser and the JSON of events.

use super::*;

/// Catches a parser that panics or accepts junk, or mislabels errors.
#[test]
fn parses_and_rejects() {
    assert_eq!(parse_command(r#"{"cmd":"quit"}"#).unwrap(), Command::Quit);
    assert_eq!(
        parse_command(r#"{"cmd":"send","to":"bob","text":"hi"}"#).unwrap(),
        Command::Send {
            to: "bob".into(),
            text: "hi".into(),
            client_ref: None,
        }
    );
    let code = |r: Result<Command, Box<Event>>| match r.map_err(|e| *e) {
        Err(Event::Error { code, .. }) => code,
        other => panic!("{other:?}"),
    };
    assert_eq!(code(parse_command("{")), ErrorCode::BadJson);
    assert_eq!(
        code(parse_command(r#"{"cmd":"dance"}"#)),
        ErrorCode::UnknownCommand
    );
    assert_eq!(
        code(parse_command(r#"{"cmd":"send"}"#)),
        ErrorCode::BadArguments
    );
    assert_eq!(code(parse_command(r#"{"to":"x"}"#)), ErrorCode::MissingCmd);
    assert_eq!(code(parse_command(r#"[1,2]"#)), ErrorCode::MissingCmd);
}

/// Catches `expire_status` (used by the TUI to show a conversation's timer) missing
/// from the parser's list of known commands.
/// Catches a code the node can emit that docs/CLI.md does not list, or a JSON word
/// that differs from the one documented.
#[test]
fn every_error_code_is_documented() {
    let doc = include_str!("../../../docs/CLI.md");
    for code in ErrorCode::ALL {
        let word = format!("`{}`", code.as_str());
        assert!(doc.contains(&word), "{word} is not in docs/CLI.md");
        assert_eq!(
            serde_json::to_value(code).unwrap(),
            serde_json::Value::String(code.as_str().into())
        );
    }
    let state = serde_json::to_value(MessageState::Delivered).unwrap();
    assert_eq!(state, "delivered");
    assert_eq!(serde_json::to_value(MessageDirection::Out).unwrap(), "out");
    assert_eq!(
        serde_json::to_value(RelayState::Reserved).unwrap(),
        "reserved"
    );
}

/// Catches a `ref` that is not read, not echoed under its JSON name, or unbounded.
#[test]
fn send_ref_is_read_echoed_and_bounded() {
    let cmd = parse_command(r#"{"cmd":"send","to":"bob","text":"hi","ref":"r1"}"#).unwrap();
    assert!(matches!(cmd, Command::Send { client_ref: Some(ref r), .. } if r == "r1"));
    let long = format!(
        r#"{{"cmd":"send","to":"b","text":"t","ref":"{}"}}"#,
        "x".repeat(129)
    );
    assert!(
        matches!(parse_command(&long).map_err(|e| *e), Err(Event::Error { code, .. }) if code == ErrorCode::BadArguments)
    );
    let q = serde_json::to_value(Event::Queued {
        id: "00".into(),
        client_ref: Some("r1".into()),
    })
    .unwrap();
    assert_eq!(q["ref"], "r1");
    let e = serde_json::to_value(Event::error(ErrorCode::TooLong, "x")).unwrap();
    assert!(
        e.get("ref").is_none(),
        "no ref key when the send had none: {e}"
    );
}

#[test]
fn parses_expire_status() {
    assert_eq!(
        parse_command(r#"{"cmd":"expire_status","alias":"bob"}"#).unwrap(),
        Command::ExpireStatus {
            alias: "bob".into()
        }
    );
    assert!(matches!(
        parse_command(r#"{"cmd":"expire_status"}"#).map_err(|e| *e),
        Err(Event::Error { code, .. }) if code == ErrorCode::BadArguments
    ));
}

/// Catches a name or id type that changes the JSON docs/CLI.md shows: each is a plain
/// string on the wire, whatever its type in Rust.
#[test]
fn ids_and_names_are_plain_strings_in_json() {
    let events = [
        (
            Event::Ready {
                peer_id: "12D3KooWabc".into(),
                addrs: vec![],
            },
            r#"{"event":"ready","peer_id":"12D3KooWabc","addrs":[]}"#,
        ),
        (
            Event::ContactRenamed {
                alias: "bob".into(),
                to: "robert".into(),
            },
            r#"{"event":"contact_renamed","alias":"bob","to":"robert"}"#,
        ),
        (
            Event::Queued {
                id: "00ff".into(),
                client_ref: Some(ClientRef::from("r1")),
            },
            r#"{"event":"queued","id":"00ff","ref":"r1"}"#,
        ),
    ];
    for (event, json) in events {
        assert_eq!(serde_json::to_string(&event).unwrap(), json);
        assert_eq!(serde_json::from_str::<Event>(json).unwrap(), event);
    }
    let cmd = parse_command(r#"{"cmd":"history","with":"bob","limit":3}"#).unwrap();
    assert_eq!(
        cmd,
        Command::History {
            with: Alias::from("bob"),
            limit: Some(3),
        }
    );
    let Command::History { with, .. } = cmd else {
        unreachable!()
    };
    assert_eq!(with, "bob");
    assert_eq!(with.as_str(), "bob");
    assert_eq!(with.to_string(), "bob");
}
