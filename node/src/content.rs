//! What goes inside the end-to-end encryption: the plaintext of a ratchet message.
//!
//! ```text
//! content = version u8 (=1) | kind u8 | body
//! kind 1 Text    : id [16] | sent_at_ms u64 | len u32 | UTF-8 text
//! kind 2 Receipt : count u16 (1..=MAX_RECEIPT_IDS) | id [16] * count
//! kind 3 Card    : profile card (cairn-crypto encoding)
//! kind 4 Timer   : set_at_ms u64 | 0 (off) or 1 | seconds u64
//! kind 5 Protocol: newest session protocol the sender speaks, u8 (>= 2)
//! ```
//!
//! The message id lives here, inside the ciphertext: relays never see it.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use cairn_crypto::ProfileCard;
use thiserror::Error;

/// Content format version.
pub const CONTENT_VERSION: u8 = 1;
/// Longest text, in bytes: what fits one envelope with the framing.
pub const MAX_TEXT_LEN: usize = cairn_crypto::padding::MAX_PLAINTEXT_LEN - 64;
/// Most ids in one receipt.
pub const MAX_RECEIPT_IDS: usize = 256;

/// Decoded content.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Content {
    /// A text message.
    Text {
        /// Message id (random, for dedup and receipts).
        id: [u8; 16],
        /// Sender's clock when written, Unix ms.
        sent_at_ms: u64,
        /// The text.
        text: String,
    },
    /// End-to-end delivery receipt for these message ids.
    Receipt(Vec<[u8; 16]>),
    /// The sender's updated profile card (new addresses or mailbox).
    Card(ProfileCard),
    /// The sender set the conversation's disappearing-messages timer: both sides delete
    /// messages this long after they were sent (`None`: messages stay).
    Timer {
        /// Sender's clock when it was set, Unix ms (the later setting wins).
        set_at_ms: u64,
        /// Seconds, at most [`MAX_TIMER_SECS`].
        seconds: Option<u64>,
    },
    /// The newest session protocol the sender speaks ([`cairn_crypto::Protocol`]). Sent
    /// over a session of an older protocol, so the two can move to the newer one with a
    /// session reset (a build before it drops this as unreadable, and nothing changes).
    Protocol(u8),
}

/// Longest disappearing-messages timer a contact may set: one year.
pub const MAX_TIMER_SECS: u64 = 366 * 24 * 3600;

/// Content decoding failures.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentError {
    /// Unknown version or kind.
    #[error("unsupported content")]
    Unsupported,
    /// Truncated, trailing bytes or a bad field.
    #[error("malformed content")]
    Malformed,
    /// Text longer than [`MAX_TEXT_LEN`].
    #[error("text too long")]
    TooLong,
}

impl Content {
    /// Encodes.
    pub fn encode(&self) -> Result<Vec<u8>, ContentError> {
        let mut v = vec![CONTENT_VERSION];
        match self {
            Content::Text {
                id,
                sent_at_ms,
                text,
            } => {
                if text.len() > MAX_TEXT_LEN {
                    return Err(ContentError::TooLong);
                }
                v.push(1);
                v.extend_from_slice(id);
                v.extend_from_slice(&sent_at_ms.to_be_bytes());
                v.extend_from_slice(
                    &u32::try_from(text.len())
                        .map_err(|_| ContentError::TooLong)?
                        .to_be_bytes(),
                );
                v.extend_from_slice(text.as_bytes());
            }
            Content::Receipt(ids) => {
                if ids.is_empty() || ids.len() > MAX_RECEIPT_IDS {
                    return Err(ContentError::Malformed);
                }
                v.push(2);
                v.extend_from_slice(
                    &u16::try_from(ids.len())
                        .map_err(|_| ContentError::Malformed)?
                        .to_be_bytes(),
                );
                for id in ids {
                    v.extend_from_slice(id);
                }
            }
            Content::Card(card) => {
                v.push(3);
                v.extend(card.to_bytes().map_err(|_| ContentError::Malformed)?);
            }
            Content::Timer { set_at_ms, seconds } => {
                v.push(4);
                v.extend_from_slice(&set_at_ms.to_be_bytes());
                match seconds {
                    None => v.push(0),
                    Some(s) if *s <= MAX_TIMER_SECS => {
                        v.push(1);
                        v.extend_from_slice(&s.to_be_bytes());
                    }
                    Some(_) => return Err(ContentError::Malformed),
                }
            }
            Content::Protocol(p) => {
                if *p < 2 {
                    return Err(ContentError::Malformed);
                }
                v.push(5);
                v.push(*p);
            }
        }
        Ok(v)
    }

