//! The request-response protocol between nodes and relays: `/cairn/envelope/1`.
//!
//! Every frame is `len u32 (big-endian) | body`, with the body at most
//! [`MAX_REQUEST_LEN`] / [`MAX_RESPONSE_LEN`]. Bodies:
//!
//! ```text
//! request  = 1 Deliver      | envelope
//!          | 2 MailboxPut   | envelope
//!          | 3 MailboxFetch | count u8 (1..=MAX_FETCH_KEYS) | mailbox_key [32] * count
//!          | 4 MailboxAck   | mailbox_key [32] | count u16 (<= MAX_ACK_IDS) | id [16] * count
//!          | 5 DeliverBatch | count u16 (1..=MAX_BATCH) | (len u32 | envelope) * count
//!          | 6 MailboxPutBatch | count u16 (1..=MAX_BATCH) | (len u32 | envelope) * count
//! response = 1 Accepted
//!          | 2 Rejected     | code u8
//!          | 3 Mail         | count u16 | (id [16] | len u32 | envelope) * count
//!          | 4 Acked        | count u32
//!          | 5 Results      | count u16 (1..=MAX_BATCH) | code u8 * count   (0 = accepted)
//! ```
//!
//! Untrusted input: every decoder returns a typed error and never panics.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use cairn_crypto::envelope::MAX_ENVELOPE_LEN;
use cairn_crypto::wire::{self, Reader, WireError, Writer};
use thiserror::Error;

/// The libp2p protocol name.
pub const PROTOCOL: &str = "/cairn/envelope/1";
/// Most envelopes in one `DeliverBatch`.
pub const MAX_BATCH: usize = 64;
/// Largest request body: a `DeliverBatch` of up to [`MAX_BATCH`] small envelopes or a
/// few large ones (a single envelope, at most `MAX_ENVELOPE_LEN`, always fits).
pub const MAX_REQUEST_LEN: usize = 256 << 10;
const _: () = assert!(MAX_ENVELOPE_LEN + 1 + 2 + 4 <= MAX_REQUEST_LEN);
/// Most envelopes in one `Mail` response.
pub const MAX_MAIL_ITEMS: usize = 64;
/// Largest response body: a `Mail` response with up to [`MAX_MAIL_ITEMS`] small
/// envelopes or a few large ones, capped at 4 MiB.
pub const MAX_RESPONSE_LEN: usize = 4 << 20;
/// Most mailbox keys in one fetch (one contact's 14 days is 57 epochs).
pub const MAX_FETCH_KEYS: usize = 128;
/// Most envelope bytes a relay puts into one `Mail` response (the decoder accepts up to
/// [`MAX_RESPONSE_LEN`], what older relays sent). A mailbox full of large envelopes costs
/// the relay at most this much per request in flight, not 4 MiB.
pub const MAX_MAIL_RESPONSE_BYTES: usize = 1 << 20;

/// Whether a `Mail` response may have left mail behind (it is full by count or by bytes),
/// so the collector should fetch again.
pub fn mail_may_have_more(items: &[([u8; 16], Vec<u8>)]) -> bool {
    let bytes: usize = items.iter().map(|(_, e)| e.len() + 20).sum();
    items.len() >= MAX_MAIL_ITEMS || bytes + MAX_ENVELOPE_LEN + 64 > MAX_MAIL_RESPONSE_BYTES
}
/// Most ids acknowledged at once.
pub const MAX_ACK_IDS: usize = 256;

