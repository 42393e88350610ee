//! LAN mode (`--lan`, mDNS) on a private LAN of network namespaces that the test builds
//! (victim, contact and attacker hosts joined by a bridge; see `cairn_tests::netns`).
//!
//! Would catch: LAN discovery that no longer finds a contact whose address changed; one
//! machine on the LAN that, by flooding the mDNS group with announcements of made-up peers
//! and of the victim's contact at made-up ports, and with queries, makes the victim's memory
//! grow, stalls its event loop so a contact's messages stop, or turns its queries into an
//! answer flood (libp2p's own mDNS kept every announcement for as long as its sender said,
//! searched linearly, and answered every query); a relay whose mailbox quota every address
//! of an IPv6 /64 gets afresh.
use cairn_tests::attack::{
    collect, exchange_for, mailbox_sends_for, one_at_a_time, rate, report, RssPeak, LARGEST_BODY,
    WINDOW,
};
use cairn_tests::netns::Lan;
use cairn_tests::*;
use std::time::{Duration, Instant};

/// Resident memory the victim may reach during the flood.
const RSS_BOUND: u64 = 256 << 20;
/// Packets a second the attacker sends (about 7 MB/s of mDNS).
const FLOOD_RATE: u32 = 5_000;

#[test]
fn lan_discovery_works_and_an_mdns_flood_does_not_silence_a_contact() {
    if Lan::skipped() {
        return;
    }
    let _one = one_at_a_time();
    let lan = Lan::new(&["victim", "contact", "attacker"]);
    let net = Net::new();
    let at = |host: &str, port: u16| format!("/ip4/{}/tcp/{port}", lan.ip(host));
    let victim = net
        .node("victim")
        .in_netns(&lan.ns("victim"))
        .lan()
        .listen_on(&at("victim", 4001));
    let contact = net
        .node("contact")
        .in_netns(&lan.ns("contact"))
        .lan()
        .listen_on(&at("contact", 4001));
    let (mut v, mut c) = (victim.start(), contact.start());
    connect(&mut v, &mut c);
    let contact_peer = c.peer_id.clone();
    v.quit();
    c.quit();

    // Both come back at new ports: what each knows of the other is stale, and there is
    // no relay. Only LAN discovery can bring them together.
    let victim = victim.listen_on(&at("victim", 4002));
    let contact = contact.listen_on(&at("contact", 4002));
    let (mut v, mut c) = (victim.start(), contact.start());
    let t = Instant::now();
    let id = v.send("contact", "found you on the LAN");
    c.sees_message("victim", "found you on the LAN");
    v.sees_delivered_anywhere(&id);
    let found_in = t.elapsed();

    let window = Duration::from_secs(5);
    let before = exchange_for(&mut c, "contact", &mut v, "victim", "before", window);

    // The flood, from the attacker's host, while the contact keeps talking.
    let secs = 20;
    let flood = lan
        .command(
            "attacker",
            std::path::Path::new(env!("CARGO_BIN_EXE_mdns_flood")),
        )
        .args([
            lan.ip("attacker"),
            contact_peer.clone(),
            lan.ip("victim"),
            secs.to_string(),
            FLOOD_RATE.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the flood");
    let rss = RssPeak::start(v.pid().expect("victim pid"));
    std::thread::sleep(Duration::from_secs(2));
    let during = exchange_for(
        &mut c,
        "contact",
        &mut v,
        "victim",
        "during",
        Duration::from_secs(secs - 4),
    );
    let out = flood.wait_with_output().expect("flood output");
    let peak = rss.stop();
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("flood summary (JSON)");
    let t = Instant::now();
    let id = c.send("victim", "after the flood");
    v.sees_message("contact", "after the flood");
    c.sees_delivered_anywhere(&id);
    let recovery = t.elapsed();

    let sent = summary["sent"].as_u64().unwrap_or(0);
    let answers = summary["answers"].as_u64().unwrap_or(0);
    let with_address = summary["answers_with_address"].as_u64().unwrap_or(0);
    report(
        "mdns_flood",
        &[
            ("found_ms", found_in.as_millis().to_string()),
            ("packets", sent.to_string()),
            ("victim_rss_peak_mib", (peak >> 20).to_string()),
            ("before_per_5s", before.to_string()),
            ("during", during.to_string()),
            ("during_secs", (secs - 4).to_string()),
            ("victim_answers", answers.to_string()),
            ("recovery_ms", recovery.as_millis().to_string()),
        ],
    );
    // The attacker paces itself to FLOOD_RATE; on a loaded 2-core machine it manages less.
    assert!(
        sent > u64::from(FLOOD_RATE) * secs / 5,
        "the flood did not run ({sent} packets)"
    );
    assert!(
        during > 0,
        "the contact's messages stopped during the flood"
    );
    assert!(peak < RSS_BOUND, "victim reached {} MiB", peak >> 20);
    // The victim kept answering the attacker's ~{rate/3} queries a second, but at most once
    // a second, and with its own address.
    assert!(
        with_address > 0,
        "the victim did not answer during the flood"
    );
    assert!(
        answers <= secs + 3,
        "{answers} answers in {secs} s: queries turned into an answer flood"
    );
    v.quit();
    c.quit();
}

/// Addresses of the attacker's /64 that flood the relay at once.
const SOURCES: u32 = 32;

/// Catches a mailbox quota that every address of an IPv6 /64 gets afresh: the review filled
/// a relay's 2 GiB from one /64 in ~75 s. On a LAN of namespaces speaking IPv6 (relay,
/// alice, her offline contact bob, and an attacker holding 32 addresses of one /64), the
/// attacker deposits the largest envelopes under random tags from all 32 addresses at once,
/// two deposits in flight from each. Together they get one source's burst and rate and no
/// more, while alice, in another /48, keeps having her mail to bob taken, and bob collects
/// all of it.
#[test]
fn deposit_flood_from_one_ipv6_64() {
    if Lan::skipped() {
        return;
    }
    let _one = one_at_a_time();
    let lan = Lan::new(&["relay", "alice", "bob", "attacker"]);
    let (relay_ip, alice_ip, bob_ip) = (lan.ipv6("c::1"), lan.ipv6("a::1"), lan.ipv6("d::1"));
    lan.add_ipv6("relay", &relay_ip);
    lan.add_ipv6("alice", &alice_ip);
    lan.add_ipv6("bob", &bob_ip);
    let prefix = lan.ipv6("b:9::");
    for i in 1..=SOURCES {
        lan.add_ipv6("attacker", &format!("{prefix}{i:x}"));
    }
    let net = Net::new();
    let relay = net.relay_in_netns(
        &lan.ns("relay"),
        &format!("/ip6/{relay_ip}/tcp/4001"),
        &["--listen", &format!("/ip6/{relay_ip}/udp/4001/quic-v1")],
    );
    let quic = relay.quic().expect("relay on QUIC");
    let mut alice = net
        .node("alice")
        .in_netns(&lan.ns("alice"))
        .listen_on(&format!("/ip6/{alice_ip}/tcp/4001"))
        .with_relay(&relay)
        .start();
    let bob_p = net
        .node("bob")
        .in_netns(&lan.ns("bob"))
        .listen_on(&format!("/ip6/{bob_ip}/tcp/4001"))
        .with_relay(&relay);
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    bob.quit();
    let rss = RssPeak::start(relay.pid());

    let (before, before_t) = mailbox_sends_for(&mut alice, "bob", "before", WINDOW);
    let secs = 14u64;
    let attack_start = Instant::now();
    let flood = lan
        .command(
            "attacker",
            std::path::Path::new(env!("CARGO_BIN_EXE_deposit_flood")),
        )
        .args([quic, prefix.clone(), SOURCES.to_string(), secs.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the flood");
    std::thread::sleep(Duration::from_secs(2));
    let (during, during_t) = mailbox_sends_for(&mut alice, "bob", "during", WINDOW);
    let out = flood.wait_with_output().expect("flood output");
    let attack_time = attack_start.elapsed();
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("flood summary (JSON)");
    let t = Instant::now();
    let id = alice.send("bob", "after");
    alice.sees("sent", |e| e["event"] == "sent" && e["id"] == id.as_str());
    let recovery = t.elapsed();
    let peak = rss.stop();
    let texts: Vec<String> = [before.clone(), during.clone(), vec!["after".to_owned()]].concat();
    let (bob, collected) = collect(&bob_p, "alice", &texts);

    let count = |k: &str| summary[k].as_u64().unwrap_or(0);
    let taken = count("taken");
    let taken_bytes = taken * (LARGEST_BODY as u64 + 20);
    report(
        "deposit-flood-one-64",
        &[
            ("sources", SOURCES.to_string()),
            ("relay_peak_rss_mib", (peak >> 20).to_string()),
            ("taken_per_s_without", rate(before.len(), before_t)),
            ("taken_per_s_during", rate(during.len(), during_t)),
            ("attacker_deposits_taken", taken.to_string()),
            ("attacker_taken_mib", (taken_bytes >> 20).to_string()),
            ("attacker_deposits_refused", count("refused").to_string()),
            ("attacker_no_answer", count("dropped").to_string()),
            (
                "attacker_connections_refused",
                count("refused_connections").to_string(),
            ),
            ("recovery_ms", recovery.as_millis().to_string()),
            ("bob_collected_all_ms", collected.as_millis().to_string()),
        ],
    );
    assert!(
        !during.is_empty(),
        "nothing of alice's was taken during the attack"
    );
    assert!(
        taken > 0,
        "the flood never deposited anything: it did not run"
    );
    // All 32 addresses together: one source's burst and rate.
    let limit = cairn_node::api::limits::DEPOSIT_BYTES_BURST
        + cairn_node::api::limits::DEPOSIT_BYTES_PER_SEC * attack_time.as_secs_f64()
        + f64::from(1u32 << 20);
    assert!(
        (taken_bytes as f64) <= limit,
        "{SOURCES} addresses of one /64 deposited {} MiB in {:.0} s",
        taken_bytes >> 20,
        attack_time.as_secs_f64()
    );
    assert!(
        count("refused") + count("refused_connections") > 0,
        "the attacker was never refused"
    );
    assert!(peak < RSS_BOUND, "relay memory reached {} MiB", peak >> 20);
    bob.quit();
    alice.quit();
}
