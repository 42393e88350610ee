//! The two ends of a file transfer as pure state (docs/PROTOCOL.md §25.3): which chunks go
//! into the outbox next, which have been received, when a file is complete, and how fast it
//! moves. No I/O and no clock: the runtime passes `now` and stores these records.
//!
//! The sender keeps at most [`WINDOW`] chunks in flight (put in the outbox, no receipt yet),
//! and never runs more than [`SPAN`] chunks ahead of the first one not yet acknowledged, so
//! that a chunk lost again and again cannot make either side track an unbounded set. The
//! receiver refuses chunks outside that span (a hostile sender gains nothing by them).

use std::collections::BTreeSet;
use std::ops::Range;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Most chunks in flight at once (1 MiB of a file) for a transfer that may go through the
/// contact's mailbox.
pub const WINDOW: u64 = 16;
/// Most chunks ahead of the first one not yet acknowledged that are sent or taken.
pub const SPAN: u64 = 4 * WINDOW;
/// The span a recipient of this build takes for a file it takes bulk chunks for (8 MiB), and
/// the most a sender keeps in flight once the recipient said so (§25.5): the round trip of a
/// bulk chunk (read, open, hash, write, the flush that syncs it) is long enough that 4 MiB
/// in flight left the link idle part of the time.
pub const BULK_SPAN: u64 = 2 * SPAN;
/// Most chunks in flight for a transfer that moves only directly (too large for the
/// mailbox): its chunks never queue at a relay's limits, so the window is the whole span
/// (4 MiB), and a round trip costs four times less of the link.
pub const DIRECT_WINDOW: u64 = SPAN;

/// A chunk's message id, what its receipt names: derived, so that a renewed envelope of the
/// same chunk keeps it and the receiver's deduplication recognises it.
pub fn chunk_id(file: &[u8; 16], index: u64) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"cairn/v1 file chunk id");
    h.update(file);
    h.update(index.to_be_bytes());
    let d = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
    id
}

/// Why a transfer refuses a step.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum TransferError {
    /// The step does not fit the transfer's state (a chunk before acceptance, an accept
    /// after a cancel).
    #[error("the transfer is {0}")]
    State(&'static str),
    /// A chunk index past the file's end.
    #[error("no such chunk in this file")]
    BadIndex,
    /// A chunk further ahead than any honest sender sends.
    #[error("a chunk too far ahead of what was received")]
    OutOfSpan,
}

/// Chunks done, as "all below `below`" and the few done above it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkSet {
    /// Every chunk below this one is in the set.
    pub below: u64,
    /// Chunks in the set at or above `below` (at most [`SPAN`]).
    pub above: BTreeSet<u64>,
}

impl ChunkSet {
    /// True if chunk `i` is in the set.
    pub fn contains(&self, i: u64) -> bool {
        i < self.below || self.above.contains(&i)
    }

    /// Adds chunk `i`; false if it was there already.
    pub fn insert(&mut self, i: u64) -> bool {
        if self.contains(i) {
            return false;
        }
        self.above.insert(i);
        while self.above.remove(&self.below) {
            self.below += 1;
        }
        true
    }

    /// Takes chunk `i` out; false if it was not there. (Chunks between it and `below` move
    /// to `above`: take out only chunks near the top, as a check after a crash does.)
    pub fn remove(&mut self, i: u64) -> bool {
        if i >= self.below {
            return self.above.remove(&i);
        }
        self.above.extend(i + 1..self.below);
        self.below = i;
        true
    }

    /// The highest chunk in the set.
    pub fn last(&self) -> Option<u64> {
        self.above
            .last()
            .copied()
            .or_else(|| self.below.checked_sub(1))
    }

    /// Chunks in the set.
    pub fn len(&self) -> u64 {
        self.below + self.above.len() as u64
    }

    /// True if the set holds no chunk.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a transfer stands (the same words on both sides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Offered; the recipient has not answered.
    Offered,
    /// Accepted: chunks are moving.
    Moving,
    /// Every chunk arrived (and, at the recipient, the file's hash matched).
    Complete,
    /// The recipient declined it.
    Declined,
    /// One side cancelled it.
    Cancelled,
    /// The recipient found the file's hash wrong once every chunk had arrived.
    Failed,
}