/// A request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Request {
    /// Deliver an envelope to this node (its recipient).
    Deliver(Vec<u8>),
    /// Store an envelope in this relay's mailbox under its routing tag.
    MailboxPut(Vec<u8>),
    /// Fetch mail for these mailbox keys (each opens the tag that is its hash).
    MailboxFetch(Vec<[u8; 32]>),
    /// Delete fetched mail: the key proves the right to the tag.
    MailboxAck {
        /// The mailbox key.
        key: [u8; 32],
        /// Ids from a `Mail` response.
        ids: Vec<[u8; 16]>,
    },
    /// Deliver several envelopes to this node at once (each as with `Deliver`); answered
    /// with `Results`, one code per envelope, or not at all if none was for this node.
    DeliverBatch(Vec<Vec<u8>>),
    /// Store several envelopes in this relay's mailbox (each as with `MailboxPut`), made
    /// durable together with one flush; answered with `Results`, one code per envelope.
    MailboxPutBatch(Vec<Vec<u8>>),
    /// Never on the wire: what the codec hands over for a request it did not keep because
    /// the budget for requests in flight was spent (its body was read and discarded, never
    /// buffered). The receiver answers `Rejected(TryLater)`, and the sender tries again
    /// later. Encodes to nothing (an empty frame, which every decoder refuses).
    Unread,
}

/// Why a request was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum RejectCode {
    /// The envelope or request is malformed.
    Malformed = 1,
    /// The envelope is not for us, or failed authentication.
    NotAccepted = 2,
    /// A quota is exhausted.
    QuotaExceeded = 3,
    /// This node does not offer the service (e.g. a mailbox).
    Unsupported = 4,
    /// Temporary failure (storage); retry later.
    TryLater = 5,
}

/// A response.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Response {
    /// Taken: durably stored (mailbox) or processed (recipient).
    Accepted,
    /// Refused.
    Rejected(RejectCode),
    /// Mail for a fetch: (id, envelope).
    Mail(Vec<([u8; 16], Vec<u8>)>),
    /// Number of envelopes deleted.
    Acked(u32),
    /// Per envelope of a `DeliverBatch`, in order: `None` if accepted, or why not.
    Results(Vec<Option<RejectCode>>),
}

/// Decoding failures.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The frame is longer than its limit.
    #[error("frame too large")]
    TooLarge,
    /// The frame ended early.
    #[error("frame truncated")]
    Truncated,
    /// Unknown request/response type or invalid field.
    #[error("malformed frame")]
    Malformed,
    /// Bytes after the last field.
    #[error("trailing bytes in frame")]
    Trailing,
}

impl From<WireError> for ProtocolError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated => ProtocolError::Truncated,
            WireError::TooLong => ProtocolError::TooLarge,
            WireError::Trailing => ProtocolError::Trailing,
            _ => ProtocolError::Malformed,
        }
    }
}

fn envelope_bytes(b: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    if b.len() > MAX_ENVELOPE_LEN {
        return Err(ProtocolError::TooLarge);
    }
    if b.is_empty() {
        return Err(ProtocolError::Truncated);
    }
    Ok(b.to_vec())
}

