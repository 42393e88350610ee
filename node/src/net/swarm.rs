//! The libp2p swarm: TCP and QUIC, Noise + yamux, identify, ping, the envelope
//! request-response protocol, connection and memory limits, circuit relay v2 (client
//! always, server in relay mode), DCUtR, AutoNAT, and mDNS only when asked for.

use super::protocol::{Codec, PROTOCOL};
use super::{budget, hole_punch, ip_limits, lan};
use crate::relay::ReservationLimits;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    autonat, connection_limits, identify, identity, noise, ping, relay, request_response, tcp,
    yamux, StreamProtocol, Swarm,
};
use std::time::Duration;

/// How long an idle connection stays open. Chat is bursty: a quiet conversation
/// keeps its connection (ping keeps NATs open) rather than re-dialling each time.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How long a connection may take to open (TCP, Noise and yamux, or QUIC's handshake, which
/// also has its own 5-second limit): a peer that starts a handshake and stalls holds one of
/// its source's 8 handshake slots for at most this long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most established incoming connections (outgoing ones, and contacts and the node's own
/// relay on the bypass list, are not counted: a flood of strangers never stops the node
/// from reaching its contacts).
pub const MAX_ESTABLISHED: u32 = 512;
/// Most established incoming connections in relay mode (room for every reservation and
/// circuit).
pub const MAX_ESTABLISHED_RELAY: u32 = 4096;
/// Most connections to one peer.
pub const MAX_PER_PEER: u32 = 4;
/// Most incoming connections still in the handshake.
pub const MAX_PENDING_INCOMING: u32 = 64;
/// New incoming connections from strangers are refused above this process memory use
/// (contacts and the node's relay still get through; the node's own dials always do).
pub const MAX_MEMORY_BYTES: usize = 512 << 20;
/// Request timeout: a mailbox fetch of large envelopes over a relay can be slow.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Concurrent request streams per connection (a node keeps at most 8 deliveries, 8
/// deposits and 4 fetches in flight to one peer). With mail responses of at most
/// `MAX_MAIL_RESPONSE_BYTES`, one connection can hold a relay to at most 32 MiB of
/// responses in flight.
pub const MAX_CONCURRENT_STREAMS: usize = 32;

/// Relay limits suited to chat (the library defaults of 2 minutes and 128 KiB per
/// circuit would cut a conversation off), with reservations shared out per address and
/// network by `reservations` (see [`crate::relay::reservations`]).
pub fn relay_server_config(reservations: &ReservationLimits) -> relay::Config {
    relay::Config {
        max_reservations: crate::relay::reservations::RESERVATION_SLOTS,
        max_reservations_per_peer: 4,
        // Ours first: it decides who may take a new slot; then libp2p's rates per peer
        // and per IP address (its defaults).
        reservation_rate_limiters: vec![reservations.limiter()],
        reservation_duration: Duration::from_secs(60 * 60),
        max_circuits: 1024,
        max_circuits_per_peer: 16,
        max_circuit_duration: Duration::from_secs(60 * 60),
        max_circuit_bytes: 64 << 20,
        // Per source (address or /64) and network, then libp2p's per peer and per IP.
        circuit_src_rate_limiters: vec![crate::relay::reservations::circuit_limiter()],
    }
    .circuit_src_per_peer(
        std::num::NonZeroU32::new(30).unwrap_or(std::num::NonZeroU32::MIN),
        Duration::from_secs(120),
    )
    .circuit_src_per_ip(
        std::num::NonZeroU32::new(60).unwrap_or(std::num::NonZeroU32::MIN),
        Duration::from_secs(60),
    )
    .reservation_rate_per_peer(
        std::num::NonZeroU32::new(30).unwrap_or(std::num::NonZeroU32::MIN),
        Duration::from_secs(120),
    )
    .reservation_rate_per_ip(
        std::num::NonZeroU32::new(60).unwrap_or(std::num::NonZeroU32::MIN),
        Duration::from_secs(60),
    )
}

/// Every protocol a Cairn node speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Incoming connections per source address (IPv4 address, IPv6 /64), and the memory
    /// limit for new ones.
    pub ip_limits: ip_limits::Behaviour,
    /// Connection-count limits.
    pub limits: connection_limits::Behaviour,
    /// Envelopes and mailbox requests (with a larger read budget for contacts).
    pub rr: budget::Behaviour,
    /// Learns the peer's listen addresses (address changes).
    pub identify: identify::Behaviour,
    /// Keeps connections alive and measures them.
    pub ping: ping::Behaviour,
    /// Circuit relay v2 client (reservations, relayed dials).
    pub relay_client: relay::client::Behaviour,
    /// Hole punching through relayed connections, with contacts only (never in hidden
    /// mode).
    pub dcutr: Toggle<hole_punch::Behaviour>,
    /// Learns whether we are reachable (never in hidden mode).
    pub autonat: Toggle<autonat::Behaviour>,
    /// LAN discovery (mDNS, bounded), only with `--lan`.
    pub lan: Toggle<lan::Behaviour>,
    /// Circuit relay v2 server, only in relay mode.
    pub relay_server: Toggle<relay::Behaviour>,
}

