//! Which addresses a node dials. Addresses come from contacts (cards, invites, identify)
//! and from the LAN (mDNS); outside LAN mode, none that points into the node's own
//! machine or network is dialled: a contact (or whoever holds an old invite) could
//! otherwise make the node knock on its loopback services, its router, or a cloud
//! metadata address, and read from the timing which ports are open.
//!
//! Cairn's transports have no DNS resolution, so `/dns` addresses are never dialled at all
//! (no name can be made to resolve to a local address).

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is local: loopback, unspecified, private (RFC 1918), shared (CGNAT,
/// RFC 6598), link-local (`169.254.0.0/16`, which holds cloud metadata services, and
/// `fe80::/10`), unique-local IPv6 (`fc00::/7`), multicast or broadcast.
pub fn is_local_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_local_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_local_v4(v4),
            None => is_local_v6(v6),
        },
    }
}

fn is_local_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn is_local_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// The IP address an address dials first (a relayed address: the relay's).
pub fn first_ip(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// Whether the node may dial `addr`: an onion address, or one that names an IP address, a
/// local one only if `allow_local` (LAN mode, or `--private-addresses`).
pub fn dialable(addr: &Multiaddr, allow_local: bool) -> bool {
    // An onion address reveals nothing of where it leads (only hidden mode's transport
    // dials it; the others refuse it).
    if crate::net::tor::onion_target(addr).is_some() {
        return true;
    }
    match first_ip(addr) {
        Some(ip) => allow_local || !is_local_ip(ip),
        None => false,
    }
}

/// Whether the node may put its own listen address `addr` in its card and invites: one
/// that can be dialled from elsewhere (no unspecified address), and a local one —
/// loopback, private (a home network, a container bridge, most VPN interfaces), shared,
/// link-local — only if `allow_local` (LAN mode, or `--private-addresses`). Outside those
/// modes a contact never dials a local address (`dialable`), so sharing one would only
/// tell contacts, and whoever holds an old invite, about the user's networks.
pub fn shareable(addr: &Multiaddr, allow_local: bool) -> bool {
    if crate::net::tor::onion_target(addr).is_some() {
        return true;
    }
    match first_ip(addr) {
        Some(ip) if ip.is_unspecified() => false,
        Some(ip) => allow_local || !is_local_ip(ip),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a card or invite that carries a loopback, container-bridge, VPN or
    /// link-local address outside LAN mode (or drops a public one), and an unspecified
    /// address shared in any mode.
    #[test]
    fn only_public_addresses_are_shared_outside_lan_mode() {
        let local = [
            "/ip4/127.0.0.1/tcp/4001",
            "/ip4/172.17.0.1/tcp/4001",
            "/ip4/10.8.0.2/udp/4001/quic-v1",
            "/ip4/100.101.102.103/tcp/4001",
            "/ip6/fe80::1/tcp/4001",
            "/ip6/fd7a:115c:a1e0::1/tcp/4001",
            "/ip4/192.168.1.20/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit",
        ];
        for a in local {
            let a: Multiaddr = a.parse().unwrap();
            assert!(!shareable(&a, false), "{a} shared outside LAN mode");
            assert!(shareable(&a, true), "{a} not shared in LAN mode");
        }
        for a in [
            "/ip4/203.0.113.5/tcp/4001",
            "/ip6/2001:db8::5/udp/4001/quic-v1",
            "/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit",
        ] {
            let a: Multiaddr = a.parse().unwrap();
            assert!(shareable(&a, false), "{a} not shared");
        }
        for a in [
            "/ip4/0.0.0.0/tcp/4001",
            "/ip6/::/tcp/1",
            "/dns4/example.org/tcp/1",
        ] {
            let a: Multiaddr = a.parse().unwrap();
            assert!(!shareable(&a, true), "{a} shared");
        }
    }

    /// Catches a local address that is dialled outside LAN mode, or a public one that is
    /// refused.
    #[test]
    fn local_addresses_need_lan_mode() {
        let local = [
            "/ip4/127.0.0.1/tcp/22",
            "/ip4/10.1.2.3/tcp/4001",
            "/ip4/172.16.0.9/udp/4001/quic-v1",
            "/ip4/192.168.1.1/tcp/80",
            "/ip4/169.254.169.254/tcp/80",
            "/ip4/100.64.0.1/tcp/1",
            "/ip4/0.0.0.0/tcp/1",
            "/ip4/224.0.0.251/udp/5353",
            "/ip6/::1/tcp/22",
            "/ip6/fe80::1/tcp/22",
            "/ip6/fd00::1/tcp/22",
            "/ip6/::ffff:127.0.0.1/tcp/22",
            "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK/p2p-circuit",
        ];
        for a in local {
            let a: Multiaddr = a.parse().unwrap();
            assert!(!dialable(&a, false), "{a} dialled outside LAN mode");
            assert!(dialable(&a, true), "{a} refused in LAN mode");
        }
        for a in [
            "/ip4/198.51.100.7/tcp/4001",
            "/ip4/100.128.0.1/tcp/4001",
            "/ip6/2001:db8::7/udp/4001/quic-v1",
        ] {
            let a: Multiaddr = a.parse().unwrap();
            assert!(dialable(&a, false), "{a}");
        }
        let dns: Multiaddr = "/dns4/localhost/tcp/22".parse().unwrap();
        assert!(!dialable(&dns, true), "no name is dialled");
    }
}
