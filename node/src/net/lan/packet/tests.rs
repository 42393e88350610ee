use super::*;

/// An answer laid out byte for byte as libp2p-mdns 0.49 writes one (`query_response_packet`
/// and `append_txt_record` in its `dns.rs`): nodes still running libp2p's discovery must be
/// understood.
fn libp2p_answer(peer: &PeerId, addrs: &[&str], ttl: u32) -> Vec<u8> {
    fn qname(out: &mut Vec<u8>, name: &str) {
        for label in name.split('.') {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
    }
    let mut instance = Vec::new();
    qname(&mut instance, "xK3fa9QlmPz0b1c2d3e4f5g6h7i8j9k0L");
    let mut out = vec![0, 0, 0x84, 0x00, 0, 0, 0, 1, 0, 0];
    out.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    qname(&mut out, "_p2p._udp.local");
    out.extend_from_slice(&[0x00, 0x0c, 0x00, 0x01]);
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(instance.len() as u16).to_be_bytes());
    out.extend_from_slice(&instance);
    for a in addrs {
        let value = format!("dnsaddr={a}/p2p/{peer}");
        out.extend_from_slice(&instance);
        out.extend_from_slice(&[0x00, 0x10, 0x80, 0x01]);
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&((value.len() + 1) as u16).to_be_bytes());
        out.push(value.len() as u8);
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// Catches a parser that no longer reads libp2p's own answers (older Cairn nodes).
#[test]
fn reads_libp2p_answers() {
    let peer = PeerId::random();
    let bytes = libp2p_answer(
        &peer,
        &["/ip4/10.0.0.7/tcp/4001", "/ip4/10.0.0.7/udp/4001/quic-v1"],
        360,
    );
    let Packet::Response(list) = parse(&bytes).unwrap() else {
        panic!("not read as an answer")
    };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].peer, peer);
    assert_eq!(list[0].ttl, 360);
    assert_eq!(
        list[0].addrs,
        vec![
            "/ip4/10.0.0.7/tcp/4001".parse::<Multiaddr>().unwrap(),
            "/ip4/10.0.0.7/udp/4001/quic-v1".parse().unwrap()
        ]
    );
}

/// Catches answers or queries we write that we (and so libp2p, whose layout the first test
/// pins) cannot read back.
#[test]
fn writes_what_it_reads() {
    let peer = PeerId::random();
    let addrs: Vec<Multiaddr> = vec![
        "/ip4/192.168.1.20/tcp/4001".parse().unwrap(),
        "/ip4/192.168.1.20/udp/4001/quic-v1".parse().unwrap(),
    ];
    let bytes = response(&peer, &addrs, 360, "Ab12Cd34").unwrap();
    assert_eq!(
        parse(&bytes).unwrap(),
        Packet::Response(vec![Announcement {
            peer,
            addrs,
            ttl: 360
        }])
    );
    assert_eq!(parse(&query().unwrap()).unwrap(), Packet::Query);
}

/// Catches a parser that panics, reads past its limits, or takes other services' packets
/// for ours.
#[test]
fn rejects_and_ignores() {
    assert_eq!(parse(&[]), Err(PacketError::Malformed));
    assert_eq!(parse(&[0xff; 7]), Err(PacketError::Malformed));
    assert_eq!(
        parse(&vec![0; MAX_PACKET + 1]),
        Err(PacketError::TooLong(MAX_PACKET + 1))
    );
    // A query for another service.
    let mut other = Message::new(0, MessageType::Query, OpCode::Query);
    other.add_query(Query::query(
        Name::from_ascii("_printer._tcp.local.").unwrap(),
        RecordType::PTR,
    ));
    assert_eq!(parse(&other.to_vec().unwrap()).unwrap(), Packet::Other);
    // Every prefix of a valid answer is an error or an answer, never a panic.
    let peer = PeerId::random();
    let bytes = libp2p_answer(&peer, &["/ip4/10.0.0.7/tcp/4001"], 60);
    for n in 0..bytes.len() {
        let _ = parse(&bytes[..n]);
    }
}

fn answer_with(instances: usize, ports: u16, odd_peer_at: u16) -> (PeerId, Vec<u8>) {
    let peer = PeerId::random();
    let other = PeerId::random();
    let service = Name::from_ascii(SERVICE).unwrap();
    let mut msg = Message::new(0, MessageType::Response, OpCode::Query);
    for i in 0..instances {
        let instance = Name::from_ascii(format!("i{i}"))
            .unwrap()
            .append_domain(&service)
            .unwrap();
        msg.add_answer(Record::from_rdata(
            service.clone(),
            60,
            RData::PTR(PTR(instance.clone())),
        ));
        for port in 0..ports {
            let who = if port == odd_peer_at { other } else { peer };
            let v = format!("dnsaddr=/ip4/10.0.0.9/tcp/{port}/p2p/{who}");
            msg.add_additional(Record::from_rdata(
                instance.clone(),
                60,
                RData::TXT(TXT::new(vec![v])),
            ));
        }
    }
    let bytes = msg.to_vec().unwrap();
    assert!(bytes.len() <= MAX_PACKET, "{}", bytes.len());
    (peer, bytes)
}

/// Catches an answer whose addresses name several peers being read as one peer's, and
/// the per-packet bounds not holding.
#[test]
fn addresses_of_another_peer_and_too_many_are_dropped() {
    let (peer, bytes) = answer_with(1, MAX_ADDRS_PER_PEER as u16 + 20, 1);
    let Packet::Response(list) = parse(&bytes).unwrap() else {
        panic!("not an answer")
    };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].peer, peer);
    assert_eq!(list[0].addrs.len(), MAX_ADDRS_PER_PEER);
    assert!(!list[0]
        .addrs
        .contains(&"/ip4/10.0.0.9/tcp/1".parse().unwrap()));

    let (_, bytes) = answer_with(MAX_ANNOUNCEMENTS + 20, 1, 99);
    let Packet::Response(list) = parse(&bytes).unwrap() else {
        panic!("not an answer")
    };
    assert_eq!(list.len(), MAX_ANNOUNCEMENTS);
}
