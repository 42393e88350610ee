//! Group membership as a log of changes and one deterministic rule (docs/PROTOCOL.md
//! §24.2).
//!
//! Every change an admin (or a leaving member) makes is an [`Op`] stamped with a Lamport
//! clock and its author ([`Stamp`]). A member's view of the group is the fold of every op it
//! has received, **in stamp order**, each op checked against the state the ops before it
//! left ([`Membership::check`]): an op whose author was not an admin at that point, or
//! that no longer makes sense (removing someone already removed), is skipped. The state
//! is a function of the *set* of ops, not of the order they arrived in, so two members
//! that have received the same ops agree, whatever the delays, duplicates and crossings —
//! concurrent changes by two admins included (e.g. each removing the other: the one with
//! the lower stamp goes first, and the other's author is no longer an admin when its turn
//! comes). Convergence is property-tested below.

use super::{MemberKey, Stamp, MAX_CLOCK};
use cairn_crypto::wire::{Codec, Reader, WireError, Writer};
use std::collections::BTreeMap;
use thiserror::Error;

/// Most members of a group (the creator included).
pub const MAX_MEMBERS: usize = 100;
/// Most changes a group's log holds: membership changes, not messages (a group that
/// changed members four thousand times is refused further changes, with a typed error).
pub const MAX_OPS: usize = 4096;
/// Longest group name, in bytes of UTF-8.
pub const MAX_GROUP_NAME_LEN: usize = 64;
/// Longest encoded op: clock, author, kind and the longest body (a name with its length).
pub const MAX_OP_LEN: usize = 8 + 32 + 1 + 1 + MAX_GROUP_NAME_LEN;

/// A change to a group's membership.
#[derive(Clone, PartialEq, Eq)]
pub enum Change {
    /// The group begins, with its author as its first member and admin. Valid only as the
    /// first change that takes effect.
    Create {
        /// The group's name.
        name: String,
    },
    /// An admin adds a member (not an admin).
    Add(MemberKey),
    /// An admin removes another member.
    Remove(MemberKey),
    /// An admin makes a member an admin.
    Promote(MemberKey),
    /// An admin takes an admin's role away (at least one admin stays).
    Demote(MemberKey),
    /// The author leaves. If it was the last admin, the longest-standing member becomes
    /// admin.
    Leave,
    /// An admin renames the group.
    Rename(String),
}

impl std::fmt::Debug for Change {
    /// Names are what people called their group: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Create { .. } => f.write_str("Create"),
            Change::Add(m) => write!(f, "Add({m:?})"),
            Change::Remove(m) => write!(f, "Remove({m:?})"),
            Change::Promote(m) => write!(f, "Promote({m:?})"),
            Change::Demote(m) => write!(f, "Demote({m:?})"),
            Change::Leave => f.write_str("Leave"),
            Change::Rename(_) => f.write_str("Rename"),
        }
    }
}

/// A change with its place in the group's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Its place: Lamport clock and author.
    pub stamp: Stamp,
    /// The change.
    pub change: Change,
}

/// One member as the group sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// May change the membership.
    pub admin: bool,
    /// The op that made it a member (the creator's `Create`, or an `Add`).
    pub since: Stamp,
}

/// What the ops received so far make of a group.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Membership {
    /// Who created it (`None` until its `Create` has been received).
    pub creator: Option<MemberKey>,
    /// Its name.
    pub name: String,
    /// Its members now.
    pub members: BTreeMap<MemberKey, Member>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("created", &self.creator.is_some())
            .field("members", &self.members.len())
            .field("admins", &self.admins())
            .finish_non_exhaustive()
    }
}

/// Why a change is refused (by the rule, or before it is proposed).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeError {
    /// `Create` on a group that exists.
    #[error("the group already exists")]
    AlreadyCreated,
    /// Any other change before the group's `Create`.
    #[error("the group does not exist (yet)")]
    NotCreated,
    /// The author is not a member.
    #[error("only a member can do that")]
    NotMember,
    /// The author is not an admin.
    #[error("only an admin can do that")]
    NotAdmin,
    /// Adding a member twice.
    #[error("already a member")]
    AlreadyMember,
    /// Removing, promoting or demoting someone who is not a member.
    #[error("not a member of the group")]
    NoSuchMember,
    /// Promoting an admin.
    #[error("already an admin")]
    AlreadyAdmin,
    /// Demoting a member who is not an admin.
    #[error("not an admin")]
    NotAnAdmin,
    /// Adding a member past [`MAX_MEMBERS`].
    #[error("a group has at most {MAX_MEMBERS} members")]
    GroupFull,
    /// Demoting the last admin.
    #[error("a group keeps at least one admin")]
    LastAdmin,
    /// `Remove` of oneself (leaving is `Leave`).
    #[error("to leave a group, leave it")]
    RemoveSelf,
    /// An empty, too long or deceptive name.
    #[error("a group name is 1 to {MAX_GROUP_NAME_LEN} bytes of visible text")]
    BadName,
    /// The log is full ([`MAX_OPS`]).
    #[error("the group has changed too often ({MAX_OPS} changes)")]
    LogFull,
}

