//! The running node: a tokio task that owns the swarm and the profile, takes
//! [`Command`]s and emits [`Event`]s.
//!
//! Delivery: an outgoing message is encrypted, stored with the ratchet state and its
//! envelope in the outbox (one durable transaction), and only then reported as
//! `queued`. The outbox is retried with exponential backoff and jitter: directly to
//! the contact, and to the contact's mailbox when the contact is unreachable. The
//! recipient stores the message (durably) before it acknowledges the hop, and sends an
//! end-to-end receipt inside the ratchet; the receipt moves the message to
//! `delivered` and removes it from the outbox. Duplicates are dropped by message id.

use crate::api::{
    self, ClientRef, Command, ContactInfo, ErrorCode, Event, MessageDirection, MessageInfo,
    MessageState, RelayState,
};
use crate::content::{Content, MAX_RECEIPT_IDS};
use crate::net::addresses;
use crate::net::protocol::{
    RejectCode, Request, Response, MAX_BATCH, MAX_FETCH_KEYS, MAX_REQUEST_LEN,
};
use crate::net::swarm::{self, SwarmOptions};
use crate::profile::Profile;
use crate::store::{
    BatchId, Contact, ContactId, DeliveryState, Direction, Incoming, Invite as StoredInvite,
    InviteError, MessageId, NewMessage, NewOutbox, OutboxEntry, Report, ReportKeys, SecretBytes,
    Staged, CONTROL_SEQ, FILE_SEQ,
};
use cairn_crypto::envelope::{Envelope, EnvelopeKind, RoutingTag};
use cairn_crypto::{
    handshake, AwaitingResponse, DecryptError, Invite, InviteKeys, MailboxKey, ProfileCard,
    SafetyNumber, Session,
};
#[cfg(feature = "sim")]
pub use footprint::Footprint;
use futures::StreamExt;
use inbound::Inbound;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use rand::{Rng, RngCore};
pub use shell::{Dial, Libp2pShell, NetEvent, NodeRng, RequestId, Responder, Shell};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::mpsc;

mod commands;
mod config;
mod contacts;
mod durability;
mod event_loop;
mod exposure;
mod files;
#[cfg(feature = "sim")]
mod footprint;
mod groups;
mod handshakes;
#[cfg(test)]
mod helper_tests;
mod inbound;
mod introductions;
mod mailbox;
pub(crate) mod mode;
mod outbox;
mod rekey;
mod reset;
mod reset_answers;
mod routing;
mod schedule;
pub mod shell;
mod swarm_events;
mod timer;
#[cfg(test)]
mod timing_tests;
mod upgrade;
mod used_invites;

/// Default invite lifetime.
pub const DEFAULT_INVITE_TTL_SECS: u64 = 7 * 24 * 3600;
/// First retry delay after a failed delivery attempt.
pub const RETRY_BASE: Duration = Duration::from_millis(500);
/// Longest retry delay.
pub const RETRY_MAX: Duration = Duration::from_secs(60);
/// After a hop took a message, resend only this much later (times the number of hops that
/// took it) if no receipt came. The default of [`NodeConfig::resend_after`].
pub const RESEND_AFTER_HOP: Duration = Duration::from_secs(600);
/// The most times one message is encrypted again for want of a receipt while its contact
/// is not heard from (see [`renew_delay`]): a mailbox then holds at most this many + 1
/// envelopes of one message, and the recipient's chain moves at most this many
/// positions per message. After the cap the message waits, parked, until the contact is
/// heard from or connects, and then starts a new round.
pub const MAX_RENEWALS: u32 = 8;
/// The longest wait between two renewals of a message.
pub const RENEW_MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// How long to wait for a receipt after the `hops`-th hop took an entry before it is sent
/// again: `resend_after` × 2^(hops − 1), at most [`RENEW_MAX_INTERVAL`]. With the default
/// 10 minutes the eight renewals of [`MAX_RENEWALS`] come after 10, 20, 40 … 1,280
/// minutes (about 42 hours in all).
pub fn renew_delay(resend_after_ms: u64, hops: u32) -> u64 {
    let max = u64::try_from(RENEW_MAX_INTERVAL.as_millis()).unwrap_or(u64::MAX);
    resend_after_ms
        .saturating_mul(1u64 << hops.saturating_sub(1).min(32))
        .min(max)
}

