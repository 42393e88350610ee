//! A hostile peer against a running node: garbage, oversized frames, a handshake with a
//! wrong PSK, replayed and tampered envelopes, and a connection flood. The node must
//! not crash, must not change state, and must count what it dropped.
use cairn_crypto::{initiate, IdentityKeyPair, Invite, InviteSecret, ProfileCard, RoutingTag};
use cairn_node::api::peer::Content;
use cairn_node::api::peer::{build_swarm, Behaviour, BehaviourEvent, SwarmOptions};
use cairn_node::api::peer::{RejectCode, Request, Response, MAX_REQUEST_LEN};
use cairn_tests::*;
use futures::StreamExt;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use rand::RngCore;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Attacker {
    swarm: Swarm<Behaviour>,
    inbox: Vec<Vec<u8>>,
    target: PeerId,
    addr: Multiaddr,
}

impl Attacker {
    async fn new(target: &str, addr: &str) -> Self {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let mut swarm = build_swarm(key, &SwarmOptions::default()).unwrap();
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        loop {
            if let SwarmEvent::NewListenAddr { .. } = swarm.select_next_some().await {
                break;
            }
        }
        Self {
            swarm,
            inbox: Vec::new(),
            target: target.parse().unwrap(),
            addr: addr.parse().unwrap(),
        }
    }

    fn my_addr(&self) -> Multiaddr {
        self.swarm.listeners().next().cloned().unwrap()
    }