    /// Decodes. Untrusted input (after decryption, from an authenticated contact).
    pub fn decode(b: &[u8]) -> Result<Self, ContentError> {
        let (&version, rest) = b.split_first().ok_or(ContentError::Malformed)?;
        if version != CONTENT_VERSION {
            return Err(ContentError::Unsupported);
        }
        let (&kind, rest) = rest.split_first().ok_or(ContentError::Malformed)?;
        match kind {
            1 => {
                let (id, rest) = rest.split_at_checked(16).ok_or(ContentError::Malformed)?;
                let (ts, rest) = rest.split_at_checked(8).ok_or(ContentError::Malformed)?;
                let (len, rest) = rest.split_at_checked(4).ok_or(ContentError::Malformed)?;
                let len = u32::from_be_bytes(len.try_into().map_err(|_| ContentError::Malformed)?);
                let len = usize::try_from(len).map_err(|_| ContentError::TooLong)?;
                if len > MAX_TEXT_LEN {
                    return Err(ContentError::TooLong);
                }
                if rest.len() != len {
                    return Err(ContentError::Malformed);
                }
                let text = std::str::from_utf8(rest)
                    .map_err(|_| ContentError::Malformed)?
                    .to_owned();
                Ok(Content::Text {
                    id: id.try_into().map_err(|_| ContentError::Malformed)?,
                    sent_at_ms: u64::from_be_bytes(
                        ts.try_into().map_err(|_| ContentError::Malformed)?,
                    ),
                    text,
                })
            }
            2 => {
                let (n, rest) = rest.split_at_checked(2).ok_or(ContentError::Malformed)?;
                let n = usize::from(u16::from_be_bytes(
                    n.try_into().map_err(|_| ContentError::Malformed)?,
                ));
                if n == 0 || n > MAX_RECEIPT_IDS || rest.len() != n * 16 {
                    return Err(ContentError::Malformed);
                }
                let ids = rest
                    .chunks_exact(16)
                    .map(|c| c.try_into().map_err(|_| ContentError::Malformed))
                    .collect::<Result<Vec<[u8; 16]>, _>>()?;
                Ok(Content::Receipt(ids))
            }
            3 => Ok(Content::Card(
                ProfileCard::from_bytes(rest).map_err(|_| ContentError::Malformed)?,
            )),
            4 => {
                let (at, rest) = rest.split_at_checked(8).ok_or(ContentError::Malformed)?;
                let set_at_ms =
                    u64::from_be_bytes(at.try_into().map_err(|_| ContentError::Malformed)?);
                let seconds = match rest {
                    [0] => None,
                    [1, s @ ..] => {
                        let s =
                            u64::from_be_bytes(s.try_into().map_err(|_| ContentError::Malformed)?);
                        if s > MAX_TIMER_SECS {
                            return Err(ContentError::Malformed);
                        }
                        Some(s)
                    }
                    _ => return Err(ContentError::Malformed),
                };
                Ok(Content::Timer { set_at_ms, seconds })
            }
            5 => match rest {
                [p] if *p >= 2 => Ok(Content::Protocol(*p)),
                _ => Err(ContentError::Malformed),
            },
            _ => Err(ContentError::Unsupported),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches encode/decode mismatches and lax decoding.
    #[test]
    fn round_trip_and_rejects() {
        let t = Content::Text {
            id: [1; 16],
            sent_at_ms: 42,
            text: "héllo".into(),
        };
        assert_eq!(Content::decode(&t.encode().unwrap()).unwrap(), t);
        let r = Content::Receipt(vec![[2; 16], [3; 16]]);
        assert_eq!(Content::decode(&r.encode().unwrap()).unwrap(), r);
        let mut bad = t.encode().unwrap();
        bad.push(0);
        assert_eq!(Content::decode(&bad), Err(ContentError::Malformed));
        assert_eq!(Content::decode(&[2, 1]), Err(ContentError::Unsupported));
        assert_eq!(Content::decode(&[]), Err(ContentError::Malformed));
        assert!(Content::Receipt(vec![]).encode().is_err());
        for seconds in [None, Some(3600), Some(MAX_TIMER_SECS)] {
            let t = Content::Timer {
                set_at_ms: 7,
                seconds,
            };
            assert_eq!(Content::decode(&t.encode().unwrap()).unwrap(), t);
        }
        let too_long = Content::Timer {
            set_at_ms: 7,
            seconds: Some(MAX_TIMER_SECS + 1),
        };
        assert!(too_long.encode().is_err());
        let mut bad = Content::Timer {
            set_at_ms: 7,
            seconds: Some(60),
        }
        .encode()
        .unwrap();
        bad.push(0);
        assert_eq!(Content::decode(&bad), Err(ContentError::Malformed));
        bad[10] = 2;
        assert_eq!(Content::decode(&bad), Err(ContentError::Malformed));
        let p = Content::Protocol(2);
        assert_eq!(Content::decode(&p.encode().unwrap()).unwrap(), p);
        assert_eq!(Content::decode(&[1, 5, 1]), Err(ContentError::Malformed));
        assert_eq!(Content::decode(&[1, 5, 2, 0]), Err(ContentError::Malformed));
        assert_eq!(Content::decode(&[1, 5]), Err(ContentError::Malformed));
        assert!(Content::Protocol(1).encode().is_err());
    }
}