/// How far back to ask a mailbox for mail (its default retention plus one epoch).
pub const MAILBOX_LOOKBACK_SECS: u64 = 14 * 24 * 3600 + cairn_crypto::routing::ROUTING_EPOCH_SECS;
/// How far ahead of this node's clock a contact's clock may run and its messages still be
/// recognised, directly or in the mailbox: the protocol's `CLOCK_SKEW_EPOCHS` (2 days; PROTOCOL
/// §10). With one epoch (6 hours), as before, a contact whose clock ran 6 to 12 hours ahead (a
/// wrong time zone is enough) had every message dropped as not ours until the clocks agreed:
/// the simulator found it (docs/SIMULATION.md).
pub const TAGS_AHEAD_SECS: u64 =
    cairn_crypto::ratchet::CLOCK_SKEW_EPOCHS * cairn_crypto::routing::ROUTING_EPOCH_SECS;

/// After connecting to its relay, how long a node at most defers direct messages that
/// would skip over mail the mailbox still holds (see `catch_up_until_ms`).
pub const MAILBOX_CATCH_UP_MS: u64 = 60_000;
/// How often to collect mail from our mailbox.
pub const MAILBOX_POLL: Duration = Duration::from_secs(20);
/// How often expired (disappearing) messages are swept.
pub const SWEEP_EVERY_MS: u64 = 5_000;
/// Most outbox entries in flight at once (like a request pipeline's window).
pub const MAX_IN_FLIGHT: usize = 256;
/// While a request to a contact is in flight, the next one waits for this many due
/// envelopes (or for the answer).
pub const MIN_BATCH_WHILE_BUSY: usize = 16;
/// Most deposit requests in flight to one mailbox at once: well inside the relay's
/// streams per connection (128), and a window of at most 8 × 64 envelopes that a relay may
/// store in another order than they were sent (less than the recipient's `MAX_SKIP`).
pub const MAX_MAILBOX_REQUESTS: usize = 8;
/// Most mailbox fetch requests in flight at once (each asks for up to `MAX_FETCH_KEYS`
/// tags; a node with many contacts queues the rest).
pub const MAX_FETCH_REQUESTS: usize = 4;
/// How long after a session reset a contact's message under an unknown tag is answered
/// "try later" rather than dropped (it may have crossed the reset on the way).
pub const RESET_GRACE_MS: u64 = 10 * 60 * 1000;
/// Most delivery requests in flight to one contact at once (what a stranger's connection
/// reads at once: `net::budget::MAX_BUFFERED_PER_CONNECTION`, as older builds read a
/// contact's).
pub const MAX_REQUESTS_PER_CONTACT: usize = 8;
/// The same for a contact we send bulk chunks to (it runs this build: its node reads
/// this many at once from a contact, `net::budget::MAX_BUFFERED_PER_CONTACT_CONNECTION`).
pub const MAX_BULK_REQUESTS_PER_CONTACT: usize = crate::net::budget::MAX_CONTACT_REQUESTS_READ;
/// Outbox and housekeeping tick.
pub const TICK: Duration = Duration::from_millis(200);
/// A clock that goes back by more than this between two ticks was set back: the node's
/// waits move back with it (`clock_moved_back`).
pub const CLOCK_BACK_SLACK_MS: u64 = 2_000;

const HANDSHAKE_SETTING_PREFIX: &str = "handshake/";
/// Most answered resets kept per contact until the contact takes one (see
/// `Runtime::candidates`).
const MAX_CANDIDATES: usize = 4;
/// The setting that lists blocked contacts (their ids, 32 bytes each).
const BLOCKED_SETTING: &str = "blocked-contacts";
/// How long an inviter keeps its handshake answer for an acceptor that has not been heard
/// from (resending it like an unacknowledged message): the mailbox retention.
pub const ANSWER_KEPT_MS: u64 = 14 * 24 * 3600 * 1000;