impl Stage {
    /// Its name (events, docs/CLI.md).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Offered => "offered",
            Stage::Moving => "moving",
            Stage::Complete => "complete",
            Stage::Declined => "declined",
            Stage::Cancelled => "cancelled",
            Stage::Failed => "failed",
        }
    }

    /// True once nothing more happens to the transfer.
    pub fn is_over(self) -> bool {
        !matches!(self, Stage::Offered | Stage::Moving)
    }
}

/// The sending side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Chunks in the file.
    pub chunks: u64,
    /// The next chunk not yet put in the outbox.
    pub next: u64,
    /// Chunks whose receipt came.
    pub acked: ChunkSet,
    /// Where it stands.
    pub stage: Stage,
    /// Most chunks in flight ([`WINDOW`], or [`DIRECT_WINDOW`] for a transfer that moves
    /// only directly).
    pub window: u64,
    /// Most chunks past the first one not acknowledged: [`SPAN`], or the recipient's span
    /// for bulk chunks (which is also the window then).
    pub span: u64,
}

impl Outgoing {
    /// A file of `chunks` chunks, offered.
    pub fn new(chunks: u64) -> Self {
        Self {
            chunks,
            next: 0,
            acked: ChunkSet::default(),
            stage: Stage::Offered,
            window: WINDOW,
            span: SPAN,
        }
    }

    /// The recipient accepted: the chunks to put in the outbox now.
    pub fn accepted(&mut self) -> Result<Range<u64>, TransferError> {
        match self.stage {
            Stage::Offered => {
                self.stage = Stage::Moving;
                Ok(self.refill())
            }
            // Said again (a renewed control message): nothing new.
            Stage::Moving | Stage::Complete => Ok(self.next..self.next),
            s => Err(TransferError::State(s.name())),
        }
    }

    /// Chunk `index`'s receipt came: the chunks to put in the outbox now (the window moves
    /// on), empty if the receipt was known or the transfer is over.
    pub fn acknowledged(&mut self, index: u64) -> Range<u64> {
        if self.stage != Stage::Moving || index >= self.next || !self.acked.insert(index) {
            return self.next..self.next;
        }
        if self.acked.len() == self.chunks {
            self.stage = Stage::Complete;
            return self.next..self.next;
        }
        self.refill()
    }

    /// The recipient declined, or either side cancelled: chunks still in flight are to be
    /// taken out of the outbox (the caller knows which: `acked`'s complement below `next`).
    pub fn stop(&mut self, stage: Stage) {
        if !self.stage.is_over() {
            self.stage = stage;
        }
    }

    /// Chunks put in the outbox and not yet acknowledged.
    pub fn in_flight(&self) -> impl Iterator<Item = u64> + '_ {
        (self.acked.below..self.next).filter(|i| !self.acked.contains(*i))
    }

    /// Moves `next` as far as the window and the span allow; the chunks it passed (to put
    /// in the outbox now).
    pub fn refill(&mut self) -> Range<u64> {
        let start = self.next;
        let flying = self.next - self.acked.len().min(self.next);
        let room = self.window.min(self.span).saturating_sub(flying);
        let end = (self.next + room)
            .min(self.acked.below + self.span)
            .min(self.chunks)
            .max(start);
        self.next = end;
        start..end
    }
}

/// The receiving side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// Chunks in the file.
    pub chunks: u64,
    /// Chunks stored.
    pub have: ChunkSet,
    /// Where it stands.
    pub stage: Stage,
    /// Most chunks taken past the first one missing: [`SPAN`], or [`BULK_SPAN`] for a file
    /// this side takes bulk chunks for.
    pub span: u64,
}

/// What to do with a chunk that arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// A chunk not held yet: open it, store it, then record it ([`Incoming::stored`]).
    New,
    /// Held already (a renewal or a duplicate): acknowledge it again, store nothing.
    Again,
}

