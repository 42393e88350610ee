//! Floods a LAN's mDNS group from one host, for `tests/tests/dos_lan.rs`, which runs it
//! inside the attacker's network namespace:
//!
//! `mdns_flood FROM_IP CONTACT_PEER_ID VICTIM_IP SECONDS RATE`
//!
//! It sends `RATE` packets a second, in turn: an answer announcing a new random peer at
//! 16 addresses with the longest TTL there is, an answer announcing the victim's contact at
//! 16 new ports of the attacker's address, and a query. It also listens to the group and
//! counts the victim's answers (and whether they carry the victim's address). At the end it
//! prints one JSON line: `{"sent":…,"answers":…,"answers_with_address":…}`.

use cairn_node::api::peer::packet::{self, Packet};
use libp2p::{Multiaddr, PeerId};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, from, contact, victim, secs, rate] = args.as_slice() else {
        eprintln!("usage: mdns_flood FROM_IP CONTACT_PEER_ID VICTIM_IP SECONDS RATE");
        std::process::exit(2);
    };
    let from: Ipv4Addr = from.parse().expect("from ip");
    let contact: PeerId = contact.parse().expect("contact peer id");
    let victim: Ipv4Addr = victim.parse().expect("victim ip");
    let secs: f64 = secs.parse().expect("seconds");
    let rate: f64 = rate.parse().expect("rate");

    let send = UdpSocket::bind((from, 0)).expect("bind sender");
    send.set_multicast_loop_v4(false).expect("loop");
    send.set_multicast_ttl_v4(255).expect("ttl");
    let recv = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 5353)).expect("bind 5353");
    recv.join_multicast_v4(&GROUP, &from).expect("join");
    recv.set_nonblocking(true).expect("nonblocking");
    let target = SocketAddr::from((GROUP, 5353));

    let ip = |port: u32| -> Multiaddr {
        format!("/ip4/{from}/tcp/{}", 1024 + port % 60_000)
            .parse()
            .expect("addr")
    };
    let query = packet::query().expect("query");
    let (mut sent, mut answers, mut with_address) = (0u64, 0u64, 0u64);
    let mut port = 0u32;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut buf = vec![0u8; packet::MAX_PACKET];
    while Instant::now() < end {
        let p = match sent % 3 {
            0 => {
                let addrs: Vec<Multiaddr> = (0..16).map(|i| ip(port + i)).collect();
                port += 16;
                packet::response(&PeerId::random(), &addrs, u32::MAX, "flood").expect("answer")
            }
            1 => {
                let addrs: Vec<Multiaddr> = (0..16).map(|i| ip(port + i)).collect();
                port += 16;
                packet::response(&contact, &addrs, u32::MAX, "spoof").expect("answer")
            }
            _ => query.clone(),
        };
        if send.send_to(&p, target).is_ok() {
            sent += 1;
        }
        while let Ok((n, src)) = recv.recv_from(&mut buf) {
            if src.ip() != std::net::IpAddr::V4(victim) {
                continue;
            }
            if let Ok(Packet::Response(list)) = packet::parse(&buf[..n]) {
                answers += 1;
                let mine = format!("/ip4/{victim}/");
                if list
                    .iter()
                    .any(|a| a.addrs.iter().any(|x| x.to_string().starts_with(&mine)))
                {
                    with_address += 1;
                }
            }
        }
        // Pace to `rate`.
        let due = start + Duration::from_secs_f64(sent as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    println!(r#"{{"sent":{sent},"answers":{answers},"answers_with_address":{with_address}}}"#);
}