pub use config::{NodeConfig, BENCH_ONION_PORT, STRANGER_IDLE};

/// Handle to a running node.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl NodeHandle {
    /// Sends a command; false if the node has stopped.
    pub fn send(&self, cmd: Command) -> bool {
        self.commands.send(cmd).is_ok()
    }
}

/// Starts the node on the current tokio runtime. Events arrive on the returned
/// receiver; the node stops on [`Command::Quit`] or when every handle is dropped.
pub fn start(
    profile: Profile,
    config: NodeConfig,
) -> Result<
    (
        NodeHandle,
        mpsc::UnboundedReceiver<Event>,
        tokio::task::JoinHandle<()>,
    ),
    String,
> {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (flush_tx, flush_rx) = mpsc::unbounded_channel();
    let mut node = Runtime::new(profile, config, ev_tx, flush_tx)?;
    let task = tokio::spawn(async move { node.run(cmd_rx, flush_rx).await });
    Ok((NodeHandle { commands: cmd_tx }, ev_rx, task))
}

/// An outbox entry that carries our answer to someone's handshake.
fn is_answer(e: &OutboxEntry) -> bool {
    e.seq == CONTROL_SEQ
        && Envelope::decode(&e.envelope)
            .is_ok_and(|env| env.kind == EnvelopeKind::HandshakeResponse)
}

fn hex(b: &[u8]) -> String {
    ::hex::encode(b)
}

/// Binary multiaddrs from a card or invite, as stored text; undecodable ones are skipped.
fn addr_strings(addrs: &[Vec<u8>]) -> Vec<String> {
    addrs
        .iter()
        .filter_map(|a| Multiaddr::try_from(a.clone()).ok())
        .map(|a| a.to_string())
        .collect()
}

fn mailbox_string(mailbox: Option<&Vec<u8>>) -> Option<String> {
    mailbox
        .and_then(|m| Multiaddr::try_from(m.clone()).ok())
        .map(|a| a.to_string())
}

/// A fresh outbox entry for the mirror, due at once: `created_at_ms` (for a message, its
/// display timestamp, strictly increasing per message) can run ahead of the clock in a
/// burst.
fn new_entry(
    contact: ContactId,
    id: MessageId,
    seq: u64,
    envelope: Vec<u8>,
    created_at_ms: u64,
    now_ms: u64,
) -> OutboxEntry {
    OutboxEntry {
        message_id: id,
        contact,
        seq,
        envelope,
        attempts: 0,
        next_attempt_at_ms: now_ms,
        created_at_ms,
    }
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// Where an outgoing request went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Direct,
    Mailbox,
}

enum Pending {
    /// Delivering an outbox entry for a contact.
    Outbox {
        id: MessageId,
        route: Route,
        contact: ContactId,
    },
    /// Delivering several outbox entries of one contact at once: directly
    /// (`DeliverBatch`) or into its mailbox (`MailboxPutBatch`).
    Batch {
        contact: ContactId,
        ids: Vec<MessageId>,
        route: Route,
    },
    /// Fetching mail from our mailbox.
    Fetch,
    /// Deleting fetched mail.
    Ack,
}

/// Work that may happen only once the writes before it are durable.
enum Deferred {
    Emit(Event),
    Respond(Responder, Response),
    Mirror(OutboxEntry),
    /// A message encrypted again: replaces its mirror entry, unless it was delivered
    /// meanwhile.
    Renewed(OutboxEntry),
    /// The events released with it were made: their reports are forgotten in the
    /// next flush (`store::Report`).
    Reported(ReportKeys),
}

/// Flush early when this much work waits for durability.
const MAX_DEFERRED: usize = 256;

struct ContactState {
    id: ContactId,
    contact: Contact,
    session: Option<Session>,
    online: bool,
}