impl Incoming {
    /// A file of `chunks` chunks, offered.
    pub fn new(chunks: u64) -> Self {
        Self {
            chunks,
            have: ChunkSet::default(),
            stage: Stage::Offered,
            span: SPAN,
        }
    }

    /// The user accepted it.
    pub fn accept(&mut self) -> Result<(), TransferError> {
        match self.stage {
            Stage::Offered => {
                self.stage = Stage::Moving;
                Ok(())
            }
            s => Err(TransferError::State(s.name())),
        }
    }

    /// Chunk `index` arrived: whether to take it.
    pub fn arrival(&self, index: u64) -> Result<Arrival, TransferError> {
        if index >= self.chunks {
            return Err(TransferError::BadIndex);
        }
        if self.have.contains(index) {
            return Ok(Arrival::Again);
        }
        match self.stage {
            Stage::Moving if index < self.have.below + self.span => Ok(Arrival::New),
            Stage::Moving => Err(TransferError::OutOfSpan),
            s => Err(TransferError::State(s.name())),
        }
    }

    /// Chunk `index` is stored durably. True when it was the last one missing (the file is
    /// then to be checked against its hash: [`Incoming::checked`]).
    pub fn stored(&mut self, index: u64) -> bool {
        self.have.insert(index) && self.have.len() == self.chunks
    }

    /// The file's hash was checked once every chunk was stored.
    pub fn checked(&mut self, matches: bool) {
        self.stage = if matches {
            Stage::Complete
        } else {
            Stage::Failed
        };
    }

    /// Declined by the user, or cancelled by either side.
    pub fn stop(&mut self, stage: Stage) {
        if !self.stage.is_over() {
            self.stage = stage;
        }
    }
}

/// How often a transfer reports its progress.
pub const PROGRESS_EVERY_MS: u64 = 500;

/// Progress of a transfer as reported to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes moved (acknowledged by the recipient, or stored by it).
    pub bytes: u64,
    /// The file's size.
    pub total: u64,
    /// Bytes per second, averaged over the last few seconds.
    pub rate: u64,
    /// Seconds left at that rate (`None` while nothing has moved lately).
    pub eta_secs: Option<u64>,
}

/// Measures a transfer's rate and says when progress is worth reporting: at most every
/// [`PROGRESS_EVERY_MS`], and always at the end.
#[derive(Clone, Debug, Default)]
pub struct Meter {
    /// (time, bytes) samples, oldest first, spanning about five seconds.
    samples: std::collections::VecDeque<(u64, u64)>,
    last_report_ms: Option<u64>,
}

/// Time the rate is averaged over.
const RATE_WINDOW_MS: u64 = 5_000;

impl Meter {
    /// `bytes` of `total` have moved at `now`: the progress to report, if one is due.
    pub fn update(&mut self, now: u64, bytes: u64, total: u64) -> Option<Progress> {
        self.samples.push_back((now, bytes));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| now.saturating_sub(*t) >= RATE_WINDOW_MS)
        {
            self.samples.pop_front();
        }
        let done = bytes >= total;
        let due = self
            .last_report_ms
            .is_none_or(|t| now.saturating_sub(t) >= PROGRESS_EVERY_MS);
        if !done && !due {
            return None;
        }
        self.last_report_ms = Some(now);
        let rate = match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, b0)), Some(&(t1, b1))) if t1 > t0 => {
                (b1.saturating_sub(b0)).saturating_mul(1000) / (t1 - t0)
            }
            _ => 0,
        };
        let left = total.saturating_sub(bytes);
        let eta_secs = if done {
            Some(0)
        } else if rate > 0 {
            Some(left.div_ceil(rate))
        } else {
            None
        };
        Some(Progress {
            bytes: bytes.min(total),
            total,
            rate,
            eta_secs,
        })
    }
}

#[cfg(test)]
mod tests {

