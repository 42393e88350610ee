//! The exposure report (`cairn exposure`, the TUI's `/exposure`): from the node's actual
//! settings and state, what each party can learn about the user right now, and for each the
//! one change that would reduce it. Computed, not written: the same facts the node acts on
//! ([`Facts`], gathered by the runtime) go through [`report`], a pure function, so tests can
//! check its claims against what the node really does (tests/tests/exposure.rs).

use serde::{Deserialize, Serialize};

/// A contact, as far as exposure goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactFacts {
    /// Its alias.
    pub alias: String,
    /// Its mailbox (relay) address, if it has one.
    pub mailbox: Option<String>,
    /// The conversation's disappearing timer, in seconds, if set.
    pub timer_secs: Option<u64>,
    /// Messages of the conversation kept in the profile.
    pub messages: usize,
}

/// What the report is computed from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// LAN mode (mDNS, local addresses dialled and shared).
    pub lan: bool,
    /// `--private-addresses` (local addresses dialled and shared, no mDNS).
    pub private_addresses: bool,
    /// Hidden mode: every connection through Tor, reachable only at an onion address.
    pub hidden: bool,
    /// The relay (mailbox) the node uses, if any.
    pub relay: Option<String>,
    /// The addresses the node listens on now.
    pub listening: Vec<String>,
    /// The addresses its card (and a new invite) carries now.
    pub shared: Vec<String>,
    /// Its contacts.
    pub contacts: Vec<ContactFacts>,
    /// Groups it is in.
    pub groups: usize,
    /// Members of its groups that are not contacts.
    pub group_strangers: usize,
    /// Invites made and not used yet.
    pub invites: usize,
    /// How long the last of them stays usable, in seconds.
    pub invites_left_secs: Option<u64>,
    /// Files kept in the profile (sent and received).
    pub files: usize,
}

/// One party and what it can learn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Who ("a passive network observer", "alice", …).
    pub who: String,
    /// What it can learn, one fact a line.
    pub learns: Vec<String>,
    /// The one change that would reduce it, if there is one.
    pub reduce: Option<String>,
}

/// The IP addresses `addrs` start with (a circuit's is its relay's: left out), each once.
pub fn own_ips(addrs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in addrs.iter().filter(|a| !a.contains("/p2p-circuit")) {
        let mut parts = a.split('/').skip(1);
        if let (Some("ip4" | "ip6"), Some(ip)) = (parts.next(), parts.next()) {
            if !out.iter().any(|o| o == ip) {
                out.push(ip.to_owned());
            }
        }
    }
    out
}

fn ip_of(addr: &str) -> String {
    own_ips(&[addr.to_owned()])
        .pop()
        .unwrap_or_else(|| addr.to_owned())
}

fn list(ips: &[String]) -> String {
    if ips.is_empty() {
        "none".into()
    } else {
        ips.join(", ")
    }
}