/// The node: its state and decisions, driven through a [`Shell`] (libp2p in `cairn run`).
pub struct Runtime<S: Shell = Libp2pShell> {
    profile: Profile,
    config: NodeConfig,
    shell: S,
    rng: NodeRng,
    events: mpsc::UnboundedSender<Event>,
    contacts: BTreeMap<ContactId, ContactState>,
    /// Receive routing tags of every session, for the current epochs.
    tags: BTreeMap<RoutingTag, ContactId>,
    tags_epoch: u64,
    /// Each session's receiving DH steps when `tags` was built: a protocol v2 session's
    /// tags follow its ratchet, so the index is rebuilt when one of these moves.
    tags_steps: BTreeMap<ContactId, u32>,
    /// The mailbox keys of the collection under way, by tag: mail is acknowledged with the
    /// key it was collected with, even if reading it retired its chain's tags.
    fetch_keys: BTreeMap<RoutingTag, MailboxKey>,
    /// Fetch requests of the collection under way not sent yet (at most
    /// [`MAX_FETCH_REQUESTS`] are in flight).
    fetch_queue: std::collections::VecDeque<Vec<[u8; 32]>>,
    /// Handshakes we started, by response tag.
    handshakes: BTreeMap<[u8; 16], (ContactId, AwaitingResponse)>,
    /// Resets of the contact's that we answered and that it has not taken yet, oldest
    /// first, at most [`MAX_CANDIDATES`] each: the session in use changes only when the
    /// contact is heard from under one (reset_answers.rs). Kept in a setting per contact.
    candidates: BTreeMap<ContactId, Vec<reset_answers::Candidate>>,
    /// The receive routing tags of the candidates' sessions.
    candidate_tags: BTreeMap<RoutingTag, ContactId>,
    /// Per response tag of a reset *we* may start: the contact and the keys (an answer
    /// to a reset of ours that we no longer wait for is acknowledged, reset_answers.rs).
    own_reset_keys: BTreeMap<[u8; 16], (ContactId, InviteKeys)>,
    /// Answers to resets of ours that we acknowledged without taking them, and when (at
    /// most one receipt per answer per [`reset_answers::RECEIPT_GAP_MS`]).
    acked_answers: BTreeMap<MessageId, u64>,
    /// Handshake answers we sent to acceptors not yet heard from (outbox entry ids): kept
    /// and resent until the acceptor's first message proves it has the session.
    answers: BTreeMap<ContactId, MessageId>,
    pending: BTreeMap<RequestId, Pending>,
    /// Mirror of the store's outbox, so scheduling never re-reads (and re-decrypts) it.
    outbox: BTreeMap<MessageId, OutboxEntry>,
    /// Entries stored in an outbox batch record, and how many of each record are pending:
    /// the receipt that confirms a record's last ones removes the record.
    batch_of: BTreeMap<MessageId, BatchId>,
    batch_left: BTreeMap<BatchId, usize>,
    /// Writes applied but not yet flushed, and what waits for them (group commit: one
    /// flush for everything that arrived together).
    dirty: bool,
    deferred: Vec<Deferred>,
    /// Reports made since the last flush started, to forget in it (`store::Report`).
    reports_made: Vec<ReportKeys>,
    /// The flush running on a blocking thread, and the work waiting for it. While it
    /// runs the loop goes on applying writes; the next flush covers all of them.
    flushing: Option<(u64, Vec<Deferred>)>,
    next_flush_id: u64,
    in_flight: BTreeSet<MessageId>,
    /// Messages encrypted again since a hop last took them: sent as they are until one does.
    renewed: BTreeSet<MessageId>,
    /// Delivery requests in flight per contact (so that entries due meanwhile gather
    /// into the next batch instead of many small ones).
    requests: BTreeMap<ContactId, usize>,
    /// Messages a hop took whose `Sent` state is not stored yet: written at the next
    /// tick for those whose receipt has not come by then (most have, under load, and
    /// then go straight to `Delivered`).
    sent_marks: Vec<(MessageId, ContactId, u64, u64)>,
    /// In-memory backoff for entries that failed (resets on restart: resume at once).
    backoff: BTreeMap<MessageId, (u32, u64)>,
    /// Times each outbox entry was refused by its contact as unreadable (dropped, not
    /// authentic for its session), since it last got through. Kept apart from `backoff`,
    /// which a reconnect clears, so that an envelope the contact can never read reaches
    /// `MAX_DROPS` on a flapping link too (outbox.rs, `dropped_by_contact`).
    refusals: BTreeMap<MessageId, u32>,
    relay: Option<(PeerId, Multiaddr)>,
    relay_reserved: bool,
    listen_addrs: Vec<Multiaddr>,
    next_fetch_ms: u64,
    next_sweep_ms: u64,
    rejected: u64,
    /// Contacts already told that their messages are too far ahead of the session.
    too_far_ahead: BTreeSet<ContactId>,
    /// Messages that used up their renewals, per contact, until it is heard from.
    parked: BTreeMap<ContactId, Vec<MessageId>>,
    /// Contacts the user blocked (kept in the setting [`BLOCKED_SETTING`]).
    blocked: BTreeSet<ContactId>,
    /// Pending invites by the tag of their first message, with their expiry (Unix ms): the
    /// store's invites, kept in memory so a message 1 costs one lookup.
    invites: BTreeMap<[u8; 16], (InviteKeys, u64)>,
    /// Contacts with a reset we started, waiting for its answer.
    resetting: BTreeSet<ContactId>,
    /// Per reset tag a contact may start a reset under: the contact and the keys.
    reset_keys: BTreeMap<[u8; 16], (ContactId, InviteKeys)>,
    /// Pending invites made for an existing contact's new device, by `init_tag` (rekey.rs).
    invite_for: BTreeMap<[u8; 16], ContactId>,
    /// Peers on the connection limits' bypass list (contacts, our relay).
    bypassed: BTreeSet<PeerId>,
    /// Peers connected that are neither contacts nor our relay, since when (Unix ms).
    strangers: BTreeMap<PeerId, u64>,
    /// Where each stranger connected from directly (None through a relay: the address is
    /// the relay's), and how many requests of theirs were dropped as not for us.
    stranger_sources: BTreeMap<PeerId, crate::net::ip_limits::Source>,
    dropped_from: crate::relay::RateLimit<Result<crate::net::ip_limits::Source, PeerId>>,
    /// Contacts the user was told can only be reached at local addresses (once a run).
    warned_local: BTreeSet<ContactId>,
    /// When each contact's session was last replaced by a reset (Unix ms).
    reset_at: BTreeMap<ContactId, u64>,
    /// Contacts told which protocol we speak (upgrade.rs), and whether one is due.
    announced: BTreeSet<ContactId>,
    announce_due: bool,
    /// Mailboxes that failed a `MailboxPutBatch` before any succeeded (a previous
    /// version): single deposits.
    no_mailbox_batch: BTreeSet<PeerId>,
    /// Mailboxes that took a `MailboxPutBatch`: never marked as unable to.
    mailbox_batches_ok: BTreeSet<PeerId>,
    /// Deposit requests in flight per mailbox, and the mailbox of each such request.
    mailbox_load: BTreeMap<PeerId, usize>,
    mailbox_rids: BTreeMap<RequestId, PeerId>,
    /// Until then (Unix ms) the mailbox is being collected after a (re)connection: a
    /// message delivered directly that would make its session give up skipped keys is
    /// answered "try later" instead of read. 0 once the mailbox is drained.
    catch_up_until_ms: u64,
    /// Envelopes being processed came from the mailbox (not delivered directly).
    reading_mail: bool,
    /// The peer whose request is being processed (None: mail from our mailbox).
    direct_from: Option<PeerId>,
    /// The last collection found a full response: fetch again once acknowledged.
    fetch_more: bool,
    /// Last `sent_at` used: strictly increasing, so the display order is total.
    last_sent_ms: u64,
    /// The clock at the last housekeeping tick (to notice it going back).
    last_tick_ms: u64,
    ready_sent: bool,
    /// Our listen addresses changed since the last tick: announce the card if it changed.
    card_changed: bool,
    stopping: bool,
    /// A switch of mode under way (`mode.rs`).
    switching: Option<mode::Switch>,
    /// The groups this node is (or was) in, by id: each one's membership log.
    groups: BTreeMap<crate::group::GroupId, crate::group::Log>,
    /// Outbox entries that are copies of a group's message or change (groups.rs).
    copy_of: BTreeMap<MessageId, groups::CopyOf>,
    /// Introductions received and waiting for the user's answer, by id: who sent each.
    intros: BTreeMap<[u8; 16], (ContactId, crate::intro::Introduction)>,
    /// Accepted introductions whose handshake this node answers, by its `init_tag`.
    intro_answers: BTreeMap<[u8; 16], introductions::IntroAnswer>,
    /// Peers met through a group's introduction and not made contacts (not listed).
    group_only: BTreeSet<ContactId>,
    /// Introduced peers that take the name they chose once their handshake is done.
    rename_on_session: BTreeSet<ContactId>,
    /// Our group messages not yet delivered to every member: how many have them, of how
    /// many they were sent to (groups/inbound.rs).
    reach: BTreeMap<MessageId, (usize, usize)>,
    /// Our pending copies (of group content, or introductions) and where their records are
    /// (member's conversation, sequence number): removed once delivered.
    copies_sent: BTreeMap<MessageId, (ContactId, u64)>,
    /// Files sent and received (files/mod.rs).
    files: files::Files,
}