    /// Catches a chunk taken out that stays in, one below `below` that takes others out with
    /// it, or a wrong highest chunk.
    #[test]
    fn chunks_are_taken_out_near_the_top() {
        let mut set = ChunkSet::default();
        assert_eq!(set.last(), None);
        for i in [0, 1, 2, 3, 5, 7] {
            set.insert(i);
        }
        assert_eq!((set.below, set.last()), (4, Some(7)));
        assert!(set.remove(5) && !set.contains(5) && !set.remove(5));
        assert!(set.remove(1));
        assert_eq!(set.below, 1);
        for i in [0, 2, 3, 7] {
            assert!(set.contains(i), "{i}");
        }
        assert_eq!((set.len(), set.last()), (4, Some(7)));
        assert!(set.remove(7) && set.remove(3));
        assert_eq!(set.last(), Some(2));
        assert!(set.insert(1));
        assert_eq!(set.below, 3, "whole again up to 2");
    }
    use super::*;

    /// Would catch a window that lets more than `WINDOW` chunks fly, one that stalls, or a
    /// transfer that completes before every chunk was acknowledged.
    #[test]
    fn the_window_moves_with_receipts_and_completes() {
        let mut out = Outgoing::new(40);
        assert_eq!(out.acknowledged(0), 0..0, "nothing moves before acceptance");
        assert_eq!(out.accepted(), Ok(0..WINDOW));
        assert_eq!(
            out.accepted(),
            Ok(WINDOW..WINDOW),
            "said again: nothing new"
        );
        assert_eq!(out.acknowledged(3), WINDOW..WINDOW + 1);
        assert_eq!(
            out.acknowledged(3),
            WINDOW + 1..WINDOW + 1,
            "a receipt twice"
        );
        assert_eq!(out.acknowledged(99), WINDOW + 1..WINDOW + 1, "never sent");
        assert_eq!(out.in_flight().count() as u64, WINDOW);
        let mut sent: Vec<u64> = (0..=WINDOW).collect();
        while out.stage == Stage::Moving {
            let i = out.in_flight().next().unwrap();
            sent.extend(out.acknowledged(i));
            assert!(out.in_flight().count() as u64 <= WINDOW);
        }
        assert_eq!(out.stage, Stage::Complete);
        sent.sort_unstable();
        assert_eq!(sent, (0..40).collect::<Vec<_>>(), "each chunk sent once");
    }

    /// Would catch a direct-only transfer kept to the narrow window, or one whose wide
    /// window lets a chunk fly beyond the span the receiver takes (it would be refused).
    #[test]
    fn a_direct_transfer_flies_the_whole_span_and_no_further() {
        let mut out = Outgoing::new(1_000);
        out.window = DIRECT_WINDOW;
        assert_eq!(out.accepted(), Ok(0..SPAN));
        // Chunk 0 is never acknowledged: the rest move, but never past 0 + SPAN.
        for i in 1..SPAN {
            assert_eq!(out.acknowledged(i), out.next..out.next, "chunk {i}");
        }
        assert_eq!(out.next, SPAN);
        assert_eq!(out.acknowledged(0), SPAN..2 * SPAN, "the whole span again");
    }

    /// Would catch bulk chunks kept to the narrower span on either side: a sender that
    /// does not fill the recipient's bulk span, runs past it, or a recipient that refuses
    /// a chunk inside it (or takes one past it).
    #[test]
    fn bulk_chunks_fly_the_bulk_span_and_are_taken_within_it() {
        let mut out = Outgoing::new(1_000);
        (out.window, out.span) = (BULK_SPAN, BULK_SPAN);
        assert_eq!(out.accepted(), Ok(0..BULK_SPAN));
        for i in 1..BULK_SPAN {
            assert_eq!(out.acknowledged(i), out.next..out.next, "chunk {i}");
        }
        assert_eq!(out.acknowledged(0), BULK_SPAN..2 * BULK_SPAN);
        let mut inc = Incoming::new(1_000);
        inc.span = BULK_SPAN;
        inc.accept().unwrap();
        assert_eq!(inc.arrival(BULK_SPAN - 1), Ok(Arrival::New));
        assert_eq!(inc.arrival(BULK_SPAN), Err(TransferError::OutOfSpan));
        assert_eq!(
            Incoming {
                span: SPAN,
                ..inc.clone()
            }
            .arrival(SPAN),
            Err(TransferError::OutOfSpan)
        );
    }