impl Request {
    /// Encodes the body (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        match self {
            Request::Deliver(e) => {
                v.put_u8(1);
                v.put(e);
            }
            Request::MailboxPut(e) => {
                v.put_u8(2);
                v.put(e);
            }
            Request::MailboxFetch(keys) => {
                v.put_u8(3);
                v.put_u8(u8::try_from(keys.len()).unwrap_or(u8::MAX));
                for k in keys.iter().take(usize::from(u8::MAX)) {
                    v.put(k);
                }
            }
            Request::MailboxAck { key, ids } => {
                v.put_u8(4);
                v.put(key);
                v.put_u16(u16::try_from(ids.len()).unwrap_or(u16::MAX));
                for id in ids.iter().take(usize::from(u16::MAX)) {
                    v.put(id);
                }
            }
            Request::DeliverBatch(envs) | Request::MailboxPutBatch(envs) => {
                v.put_u8(if matches!(self, Request::DeliverBatch(_)) {
                    5
                } else {
                    6
                });
                let n = envs.len().min(MAX_BATCH);
                v.put_u16(u16::try_from(n).unwrap_or(0));
                for e in envs.iter().take(n) {
                    v.put_bytes_u32(e);
                }
            }
            Request::Unread => {}
        }
        v
    }

    /// The encoded size of a `DeliverBatch` of envelopes with these lengths (to pack a
    /// batch under [`MAX_REQUEST_LEN`]).
    pub fn batch_len(envelope_lens: impl IntoIterator<Item = usize>) -> usize {
        envelope_lens.into_iter().fold(3, |acc, l| acc + 4 + l)
    }

    /// Decodes a body. Untrusted input.
    pub fn decode(b: &[u8]) -> Result<Self, ProtocolError> {
        if b.len() > MAX_REQUEST_LEN {
            return Err(ProtocolError::TooLarge);
        }
        let mut r = Reader::new(b);
        let req = match r.u8()? {
            1 => Request::Deliver(envelope_bytes(r.rest())?),
            2 => Request::MailboxPut(envelope_bytes(r.rest())?),
            3 => {
                let n = usize::from(r.u8()?);
                if n == 0 || n > MAX_FETCH_KEYS {
                    return Err(ProtocolError::Malformed);
                }
                let mut keys = Vec::with_capacity(n);
                for _ in 0..n {
                    keys.push(r.array()?);
                }
                Request::MailboxFetch(keys)
            }
            4 => {
                let key = r.array()?;
                let n = usize::from(r.u16()?);
                if n > MAX_ACK_IDS {
                    return Err(ProtocolError::Malformed);
                }
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(r.array()?);
                }
                Request::MailboxAck { key, ids }
            }
            kind @ (5 | 6) => {
                let n = usize::from(r.u16()?);
                if n == 0 || n > MAX_BATCH {
                    return Err(ProtocolError::Malformed);
                }
                let mut envs = Vec::with_capacity(n);
                for _ in 0..n {
                    envs.push(envelope_bytes(r.bytes_u32(MAX_REQUEST_LEN)?)?);
                }
                if kind == 5 {
                    Request::DeliverBatch(envs)
                } else {
                    Request::MailboxPutBatch(envs)
                }
            }
            _ => return Err(ProtocolError::Malformed),
        };
        r.finish()?;
        Ok(req)
    }
}

impl Response {
    /// Encodes the body (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        match self {
            Response::Accepted => v.put_u8(1),
            Response::Rejected(c) => {
                v.put_u8(2);
                v.put_u8(*c as u8);
            }
            Response::Mail(items) => {
                v.put_u8(3);
                let n = items.len().min(MAX_MAIL_ITEMS);
                v.put_u16(u16::try_from(n).unwrap_or(0));
                for (id, env) in items.iter().take(n) {
                    v.put(id);
                    v.put_bytes_u32(env);
                }
            }
            Response::Acked(n) => {
                v.put_u8(4);
                v.put_u32(*n);
            }
            Response::Results(codes) => {
                v.put_u8(5);
                let n = codes.len().min(MAX_BATCH);
                v.put_u16(u16::try_from(n).unwrap_or(0));
                for c in codes.iter().take(n) {
                    v.put_u8(c.map_or(0, |c| c as u8));
                }
            }
        }
        v
    }

    /// Decodes a body. Untrusted input.
    pub fn decode(b: &[u8]) -> Result<Self, ProtocolError> {
        if b.len() > MAX_RESPONSE_LEN {
            return Err(ProtocolError::TooLarge);
        }
        let mut r = Reader::new(b);
        let resp = match r.u8()? {
            1 => Response::Accepted,
            2 => Response::Rejected(reject_code(r.u8()?)?),
            3 => {
                let n = usize::from(r.u16()?);
                if n > MAX_MAIL_ITEMS {
                    return Err(ProtocolError::Malformed);
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = r.array()?;
                    items.push((id, r.bytes_u32(MAX_ENVELOPE_LEN)?.to_vec()));
                }
                Response::Mail(items)
            }
            4 => Response::Acked(r.u32()?),
            5 => {
                let n = usize::from(r.u16()?);
                if n == 0 || n > MAX_BATCH {
                    return Err(ProtocolError::Malformed);
                }
                let mut codes = Vec::with_capacity(n);
                for _ in 0..n {
                    codes.push(match r.u8()? {
                        0 => None,
                        c => Some(reject_code(c)?),
                    });
                }
                Response::Results(codes)
            }
            _ => return Err(ProtocolError::Malformed),
        };
        r.finish()?;
        Ok(resp)
    }
}

