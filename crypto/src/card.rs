//! The profile card each side sends inside the handshake: what a contact needs to
//! reach you. Addresses and PeerIds are opaque bytes to this crate (libp2p encodings
//! chosen by the node).

use crate::wire::{Reader, WireError, Writer};
use thiserror::Error;

/// Longest display name, in bytes of UTF-8.
pub const MAX_DISPLAY_NAME_LEN: usize = 64;
/// Longest PeerId encoding (a libp2p Ed25519 PeerId is 38 bytes; room for others).
pub const MAX_PEER_ID_LEN: usize = 64;
/// Longest single address (a binary multiaddr; relayed addresses are the longest,
/// about 80 bytes with two PeerIds).
pub const MAX_ADDR_LEN: usize = 160;
/// Most addresses in one card or invite. More would bloat invites and QR codes; a
/// node advertises its best few.
pub const MAX_ADDRS: usize = 6;
/// Longest encoded card: name, PeerId, every address and a mailbox at their limits, each
/// with its one-byte length, the address count and the mailbox flag.
pub const MAX_CARD_LEN: usize = 1
    + MAX_DISPLAY_NAME_LEN
    + 1
    + MAX_PEER_ID_LEN
    + 1
    + MAX_ADDRS * (1 + MAX_ADDR_LEN)
    + 1
    + 1
    + MAX_ADDR_LEN;

/// Errors for profile cards.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardError {
    /// The display name is empty, too long, or has control, bidirectional or
    /// invisible characters.
    #[error("display name must be 1 to {MAX_DISPLAY_NAME_LEN} bytes of visible text")]
    BadDisplayName,
    /// A PeerId, address or the address count exceeds its limit.
    #[error("a field exceeds its limit")]
    TooLarge,
    /// The encoding is malformed.
    #[error("malformed profile card: {0}")]
    Malformed(#[from] WireError),
}

/// A profile card: display name, PeerId, addresses and optional mailbox.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ProfileCard {
    /// Name shown to contacts (they may rename you locally).
    pub display_name: String,
    /// The node's libp2p PeerId bytes.
    pub peer_id: Vec<u8>,
    /// Addresses the node listens on or is reachable through (binary multiaddrs).
    pub addrs: Vec<Vec<u8>>,
    /// Relay/mailbox address where the node collects messages while offline.
    pub mailbox: Option<Vec<u8>>,
}

impl std::fmt::Debug for ProfileCard {
    /// Names and PeerIds identify people: logs and Debug output never show them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileCard")
            .field("addrs", &self.addrs.len())
            .field("mailbox", &self.mailbox.is_some())
            .finish_non_exhaustive()
    }
}

impl ProfileCard {
    /// Checks every limit; encoders refuse a card that fails this.
    pub fn validate(&self) -> Result<(), CardError> {
        let name = &self.display_name;
        if name.is_empty()
            || name.len() > MAX_DISPLAY_NAME_LEN
            || name.chars().any(|c| c.is_control() || is_deceptive(c))
            || name.trim().is_empty()
        {
            return Err(CardError::BadDisplayName);
        }
        validate_routing(&self.peer_id, &self.addrs, self.mailbox.as_deref())
            .map_err(|_| CardError::TooLarge)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), CardError> {
        self.validate()?;
        out.put_bytes_u8(self.display_name.as_bytes());
        write_routing(out, &self.peer_id, &self.addrs, self.mailbox.as_deref());
        Ok(())
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, CardError> {
        let name = r.bytes_u8(MAX_DISPLAY_NAME_LEN)?;
        let display_name = std::str::from_utf8(name)
            .map_err(|_| CardError::BadDisplayName)?
            .to_owned();
        let (peer_id, addrs, mailbox) = read_routing(r)?;
        let card = Self {
            display_name,
            peer_id,
            addrs,
            mailbox,
        };
        card.validate()?;
        Ok(card)
    }

    /// Encodes the card on its own (for the store).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CardError> {
        let mut out = Vec::new();
        self.write(&mut out)?;
        Ok(out)
    }

    /// Decodes a card encoded by [`ProfileCard::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CardError> {
        let mut r = Reader::new(bytes);
        let card = Self::read(&mut r)?;
        r.finish()?;
        Ok(card)
    }
}

impl crate::wire::Codec for ProfileCard {
    type Error = CardError;
    const MAX_LEN: usize = MAX_CARD_LEN;
    fn to_wire(&self) -> Result<Vec<u8>, CardError> {
        self.to_bytes()
    }
    fn from_wire(bytes: &[u8]) -> Result<Self, CardError> {
        Self::from_bytes(bytes)
    }
}

/// Characters that reorder or hide text: bidirectional overrides and isolates,
/// zero-width characters. A name with them could impersonate another contact.
pub fn is_deceptive(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{061C}'
            | '\u{FEFF}'
            | '\u{00AD}'
    )
}

