//! Protocol versions of a session, and what each one changes.
//!
//! A session's version is fixed when it is made and kept in its state: an invite's
//! version byte says which version the inviter speaks, and the Noise prologue binds it
//! into the handshake, so the two sides can never disagree about it unnoticed (a
//! handshake under another prologue fails). A node reads and writes every version in
//! [`Protocol::ALL`], so a contact still on an older build keeps working; it makes new
//! sessions with [`Protocol::LATEST`] (docs/PROTOCOL.md §3).
//!
//! | | routing-tag keys | message body key |
//! |---|---|---|
//! | v1 | fixed for the session's life (one per direction, from the handshake) | the message key (all-zero nonce) |
//! | v2 | one per sending chain, derived from the chain's header key: they follow the root key | HMAC(message key, header nonce) (all-zero nonce) |
//! | v3 | as v2 | as v2 |
//! | v4 | as v2 | as v2 |
//!
//! v3 changes the handshake, not the ratchet: the session's keys come from the Noise
//! handshake *and* an ML-KEM-768 exchange carried in its payloads (hybrid: a recording
//! that is later decrypted by breaking X25519 alone gives nothing; docs/PROTOCOL.md §11.9).
//! v4 adds the sparse post-quantum ratchet (§12.10): ML-KEM exchanges inside ordinary
//! messages, mixed into the root key, so healing after a stolen state also holds against a
//! quantum adversary.

/// A session protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// The first version: routing-tag keys fixed for the life of a session.
    V1,
    /// Routing-tag keys that follow the DH ratchet, and message bodies encrypted under a
    /// key bound to the header's random nonce (a restored old state never reuses a key
    /// and nonce).
    V2,
    /// As v2, with a hybrid handshake: an ML-KEM-768 key in message 1, a ciphertext to it
    /// in message 2, and the KEM's shared secret mixed with the Noise output into the
    /// session keys (post-quantum protection of recorded conversations).
    V3,
    /// As v3, with a sparse post-quantum ratchet: from time to time an ML-KEM-768 exchange
    /// rides in the padding of ordinary messages and its secret is mixed into the root key
    /// at a DH step (post-compromise security against a quantum adversary).
    V4,
}

impl Protocol {
    /// The version new invites and resets use.
    pub const LATEST: Protocol = Protocol::V4;
    /// Every version this code reads and writes, oldest first.
    pub const ALL: [Protocol; 4] = [Protocol::V1, Protocol::V2, Protocol::V3, Protocol::V4];

    /// The version number on the wire and in stored state.
    pub const fn as_u8(self) -> u8 {
        match self {
            Protocol::V1 => 1,
            Protocol::V2 => 2,
            Protocol::V3 => 3,
            Protocol::V4 => 4,
        }
    }

    /// The version with number `v`, if this code knows it.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Protocol::V1),
            2 => Some(Protocol::V2),
            3 => Some(Protocol::V3),
            4 => Some(Protocol::V4),
            _ => None,
        }
    }

    /// The Noise prologue of a handshake that makes a session of this version.
    pub fn prologue(self) -> &'static [u8] {
        match self {
            Protocol::V1 => b"cairn/v1 handshake",
            Protocol::V2 => b"cairn/v2 handshake",
            Protocol::V3 => b"cairn/v3 handshake",
            Protocol::V4 => b"cairn/v4 handshake",
        }
    }

    /// Whether sessions of this version run the sparse post-quantum ratchet.
    pub fn pq_ratchet(self) -> bool {
        self >= Protocol::V4
    }

    /// Whether a handshake of this version is hybrid (ML-KEM-768 alongside X25519).
    pub fn hybrid(self) -> bool {
        self >= Protocol::V3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a version number that does not round-trip, or an unknown one accepted.
    #[test]
    fn numbers_round_trip_and_unknown_ones_fail() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::from_u8(p.as_u8()), Some(p));
        }
        assert_eq!(Protocol::from_u8(0), None);
        assert_eq!(Protocol::from_u8(5), None);
        assert!(Protocol::V4.pq_ratchet() && !Protocol::V3.pq_ratchet());
        assert_ne!(Protocol::V1.prologue(), Protocol::V2.prologue());
        assert_ne!(Protocol::V2.prologue(), Protocol::V3.prologue());
        assert!(Protocol::V3.hybrid() && !Protocol::V2.hybrid());
        assert_eq!(Protocol::LATEST, *Protocol::ALL.last().unwrap());
    }
}