impl wire::Codec for Request {
    type Error = ProtocolError;
    const MAX_LEN: usize = MAX_REQUEST_LEN;
    fn to_wire(&self) -> Result<Vec<u8>, ProtocolError> {
        Ok(self.encode())
    }
    fn from_wire(bytes: &[u8]) -> Result<Self, ProtocolError> {
        Self::decode(bytes)
    }
}

impl wire::Codec for Response {
    type Error = ProtocolError;
    const MAX_LEN: usize = MAX_RESPONSE_LEN;
    fn to_wire(&self) -> Result<Vec<u8>, ProtocolError> {
        Ok(self.encode())
    }
    fn from_wire(bytes: &[u8]) -> Result<Self, ProtocolError> {
        Self::decode(bytes)
    }
}

fn reject_code(c: u8) -> Result<RejectCode, ProtocolError> {
    Ok(match c {
        1 => RejectCode::Malformed,
        2 => RejectCode::NotAccepted,
        3 => RejectCode::QuotaExceeded,
        4 => RejectCode::Unsupported,
        5 => RejectCode::TryLater,
        _ => return Err(ProtocolError::Malformed),
    })
}

/// The libp2p codec: length-prefixed frames with strict limits.
///
/// It also carries the request-read budget of one connection (`super::budget`). libp2p's
/// request-response behaviour clones its codec once for each connection (into the
/// connection's handler) and the handler's codec once for each stream: the behaviour's
/// codec is a template without a budget, a clone of the template starts a connection's
/// budget (for the peer [`budget::Behaviour`] names), and clones of that share it.
#[derive(Default)]
pub struct Codec {
    peers: std::sync::Arc<budget::Peers>,
    connection: Option<std::sync::Arc<budget::ConnectionBudget>>,
}

impl Codec {
    /// A template whose connections learn their peer, and whether it is a contact, from
    /// `peers`.
    pub fn with_peers(peers: std::sync::Arc<budget::Peers>) -> Self {
        Self {
            peers,
            connection: None,
        }
    }

    /// This connection's budget (a template's clone has one).
    #[cfg(test)]
    pub(super) fn budget(&self) -> Option<&std::sync::Arc<budget::ConnectionBudget>> {
        self.connection.as_ref()
    }
}

impl Clone for Codec {
    fn clone(&self) -> Self {
        let connection = self.connection.clone().unwrap_or_else(|| {
            std::sync::Arc::new(budget::ConnectionBudget::new(
                self.peers.take_next(),
                self.peers.clone(),
            ))
        });
        Self {
            peers: self.peers.clone(),
            connection: Some(connection),
        }
    }
}

pub use super::budget::MAX_BUFFERED_PER_CONNECTION;
use super::budget::{self, ReadBudget, SMALL_REQUEST_LEN};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::io;

/// Reads one length-prefixed frame of at most `max` bytes. With a `budget` (requests from
/// peers), a frame over [`SMALL_REQUEST_LEN`] takes its buffer from the connection's share
/// and from its pool (`budget`) while it fills; if either is spent, the frame is
/// read in small pieces and discarded, and `None` returned (answer "try later").
async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
    budget: Option<&std::sync::Arc<budget::ConnectionBudget>>,
) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = usize::try_from(u32::from_be_bytes(len))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "frame too large"))?;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let _budget = match budget {
        Some(connection) if len > SMALL_REQUEST_LEN => match ReadBudget::take(connection, len) {
            Some(b) => Some(b),
            None => {
                skip(io, len).await?;
                return Ok(None);
            }
        },
        _ => None,
    };
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