/// What each party can learn, from `f`.
pub fn report(f: &Facts) -> Vec<Party> {
    let shared = own_ips(&f.shared);
    let listening = own_ips(&f.listening);
    let relay_ip = f.relay.as_deref().map(ip_of);
    let mut out = Vec::new();

    out.push(if f.hidden {
        Party {
            who: "a passive network observer (your ISP, the Wi-Fi you use, anyone on the path)"
                .into(),
            learns: vec![
                "that you use Tor, and when and how much (hidden mode: every connection goes \
                 through Tor, none to a contact or relay directly)"
                    .into(),
            ],
            reduce: Some(
                "use a Tor bridge (--tor-config with Bridge lines) if using Tor itself is \
                 dangerous where you are"
                    .into(),
            ),
        }
    } else {
        Party {
            who: "a passive network observer (your ISP, the Wi-Fi you use, anyone on the path)"
                .into(),
            learns: vec![
                "your IP address and when you are online (Cairn is not in hidden mode: \
                 connections go straight to contacts and relays)"
                    .into(),
                "which IP addresses you connect to — your contacts' and relays' — and how \
                 much you send, when (not what: everything is encrypted)"
                    .into(),
            ],
            reduce: Some("turn on hidden mode (--hidden): everything goes through Tor".into()),
        }
    });

    out.push(if f.lan {
        Party {
            who: "a LAN neighbour (anyone on the same local network)".into(),
            learns: vec![
                "that a Cairn node is here, its PeerId and its local addresses: LAN mode \
                 announces them by mDNS to every device on the network"
                    .into(),
            ],
            reduce: Some("turn LAN mode off when the Internet works (run without --lan)".into()),
        }
    } else {
        Party {
            who: "a LAN neighbour (anyone on the same local network)".into(),
            learns: vec![
                "nothing more than a passive observer: LAN mode is off, no mDNS announcement"
                    .into(),
            ],
            reduce: None,
        }
    });

    out.push(match (&f.relay, &relay_ip) {
        (Some(_), Some(_)) if f.hidden => Party {
            who: "your relay (an onion service)".into(),
            learns: vec![
                "your PeerId, and when you are online (you fetch your mailbox while you are; \
                 through Tor: not your IP address)"
                    .into(),
                "the size and time of every envelope left in your mailbox (not their content \
                 or sender; in hidden mode no circuit to you goes through it)"
                    .into(),
            ],
            reduce: Some(
                "use a relay you or someone you trust runs (`cairn relay --hidden`)".into(),
            ),
        },
        (Some(_), Some(ip)) => Party {
            who: format!("your relay ({ip})"),
            learns: vec![
                "your IP address and PeerId, and when you are online (your reservation is \
                 renewed while you are)"
                    .into(),
                "who connects to you through it (their PeerIds), and the size and time of \
                 every envelope left in your mailbox (not their content or sender)"
                    .into(),
            ],
            reduce: Some("use a relay you or someone you trust runs (`cairn relay`)".into()),
        },
        _ => Party {
            who: "your relay".into(),
            learns: vec![
                "nothing: you use none (contacts reach you only directly, and cannot leave \
                 messages while you are offline)"
                    .into(),
            ],
            reduce: None,
        },
    });

    out.push(Party {
        who: "anyone who connects to you (a stranger who knows your PeerId and an address or \
              your relay)"
            .into(),
        learns: vec![if f.hidden {
            "your PeerId and onion address, and that you are online (no IP address: you \
             listen only behind an onion service, and identify announces nothing)"
                .into()
        } else {
            format!(
                "your PeerId, that you are online, and every address you listen on ({}): \
                 libp2p's identify tells whoever connects",
                list(&listening)
            )
        }],
        reduce: Some(if f.hidden {
            "keep your onion address to contacts: give invites only in person".into()
        } else {
            "turn on hidden mode (--hidden), and give invites only in person".into()
        }),
    });

    let mut relays: Vec<String> = f
        .contacts
        .iter()
        .filter_map(|c| c.mailbox.as_deref().map(ip_of))
        .filter(|ip| Some(ip) != relay_ip.as_ref())
        .collect();
    relays.sort();
    relays.dedup();
    out.push(Party {
        who: "your contacts' relays".into(),
        learns: if relays.is_empty() {
            vec!["nothing beyond your own relay: no contact uses another one".into()]
        } else {
            vec![format!(
                "{} whenever you leave a message for an offline contact, with its size and \
                 time — relays at {}",
                if f.hidden {
                    "your PeerId (through Tor: not your IP address)"
                } else {
                    "your IP address and PeerId"
                },
                relays.join(", ")
            )]
        },
        reduce: (!relays.is_empty()).then(|| {
            "agree with your contacts on a relay you trust (each sets it with --relay)".into()
        }),
    });

    let card = format!(
        "your display name, PeerId and the addresses in your card: {}{}",
        list(&shared),
        relay_ip
            .as_ref()
            .map(|r| format!(", and your relay {r}"))
            .unwrap_or_default()
    );
    let local_shared = f.lan || f.private_addresses;
    let card_reduce = if local_shared {
        "run without --lan and --private-addresses, so that your card carries no local address"
    } else if !shared.is_empty() {
        "listen only on a relay (no public address of your own), so that contacts learn only \
         the relay's"
    } else {
        "verify each contact's safety number in person"
    };
    for c in &f.contacts {
        let mut learns = vec![
            card.clone(),
            if f.hidden {
                "your online times, and when you received and read their messages (receipts); \
                 not your IP address (hidden mode: they reach you only through Tor)"
                    .into()
            } else {
                "your IP address and online times (you connect to them directly) and when you \
                 received and read their messages (receipts)"
                    .into()
            },
        ];
        learns.push(match c.timer_secs {
            Some(s) => format!(
                "your conversation, which they keep {} (disappearing messages)",
                duration(s)
            ),
            None => "your whole conversation, kept on their device until deleted".into(),
        });
        out.push(Party {
            who: format!("your contact {}", c.alias),
            learns,
            reduce: Some(if c.timer_secs.is_none() {
                format!("set disappearing messages with {} (/expire)", c.alias)
            } else {
                card_reduce.into()
            }),
        });
    }
    if f.groups > 0 {
        out.push(Party {
            who: "members of your groups who are not your contacts".into(),
            learns: vec![format!(
                "{} people in {} group(s): your display name, PeerId and card addresses \
                 ({}), and every message you send to the group",
                f.group_strangers,
                f.groups,
                list(&shared)
            )],
            reduce: Some("leave the groups you no longer need".into()),
        });
    }

    out.push(Party {
        who: "someone holding one of your old invites".into(),
        learns: if f.invites == 0 {
            vec![
                "nothing new: every invite you made has been used or has expired (an old one \
                 still shows your identity key, PeerId and the addresses of that time)"
                    .into(),
            ]
        } else {
            vec![format!(
                "{} invite(s) still open{}: your identity key, PeerId, the addresses of the \
                 time each was made (now it would be: {}) and your relay; one of them can \
                 become your contact",
                f.invites,
                f.invites_left_secs
                    .map(|s| format!(" (the last usable {})", duration(s)))
                    .unwrap_or_default(),
                list(&shared)
            )]
        },
        reduce: (f.invites > 0)
            .then(|| "make invites with a short lifetime, and only in person".into()),
    });

    let kept: usize = f.contacts.iter().map(|c| c.messages).sum();
    let forever: Vec<&str> = f
        .contacts
        .iter()
        .filter(|c| c.timer_secs.is_none() && c.messages > 0)
        .map(|c| c.alias.as_str())
        .collect();
    out.push(Party {
        who: "someone who takes your device".into(),
        learns: vec![
            "without your passphrase: that a Cairn profile is there, and its size (everything in \
             it is encrypted)"
                .into(),
            format!(
                "with it: {} contact(s), {kept} message(s) kept, {} file(s), your groups and \
                 invites",
                f.contacts.len(),
                f.files
            ),
        ],
        reduce: Some(if forever.is_empty() {
            "keep a strong passphrase; panic wipe (/wipe) erases the profile".into()
        } else {
            format!(
                "set disappearing messages where history is kept for ever ({})",
                forever.join(", ")
            )
        }),
    });
    out
}