impl Membership {
    /// Whether `who` is a member.
    pub fn is_member(&self, who: &MemberKey) -> bool {
        self.members.contains_key(who)
    }

    /// Whether `who` is an admin.
    pub fn is_admin(&self, who: &MemberKey) -> bool {
        self.members.get(who).is_some_and(|m| m.admin)
    }

    /// How many admins.
    pub fn admins(&self) -> usize {
        self.members.values().filter(|m| m.admin).count()
    }

    /// Whether `author` may make `change` now: the rule every member applies to every op,
    /// in stamp order.
    pub fn check(&self, author: &MemberKey, change: &Change) -> Result<(), ChangeError> {
        if let Change::Create { name } = change {
            if self.creator.is_some() {
                return Err(ChangeError::AlreadyCreated);
            }
            return valid_name(name);
        }
        if self.creator.is_none() {
            return Err(ChangeError::NotCreated);
        }
        if !self.is_member(author) {
            return Err(ChangeError::NotMember);
        }
        if !matches!(change, Change::Leave) && !self.is_admin(author) {
            return Err(ChangeError::NotAdmin);
        }
        match change {
            Change::Create { .. } | Change::Leave => Ok(()),
            Change::Add(m) if self.is_member(m) => Err(ChangeError::AlreadyMember),
            Change::Add(_) if self.members.len() >= MAX_MEMBERS => Err(ChangeError::GroupFull),
            Change::Add(_) => Ok(()),
            Change::Remove(m) if m == author => Err(ChangeError::RemoveSelf),
            Change::Remove(m) | Change::Promote(m) | Change::Demote(m) if !self.is_member(m) => {
                Err(ChangeError::NoSuchMember)
            }
            Change::Remove(_) => Ok(()),
            Change::Promote(m) if self.is_admin(m) => Err(ChangeError::AlreadyAdmin),
            Change::Promote(_) => Ok(()),
            Change::Demote(m) if !self.is_admin(m) => Err(ChangeError::NotAnAdmin),
            Change::Demote(_) if self.admins() <= 1 => Err(ChangeError::LastAdmin),
            Change::Demote(_) => Ok(()),
            Change::Rename(name) => valid_name(name),
        }
    }

    /// Applies `change` by `stamp.author` if the rule allows it; otherwise changes nothing.
    fn apply(&mut self, stamp: Stamp, change: &Change) -> Result<(), ChangeError> {
        self.check(&stamp.author, change)?;
        let member = |admin| Member {
            admin,
            since: stamp,
        };
        match change {
            Change::Create { name } => {
                self.creator = Some(stamp.author);
                self.name.clone_from(name);
                self.members.insert(stamp.author, member(true));
            }
            Change::Add(m) => {
                self.members.insert(*m, member(false));
            }
            Change::Remove(m) => {
                self.members.remove(m);
            }
            Change::Promote(m) | Change::Demote(m) => {
                if let Some(x) = self.members.get_mut(m) {
                    x.admin = matches!(change, Change::Promote(_));
                }
            }
            Change::Leave => {
                self.members.remove(&stamp.author);
                if self.admins() == 0 {
                    // The longest-standing member takes over (the same one on every member:
                    // `since` stamps are unique).
                    if let Some(next) = self.members.values_mut().min_by_key(|m| m.since) {
                        next.admin = true;
                    }
                }
            }
            Change::Rename(name) => self.name.clone_from(name),
        }
        Ok(())
    }
}

/// A group name: 1 to [`MAX_GROUP_NAME_LEN`] bytes, no control or deceptive characters
/// (as display names, docs/PROTOCOL.md §6).
fn valid_name(name: &str) -> Result<(), ChangeError> {
    if name.is_empty()
        || name.len() > MAX_GROUP_NAME_LEN
        || name.trim().is_empty()
        || name
            .chars()
            .any(|c| c.is_control() || cairn_crypto::card::is_deceptive(c))
    {
        return Err(ChangeError::BadName);
    }
    Ok(())
}