pub(crate) fn validate_routing(
    peer_id: &[u8],
    addrs: &[Vec<u8>],
    mailbox: Option<&[u8]>,
) -> Result<(), WireError> {
    if peer_id.len() > MAX_PEER_ID_LEN
        || addrs.len() > MAX_ADDRS
        || addrs.iter().any(|a| a.len() > MAX_ADDR_LEN)
        || mailbox.is_some_and(|m| m.len() > MAX_ADDR_LEN)
    {
        return Err(WireError::TooLong);
    }
    Ok(())
}

/// PeerId, addresses and mailbox: shared by cards and invites.
pub(crate) fn write_routing(
    out: &mut Vec<u8>,
    peer_id: &[u8],
    addrs: &[Vec<u8>],
    mailbox: Option<&[u8]>,
) {
    out.put_bytes_u8(peer_id);
    out.put_u8(u8::try_from(addrs.len()).unwrap_or(u8::MAX));
    for a in addrs {
        out.put_bytes_u8(a);
    }
    match mailbox {
        Some(m) => {
            out.put_u8(1);
            out.put_bytes_u8(m);
        }
        None => out.put_u8(0),
    }
}

pub(crate) type Routing = (Vec<u8>, Vec<Vec<u8>>, Option<Vec<u8>>);

pub(crate) fn read_routing(r: &mut Reader<'_>) -> Result<Routing, WireError> {
    let peer_id = r.bytes_u8(MAX_PEER_ID_LEN)?.to_vec();
    let count = usize::from(r.u8()?);
    if count > MAX_ADDRS {
        return Err(WireError::TooLong);
    }
    let mut addrs = Vec::with_capacity(count);
    for _ in 0..count {
        addrs.push(r.bytes_u8(MAX_ADDR_LEN)?.to_vec());
    }
    let mailbox = if r.bool()? {
        Some(r.bytes_u8(MAX_ADDR_LEN)?.to_vec())
    } else {
        None
    };
    Ok((peer_id, addrs, mailbox))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn largest() -> ProfileCard {
        ProfileCard {
            display_name: "n".repeat(MAX_DISPLAY_NAME_LEN),
            peer_id: vec![1; MAX_PEER_ID_LEN],
            addrs: vec![vec![2; MAX_ADDR_LEN]; MAX_ADDRS],
            mailbox: Some(vec![3; MAX_ADDR_LEN]),
        }
    }

    /// Catches `MAX_CARD_LEN` computed wrong (found by mutation testing): the largest card
    /// the limits allow encodes to exactly it, and decodes.
    #[test]
    fn the_largest_card_is_exactly_max_card_len() {
        let card = largest();
        let bytes = card.to_bytes().unwrap();
        assert_eq!(bytes.len(), MAX_CARD_LEN);
        assert_eq!(ProfileCard::from_bytes(&bytes).unwrap(), card);
        // The same through the shared codec trait (what the store and the fuzz targets use).
        use crate::wire::Codec;
        assert_eq!(card.to_wire().unwrap(), bytes);
        assert_eq!(crate::wire::round_trips::<ProfileCard>(&bytes), Some(card));
        // The smallest card too: a one-byte name, nothing else.
        let small = ProfileCard {
            display_name: "n".into(),
            ..ProfileCard::default()
        };
        let bytes = small.to_wire().unwrap();
        assert_eq!(bytes, [1, b'n', 0, 0, 0]);
        assert_eq!(ProfileCard::from_wire(&bytes).unwrap(), small);
    }

    /// Catches a limit let through by one: each field one past its limit is refused, by the
    /// encoder and by the decoder.
    #[test]
    fn each_field_one_past_its_limit_is_refused() {
        let mut name = largest();
        name.display_name.push('n');
        assert_eq!(name.to_bytes(), Err(CardError::BadDisplayName));
        let mut peer = largest();
        peer.peer_id.push(1);
        assert_eq!(peer.to_bytes(), Err(CardError::TooLarge));
        let mut addr = largest();
        addr.addrs[MAX_ADDRS - 1].push(2);
        assert_eq!(addr.to_bytes(), Err(CardError::TooLarge));
        let mut count = largest();
        count.addrs.push(vec![2]);
        assert_eq!(count.to_bytes(), Err(CardError::TooLarge));
        let mut mailbox = largest();
        mailbox.mailbox = Some(vec![3; MAX_ADDR_LEN + 1]);
        assert_eq!(mailbox.to_bytes(), Err(CardError::TooLarge));
        // The decoder: a seventh address written by hand.
        let mut out = Vec::new();
        out.put_bytes_u8(b"n");
        out.put_bytes_u8(&[1; 8]);
        out.put_u8(u8::try_from(MAX_ADDRS + 1).unwrap());
        for _ in 0..=MAX_ADDRS {
            out.put_bytes_u8(&[2; 4]);
        }
        out.put_u8(0);
        assert!(ProfileCard::from_bytes(&out).is_err());
    }
}
