//! mDNS packets (RFC 6762) in the form libp2p's discovery uses: a query for the PTR record
//! of `_p2p._udp.local`, and an answer naming an instance whose TXT records each carry one
//! `dnsaddr=<multiaddr>/p2p/<peer id>`. Encoding and decoding go through `hickory-proto`;
//! this module adds the limits: a packet is at most [`MAX_PACKET`] bytes, and at most
//! [`MAX_ANNOUNCEMENTS`] peers and [`MAX_ADDRS_PER_PEER`] addresses of each are read from one.

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{PTR, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// The service libp2p peers announce themselves under.
pub const SERVICE: &str = "_p2p._udp.local.";
/// Largest packet read or written (mDNS allows up to 9,000 bytes on a link).
pub const MAX_PACKET: usize = 9000;
/// Most peers read from one answer; the rest are ignored.
pub const MAX_ANNOUNCEMENTS: usize = 8;
/// Most addresses read for one peer from one answer; the rest are ignored.
pub const MAX_ADDRS_PER_PEER: usize = 16;
/// Longest `dnsaddr=` value read (a TXT string holds at most 255 bytes anyway).
const MAX_TXT: usize = 255;

/// What a packet asks or tells.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet {
    /// Someone asks who offers the service: we answer with our addresses.
    Query,
    /// Someone announces peers and their addresses.
    Response(Vec<Announcement>),
    /// Anything else on the mDNS port (other services, other record types).
    Other,
}

/// One peer announced in an answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Announcement {
    /// The PeerId every address of it ended with.
    pub peer: PeerId,
    /// Its addresses, without the `/p2p/…` suffix, as announced (not yet translated to the
    /// sender's IP address).
    pub addrs: Vec<Multiaddr>,
    /// How long the announcement is valid, in seconds, as the sender said.
    pub ttl: u32,
}

/// Why a packet was not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PacketError {
    /// Over [`MAX_PACKET`] bytes.
    #[error("mDNS packet of {0} bytes is over the limit")]
    TooLong(usize),
    /// Not a DNS message.
    #[error("malformed mDNS packet")]
    Malformed,
    /// A packet to send could not be encoded (a name or address too long).
    #[error("mDNS packet cannot be encoded")]
    Encode,
}

fn service() -> Result<Name, PacketError> {
    Name::from_ascii(SERVICE).map_err(|_| PacketError::Encode)
}

/// Reads a packet. Only the service's PTR answers and the TXT records they point at are
/// looked at; a packet that is not ours is [`Packet::Other`], not an error.
pub fn parse(bytes: &[u8]) -> Result<Packet, PacketError> {
    if bytes.len() > MAX_PACKET {
        return Err(PacketError::TooLong(bytes.len()));
    }
    let msg = Message::from_vec(bytes).map_err(|_| PacketError::Malformed)?;
    let service = service()?;
    if msg.metadata.message_type == MessageType::Query {
        let asks = msg.queries.iter().any(|q| {
            q.name().eq_ignore_root(&service)
                && matches!(q.query_type(), RecordType::PTR | RecordType::ANY)
        });
        return Ok(if asks { Packet::Query } else { Packet::Other });
    }
    let mut found = Vec::new();
    for answer in &msg.answers {
        if found.len() >= MAX_ANNOUNCEMENTS {
            break;
        }
        if !answer.name.eq_ignore_root(&service) {
            continue;
        }
        let RData::PTR(PTR(instance)) = &answer.data else {
            continue;
        };
        if let Some(a) = announcement(&msg, instance, answer.ttl) {
            found.push(a);
        }
    }
    Ok(if found.is_empty() {
        Packet::Other
    } else {
        Packet::Response(found)
    })
}

/// The peer and addresses in the TXT records of `instance`: every address must end with
/// the same PeerId (the first one seen), others are skipped.
fn announcement(msg: &Message, instance: &Name, ttl: u32) -> Option<Announcement> {
    let mut peer: Option<PeerId> = None;
    let mut addrs = Vec::new();
    let strings = msg
        .additionals
        .iter()
        .filter(|r| r.name.eq_ignore_root(instance))
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.txt_data.iter()),
            _ => None,
        })
        .flatten();
    for s in strings {
        if addrs.len() >= MAX_ADDRS_PER_PEER {
            break;
        }
        let Some(mut addr) = dnsaddr(s) else { continue };
        let Some(Protocol::P2p(p)) = addr.pop() else {
            continue;
        };
        match peer {
            None => peer = Some(p),
            Some(first) if first != p => continue,
            Some(_) => {}
        }
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    Some(Announcement {
        peer: peer?,
        addrs,
        ttl,
    })
}

/// The multiaddr in one TXT string `dnsaddr=…` (quotes around it tolerated, as libp2p
/// writes them when the value has a space).
fn dnsaddr(s: &[u8]) -> Option<Multiaddr> {
    if s.len() > MAX_TXT {
        return None;
    }
    let s = match s {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    let value = s.strip_prefix(b"dnsaddr=")?;
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// A query for the service (message id 0, as mDNS asks).
pub fn query() -> Result<Vec<u8>, PacketError> {
    let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(service()?, RecordType::PTR));
    msg.to_vec().map_err(|_| PacketError::Encode)
}

/// An answer announcing `peer` at `addrs` for `ttl` seconds, under the instance name
/// `label` (random per answer, so the name says nothing about the peer).
pub fn response(
    peer: &PeerId,
    addrs: &[Multiaddr],
    ttl: u32,
    label: &str,
) -> Result<Vec<u8>, PacketError> {
    let service = service()?;
    let instance = Name::from_ascii(label)
        .and_then(|l| l.append_domain(&service))
        .map_err(|_| PacketError::Encode)?;
    let mut msg = Message::new(0, MessageType::Response, OpCode::Query);
    msg.metadata.authoritative = true;
    msg.add_answer(Record::from_rdata(
        service,
        ttl,
        RData::PTR(PTR(instance.clone())),
    ));
    for addr in addrs.iter().take(MAX_ADDRS_PER_PEER) {
        let value = format!("dnsaddr={addr}/p2p/{peer}");
        if value.len() > MAX_TXT {
            continue;
        }
        msg.add_additional(Record::from_rdata(
            instance.clone(),
            ttl,
            RData::TXT(TXT::new(vec![value])),
        ));
    }
    let bytes = msg.to_vec().map_err(|_| PacketError::Encode)?;
    if bytes.len() > MAX_PACKET {
        return Err(PacketError::TooLong(bytes.len()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
