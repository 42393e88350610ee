//! Introductions (docs/PROTOCOL.md §24.4): a member of both sides' contacts hands two people
//! who are not contacts of each other what they need for a session — the other's identity
//! key, its routing card and a fresh pair secret that plays the part of an invite's secret.
//! The side with the lower identity key starts the handshake, as an invite's acceptor; the
//! other answers it, as its inviter. Each side's user accepts or refuses first. An
//! introduction for a group makes a group-only peer; a contact introduction ("Alice
//! introduces Bob and Carol") makes a contact.
//!
//! ```text
//! introduction = id [16] | role u8 (1 start, 2 answer) | expires_at u64 (Unix s)
//!              | group: 0, or 1 | group id [16] | peer identity [32] | secret [32]
//!              | card (u16 length, cairn-crypto profile card)
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use crate::group::GroupId;
use cairn_crypto::card::MAX_CARD_LEN;
use cairn_crypto::wire::{Reader, WireError, Writer};
use cairn_crypto::{IdentityPublicKey, InviteSecret, ProfileCard};

/// The display name every introduction's card carries (a card needs one): the introducer
/// never passes on its own name for the person; the handshake brings the one it chose.
pub const CARD_NAME: &str = "introduced";

/// Most introductions one copy carries (a group's new member gets one per member, in
/// copies of up to this many).
pub const MAX_INTROS_PER_COPY: usize = 32;
/// Longest encoded introduction.
pub const MAX_INTRO_LEN: usize = 16 + 1 + 8 + 1 + 16 + 32 + 32 + 2 + MAX_CARD_LEN;

/// Which side of the handshake the recipient takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Start it (the lower identity key), as an invite's acceptor.
    Start,
    /// Answer it, as an invite's inviter.
    Answer,
}

/// An introduction to one side.
#[derive(Clone, PartialEq, Eq)]
pub struct Introduction {
    /// Its id (the same for both sides of one pair: the user's answer names it).
    pub id: [u8; 16],
    /// This side's part in the handshake.
    pub role: Role,
    /// After this (Unix seconds) the pair secret is no longer honoured.
    pub expires_at: u64,
    /// The group it is for (None: a contact introduction).
    pub group: Option<GroupId>,
    /// The other side's identity key.
    pub peer: IdentityPublicKey,
    /// The pair secret (as an invite's).
    pub secret: InviteSecret,
    /// The other side's routing card (its display name is [`CARD_NAME`]: the introducer's
    /// name for it is its own business; the handshake brings the one it chose).
    pub card: ProfileCard,
}

impl std::fmt::Debug for Introduction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introduction")
            .field("role", &self.role)
            .field("group", &self.group.is_some())
            .finish_non_exhaustive()
    }
}