impl<S: Shell> Runtime<S> {
    /// A node around `shell`, with `rng` for its randomness, loaded from the profile's store.
    pub fn with_shell(
        profile: Profile,
        config: NodeConfig,
        events: mpsc::UnboundedSender<Event>,
        shell: S,
        rng: NodeRng,
    ) -> Result<Self, String> {
        let hidden = config.hidden.is_some();
        let (relay, unsuited) = mode::relay_for(&profile.store, config.relay.as_ref(), hidden);
        let relay = match relay {
            Some(a) => Some((
                peer_of(&a).ok_or("the relay address must end in /p2p/<peer id>")?,
                a,
            )),
            None => None,
        };
        let vault = shell.vault(profile.store.paths());
        let mut rt = Self {
            profile,
            config,
            shell,
            rng,
            events,
            contacts: BTreeMap::new(),
            tags: BTreeMap::new(),
            tags_epoch: u64::MAX,
            tags_steps: BTreeMap::new(),
            fetch_keys: BTreeMap::new(),
            fetch_queue: std::collections::VecDeque::new(),
            handshakes: BTreeMap::new(),
            candidates: BTreeMap::new(),
            candidate_tags: BTreeMap::new(),
            own_reset_keys: BTreeMap::new(),
            acked_answers: BTreeMap::new(),
            answers: BTreeMap::new(),
            pending: BTreeMap::new(),
            outbox: BTreeMap::new(),
            batch_of: BTreeMap::new(),
            batch_left: BTreeMap::new(),
            dirty: false,
            deferred: Vec::new(),
            flushing: None,
            next_flush_id: 0,
            in_flight: BTreeSet::new(),
            renewed: BTreeSet::new(),
            requests: BTreeMap::new(),
            sent_marks: Vec::new(),
            backoff: BTreeMap::new(),
            refusals: BTreeMap::new(),
            relay,
            relay_reserved: false,
            listen_addrs: Vec::new(),
            next_fetch_ms: 0,
            next_sweep_ms: 0,
            rejected: 0,
            too_far_ahead: BTreeSet::new(),
            parked: BTreeMap::new(),
            blocked: BTreeSet::new(),
            resetting: BTreeSet::new(),
            invite_for: BTreeMap::new(),
            bypassed: BTreeSet::new(),
            announced: BTreeSet::new(),
            reset_at: BTreeMap::new(),
            warned_local: BTreeSet::new(),
            strangers: BTreeMap::new(),
            stranger_sources: BTreeMap::new(),
            dropped_from: crate::relay::RateLimit::new(
                crate::relay::ABUSE_PER_SEC,
                crate::relay::ABUSE_BURST,
            ),
            announce_due: false,
            invites: BTreeMap::new(),
            reset_keys: BTreeMap::new(),
            no_mailbox_batch: BTreeSet::new(),
            mailbox_batches_ok: BTreeSet::new(),
            mailbox_load: BTreeMap::new(),
            mailbox_rids: BTreeMap::new(),
            catch_up_until_ms: 0,
            reading_mail: false,
            direct_from: None,
            fetch_more: false,
            last_sent_ms: 0,
            last_tick_ms: 0,
            ready_sent: false,
            card_changed: false,
            stopping: false,
            switching: None,
            groups: BTreeMap::new(),
            copy_of: BTreeMap::new(),
            intros: BTreeMap::new(),
            intro_answers: BTreeMap::new(),
            group_only: BTreeSet::new(),
            rename_on_session: BTreeSet::new(),
            reach: BTreeMap::new(),
            copies_sent: BTreeMap::new(),
            files: files::Files::new(vault),
            reports_made: Vec::new(),
        };
        rt.load()?;
        rt.load_files()?;
        rt.repeat_reports();
        if let Some(a) = unsuited {
            let mode = if hidden {
                "in hidden mode"
            } else {
                "outside hidden mode"
            };
            let e = format!("relay {a} not used {mode} (an onion relay is for hidden mode only)");
            rt.emit(Event::error(ErrorCode::RelayUnreachable, e));
        }
        Ok(rt)
    }

    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    /// Now, in milliseconds since the Unix epoch, from the shell's clock.
    fn now_ms(&self) -> u64 {
        self.shell.now_ms()
    }

    fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// Loads contacts, sessions and pending handshakes from the store.
    fn load(&mut self) -> Result<(), String> {
        let store = &self.profile.store;
        let listing = store.contacts().map_err(|e| e.to_string())?;
        for d in &listing.damaged {
            tracing::warn!(?d, "damaged contact record skipped");
        }
        for (id, contact) in listing.items {
            let session = match store.session(&id).map_err(|e| e.to_string())? {
                Some(bytes) => Some(
                    Session::from_bytes(bytes.expose_secret())
                        .map_err(|e| format!("session state damaged: {e}"))?,
                ),
                None => None,
            };
            // A pending handshake: a contact being set up (no session yet), or a reset
            // under way (a session to replace).
            let name = format!("{HANDSHAKE_SETTING_PREFIX}{}", hex(&id.0));
            if let Some(bytes) = store.setting(&name).map_err(|e| e.to_string())? {
                let pending = AwaitingResponse::from_bytes(&bytes)
                    .map_err(|e| format!("pending handshake damaged: {e}"))?;
                self.handshakes
                    .insert(pending.response_tag().0, (id, pending));
                if session.is_some() {
                    self.resetting.insert(id);
                }
            }
            let kept = reset_answers::load_candidates(store, &id);
            if !kept.is_empty() {
                self.candidates.insert(id, kept);
            }
            self.contacts.insert(
                id,
                ContactState {
                    id,
                    contact,
                    session,
                    online: false,
                },
            );
        }
        let (outbox, members) = store.outbox_batched().map_err(|e| e.to_string())?;
        for d in &outbox.damaged {
            tracing::warn!(?d, "damaged outbox record skipped");
        }
        for (id, batch) in members {
            *self.batch_left.entry(batch).or_default() += 1;
            self.batch_of.insert(id, batch);
        }
        self.outbox = outbox
            .items
            .into_iter()
            .map(|e| (e.message_id, e))
            .collect();
        self.answers = self
            .outbox
            .values()
            .filter(|e| is_answer(e) && !self.is_candidate_answer(&e.message_id))
            .map(|e| (e.contact, e.message_id))
            .collect();
        self.load_groups()?;
        self.load_introductions()?;
        let store = &self.profile.store;
        if let Some(bytes) = store.setting(BLOCKED_SETTING).map_err(|e| e.to_string())? {
            self.blocked = bytes
                .chunks_exact(32)
                .filter_map(|c| <[u8; 32]>::try_from(c).ok().map(ContactId))
                .filter(|id| self.contacts.contains_key(id))
                .collect();
        }
        let invites = store.pending_invites().map_err(|e| e.to_string())?;
        for d in &invites.damaged {
            tracing::warn!(?d, "damaged invite record skipped");
        }
        for inv in invites.items {
            if let Ok(k) = InviteKeys::from_bytes(inv.payload.expose_secret()) {
                self.invites.insert(k.init_tag, (k, inv.expires_at_ms));
            }
        }
        self.load_invite_bindings();
        self.refresh_tags(true);
        let now = self.now_ms();
        self.bound_waits(now);
        // The clock the waits are now measured on: a clock set back before the first tick
        // is seen (and the waits moved back) as one set back later is.
        self.last_tick_ms = now;
        Ok(())
    }

