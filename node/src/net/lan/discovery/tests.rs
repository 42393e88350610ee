use super::*;
use crate::net::lan::packet;

fn answer(peer: &PeerId, ports: std::ops::Range<u16>, ttl: u32) -> Vec<u8> {
    let addrs: Vec<Multiaddr> = ports
        .map(|p| format!("/ip4/10.1.1.1/tcp/{p}").parse().unwrap())
        .collect();
    packet::response(peer, &addrs, ttl, "x").unwrap()
}

fn from(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 5353)
}

fn setup() -> (Discovery, PeerId, Instant) {
    let mut d = Discovery::new(PeerId::random());
    let contact = PeerId::random();
    d.set_wanted([contact].into_iter().collect());
    (d, contact, Instant::now())
}

/// Catches discovery that keeps strangers' announcements, keeps a contact's addresses
/// without bound, or dials the IP address an announcement names instead of the sender's.
#[test]
fn only_contacts_few_addresses_at_the_senders_ip() {
    let (mut d, contact, now) = setup();
    let stranger = PeerId::random();
    assert!(d
        .on_packet(now, from("10.9.0.5"), &answer(&stranger, 1..10, 60))
        .unwrap()
        .is_empty());
    assert_eq!(d.kept(), 0);
    assert_eq!(d.stats().strangers, 1);

    let new = d
        .on_packet(now, from("10.9.0.5"), &answer(&contact, 1..10, 60))
        .unwrap();
    assert_eq!(new, vec![contact]);
    let addrs = d.addresses(&contact, now);
    assert_eq!(addrs.len(), MAX_ADDRS_PER_SOURCE, "per sender");
    for a in &addrs {
        assert!(a.to_string().starts_with("/ip4/10.9.0.5/tcp/"), "{a}");
        assert!(a.to_string().ends_with(&format!("/p2p/{contact}")));
    }
    for i in 0..20u8 {
        let _ = d.on_packet(
            now,
            from(&format!("10.9.1.{i}")),
            &answer(&contact, 1..3, 60),
        );
    }
    assert_eq!(d.addresses(&contact, now).len(), MAX_ADDRS, "per contact");
    assert_eq!(d.kept(), MAX_ADDRS);
    // Known addresses again: nothing new.
    let again = d
        .on_packet(now, from("10.9.1.19"), &answer(&contact, 1..3, 60))
        .unwrap();
    assert!(again.is_empty());
}

/// Catches a flood that keeps a contact's real address out: the address the node reached
/// the contact at stays, and a new announcement replaces the oldest unproven one.
#[test]
fn proven_address_survives_a_flood() {
    let (mut d, contact, now) = setup();
    d.on_packet(now, from("10.9.0.2"), &answer(&contact, 4001..4002, 60))
        .unwrap();
    let real = d.addresses(&contact, now)[0].clone();
    d.proven(&contact, &real);
    for i in 0..200u16 {
        let t = now + Duration::from_millis(u64::from(i));
        let _ = d.on_packet(
            t,
            from(&format!("10.9.{}.{}", i / 200 + 1, i % 200)),
            &answer(&contact, i..i + 1, 600),
        );
    }
    let t = now + Duration::from_secs(1);
    let kept = d.addresses(&contact, t);
    assert_eq!(kept.len(), MAX_ADDRS);
    assert!(kept.contains(&real), "the proven address stays");
    // An unproven real address announced after the flood gets in.
    let late = d
        .on_packet(t, from("10.9.0.3"), &answer(&contact, 4001..4002, 60))
        .unwrap();
    assert_eq!(late, vec![contact]);
}

/// Catches a TTL believed without bound (a flood that lasts for years), expiry that does
/// not happen, and goodbyes (TTL 0) not withdrawing.
#[test]
fn ttl_is_capped_and_goodbyes_withdraw() {
    let (mut d, contact, now) = setup();
    d.on_packet(now, from("10.9.0.2"), &answer(&contact, 1..2, u32::MAX))
        .unwrap();
    assert_eq!(
        d.addresses(&contact, now + MAX_TTL - Duration::from_secs(1))
            .len(),
        1
    );
    assert!(d.addresses(&contact, now + MAX_TTL).is_empty());
    d.expire(now + MAX_TTL);
    assert_eq!(d.kept(), 0);

    d.on_packet(now, from("10.9.0.2"), &answer(&contact, 1..2, 60))
        .unwrap();
    d.on_packet(now, from("10.9.0.2"), &answer(&contact, 1..2, 0))
        .unwrap();
    assert!(d.addresses(&contact, now).is_empty());
}