    /// Sends a request; `Ok(response)` or `Err` if the node dropped it without reply.
    /// Inbound deliveries (the node's answers) are accepted and kept.
    async fn request(&mut self, req: Request) -> Result<Response, String> {
        let id = self.swarm.behaviour_mut().rr.send_request_with_addresses(
            &self.target,
            req,
            vec![self.addr.clone()],
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .map_err(|_| "timeout".to_string())?;
            if let SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) = ev {
                match ev {
                    request_response::Event::Message {
                        message:
                            Message::Response {
                                request_id,
                                response,
                            },
                        ..
                    } if request_id == id => return Ok(response),
                    request_response::Event::OutboundFailure {
                        request_id, error, ..
                    } if request_id == id => return Err(error.to_string()),
                    request_response::Event::Message {
                        message:
                            Message::Request {
                                request, channel, ..
                            },
                        ..
                    } => self.take(request, channel),
                    _ => {}
                }
            }
        }
    }

    /// Drives the swarm until a delivery arrives.
    async fn next_delivery(&mut self) -> Vec<u8> {
        if !self.inbox.is_empty() {
            return self.inbox.remove(0);
        }
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(20), self.swarm.select_next_some())
                .await
                .expect("the node answered in time");
            if let SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            })) = ev
            {
                self.take(request, channel);
                if !self.inbox.is_empty() {
                    return self.inbox.remove(0);
                }
            }
        }
    }

    /// Keeps what the node delivers to us and acknowledges it.
    fn take(&mut self, request: Request, channel: request_response::ResponseChannel<Response>) {
        let response = match request {
            Request::Deliver(e) => {
                self.inbox.push(e);
                Response::Accepted
            }
            Request::DeliverBatch(es) => {
                let codes = vec![None; es.len()];
                self.inbox.extend(es);
                Response::Results(codes)
            }
            _ => return,
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .rr
            .send_response(channel, response);
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Catches crashes, state changes or silent acceptance under hostile input.
#[test]
fn hostile_input_changes_nothing() {
    let net = Net::new();
    let mut alice = net.node("alice").start();
    let code = alice.invite();
    let invite = Invite::decode(&code, now()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rng = rand::thread_rng();
    let mut m = rt.block_on(Attacker::new(&alice.peer_id, &alice.addrs[0]));

    // 1. Garbage and structurally valid junk: dropped without reply.
    let mut junk = vec![0u8; 700];
    rng.fill_bytes(&mut junk);
    assert!(rt
        .block_on(m.request(Request::Deliver(junk.clone())))
        .is_err());
    junk[0] = 1;
    junk[1] = 3;
    junk.truncate(2 + 16 + 96 + 256);
    assert!(rt.block_on(m.request(Request::Deliver(junk))).is_err());
    // 2. Oversized frame: refused by the codec before it is buffered.
    assert!(rt
        .block_on(m.request(Request::Deliver(vec![7u8; MAX_REQUEST_LEN + 100])))
        .is_err());

    // 3. A handshake with the right tag but a wrong PSK: dropped, invite untouched.
    let mallory = IdentityKeyPair::generate(&mut rand::rngs::OsRng);
    let card = ProfileCard {
        display_name: "mallory".into(),
        peer_id: m.swarm.local_peer_id().to_bytes(),
        addrs: vec![m.my_addr().to_vec()],
        mailbox: None,
    };
    let mut forged = invite.clone();
    forged.secret = InviteSecret::random(&mut rand::rngs::OsRng);
    let (_, mut bad) = initiate(&mallory, &forged, &card, &mut rand::rngs::OsRng).unwrap();
    bad.tag = RoutingTag(invite.keys().init_tag);
    assert!(
        rt.block_on(m.request(Request::Deliver(bad.encode())))
            .is_err(),
        "no reply to a wrong PSK"
    );

    // 4. The genuine handshake still works: nothing was consumed.
    let (pending, first) = initiate(&mallory, &invite, &card, &mut rand::rngs::OsRng).unwrap();
    assert_eq!(
        rt.block_on(m.request(Request::Deliver(first.encode()))),
        Ok(Response::Accepted)
    );
    let answer = rt.block_on(m.next_delivery());
    let est = pending
        .finish(&mallory, &cairn_crypto::Envelope::decode(&answer).unwrap())
        .expect("handshake finishes");
    let mut session = est.session;
    alice.sees_session("mallory");

    // 4b. The invite is used now. A message 1 under its tag that does not authenticate (the
    // wrong-PSK one of step 3) is junk: no reply and no "invite used" alarm, so a network
    // observer who saw the tag cannot raise false alarms. A real second use (someone else
    // holding the code) raises it.
    assert!(rt
        .block_on(m.request(Request::Deliver(bad.encode())))
        .is_err());
    let quiet = alice.drain(Duration::from_secs(1));
    assert!(
        !quiet.iter().any(|e| e["code"] == "invite_used"),
        "junk raised the alarm: {quiet:?}"
    );
    let eve_id = IdentityKeyPair::generate(&mut rand::rngs::OsRng);
    let (_, second) = initiate(&eve_id, &invite, &card, &mut rand::rngs::OsRng).unwrap();
    assert!(rt
        .block_on(m.request(Request::Deliver(second.encode())))
        .is_err());
    alice.expect("the invite-used alarm", |e| e["code"] == "invite_used");

    // 5. A real message, then its replay and a tampered copy.
    let text = Content::Text {
        id: [9; 16],
        sent_at_ms: 1,
        text: "one real message".into(),
    };
    let env = session
        .encrypt(&text.encode().unwrap(), now(), &mut rand::rngs::OsRng)
        .unwrap();
    assert_eq!(
        rt.block_on(m.request(Request::Deliver(env.encode()))),
        Ok(Response::Accepted)
    );
    alice.sees_message("mallory", "one real message");
    // A replay is acknowledged (it is authentic) but not shown again.
    assert_eq!(
        rt.block_on(m.request(Request::Deliver(env.encode()))),
        Ok(Response::Accepted)
    );
    // The same replay from anyone but the contact gets the answer junk gets: none, so a
    // holder of a copy cannot learn which node the envelope is for.
    let mut eve = rt.block_on(Attacker::new(&alice.peer_id, &alice.addrs[0]));
    assert!(
        rt.block_on(eve.request(Request::Deliver(env.encode())))
            .is_err(),
        "a replay from a stranger was acknowledged"
    );
    // A tampered header (of a delivered message) and a tampered body (of a fresh
    // one): both dropped; the untampered fresh message then still goes through.
    let mut tampered = env.encode();
    tampered[18 + 40] ^= 0x40;
    assert!(rt.block_on(m.request(Request::Deliver(tampered))).is_err());
    let second = Content::Text {
        id: [8; 16],
        sent_at_ms: 2,
        text: "second real message".into(),
    };
    let env2 = session
        .encrypt(&second.encode().unwrap(), now(), &mut rand::rngs::OsRng)
        .unwrap();
    let mut tampered = env2.encode();
    let last = tampered.len() - 5;
    tampered[last] ^= 0x40;
    assert!(rt.block_on(m.request(Request::Deliver(tampered))).is_err());
    assert_eq!(
        rt.block_on(m.request(Request::Deliver(env2.encode()))),
        Ok(Response::Accepted)
    );
    alice.sees_message("mallory", "second real message");
    // A message id seen before, in a fresh envelope: stored once only.
    let again = session
        .encrypt(&text.encode().unwrap(), now(), &mut rand::rngs::OsRng)
        .unwrap();
    assert_eq!(
        rt.block_on(m.request(Request::Deliver(again.encode()))),
        Ok(Response::Accepted)
    );

    // 6. Batches. Only junk: no reply at all, as for a single envelope.
    let mut junk2 = vec![0u8; 300];
    rng.fill_bytes(&mut junk2);
    assert!(rt
        .block_on(m.request(Request::DeliverBatch(vec![junk2.clone(), junk2])))
        .is_err());
    // A mixed batch: a fresh message, a replay, a tampered copy of the next message,
    // the untampered one, and a known id again: one code per envelope, each new
    // message stored and shown once.
    let msg = |id: u8, text: &str, session: &mut cairn_crypto::Session| {
        let c = Content::Text {
            id: [id; 16],
            sent_at_ms: u64::from(id),
            text: text.into(),
        };
        session
            .encrypt(&c.encode().unwrap(), now(), &mut rand::rngs::OsRng)
            .unwrap()
            .encode()
    };
    let third = msg(7, "third, in a batch", &mut session);
    let fourth = msg(6, "fourth, in a batch", &mut session);
    let mut fourth_tampered = fourth.clone();
    let last = fourth_tampered.len() - 5;
    fourth_tampered[last] ^= 0x40;
    let known_id = msg(7, "third, in a batch", &mut session);
    assert_eq!(
        rt.block_on(m.request(Request::DeliverBatch(vec![
            third,
            env.encode(),
            fourth_tampered,
            fourth,
            known_id,
        ]))),
        Ok(Response::Results(vec![
            None,
            None,
            Some(RejectCode::NotAccepted),
            None,
            None
        ]))
    );
    alice.sees_message("mallory", "third, in a batch");
    alice.sees_message("mallory", "fourth, in a batch");
    // A text and then a receipt in one batch: the node stores the text with its own
    // receipt (which moves its sending chain) before it applies ours, so the state it
    // keeps is the newest one and its next message uses a fresh key.
    let fifth = msg(5, "fifth, before a receipt", &mut session);
    let receipt = session
        .encrypt(
            &Content::Receipt(vec![[1; 16]]).encode().unwrap(),
            now(),
            &mut rand::rngs::OsRng,
        )
        .unwrap()
        .encode();
    assert_eq!(
        rt.block_on(m.request(Request::DeliverBatch(vec![fifth, receipt]))),
        Ok(Response::Results(vec![None, None]))
    );
    alice.sees_message("mallory", "fifth, before a receipt");
    alice.send("mallory", "hello mallory");
    let mut found = false;
    for _ in 0..50 {
        let bytes = rt.block_on(m.next_delivery());
        let env = cairn_crypto::Envelope::decode(&bytes).unwrap();
        match session.decrypt(&env, now()) {
            Ok(plain) => {
                if let Ok(Content::Text { text, .. }) = Content::decode(&plain) {
                    assert_eq!(text, "hello mallory");
                    found = true;
                    break;
                }
            }
            // Retransmitted receipts are fine; anything else is a broken session.
            Err(cairn_crypto::DecryptError::Replayed) => {}
            Err(e) => panic!("the node's envelope does not decrypt: {e:?}"),
        }
    }
    assert!(found, "the node's next text decrypts (no key reused)");

    // 7. A connection flood, bounded: memory stays bounded.
    let pid = alice.pid().unwrap();
    let before = rss_kib(pid);
    let port: u16 = alice.addrs[0].rsplit('/').next().unwrap().parse().unwrap();
    for round in 0..4 {
        let mut conns = Vec::new();
        for _ in 0..100 {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::Write;
                let _ = s.write_all(&[round as u8; 512]);
                conns.push(s);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        drop(conns);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(pid);
    eprintln!("RSS before flood {before} KiB, after {after} KiB");
    assert!(
        after < before + 64 * 1024,
        "memory grew by {} KiB",
        after - before
    );

    // The node is alive, counted the drops, and its state is as expected.
    alice.cmd(json!({"cmd": "status"}));
    let st = alice.expect("status", |e| e["event"] == "status");
    assert!(st["rejected"].as_u64().unwrap() >= 5, "drops counted: {st}");
    alice.cmd(json!({"cmd": "history", "with": "mallory"}));
    let h = alice.expect("history", |e| e["event"] == "history");
    assert_eq!(
        h["messages"].as_array().unwrap().len(),
        6,
        "each message stored once: {h}"
    );
    let shown = alice
        .seen
        .iter()
        .filter(|e| e["event"] == "message")
        .count();
    assert_eq!(shown, 5);
    alice.cmd(json!({"cmd": "contacts"}));
    let c = alice.expect("contacts", |e| e["event"] == "contacts");
    assert_eq!(c["contacts"].as_array().unwrap().len(), 1);
    alice.quit();
}
