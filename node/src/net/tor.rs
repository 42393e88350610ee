//! Hidden mode's transport (issue 17, docs/ARCHITECTURE.md "Hidden mode"): every
//! connection goes through Tor.
//!
//! - **Out**: only to onion addresses (`/onion3/<56 base32>:<port>`), through Tor's SOCKS5
//!   port, with the destination name resolved by Tor (nothing is looked up here). Each
//!   destination gets its own circuits: the SOCKS username and password are the onion
//!   address (Tor's `IsolateSOCKSAuth`, on by default), so two contacts never share a
//!   circuit and cannot be linked by it. An IP address, a DNS name or anything else is refused
//!   before any socket is opened: hidden mode never dials directly.
//! - **In**: a TCP listener on loopback only (`/ip4/127.0.0.1/tcp/…`), which Tor's onion
//!   service forwards to; a listen address anywhere else is refused.
//!
//! The Noise and Yamux upgrades on top are the same as over plain TCP.

use futures::future::BoxFuture;
use libp2p::core::multiaddr::Protocol;
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::Transport;
use libp2p::Multiaddr;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The onion address (`<56 base32>.onion`) and port of `addr`, if it is one and nothing
/// but (a trailing `/p2p/…` aside).
pub fn onion_target(addr: &Multiaddr) -> Option<(String, u16)> {
    let mut it = addr.iter();
    let target = match it.next()? {
        Protocol::Onion3(a) => {
            let name = data_encoding::BASE32_NOPAD
                .encode(a.hash())
                .to_ascii_lowercase();
            (format!("{name}.onion"), a.port())
        }
        _ => return None,
    };
    match it.next() {
        None | Some(Protocol::P2p(_)) => {}
        Some(_) => return None,
    }
    it.next().is_none().then_some(target)
}

/// Whether `addr` is a TCP listen address on loopback (`/ip4/127.0.0.1/tcp/PORT`).
pub fn is_loopback_tcp(addr: &Multiaddr) -> bool {
    let mut it = addr.iter();
    matches!(
        (it.next(), it.next(), it.next()),
        (Some(Protocol::Ip4(ip)), Some(Protocol::Tcp(_)), None) if ip.is_loopback()
    )
}

/// TCP in hidden mode: dials onion addresses through Tor's SOCKS5 port, listens on
/// loopback only (see the module's documentation).
pub struct HiddenTcp {
    tcp: libp2p::tcp::tokio::Transport,
    socks: SocketAddr,
}

impl HiddenTcp {
    /// Through the Tor SOCKS5 port at `socks`.
    pub fn new(socks: SocketAddr) -> Self {
        Self {
            tcp: libp2p::tcp::tokio::Transport::new(libp2p::tcp::Config::default().nodelay(true)),
            socks,
        }
    }
}

impl Transport for HiddenTcp {
    type Output = libp2p::tcp::tokio::TcpStream;
    type Error = std::io::Error;
    type ListenerUpgrade = <libp2p::tcp::tokio::Transport as Transport>::ListenerUpgrade;
    type Dial = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        if !is_loopback_tcp(&addr) {
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        self.tcp.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.tcp.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let Some((host, port)) = onion_target(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let socks = self.socks;
        Ok(Box::pin(async move {
            // Isolation: the destination is the SOCKS identity (a circuit per contact).
            let stream = tokio_socks::tcp::Socks5Stream::connect_with_password(
                socks,
                (host.as_str(), port),
                &host,
                "cairn",
            )
            .await
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e))?;
            let tcp = stream.into_inner();
            tcp.set_nodelay(true)?;
            Ok(libp2p::tcp::tokio::TcpStream(tcp))
        }))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.tcp).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a hidden transport that would dial anything but an onion address (an IP, a
    /// DNS name, an onion address with more after it), or listen anywhere but loopback; and
    /// onion addresses spelt wrong for Tor.
    #[test]
    fn only_onions_out_and_loopback_in() {
        let onion: Multiaddr =
            "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234"
                .parse()
                .unwrap();
        assert_eq!(
            onion_target(&onion),
            Some((
                "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion".into(),
                1234
            ))
        );
        let with_peer: Multiaddr =
            format!("{onion}/p2p/12D3KooWFLwuKdtkSUredTsvhVRDHtNJEMYfoy3e6PFNGx1KBEUG")
                .parse()
                .unwrap();
        assert!(onion_target(&with_peer).is_some());
        for refused in [
            "/ip4/192.0.2.1/tcp/4001",
            "/ip6/::1/tcp/4001",
            "/dns4/example.org/tcp/4001",
            "/ip4/127.0.0.1/udp/4001/quic-v1",
        ] {
            let a: Multiaddr = refused.parse().unwrap();
            assert_eq!(onion_target(&a), None, "{a}");
        }
        let mut t = HiddenTcp::new("127.0.0.1:9".parse().unwrap());
        let opts = DialOpts {
            role: libp2p::core::Endpoint::Dialer,
            port_use: libp2p::core::transport::PortUse::New,
        };
        let direct: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        assert!(matches!(
            t.dial(direct, opts),
            Err(TransportError::MultiaddrNotSupported(_))
        ));
        assert!(is_loopback_tcp(&"/ip4/127.0.0.1/tcp/0".parse().unwrap()));
        assert!(!is_loopback_tcp(&"/ip4/0.0.0.0/tcp/0".parse().unwrap()));
        assert!(!is_loopback_tcp(&"/ip4/192.0.2.1/tcp/0".parse().unwrap()));
    }
}