/// Options for building the swarm.
#[derive(Clone, Debug, Default)]
pub struct SwarmOptions {
    /// Announce and discover on the LAN with mDNS.
    pub lan: bool,
    /// Serve circuit relay v2.
    pub relay_server: bool,
    /// Who may hold a reservation (relay mode).
    pub reservations: ReservationLimits,
    /// Hidden mode: every connection through the Tor SOCKS5 port at this address (no QUIC,
    /// no direct dial, no hole punching or reachability probes, no listen addresses in
    /// identify; `net::tor`).
    pub hidden: Option<std::net::SocketAddr>,
}

/// The behaviours of a node for `key`, as `opts` ask.
fn behaviour(
    key: &identity::Keypair,
    relay_client: relay::client::Behaviour,
    opts: &SwarmOptions,
) -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let lan = opts.lan && opts.hidden.is_none();
    let serve = opts.relay_server;
    let hidden = opts.hidden.is_some();
    let peer_id = key.public().to_peer_id();
    let peers = std::sync::Arc::new(budget::Peers::default());
    let rr = request_response::Behaviour::with_codec(
        Codec::with_peers(peers.clone()),
        [(
            StreamProtocol::new(PROTOCOL),
            request_response::ProtocolSupport::Full,
        )],
        request_response::Config::default()
            .with_request_timeout(REQUEST_TIMEOUT)
            .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
    );
    let rr = budget::Behaviour::new(rr, peers);
    let discovery = if lan {
        Some(lan::Behaviour::new(peer_id)?)
    } else {
        None
    };
    let max_established = if serve {
        MAX_ESTABLISHED_RELAY
    } else {
        MAX_ESTABLISHED
    };
    // In hidden mode every connection comes from tor on loopback, one "source" for all:
    // counting by source would let one stranger's connections shut out everyone else,
    // so only the totals below hold (THREAT_MODEL §6.6).
    let (pending_per_source, established_per_source) = if hidden {
        (MAX_PENDING_INCOMING as usize, max_established as usize)
    } else if serve {
        (
            ip_limits::MAX_PENDING_PER_SOURCE,
            ip_limits::MAX_ESTABLISHED_PER_SOURCE_RELAY,
        )
    } else {
        (
            ip_limits::MAX_PENDING_PER_SOURCE,
            ip_limits::MAX_ESTABLISHED_PER_SOURCE,
        )
    };
    let mut ip_limits = ip_limits::Behaviour::new(pending_per_source, established_per_source)
        .with_memory_limit(MAX_MEMORY_BYTES);
    if serve {
        ip_limits = ip_limits.with_early_penalty();
    }
    Ok(Behaviour {
        ip_limits,
        limits: connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                // A relay carries every reservation and circuit as a connection.
                .with_max_established_incoming(Some(max_established))
                .with_max_established_per_peer(Some(MAX_PER_PEER))
                .with_max_pending_incoming(Some(MAX_PENDING_INCOMING)),
        ),
        rr,
        identify: identify::Behaviour::new(
            // Nothing names Cairn to whoever connects: libp2p's default
            // agent (`rust-libp2p/…`) and the common protocol version.
            identify::Config::new("ipfs/0.1.0".into(), key.public())
                // No address cache feeding every dial: the node dials the
                // addresses it keeps per contact (at most six, filtered).
                .with_cache_size(0)
                // Hidden: the loopback listener and onion are nobody's business.
                .with_hide_listen_addrs(hidden),
        ),
        ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(30))),
        relay_client,
        dcutr: (!hidden)
            .then(|| hole_punch::Behaviour::new(peer_id))
            .into(),
        autonat: (!hidden)
            .then(|| autonat::Behaviour::new(peer_id, autonat::Config::default()))
            .into(),
        lan: discovery.into(),
        relay_server: serve
            .then(|| relay::Behaviour::new(peer_id, relay_server_config(&opts.reservations)))
            .into(),
    })
}

/// Builds the swarm for `key`.
pub fn build(key: identity::Keypair, opts: &SwarmOptions) -> Result<Swarm<Behaviour>, String> {
    if let Some(socks) = opts.hidden {
        return build_hidden(key, socks, opts);
    }
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| format!("tcp transport: {e}"))?
        .with_quic()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| format!("relay transport: {e}"))?
        .with_behaviour(|key, relay_client| behaviour(key, relay_client, opts))
        .map_err(|e| format!("behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .with_connection_timeout(HANDSHAKE_TIMEOUT)
        .build();
    Ok(swarm)
}

/// The swarm in hidden mode: TCP through Tor only (`net::tor::HiddenTcp`), with Noise and
/// yamux on top; relayed connections ride on it.
fn build_hidden(
    key: identity::Keypair,
    socks: std::net::SocketAddr,
    opts: &SwarmOptions,
) -> Result<Swarm<Behaviour>, String> {
    use libp2p::core::{upgrade::Version, Transport as _};
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|key| {
            let noise = noise::Config::new(key)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(super::tor::HiddenTcp::new(socks)
                .upgrade(Version::V1)
                .authenticate(noise)
                .multiplex(yamux::Config::default())
                .timeout(HANDSHAKE_TIMEOUT))
        })
        .map_err(|e| format!("hidden transport: {e}"))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| format!("relay transport: {e}"))?
        .with_behaviour(|key, relay_client| behaviour(key, relay_client, opts))
        .map_err(|e| format!("behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .with_connection_timeout(HANDSHAKE_TIMEOUT)
        .build();
    Ok(swarm)
}