/// Catches reading packets without bound (a flood costing the event loop all its time).
#[test]
fn packets_are_read_at_a_bounded_rate() {
    let (mut d, contact, now) = setup();
    let bytes = answer(&contact, 1..2, 60);
    let mut read = 0;
    for _ in 0..1000 {
        if d.admit(now) {
            d.on_packet(now, from("10.9.0.2"), &bytes).unwrap();
            read += 1;
        }
    }
    assert_eq!(read, PACKET_BURST as usize);
    assert!(!d.admit(now));
    let wait = d.next_admission();
    assert!(wait > Duration::ZERO && wait <= Duration::from_secs_f64(1.0 / PACKETS_PER_SEC));
    assert!(d.admit(now + wait + Duration::from_millis(1)));
    let mut later = 0;
    let t = now + Duration::from_secs(2);
    while d.admit(t) {
        d.on_packet(t, from("10.9.0.2"), &bytes).unwrap();
        later += 1;
    }
    let expected = (2.0 * PACKETS_PER_SEC) as usize;
    assert!((expected - 1..=expected).contains(&later), "{later}");
    // However long the quiet, at most a burst at once.
    let t = now + Duration::from_secs(3600);
    let mut burst = 0;
    while d.admit(t) {
        d.on_packet(t, from("10.9.0.2"), &bytes).unwrap();
        burst += 1;
    }
    assert_eq!(burst, PACKET_BURST as usize);
}

/// Catches answering every query (a query flood turned into an answer flood).
#[test]
fn queries_are_answered_at_most_once_a_gap() {
    let (mut d, _, now) = setup();
    let q = packet::query().unwrap();
    assert!(!d.take_answer(now));
    for _ in 0..50 {
        d.on_packet(now, from("10.9.0.2"), &q).unwrap();
    }
    assert!(d.take_answer(now));
    d.on_packet(now, from("10.9.0.2"), &q).unwrap();
    assert!(!d.take_answer(now + ANSWER_GAP / 2));
    assert!(d.answer_waiting());
    assert!(d.take_answer(now + ANSWER_GAP));
    assert!(!d.answer_waiting());
}

/// Catches a rejected packet changing what is kept.
#[test]
fn rejected_packet_changes_nothing() {
    let (mut d, contact, now) = setup();
    d.on_packet(now, from("10.9.0.2"), &answer(&contact, 1..2, 60))
        .unwrap();
    let before = d.addresses(&contact, now);
    let mut bytes = answer(&contact, 5..6, 60);
    bytes.truncate(bytes.len() - 3);
    assert!(d.on_packet(now, from("10.9.0.2"), &bytes).is_err());
    assert_eq!(d.addresses(&contact, now), before);
    assert_eq!(d.stats().malformed, 1);
}

/// Catches translation that keeps a relay circuit or DNS name, or the announced IP.
#[test]
fn translation() {
    let ip: IpAddr = "10.2.3.4".parse().unwrap();
    let t = |s: &str| translate(&s.parse().unwrap(), ip).map(|a| a.to_string());
    assert_eq!(
        t("/ip4/8.8.8.8/tcp/1").as_deref(),
        Some("/ip4/10.2.3.4/tcp/1")
    );
    assert_eq!(
        t("/ip6/::1/udp/9/quic-v1").as_deref(),
        Some("/ip4/10.2.3.4/udp/9/quic-v1")
    );
    assert_eq!(t("/dns4/example.org/tcp/1"), None);
    assert_eq!(t("/ip4/1.2.3.4/tcp/1/p2p-circuit"), None);
    assert_eq!(t("/ip4/1.2.3.4"), None);
}
