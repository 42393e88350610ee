//! Hole punching (DCUtR) with contacts only.
//!
//! When a peer reaches the node through its relay, DCUtR exchanges addresses over the relayed
//! connection and both sides dial the other's. With anyone allowed, a stranger who knows the
//! node's PeerId and relay could make it dial up to a few hundred addresses of the
//! stranger's choosing — loopback, the LAN, cloud metadata services — and learn from the
//! timing which ports are open. This wraps libp2p's DCUtR so that a relayed connection with a
//! peer that is not a contact gets no hole-punching handler: the conversation with a
//! stranger (an invite being answered) stays on the relay, and the node dials nothing for it.

use libp2p::core::{transport::PortUse, Endpoint, Multiaddr};
use libp2p::dcutr;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::PeerId;
use std::collections::HashSet;
use std::task::{Context, Poll};

/// DCUtR for the peers in an allow-list (the node's contacts).
pub struct Behaviour {
    inner: dcutr::Behaviour,
    allowed: HashSet<PeerId>,
}

/// Whether `addr` goes through a relay (a circuit).
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter()
        .any(|p| matches!(p, libp2p::multiaddr::Protocol::P2pCircuit))
}

impl Behaviour {
    /// DCUtR for `local`, allowed with nobody yet.
    pub fn new(local: PeerId) -> Self {
        Self {
            inner: dcutr::Behaviour::new(local),
            allowed: HashSet::new(),
        }
    }

    /// Replaces the peers that may hole-punch with us (takes effect for new connections).
    pub fn set_allowed(&mut self, peers: HashSet<PeerId>) {
        self.allowed = peers;
    }

    /// Whether a connection with `peer` over `addr` gets a hole-punching handler.
    pub fn punches(&self, peer: &PeerId, addr: &Multiaddr) -> bool {
        !is_relayed(addr) || self.allowed.contains(peer)
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = THandler<dcutr::Behaviour>;
    type ToSwarm = dcutr::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // DCUtR marks a relayed connection by the local address (the circuit we listen on).
        if !self.punches(&peer, local_addr) {
            return Ok(either::Either::Right(dummy::ConnectionHandler));
        }
        self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.punches(&peer, addr) {
            return Ok(either::Either::Right(dummy::ConnectionHandler));
        }
        self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        // DCUtR tracks direct connections only (always handed to it above); for a relayed
        // connection it got no handler for, a close changes nothing in it.
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer, connection_id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches hole punching offered to a stranger over a relayed connection, or refused to a
    /// contact, or direct connections handled differently (DCUtR must track them all).
    #[test]
    fn only_contacts_hole_punch_over_a_relay() {
        let contact = PeerId::random();
        let stranger = PeerId::random();
        let mut b = Behaviour::new(PeerId::random());
        b.set_allowed([contact].into_iter().collect());
        let relayed: Multiaddr = "/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWFLwuKdtkSUredTsvhVRDHtNJEMYfoy3e6PFNGx1KBEUG/p2p-circuit"
            .parse()
            .unwrap();
        let direct: Multiaddr = "/ip4/192.0.2.9/tcp/4001".parse().unwrap();
        assert!(b.punches(&contact, &relayed));
        assert!(!b.punches(&stranger, &relayed));
        assert!(b.punches(&stranger, &direct));
        let local: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let handler = b
            .handle_established_inbound_connection(
                ConnectionId::new_unchecked(1),
                stranger,
                &relayed,
                &local,
            )
            .unwrap();
        assert!(matches!(handler, either::Either::Right(_)));
        let handler = b
            .handle_established_inbound_connection(
                ConnectionId::new_unchecked(2),
                contact,
                &relayed,
                &local,
            )
            .unwrap();
        assert!(matches!(handler, either::Either::Left(_)));
    }
}