/// Reads and discards `len` bytes, a small piece at a time.
async fn skip<T: AsyncRead + Unpin + Send>(io: &mut T, mut len: usize) -> io::Result<()> {
    let mut piece = [0u8; 4096];
    while len > 0 {
        let n = len.min(piece.len());
        let part = piece.get_mut(..n).unwrap_or_default();
        io.read_exact(part).await?;
        len -= n;
    }
    Ok(())
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(body).await?;
    io.close().await
}

fn invalid(e: ProtocolError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl libp2p::request_response::Codec for Codec {
    type Protocol = libp2p::StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        // Without a connection (used outside libp2p): a stranger's budget of its own.
        let peers = self.peers.clone();
        let connection = self
            .connection
            .get_or_insert_with(|| std::sync::Arc::new(budget::ConnectionBudget::new(None, peers)));
        match read_frame(io, MAX_REQUEST_LEN, Some(connection)).await? {
            Some(body) => Request::decode(&body).map_err(invalid),
            None => Ok(Request::Unread),
        }
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, MAX_RESPONSE_LEN, None)
            .await?
            .ok_or_else(|| io::Error::other("response frame skipped"))?;
        Response::decode(&body).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req.encode()).await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res.encode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches encode/decode mismatches for every variant.
    #[test]
    fn round_trip() {
        let reqs = [
            Request::Deliver(vec![1, 2, 3]),
            Request::MailboxPut(vec![9; 300]),
            Request::MailboxFetch(vec![[1; 32], [2; 32]]),
            Request::MailboxAck {
                key: [3; 32],
                ids: vec![[4; 16]],
            },
            Request::DeliverBatch(vec![vec![1; 10], vec![2; 2000]]),
            Request::MailboxPutBatch(vec![vec![3; 300], vec![4; 1]]),
        ];
        for r in reqs {
            assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        }
        let resps = [
            Response::Accepted,
            Response::Rejected(RejectCode::QuotaExceeded),
            Response::Mail(vec![([5; 16], vec![7; 100])]),
            Response::Acked(3),
            Response::Results(vec![None, Some(RejectCode::TryLater)]),
        ];
        for r in resps {
            assert_eq!(Response::decode(&r.encode()).unwrap(), r);
        }
    }

    /// Catches decoders that accept junk, empty or oversized input.
    #[test]
    fn rejects() {
        assert_eq!(Request::decode(&[]), Err(ProtocolError::Truncated));
        assert_eq!(Request::decode(&[9]), Err(ProtocolError::Malformed));
        assert_eq!(Request::decode(&[1]), Err(ProtocolError::Truncated));
        assert_eq!(Request::decode(&[3, 0]), Err(ProtocolError::Malformed));
        assert_eq!(
            Request::decode(&vec![1; MAX_REQUEST_LEN + 1]),
            Err(ProtocolError::TooLarge)
        );
        let mut ack = Request::MailboxAck {
            key: [3; 32],
            ids: vec![[4; 16]],
        }
        .encode();
        ack.push(0);
        assert_eq!(Request::decode(&ack), Err(ProtocolError::Trailing));
        assert_eq!(Response::decode(&[3, 0, 1]), Err(ProtocolError::Truncated));
        // Batches: empty, too many, an empty envelope, a bad code.
        assert_eq!(Request::decode(&[5, 0, 0]), Err(ProtocolError::Malformed));
        let mut too_many = vec![5];
        too_many.extend_from_slice(&u16::try_from(MAX_BATCH + 1).unwrap().to_be_bytes());
        for _ in 0..=MAX_BATCH {
            too_many.extend_from_slice(&[0, 0, 0, 1, 7]);
        }
        assert_eq!(Request::decode(&too_many), Err(ProtocolError::Malformed));
        assert_eq!(
            Request::decode(&[5, 0, 1, 0, 0, 0, 0]),
            Err(ProtocolError::Truncated)
        );
        assert_eq!(
            Response::decode(&[5, 0, 1, 9]),
            Err(ProtocolError::Malformed)
        );
        let b = Request::DeliverBatch(vec![vec![1; 10], vec![2; 20]]);
        assert_eq!(b.encode().len(), Request::batch_len([10, 20]));
    }
}
