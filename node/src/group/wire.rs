//! What a group sends over a pairwise session (docs/PROTOCOL.md §24.5): the body of a
//! `Group` content ([`crate::content::Content::Group`]), inside the ratchet like every
//! content — relays and observers see an ordinary envelope.
//!
//! ```text
//! body = kind u8 | …
//! kind 1 Ops  : count u16 (1 ..= MAX_OPS_PER_PART) | op * count   (membership changes)
//! kind 2 Text : clock u64 (1 ..= MAX_CLOCK) | id [16] | sent_at_ms u64 | len u32 | UTF-8 text
//! ```
//!
//! A text's author is the peer of the session it came over; its stamp is `(clock, author)`.
//! Ops carry their own stamps (an op is either the sender's own change, or — in a welcome —
//! the group's history relayed by the admin that added the recipient).

use super::membership::{Op, OpDecodeError, MAX_OP_LEN};
use super::MAX_CLOCK;
use cairn_crypto::wire::{Reader, WireError, Writer};
use thiserror::Error;

/// Most ops one `Ops` body carries: a welcome with a longer history is sent in several
/// parts (each fits one envelope with room to spare: 512 × 106 bytes).
pub const MAX_OPS_PER_PART: usize = 512;
/// Longest text of a group message, in bytes: a 1:1 text's limit less the group's framing.
pub const MAX_GROUP_TEXT_LEN: usize = crate::content::MAX_TEXT_LEN - 64;
/// Longest encoded body.
pub const MAX_BODY_LEN: usize = 1 + 2 + MAX_OPS_PER_PART * MAX_OP_LEN;

/// What one group content carries.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum GroupBody {
    /// Membership changes, in stamp order.
    Ops(Vec<Op>),
    /// A message to the group.
    Text {
        /// The author's Lamport clock for it (its stamp is `(clock, sender)`).
        clock: u64,
        /// Message id: the same in every member's copy.
        id: [u8; 16],
        /// Author's clock when written, Unix ms (shown, not used for order).
        sent_at_ms: u64,
        /// The text.
        text: String,
    },
}

/// Why a group body was refused.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// Truncated, trailing bytes, or a field out of range.
    #[error("malformed group content")]
    Malformed,
    /// An unknown kind (a newer version).
    #[error("unknown kind of group content")]
    UnknownKind,
    /// A membership change that does not decode.
    #[error(transparent)]
    Op(#[from] OpDecodeError),
    /// A text over [`MAX_GROUP_TEXT_LEN`].
    #[error("group text too long")]
    TooLong,
}

impl From<WireError> for BodyError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::TooLong => BodyError::TooLong,
            _ => BodyError::Malformed,
        }
    }
}