/// Why an op cannot go into a log (the log is then unchanged).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogError {
    /// Another change with the same stamp is in the log: its author wrote two changes
    /// with one clock (a broken or hostile node); the first one received stays.
    #[error("two different changes carry the same stamp")]
    Conflict,
    /// The log holds [`MAX_OPS`] changes.
    #[error("the group's log is full")]
    Full,
    /// A clock of 0 or past [`MAX_CLOCK`].
    #[error("a change's clock is out of range")]
    BadClock,
}

/// What [`Log::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The op is new to the log (the state may or may not have changed: the rule may skip
    /// it).
    New,
    /// The log had it already (a duplicate): nothing changed.
    Known,
}

/// A group's membership log on one member: every op received and the state they make.
#[derive(Clone, Debug, Default)]
pub struct Log {
    ops: BTreeMap<Stamp, Change>,
    state: Membership,
    clock: u64,
}

impl Log {
    /// An empty log (a group not created yet, or not yet known to this member).
    pub fn new() -> Self {
        Self::default()
    }

    /// The membership the ops received so far make.
    pub fn state(&self) -> &Membership {
        &self.state
    }

    /// The highest clock seen (in ops, and in messages through [`Log::observe`]).
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// How many ops the log holds (skipped ones included).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Every op, in stamp order (for a new member's welcome).
    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        self.ops.iter().map(|(stamp, change)| Op {
            stamp: *stamp,
            change: change.clone(),
        })
    }

    /// Takes note of a clock seen in a group message, so that what this member writes next
    /// comes after it.
    pub fn observe(&mut self, clock: u64) {
        self.clock = self.clock.max(clock.min(MAX_CLOCK));
    }

    /// The stamp this member's next change or message gets.
    pub fn next_stamp(&self, me: MemberKey) -> Stamp {
        Stamp {
            clock: self.clock.saturating_add(1).min(MAX_CLOCK),
            author: me,
        }
    }

    /// Adds a received op and recomputes the state. A rejected op leaves the log as it was.
    pub fn insert(&mut self, op: Op) -> Result<Inserted, LogError> {
        if op.stamp.clock == 0 || op.stamp.clock > MAX_CLOCK {
            return Err(LogError::BadClock);
        }
        if let Some(known) = self.ops.get(&op.stamp) {
            return if *known == op.change {
                Ok(Inserted::Known)
            } else {
                Err(LogError::Conflict)
            };
        }
        if self.ops.len() >= MAX_OPS {
            return Err(LogError::Full);
        }
        let last = self.ops.keys().next_back().copied();
        self.clock = self.clock.max(op.stamp.clock);
        if last.is_none_or(|l| l < op.stamp) {
            // After every op known: applied on top (the common case).
            let _ = self.state.apply(op.stamp, &op.change);
            self.ops.insert(op.stamp, op.change);
        } else {
            // Into the past: everything after it may now fold differently.
            self.ops.insert(op.stamp, op.change);
            self.state = fold(self.ops.iter().map(|(s, c)| (*s, c)));
        }
        Ok(Inserted::New)
    }

    /// Makes a change as `me`: checked against the state now, stamped after everything
    /// this member has seen, and added to the log. The op is what goes to the members.
    pub fn propose(&mut self, me: MemberKey, change: Change) -> Result<Op, ChangeError> {
        self.state.check(&me, &change)?;
        let op = Op {
            stamp: self.next_stamp(me),
            change,
        };
        // The only refusals left: the log is full, or this member's clock has reached
        // MAX_CLOCK (its last stamp taken) — the group's log is used up either way.
        match self.insert(op.clone()) {
            Ok(_) => Ok(op),
            Err(_) => Err(ChangeError::LogFull),
        }
    }

    /// The ops, encoded one after the other in stamp order (how the store keeps a log).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ops.len() * MAX_OP_LEN);
        for op in self.ops() {
            op.write(&mut out);
        }
        out
    }

    /// A log from [`Log::to_bytes`] (read from disk: a typed error for anything else —
    /// ops out of order or repeated, more than [`MAX_OPS`]), with `clock` as the highest
    /// clock seen (at least the ops' own).
    pub fn from_bytes(bytes: &[u8], clock: u64) -> Result<Self, OpDecodeError> {
        let mut r = Reader::new(bytes);
        let mut ops: BTreeMap<Stamp, Change> = BTreeMap::new();
        let mut last: Option<Stamp> = None;
        while r.remaining() > 0 {
            let op = Op::read(&mut r)?;
            if last.is_some_and(|l| l >= op.stamp) || ops.len() >= MAX_OPS {
                return Err(OpDecodeError::Malformed(WireError::Invalid));
            }
            last = Some(op.stamp);
            ops.insert(op.stamp, op.change);
        }
        let state = fold(ops.iter().map(|(s, c)| (*s, c)));
        let top = last.map_or(0, |l| l.clock);
        Ok(Self {
            ops,
            state,
            clock: clock.min(MAX_CLOCK).max(top),
        })
    }

    /// The membership just before `stamp` in the group's order (to decide whether the
    /// author of a message at `stamp` was a member when it wrote it).
    pub fn state_before(&self, stamp: Stamp) -> Membership {
        fold(self.ops.range(..stamp).map(|(s, c)| (*s, c)))
    }
}