/// The report as lines of text (`cairn exposure`, the TUI's screen): each party, what it
/// learns, and the change that would reduce it.
pub fn lines(parties: &[Party]) -> Vec<String> {
    let mut out = Vec::new();
    for p in parties {
        out.push(capitalised(&p.who));
        for l in &p.learns {
            out.push(format!("  - {l}"));
        }
        if let Some(r) = &p.reduce {
            out.push(format!("  → to reduce it: {r}"));
        }
        out.push(String::new());
    }
    out
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A duration as people say it ("for 1 hour").
pub(crate) fn duration(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("for {n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who<'a>(r: &'a [Party], starts: &str) -> &'a Party {
        r.iter().find(|p| p.who.starts_with(starts)).unwrap()
    }

    fn facts() -> Facts {
        Facts {
            relay: Some("/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN".into()),
            listening: vec!["/ip4/127.0.0.1/tcp/4001".into(), "/ip4/203.0.113.5/tcp/4001".into()],
            shared: vec!["/ip4/203.0.113.5/tcp/4001".into()],
            contacts: vec![
                ContactFacts {
                    alias: "ana".into(),
                    mailbox: Some("/ip4/192.0.2.9/tcp/4001".into()),
                    timer_secs: None,
                    messages: 12,
                },
                ContactFacts {
                    alias: "bo".into(),
                    mailbox: None,
                    timer_secs: Some(3_600),
                    messages: 2,
                },
            ],
            invites: 1,
            invites_left_secs: Some(6 * 86_400),
            ..Facts::default()
        }
    }

    /// Would catch a report that does not follow the settings: LAN mode not named when on
    /// (or named when off), a relay, a contact's relay or an open invite left out, a contact
    /// without a timer not told to set one, or a report written once and for all.
    #[test]
    fn the_report_follows_the_facts() {
        let f = facts();
        let r = report(&f);
        assert!(who(&r, "a LAN neighbour").learns[0].contains("LAN mode is off"));
        assert!(who(&r, "your relay (198.51.100.7)").learns[0].contains("IP address"));
        assert!(who(&r, "your contacts' relays").learns[0].contains("192.0.2.9"));
        let ana = who(&r, "your contact ana");
        assert!(ana.learns[0].contains("203.0.113.5") && !ana.learns[0].contains("127.0.0.1"));
        assert_eq!(
            ana.reduce.as_deref(),
            Some("set disappearing messages with ana (/expire)")
        );
        assert!(who(&r, "your contact bo").learns[2].contains("for 1 hour"));
        let old = who(&r, "someone holding");
        assert!(old.learns[0].contains("1 invite(s) still open (the last usable for 6 days)"));
        let thief = who(&r, "someone who takes");
        assert!(thief.learns[1].contains("2 contact(s), 14 message(s) kept"));
        assert!(thief.reduce.as_deref().unwrap().contains("(ana)"));

        let lan = Facts {
            lan: true,
            relay: None,
            invites: 0,
            contacts: Vec::new(),
            ..f
        };
        let r = report(&lan);
        assert!(who(&r, "a LAN neighbour").learns[0].contains("mDNS"));
        assert!(who(&r, "your relay").learns[0].starts_with("nothing"));
        assert!(who(&r, "someone holding").reduce.is_none());
        assert!(!r.iter().any(|p| p.who.starts_with("your contact ")));
    }

    /// Catches a report that claims, in hidden mode, that anyone learns the user's IP
    /// address, or that no longer says an observer sees the use of Tor.
    #[test]
    fn hidden_mode_reveals_no_ip_address() {
        let onion = "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:4001";
        let f = Facts {
            hidden: true,
            relay: Some(format!("{onion}/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN")),
            listening: vec![onion.into()],
            shared: vec![onion.into()],
            contacts: vec![ContactFacts {
                alias: "alice".into(),
                mailbox: Some("/ip4/203.0.113.9/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN".into()),
                ..ContactFacts::default()
            }],
            ..Facts::default()
        };
        let r = report(&f);
        for p in &r {
            for l in &p.learns {
                assert!(
                    !l.contains("your IP address") || l.contains("not your IP address"),
                    "{}: {l}",
                    p.who
                );
            }
        }
        assert!(r[0].learns[0].contains("Tor"), "{:?}", r[0]);
        assert!(
            r.iter().any(|p| p.who == "your relay (an onion service)"),
            "{r:?}"
        );
        let not_hidden = report(&Facts { hidden: false, ..f });
        assert!(not_hidden[0].learns[0].contains("your IP address"));
    }
}
