//! How a node is started.

use super::*;

/// How the node is started.
#[derive(Clone, Debug, Default)]
pub struct NodeConfig {
    /// Addresses to listen on (default: TCP and QUIC on all interfaces, random ports).
    pub listen: Vec<Multiaddr>,
    /// A relay to reserve a circuit at and use as mailbox.
    pub relay: Option<Multiaddr>,
    /// mDNS LAN discovery (and, with it, dialling local addresses).
    pub lan: bool,
    /// Dial the loopback, private and link-local addresses contacts give, without mDNS
    /// (a closed network, a VPN, several nodes on one machine). Off by default: see
    /// [`crate::net::addresses`].
    pub private_addresses: bool,
    /// How long to wait for a receipt after a hop took a message before sending it again,
    /// encrypted anew (this times the number of hops that took it). [`RESEND_AFTER_HOP`].
    pub resend_after: Duration,
    /// How long a peer that is not a contact (nor the node's relay) may stay connected:
    /// long enough to answer an invite, short enough that idle strangers do not hold
    /// connection slots for the hour-long idle timeout. [`STRANGER_IDLE`].
    pub stranger_idle: Duration,
    /// Hidden mode: every connection through the tor whose control port is here
    /// (`net::tor`; listening only behind an onion service).
    pub hidden: Option<std::net::SocketAddr>,
    /// Test hook (the hidden-mode benchmark): in hidden mode the onion service also
    /// forwards its port [`BENCH_ONION_PORT`] to this address, so that a bare stream can
    /// cross the very onion circuit the node's own connections take. The `cairn` binary
    /// offers it only in its `test-hooks` build.
    pub bench_onion_target: Option<std::net::SocketAddr>,
}

/// The onion service's second port with [`NodeConfig::bench_onion_target`].
pub const BENCH_ONION_PORT: u16 = 9;

/// Default of [`NodeConfig::stranger_idle`].
pub const STRANGER_IDLE: Duration = Duration::from_secs(120);