/// The state `ops` (in stamp order) make, each checked by the rule in turn.
fn fold<'a>(ops: impl Iterator<Item = (Stamp, &'a Change)>) -> Membership {
    let mut state = Membership::default();
    for (stamp, change) in ops {
        let _ = state.apply(stamp, change);
    }
    state
}

/// Why an encoded op was refused.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpDecodeError {
    /// Malformed bytes.
    #[error("malformed group change: {0}")]
    Malformed(#[from] WireError),
    /// An unknown kind of change.
    #[error("unknown kind of group change")]
    UnknownKind,
    /// A clock out of range.
    #[error("a change's clock is out of range")]
    BadClock,
    /// A name that is not valid UTF-8 or breaks the name rules.
    #[error("bad group name")]
    BadName,
}

impl Op {
    /// ```text
    /// op = clock u64 | author [32] | kind u8 | body
    /// kind 1 Create  : name (u8 length, UTF-8)
    /// kind 2 Add, 3 Remove, 4 Promote, 5 Demote : member [32]
    /// kind 6 Leave   : (nothing)
    /// kind 7 Rename  : name (u8 length, UTF-8)
    /// ```
    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_u64(self.stamp.clock);
        out.put(&self.stamp.author.0);
        let member = |out: &mut Vec<u8>, kind: u8, m: &MemberKey| {
            out.put_u8(kind);
            out.put(&m.0);
        };
        match &self.change {
            Change::Create { name } => {
                out.put_u8(1);
                out.put_bytes_u8(name.as_bytes());
            }
            Change::Add(m) => member(out, 2, m),
            Change::Remove(m) => member(out, 3, m),
            Change::Promote(m) => member(out, 4, m),
            Change::Demote(m) => member(out, 5, m),
            Change::Leave => out.put_u8(6),
            Change::Rename(name) => {
                out.put_u8(7);
                out.put_bytes_u8(name.as_bytes());
            }
        }
    }

    /// Reads one op (untrusted: a typed error, never a panic).
    pub fn read(r: &mut Reader<'_>) -> Result<Self, OpDecodeError> {
        let clock = r.u64()?;
        if clock == 0 || clock > MAX_CLOCK {
            return Err(OpDecodeError::BadClock);
        }
        let author = MemberKey(r.array()?);
        let name = |r: &mut Reader<'_>| -> Result<String, OpDecodeError> {
            let bytes = r.bytes_u8(MAX_GROUP_NAME_LEN)?;
            let name = std::str::from_utf8(bytes).map_err(|_| OpDecodeError::BadName)?;
            valid_name(name).map_err(|_| OpDecodeError::BadName)?;
            Ok(name.to_owned())
        };
        let change = match r.u8()? {
            1 => Change::Create { name: name(r)? },
            2 => Change::Add(MemberKey(r.array()?)),
            3 => Change::Remove(MemberKey(r.array()?)),
            4 => Change::Promote(MemberKey(r.array()?)),
            5 => Change::Demote(MemberKey(r.array()?)),
            6 => Change::Leave,
            7 => Change::Rename(name(r)?),
            _ => return Err(OpDecodeError::UnknownKind),
        };
        Ok(Op {
            stamp: Stamp { clock, author },
            change,
        })
    }
}

impl Codec for Op {
    type Error = OpDecodeError;
    const MAX_LEN: usize = MAX_OP_LEN;
    fn to_wire(&self) -> Result<Vec<u8>, OpDecodeError> {
        if let Change::Create { name } | Change::Rename(name) = &self.change {
            valid_name(name).map_err(|_| OpDecodeError::BadName)?;
        }
        let mut out = Vec::with_capacity(MAX_OP_LEN);
        self.write(&mut out);
        Ok(out)
    }
    fn from_wire(bytes: &[u8]) -> Result<Self, OpDecodeError> {
        let mut r = Reader::new(bytes);
        let op = Op::read(&mut r)?;
        r.finish()?;
        Ok(op)
    }
}

#[cfg(test)]
mod tests;