impl GroupBody {
    /// Appends the encoding to `out`. Fails (writing nothing) for a body outside the limits.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), BodyError> {
        match self {
            GroupBody::Ops(ops) => {
                if ops.is_empty() || ops.len() > MAX_OPS_PER_PART {
                    return Err(BodyError::Malformed);
                }
                let mut v = Vec::with_capacity(3 + ops.len() * MAX_OP_LEN);
                v.put_u8(1);
                v.put_u16(u16::try_from(ops.len()).map_err(|_| BodyError::Malformed)?);
                for op in ops {
                    v.put(&cairn_crypto::wire::Codec::to_wire(op)?);
                }
                out.put(&v);
            }
            GroupBody::Text {
                clock,
                id,
                sent_at_ms,
                text,
            } => {
                if *clock == 0 || *clock > MAX_CLOCK {
                    return Err(BodyError::Malformed);
                }
                if text.len() > MAX_GROUP_TEXT_LEN {
                    return Err(BodyError::TooLong);
                }
                out.put_u8(2);
                out.put_u64(*clock);
                out.put(id);
                out.put_u64(*sent_at_ms);
                out.put_bytes_u32(text.as_bytes());
            }
        }
        Ok(())
    }

    /// Reads a body that runs to the end of `r` (untrusted: a typed error, never a panic).
    pub fn read(r: &mut Reader<'_>) -> Result<Self, BodyError> {
        let body = match r.u8()? {
            1 => {
                let n = usize::from(r.u16()?);
                if n == 0 || n > MAX_OPS_PER_PART {
                    return Err(BodyError::Malformed);
                }
                let mut ops = Vec::with_capacity(n);
                for _ in 0..n {
                    ops.push(Op::read(r)?);
                }
                // In stamp order, each once: one canonical encoding per set of ops.
                if ops
                    .iter()
                    .zip(ops.iter().skip(1))
                    .any(|(a, b)| a.stamp >= b.stamp)
                {
                    return Err(BodyError::Malformed);
                }
                GroupBody::Ops(ops)
            }
            2 => {
                let clock = r.u64()?;
                if clock == 0 || clock > MAX_CLOCK {
                    return Err(BodyError::Malformed);
                }
                let id = r.array()?;
                let sent_at_ms = r.u64()?;
                let text = std::str::from_utf8(r.bytes_u32(MAX_GROUP_TEXT_LEN)?)
                    .map_err(|_| BodyError::Malformed)?
                    .to_owned();
                GroupBody::Text {
                    clock,
                    id,
                    sent_at_ms,
                    text,
                }
            }
            _ => return Err(BodyError::UnknownKind),
        };
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{Change, MemberKey, Stamp};

    fn op(clock: u64, author: u8, change: Change) -> Op {
        Op {
            stamp: Stamp {
                clock,
                author: MemberKey([author; 32]),
            },
            change,
        }
    }

    fn decode(bytes: &[u8]) -> Result<GroupBody, BodyError> {
        let mut r = Reader::new(bytes);
        let b = GroupBody::read(&mut r)?;
        r.finish()?;
        Ok(b)
    }

    fn encode(b: &GroupBody) -> Vec<u8> {
        let mut v = Vec::new();
        b.write(&mut v).unwrap();
        v
    }

    /// Catches a body that does not come back as it was written.
    #[test]
    fn bodies_round_trip() {
        let bodies = [
            GroupBody::Ops(vec![
                op(
                    1,
                    1,
                    Change::Create {
                        name: "desk".into(),
                    },
                ),
                op(2, 1, Change::Add(MemberKey([2; 32]))),
            ]),
            GroupBody::Text {
                clock: 7,
                id: [9; 16],
                sent_at_ms: 1234,
                text: "hello group".into(),
            },
        ];
        for b in bodies {
            assert_eq!(decode(&encode(&b)).unwrap(), b);
        }
    }

    /// Catches limits that are not enforced on either side.
    #[test]
    fn limits_hold_both_ways() {
        let empty = GroupBody::Ops(vec![]);
        assert_eq!(empty.write(&mut Vec::new()), Err(BodyError::Malformed));
        assert_eq!(decode(&[1, 0, 0]), Err(BodyError::Malformed));
        let many: Vec<Op> = (1..=MAX_OPS_PER_PART as u64 + 1)
            .map(|c| op(c, 1, Change::Leave))
            .collect();
        assert_eq!(
            GroupBody::Ops(many.clone()).write(&mut Vec::new()),
            Err(BodyError::Malformed)
        );
        let full = GroupBody::Ops(many[..MAX_OPS_PER_PART].to_vec());
        let bytes = encode(&full);
        assert!(bytes.len() <= MAX_BODY_LEN);
        assert_eq!(decode(&bytes).unwrap(), full);
        let long = GroupBody::Text {
            clock: 1,
            id: [0; 16],
            sent_at_ms: 0,
            text: "x".repeat(MAX_GROUP_TEXT_LEN + 1),
        };
        assert_eq!(long.write(&mut Vec::new()), Err(BodyError::TooLong));
        let at = GroupBody::Text {
            clock: MAX_CLOCK,
            id: [0; 16],
            sent_at_ms: 0,
            text: "x".repeat(MAX_GROUP_TEXT_LEN),
        };
        assert_eq!(decode(&encode(&at)).unwrap(), at);
        let zero = GroupBody::Text {
            clock: 0,
            id: [0; 16],
            sent_at_ms: 0,
            text: String::new(),
        };
        assert_eq!(zero.write(&mut Vec::new()), Err(BodyError::Malformed));
    }

    /// Catches a decoder that accepts ops out of order or repeated (two encodings of one
    /// set), a clock of zero, an unknown kind, or trailing bytes.
    #[test]
    fn non_canonical_bodies_are_refused() {
        let a = op(1, 1, Change::Leave);
        let b = op(2, 1, Change::Leave);
        let mut v = vec![1, 0, 2];
        v.extend(cairn_crypto::wire::Codec::to_wire(&b).unwrap());
        v.extend(cairn_crypto::wire::Codec::to_wire(&a).unwrap());
        assert_eq!(decode(&v), Err(BodyError::Malformed));
        let mut twice = vec![1, 0, 2];
        twice.extend(cairn_crypto::wire::Codec::to_wire(&a).unwrap());
        twice.extend(cairn_crypto::wire::Codec::to_wire(&a).unwrap());
        assert_eq!(decode(&twice), Err(BodyError::Malformed));
        let mut text = encode(&GroupBody::Text {
            clock: 1,
            id: [0; 16],
            sent_at_ms: 0,
            text: "hi".into(),
        });
        text[1..9].copy_from_slice(&0u64.to_be_bytes());
        assert_eq!(decode(&text), Err(BodyError::Malformed));
        assert_eq!(decode(&[9]), Err(BodyError::UnknownKind));
        let mut trailing = encode(&GroupBody::Ops(vec![a]));
        trailing.push(0);
        assert!(decode(&trailing).is_err());
    }
}
