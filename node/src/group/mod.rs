//! Private groups (docs/PROTOCOL.md §24): pairwise fan-out over pairwise sessions. This
//! module is the pure core — no store, network or clock: who is a member and who is an
//! admin, decided the same way on every member from the changes each has received
//! (`membership`), and the order in which every member shows a group's messages ([`Stamp`]).
//!
//! Members are known by their identity keys ([`MemberKey`]); aliases stay local.

pub mod membership;
#[cfg(test)]
mod order_tests;
pub mod wire;

pub use membership::{Change, ChangeError, Inserted, Log, LogError, Member, Membership, Op};

/// A group member's identity key: the name every member uses for it (aliases are local).
/// `Debug` shows no key (a key identifies a person).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberKey(pub [u8; 32]);

impl std::fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemberKey(..)")
    }
}

/// A group's id: 16 random bytes chosen by its creator. It travels only inside the
/// ratchet (relays and observers never see it). `Debug` shows none of it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub [u8; 16]);

impl std::fmt::Debug for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupId(..)")
    }
}

/// Where a membership change or a message stands in a group's one order: a Lamport clock
/// (one more than the highest the author had seen when it wrote), then the author's key to
/// break ties. Every member sorts by it, so every member applies the same changes in the
/// same order and shows the messages in the same order; what an author had seen when it
/// wrote comes before what it wrote (causal order), and a late or offline member's
/// catch-up lands in its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// Lamport clock.
    pub clock: u64,
    /// Who wrote it.
    pub author: MemberKey,
}

/// Highest clock a stamp may carry: far beyond any real group (a change or a message per
/// millisecond for 290 million years), and no overflow when one more is added.
pub const MAX_CLOCK: u64 = u64::MAX / 2;

/// How far past the highest clock a member has seen a received change or message may be
/// stamped. A clock only grows by one per change or message its author saw; one stamped
/// near [`MAX_CLOCK`] by a hostile member would use up the clock for everyone (every later
/// stamp the same, no change possible), so such a stamp is refused. 2^24 steps is sixteen
/// million changes and messages the recipient has not seen.
pub const MAX_CLOCK_STEP: u64 = 1 << 24;

/// Whether a stamp's `clock` is within [`MAX_CLOCK_STEP`] of `seen`, the highest clock a
/// member has seen.
pub fn plausible_clock(seen: u64, clock: u64) -> bool {
    clock <= seen.saturating_add(MAX_CLOCK_STEP)
}

/// How a member treats a group message, by its log (docs/PROTOCOL.md §24.3). Judged again
/// whenever the log changes, so that every member ends showing the same messages whatever
/// order the changes and the messages arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Shown: its author and this member were both members just before its stamp.
    Shown,
    /// Kept, not shown: its author was not a member just before its stamp, as far as this
    /// log knows (the change that added it may be on its way).
    Held,
    /// Not for this member, which was not a member just before its stamp: not kept (and
    /// deleted if it was).
    NotForUs,
}

/// How `me` treats a message stamped `stamp` (its author is `stamp.author`), by `log`.
pub fn visibility(log: &Log, stamp: Stamp, me: &MemberKey) -> Visibility {
    visibility_in(&log.state_before(stamp), stamp, me)
}

/// [`visibility`] given the membership just before `stamp` (to judge many messages with
/// one fold per stamp).
pub fn visibility_in(before: &Membership, stamp: Stamp, me: &MemberKey) -> Visibility {
    if !before.is_member(me) {
        Visibility::NotForUs
    } else if before.is_member(&stamp.author) {
        Visibility::Shown
    } else {
        Visibility::Held
    }
}