    /// Listens where configured and dials the relay: the first thing a started node does.
    pub fn start_listening(&mut self) {
        let listen = if self.config.listen.is_empty() && self.config.hidden.is_some() {
            // Hidden: only behind an onion service (the transport refuses anything else).
            "/ip4/127.0.0.1/tcp/0".parse().into_iter().collect()
        } else if self.config.listen.is_empty() {
            vec![
                "/ip4/0.0.0.0/tcp/0".parse().ok(),
                "/ip4/0.0.0.0/udp/0/quic-v1".parse().ok(),
            ]
            .into_iter()
            .flatten()
            .collect()
        } else {
            self.config.listen.clone()
        };
        for a in listen {
            if let Err(e) = self.shell.listen_on(a.clone()) {
                self.emit(Event::error(
                    ErrorCode::ListenFailed,
                    format!("cannot listen on {a}: {e}"),
                ));
            }
        }
        if let Some((peer, addr)) = self.relay.clone() {
            self.shell.add_peer_address(peer, addr.clone());
            let dial = Dial {
                addrs: vec![addr],
                ..Dial::default()
            };
            if let Err(e) = self.shell.dial(dial) {
                self.emit(Event::error(ErrorCode::RelayUnreachable, e));
            }
        }
    }

    /// Whether the node was told to quit.
    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// Whether writes wait for a flush and none is running (start one).
    pub fn flush_wanted(&self) -> bool {
        self.dirty && self.flushing.is_none()
    }