impl Introduction {
    /// Appends the encoding to `out`.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let card = self.card.to_bytes().map_err(|_| WireError::Invalid)?;
        out.put(&self.id);
        out.put_u8(match self.role {
            Role::Start => 1,
            Role::Answer => 2,
        });
        out.put_u64(self.expires_at);
        match &self.group {
            None => out.put_u8(0),
            Some(g) => {
                out.put_u8(1);
                out.put(&g.0);
            }
        }
        out.put(self.peer.as_bytes());
        out.put(self.secret.expose_secret());
        out.put_bytes_u16(&card);
        Ok(())
    }

    /// Reads one (untrusted: a typed error, never a panic).
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let id = r.array()?;
        let role = match r.u8()? {
            1 => Role::Start,
            2 => Role::Answer,
            _ => return Err(WireError::Invalid),
        };
        let expires_at = r.u64()?;
        let group = if r.bool()? {
            Some(GroupId(r.array()?))
        } else {
            None
        };
        let peer = IdentityPublicKey::from_bytes(r.array()?);
        let secret = InviteSecret::from_bytes(r.array()?);
        let card =
            ProfileCard::from_bytes(r.bytes_u16(MAX_CARD_LEN)?).map_err(|_| WireError::Invalid)?;
        Ok(Self {
            id,
            role,
            expires_at,
            group,
            peer,
            secret,
            card,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Introduction {
        Introduction {
            id: [1; 16],
            role: Role::Start,
            expires_at: 1_800_000_000,
            group: Some(GroupId([2; 16])),
            peer: IdentityPublicKey::from_bytes([3; 32]),
            secret: InviteSecret::from_bytes([4; 32]),
            card: ProfileCard {
                display_name: CARD_NAME.into(),
                peer_id: vec![5; 38],
                addrs: vec![vec![6; 20]],
                mailbox: None,
            },
        }
    }

    /// Catches an introduction that does not come back as written, or a bound that does
    /// not hold.
    #[test]
    fn introductions_round_trip_within_their_bound() {
        for group in [None, Some(GroupId([9; 16]))] {
            let mut i = sample();
            i.group = group;
            i.role = if group.is_some() {
                Role::Start
            } else {
                Role::Answer
            };
            let mut v = Vec::new();
            i.write(&mut v).unwrap();
            assert!(v.len() <= MAX_INTRO_LEN);
            let mut r = Reader::new(&v);
            assert_eq!(Introduction::read(&mut r).unwrap(), i);
            r.finish().unwrap();
        }
    }

    /// Catches the introductions settings losing or changing what they keep, or a damaged
    /// one half-read.
    #[test]
    fn settings_round_trip_and_damage_is_refused() {
        let i = sample();
        let pending = encode_pending([([7; 32], &i), ([8; 32], &i)].into_iter());
        assert_eq!(
            decode_pending(&pending).unwrap(),
            vec![([7; 32], i.clone()), ([8; 32], i)]
        );
        assert!(decode_pending(&pending[..pending.len() - 1]).is_err());
        let answers = vec![
            Answer {
                tag: [1; 16],
                peer: [2; 32],
                group_only: true,
                alias: None,
            },
            Answer {
                tag: [3; 16],
                peer: [4; 32],
                group_only: false,
                alias: Some("Dana".into()),
            },
        ];
        let bytes = encode_answers(&answers);
        assert_eq!(decode_answers(&bytes).unwrap(), answers);
        let mut bad = bytes.clone();
        bad[48] = 2;
        assert!(decode_answers(&bad).is_err(), "a flag that is not 0 or 1");
        assert!(decode_answers(&bytes[..bytes.len() - 2]).is_err());
    }

    /// Catches an unknown role or a bad card being accepted.
    #[test]
    fn bad_fields_are_refused() {
        let mut v = Vec::new();
        sample().write(&mut v).unwrap();
        let mut role = v.clone();
        role[16] = 3;
        assert!(Introduction::read(&mut Reader::new(&role)).is_err());
        let mut short = v.clone();
        short.truncate(v.len() - 1);
        assert!(Introduction::read(&mut Reader::new(&short)).is_err());
    }
}

/// Most introductions a profile keeps waiting for an answer.
pub const MAX_PENDING: usize = 512;
/// Most accepted introductions a profile keeps waiting for their handshake.
pub const MAX_ANSWERS: usize = 4096;

/// An accepted introduction whose handshake this node answers (kept in a setting until
/// the handshake comes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The `init_tag` of the pair secret's keys.
    pub tag: [u8; 16],
    /// The identity key the handshake must come from.
    pub peer: [u8; 32],
    /// For a group: the peer is group-only.
    pub group_only: bool,
    /// The alias the user chose, if any.
    pub alias: Option<String>,
}

/// The setting that keeps introductions waiting for an answer: for each, the contact that
/// sent it and the introduction (u16 length).
pub fn encode_pending<'a>(
    items: impl Iterator<Item = ([u8; 32], &'a Introduction)>,
) -> zeroize::Zeroizing<Vec<u8>> {
    let mut out = zeroize::Zeroizing::new(Vec::new());
    for (by, i) in items {
        let mut body = zeroize::Zeroizing::new(Vec::new());
        if i.write(&mut body).is_ok() {
            out.put(&by);
            out.put_bytes_u16(&body);
        }
    }
    out
}

/// Reads [`encode_pending`]'s setting (from disk: a typed error, never a panic; all or
/// nothing).
pub fn decode_pending(bytes: &[u8]) -> Result<Vec<([u8; 32], Introduction)>, WireError> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        if out.len() >= MAX_PENDING {
            return Err(WireError::TooLong);
        }
        let by = r.array()?;
        let mut ir = Reader::new(r.bytes_u16(MAX_INTRO_LEN)?);
        let intro = Introduction::read(&mut ir)?;
        ir.finish()?;
        out.push((by, intro));
    }
    Ok(out)
}

/// The setting that keeps accepted introductions waiting for their handshake.
pub fn encode_answers(answers: &[Answer]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in answers {
        out.put(&a.tag);
        out.put(&a.peer);
        out.put_u8(u8::from(a.group_only));
        out.put_bytes_u8(a.alias.as_deref().unwrap_or_default().as_bytes());
    }
    out
}

/// Reads [`encode_answers`]'s setting (from disk: a typed error, never a panic; all or
/// nothing).
pub fn decode_answers(bytes: &[u8]) -> Result<Vec<Answer>, WireError> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        if out.len() >= MAX_ANSWERS {
            return Err(WireError::TooLong);
        }
        let tag = r.array()?;
        let peer = r.array()?;
        let group_only = r.bool()?;
        let alias = std::str::from_utf8(r.bytes_u8(usize::from(u8::MAX))?)
            .map_err(|_| WireError::Invalid)?;
        out.push(Answer {
            tag,
            peer,
            group_only,
            alias: (!alias.is_empty()).then(|| alias.to_owned()),
        });
    }
    Ok(out)
}