    /// Would catch a sender that runs unboundedly ahead while one chunk is never
    /// acknowledged (the receiver would then refuse its chunks).
    #[test]
    fn a_stuck_chunk_stops_the_sender_within_the_span() {
        let mut out = Outgoing::new(1_000);
        out.accepted().unwrap();
        for _ in 0..500 {
            let Some(i) = out.in_flight().find(|&i| i != 0) else {
                break;
            };
            out.acknowledged(i);
        }
        assert_eq!(out.next, SPAN, "no further than the span past chunk 0");
        let mut inc = Incoming::new(1_000);
        inc.accept().unwrap();
        for i in 1..SPAN {
            assert_eq!(inc.arrival(i), Ok(Arrival::New));
            assert!(!inc.stored(i));
        }
        assert_eq!(inc.arrival(SPAN), Err(TransferError::OutOfSpan));
        assert_eq!(inc.arrival(0), Ok(Arrival::New));
        inc.stored(0);
        assert_eq!(inc.have.below, SPAN);
        assert!(inc.have.above.is_empty());
    }

    /// Would catch chunks taken before acceptance or after a cancel, an index past the end
    /// taken, a duplicate stored twice, or completion announced early.
    #[test]
    fn the_receiver_takes_each_chunk_once_and_only_while_moving() {
        let mut inc = Incoming::new(3);
        assert_eq!(inc.arrival(0), Err(TransferError::State("offered")));
        inc.accept().unwrap();
        assert_eq!(inc.accept(), Err(TransferError::State("moving")));
        assert_eq!(inc.arrival(3), Err(TransferError::BadIndex));
        assert!(!inc.stored(2));
        assert_eq!(inc.arrival(2), Ok(Arrival::Again));
        assert!(!inc.stored(2), "stored twice counts once");
        assert!(!inc.stored(0));
        assert!(inc.stored(1), "the last missing one");
        inc.checked(true);
        assert_eq!(inc.stage, Stage::Complete);
        inc.stop(Stage::Cancelled);
        assert_eq!(inc.stage, Stage::Complete, "over is over");
        let mut other = Incoming::new(2);
        other.accept().unwrap();
        other.stop(Stage::Cancelled);
        assert_eq!(other.arrival(0), Err(TransferError::State("cancelled")));
        let mut out = Outgoing::new(2);
        out.stop(Stage::Declined);
        assert_eq!(out.accepted(), Err(TransferError::State("declined")));
    }

    /// Would catch a chunk id that does not depend on the file or the index.
    #[test]
    fn chunk_ids_differ_by_file_and_index() {
        let a = chunk_id(&[1; 16], 0);
        assert_ne!(a, chunk_id(&[1; 16], 1));
        assert_ne!(a, chunk_id(&[2; 16], 0));
        assert_eq!(a, chunk_id(&[1; 16], 0));
    }

    /// Would catch progress reported more often than every 500 ms, not at the end, or a
    /// wrong rate and time left.
    #[test]
    fn progress_is_rate_limited_with_rate_and_eta() {
        let mut m = Meter::default();
        let p = m.update(0, 0, 10_000).unwrap();
        assert_eq!((p.rate, p.eta_secs), (0, None));
        assert_eq!(m.update(100, 100, 10_000), None);
        let p = m.update(1_000, 1_000, 10_000).unwrap();
        assert_eq!(p.rate, 1_000);
        assert_eq!(p.eta_secs, Some(9));
        assert_eq!(m.update(1_200, 1_200, 10_000), None);
        let p = m.update(1_300, 10_000, 10_000).unwrap();
        assert_eq!(p.eta_secs, Some(0));
        assert_eq!(p.bytes, 10_000);
        // Only the last five seconds count.
        let mut m = Meter::default();
        m.update(0, 0, 1 << 30);
        m.update(10_000, 100_000_000, 1 << 30);
        let p = m.update(20_000, 100_010_000, 1 << 30).unwrap();
        assert_eq!(p.rate, 1_000);
    }
}