    /// After a batch of inputs: flushes at once when much work waits for durability.
    pub fn after_inputs(&mut self) {
        if self.deferred.len() >= MAX_DEFERRED {
            self.flush();
        }
    }

    /// Stops: what is pending is made durable, then `Stopped`.
    pub fn stop(&mut self) {
        self.store_sent_marks();
        self.flush();
        self.emit(Event::Stopped);
    }

    pub(crate) fn housekeeping(&mut self) {
        let now = self.now_ms();
        if now.saturating_add(CLOCK_BACK_SLACK_MS) < self.last_tick_ms {
            self.clock_moved_back(self.last_tick_ms - now);
        }
        self.last_tick_ms = now;
        if !self.ready_sent && !self.listen_addrs.is_empty() {
            self.ready_sent = true;
            self.reconnect_pending();
            self.announce_card_if_changed();
            self.announce_protocol();
            self.emit(Event::Ready {
                peer_id: self.shell.local_peer_id().to_string().into(),
                addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
            });
        }
        if std::mem::take(&mut self.card_changed) {
            self.announce_card_if_changed();
        }
        if std::mem::take(&mut self.announce_due) {
            self.announce_protocol();
        }
        self.refresh_tags(false);
        self.drop_idle_strangers(now);
        self.store_sent_marks();
        self.renew_unacknowledged(now);
        self.process_outbox(now);
        self.switch_progress(now);
        if self.relay.is_some() && now >= self.next_fetch_ms {
            self.next_fetch_ms = now + u64::try_from(MAILBOX_POLL.as_millis()).unwrap_or(20_000);
            self.fetch_mail();
        }
        if now >= self.next_sweep_ms {
            self.next_sweep_ms = now + SWEEP_EVERY_MS;
            if let Err(e) = self.profile.store.sweep(now) {
                tracing::warn!(error = %e, "sweep failed");
            }
            self.sweep_used_invite_keys(now);
            // The store's sweep removed expired invites: so does the index.
            self.invites.retain(|_, (_, expires)| *expires > now);
            self.sweep_invite_bindings();
            self.sweep_files(now);
        }
    }

    // ---------------------------------------------------------------- commands
}
