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
    Command, ContactInfo, ErrorCode, Event, MessageDirection, MessageInfo, MessageState, RelayState,
};
use crate::content::{Content, MAX_RECEIPT_IDS};
use crate::net::addresses;
use crate::net::protocol::{
    RejectCode, Request, Response, MAX_BATCH, MAX_FETCH_KEYS, MAX_REQUEST_LEN,
};
use crate::net::swarm::{self, Behaviour, BehaviourEvent, SwarmOptions};
use crate::profile::Profile;
use crate::store::{
    BatchId, Contact, ContactId, DeliveryState, Direction, Incoming, Invite as StoredInvite,
    InviteError, MessageId, NewMessage, NewOutbox, OutboxEntry, SecretBytes, CONTROL_SEQ,
};
use cairn_crypto::envelope::{Envelope, EnvelopeKind, RoutingTag};
use cairn_crypto::{
    handshake, AwaitingResponse, DecryptError, Invite, InviteKeys, MailboxKey, ProfileCard,
    SafetyNumber, Session,
};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, mdns, relay, Multiaddr, PeerId, Swarm};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

mod contacts;
mod rekey;
mod reset;
mod timer;
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
/// Most delivery requests in flight to one contact at once.
pub const MAX_REQUESTS_PER_CONTACT: usize = 8;
/// Outbox and housekeeping tick.
pub const TICK: Duration = Duration::from_millis(200);

const HANDSHAKE_SETTING_PREFIX: &str = "handshake/";
/// The setting that lists blocked contacts (their ids, 32 bytes each).
const BLOCKED_SETTING: &str = "blocked-contacts";
/// How long an inviter keeps its handshake answer for an acceptor that has not been heard
/// from (resending it like an unacknowledged message): the mailbox retention.
pub const ANSWER_KEPT_MS: u64 = 14 * 24 * 3600 * 1000;

/// How the node is started.
#[derive(Clone, Debug, Default)]
pub struct NodeConfig {
    /// Addresses to listen on (default: TCP and QUIC on all interfaces, random ports).
    pub listen: Vec<Multiaddr>,
    /// A relay to reserve a circuit at and use as mailbox.
    pub relay: Option<Multiaddr>,
    /// mDNS LAN discovery (and, with it, dialling local addresses).
    pub lan: bool,
    /// Dial the loopback, private and link-local addresses contacts give, without mDNS
    /// (a closed network, a VPN, several nodes on one machine). Off by default: see
    /// [`crate::net::addresses`].
    pub private_addresses: bool,
    /// How long to wait for a receipt after a hop took a message before sending it again,
    /// encrypted anew (this times the number of hops that took it). [`RESEND_AFTER_HOP`].
    pub resend_after: Duration,
    /// How long a peer that is not a contact (nor the node's relay) may stay connected:
    /// long enough to answer an invite, short enough that idle strangers do not hold
    /// connection slots for the hour-long idle timeout. [`STRANGER_IDLE`].
    pub stranger_idle: Duration,
}

/// Default of [`NodeConfig::stranger_idle`].
pub const STRANGER_IDLE: Duration = Duration::from_secs(120);

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
    let mut node = Runtime::new(profile, config, ev_tx)?;
    let task = tokio::spawn(async move { node.run(cmd_rx).await });
    Ok((NodeHandle { commands: cmd_tx }, ev_rx, task))
}

/// An outbox entry that carries our answer to someone's handshake.
fn is_answer(e: &OutboxEntry) -> bool {
    e.seq == CONTROL_SEQ
        && Envelope::decode(&e.envelope)
            .is_ok_and(|env| env.kind == EnvelopeKind::HandshakeResponse)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn now_secs() -> u64 {
    now_ms() / 1000
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
) -> OutboxEntry {
    OutboxEntry {
        message_id: id,
        contact,
        seq,
        envelope,
        attempts: 0,
        next_attempt_at_ms: now_ms(),
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
    Respond(ResponseChannel<Response>, Response),
    Mirror(OutboxEntry),
    /// A message encrypted again: replaces its mirror entry, unless it was delivered
    /// meanwhile.
    Renewed(OutboxEntry),
}

/// A finished background flush: its id and outcome.
type FlushDone = (u64, Result<(), String>);

/// Flush early when this much work waits for durability.
const MAX_DEFERRED: usize = 256;

struct ContactState {
    id: ContactId,
    contact: Contact,
    session: Option<Session>,
    online: bool,
}

struct Runtime {
    profile: Profile,
    config: NodeConfig,
    swarm: Swarm<Behaviour>,
    events: mpsc::UnboundedSender<Event>,
    contacts: HashMap<ContactId, ContactState>,
    /// Receive routing tags of every session, for the current epochs.
    tags: HashMap<RoutingTag, ContactId>,
    tags_epoch: u64,
    /// Each session's receiving DH steps when `tags` was built: a protocol v2 session's
    /// tags follow its ratchet, so the index is rebuilt when one of these moves.
    tags_steps: HashMap<ContactId, u32>,
    /// The mailbox keys of the collection under way, by tag: mail is acknowledged with the
    /// key it was collected with, even if reading it retired its chain's tags.
    fetch_keys: HashMap<RoutingTag, MailboxKey>,
    /// Fetch requests of the collection under way not sent yet (at most
    /// [`MAX_FETCH_REQUESTS`] are in flight).
    fetch_queue: std::collections::VecDeque<Vec<[u8; 32]>>,
    /// Handshakes we started, by response tag.
    handshakes: HashMap<[u8; 16], (ContactId, AwaitingResponse)>,
    /// Handshake answers we sent to acceptors not yet heard from (outbox entry ids): kept
    /// and resent until the acceptor's first message proves it has the session.
    answers: HashMap<ContactId, MessageId>,
    pending: HashMap<OutboundRequestId, Pending>,
    /// Mirror of the store's outbox, so scheduling never re-reads (and re-decrypts) it.
    outbox: HashMap<MessageId, OutboxEntry>,
    /// Entries stored in an outbox batch record, and how many of each record are pending:
    /// the receipt that confirms a record's last ones removes the record.
    batch_of: HashMap<MessageId, BatchId>,
    batch_left: HashMap<BatchId, usize>,
    /// Writes applied but not yet flushed, and what waits for them (group commit: one
    /// flush for everything that arrived together).
    dirty: bool,
    deferred: Vec<Deferred>,
    /// The flush running on a blocking thread, and the work waiting for it. While it
    /// runs the loop goes on applying writes; the next flush covers all of them.
    flushing: Option<(u64, Vec<Deferred>)>,
    next_flush_id: u64,
    flush_done: (
        mpsc::UnboundedSender<FlushDone>,
        mpsc::UnboundedReceiver<FlushDone>,
    ),
    in_flight: HashSet<MessageId>,
    /// Messages encrypted again since a hop last took them: sent as they are until one does.
    renewed: HashSet<MessageId>,
    /// Delivery requests in flight per contact (so that entries due meanwhile gather
    /// into the next batch instead of many small ones).
    requests: HashMap<ContactId, usize>,
    /// Messages a hop took whose `Sent` state is not stored yet: written at the next
    /// tick for those whose receipt has not come by then (most have, under load, and
    /// then go straight to `Delivered`).
    sent_marks: Vec<(MessageId, ContactId, u64, u64)>,
    /// In-memory backoff for entries that failed (resets on restart: resume at once).
    backoff: HashMap<MessageId, (u32, u64)>,
    relay: Option<(PeerId, Multiaddr)>,
    relay_reserved: bool,
    listen_addrs: Vec<Multiaddr>,
    next_fetch_ms: u64,
    next_sweep_ms: u64,
    rejected: u64,
    /// Contacts already told that their messages are too far ahead of the session.
    too_far_ahead: HashSet<ContactId>,
    /// Messages that used up their renewals, per contact, until it is heard from.
    parked: HashMap<ContactId, Vec<MessageId>>,
    /// Contacts the user blocked (kept in the setting [`BLOCKED_SETTING`]).
    blocked: HashSet<ContactId>,
    /// Pending invites by the tag of their first message, with their expiry (Unix ms): the
    /// store's invites, kept in memory so a message 1 costs one lookup.
    invites: HashMap<[u8; 16], (InviteKeys, u64)>,
    /// Contacts with a reset we started, waiting for its answer.
    resetting: HashSet<ContactId>,
    /// Per reset tag a contact may start a reset under: the contact and the keys.
    reset_keys: HashMap<[u8; 16], (ContactId, InviteKeys)>,
    /// Pending invites made for an existing contact's new device, by `init_tag` (rekey.rs).
    invite_for: HashMap<[u8; 16], ContactId>,
    /// Peers on the connection limits' bypass list (contacts, our relay).
    bypassed: HashSet<PeerId>,
    /// Peers connected that are neither contacts nor our relay, since when (Unix ms).
    strangers: HashMap<PeerId, u64>,
    /// Where each stranger connected from directly (None through a relay: the address is
    /// the relay's), and how many requests of theirs were dropped as not for us.
    stranger_sources: HashMap<PeerId, crate::net::ip_limits::Source>,
    dropped_from: crate::relay::RateLimit<Result<crate::net::ip_limits::Source, PeerId>>,
    /// Addresses learnt on the LAN (mDNS) per contact, at most `MAX_ADDRS` each.
    lan_addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Contacts the user was told can only be reached at local addresses (once a run).
    warned_local: HashSet<ContactId>,
    /// When each contact's session was last replaced by a reset (Unix ms).
    reset_at: HashMap<ContactId, u64>,
    /// Contacts told which protocol we speak (upgrade.rs), and whether one is due.
    announced: HashSet<ContactId>,
    announce_due: bool,
    /// Mailboxes that failed a `MailboxPutBatch` before any succeeded (a previous
    /// version): single deposits.
    no_mailbox_batch: HashSet<PeerId>,
    /// Mailboxes that took a `MailboxPutBatch`: never marked as unable to.
    mailbox_batches_ok: HashSet<PeerId>,
    /// Deposit requests in flight per mailbox, and the mailbox of each such request.
    mailbox_load: HashMap<PeerId, usize>,
    mailbox_rids: HashMap<OutboundRequestId, PeerId>,
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
    ready_sent: bool,
    /// Our listen addresses changed since the last tick: announce the card if it changed.
    card_changed: bool,
    stopping: bool,
}

impl Runtime {
    fn new(
        profile: Profile,
        config: NodeConfig,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Self, String> {
        let swarm = swarm::build(
            profile.libp2p_key.clone(),
            &SwarmOptions {
                lan: config.lan,
                ..SwarmOptions::default()
            },
        )?;
        let relay = match &config.relay {
            Some(a) => Some((
                peer_of(a).ok_or("the relay address must end in /p2p/<peer id>")?,
                a.clone(),
            )),
            None => None,
        };
        let mut rt = Self {
            profile,
            config,
            swarm,
            events,
            contacts: HashMap::new(),
            tags: HashMap::new(),
            tags_epoch: u64::MAX,
            tags_steps: HashMap::new(),
            fetch_keys: HashMap::new(),
            fetch_queue: std::collections::VecDeque::new(),
            handshakes: HashMap::new(),
            answers: HashMap::new(),
            pending: HashMap::new(),
            outbox: HashMap::new(),
            batch_of: HashMap::new(),
            batch_left: HashMap::new(),
            dirty: false,
            deferred: Vec::new(),
            flushing: None,
            next_flush_id: 0,
            flush_done: mpsc::unbounded_channel(),
            in_flight: HashSet::new(),
            renewed: HashSet::new(),
            requests: HashMap::new(),
            sent_marks: Vec::new(),
            backoff: HashMap::new(),
            relay,
            relay_reserved: false,
            listen_addrs: Vec::new(),
            next_fetch_ms: 0,
            next_sweep_ms: 0,
            rejected: 0,
            too_far_ahead: HashSet::new(),
            parked: HashMap::new(),
            blocked: HashSet::new(),
            resetting: HashSet::new(),
            invite_for: HashMap::new(),
            bypassed: HashSet::new(),
            announced: HashSet::new(),
            reset_at: HashMap::new(),
            lan_addrs: HashMap::new(),
            warned_local: HashSet::new(),
            strangers: HashMap::new(),
            stranger_sources: HashMap::new(),
            dropped_from: crate::relay::RateLimit::new(
                crate::relay::ABUSE_PER_SEC,
                crate::relay::ABUSE_BURST,
            ),
            announce_due: false,
            invites: HashMap::new(),
            reset_keys: HashMap::new(),
            no_mailbox_batch: HashSet::new(),
            mailbox_batches_ok: HashSet::new(),
            mailbox_load: HashMap::new(),
            mailbox_rids: HashMap::new(),
            catch_up_until_ms: 0,
            reading_mail: false,
            direct_from: None,
            fetch_more: false,
            last_sent_ms: 0,
            ready_sent: false,
            card_changed: false,
            stopping: false,
        };
        rt.load()?;
        Ok(rt)
    }

    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    /// Starts a flush on a blocking thread for everything applied so far.
    fn start_flush(&mut self) {
        let id = self.next_flush_id;
        self.next_flush_id += 1;
        self.dirty = false;
        self.flushing = Some((id, std::mem::take(&mut self.deferred)));
        let store = std::sync::Arc::clone(&self.profile.store);
        let tx = self.flush_done.0.clone();
        tokio::task::spawn_blocking(move || {
            let r = store.make_durable().map_err(|e| e.to_string());
            let _ = tx.send((id, r));
        });
    }

    fn flush_completed(&mut self, id: u64, result: Result<(), String>) {
        let Some((running, work)) = self.flushing.take() else {
            return;
        };
        if running != id {
            self.flushing = Some((running, work));
            return;
        }
        match result {
            Ok(()) => self.release(work),
            Err(e) => self.emit(Event::error(ErrorCode::StoreFailed, e)),
        }
    }

    /// Makes every applied write durable now (blocking the loop), then does what waited
    /// for it: events shown, hops acknowledged, envelopes released to the outbox.
    fn flush(&mut self) -> bool {
        let mut work = match self.flushing.take() {
            Some((_, w)) => w,
            None => Vec::new(),
        };
        if !self.dirty && work.is_empty() {
            return true;
        }
        self.dirty = false;
        work.append(&mut self.deferred);
        if let Err(e) = self.profile.store.make_durable() {
            // Nothing is acknowledged or shown: peers retry, and so do we after restart.
            self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
            return false;
        }
        self.release(work);
        true
    }

    fn release(&mut self, work: Vec<Deferred>) {
        for w in work {
            match w {
                Deferred::Emit(e) => self.emit(e),
                Deferred::Respond(ch, r) => {
                    let _ = self.swarm.behaviour_mut().rr.send_response(ch, r);
                }
                Deferred::Mirror(e) => {
                    self.outbox.insert(e.message_id, e);
                }
                Deferred::Renewed(e) => {
                    if let Some(current) = self.outbox.get_mut(&e.message_id) {
                        *current = e;
                    }
                }
            }
        }
        self.process_outbox(now_ms());
    }

    fn defer_mirror(
        &mut self,
        contact: ContactId,
        id: MessageId,
        seq: u64,
        envelope: Vec<u8>,
        created_at_ms: u64,
    ) {
        let entry = new_entry(contact, id, seq, envelope, created_at_ms);
        self.deferred.push(Deferred::Mirror(entry));
        self.dirty = true;
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
            .filter(|e| is_answer(e))
            .map(|e| (e.contact, e.message_id))
            .collect();
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
        Ok(())
    }

    /// Records in the mirror an outbox entry the store just made durable.
    fn mirror(&mut self, contact: ContactId, id: MessageId, seq: u64, envelope: Vec<u8>, now: u64) {
        self.outbox
            .insert(id, new_entry(contact, id, seq, envelope, now));
    }

    /// Removes an entry from the store's outbox (done) and the mirror.
    fn outbox_done(&mut self, id: &MessageId, now: u64) -> Result<bool, String> {
        let r = self
            .profile
            .store
            .mark_delivered(id, now)
            .map_err(|e| e.to_string())?;
        self.outbox.remove(id);
        self.in_flight.remove(id);
        self.backoff.remove(id);
        self.renewed.remove(id);
        Ok(r)
    }

    fn refresh_tags(&mut self, force: bool) {
        let now = now_secs();
        let epoch = now / cairn_crypto::routing::ROUTING_EPOCH_SECS;
        if !force && epoch == self.tags_epoch {
            return;
        }
        if force {
            // The set of contacts may have changed: so may the tags they reset under, and
            // the peers that connection limits never refuse.
            self.refresh_reset_keys();
            self.refresh_bypass();
        }
        self.tags_epoch = epoch;
        self.tags.clear();
        self.tags_steps.clear();
        let ahead = now + cairn_crypto::routing::ROUTING_EPOCH_SECS;
        for c in self.contacts.values() {
            if let Some(s) = &c.session {
                self.tags_steps.insert(c.id, s.receive_steps());
                for t in s.receive_tags(
                    ahead,
                    MAILBOX_LOOKBACK_SECS + cairn_crypto::routing::ROUTING_EPOCH_SECS,
                ) {
                    self.tags.insert(t, c.id);
                }
            }
        }
    }

    /// Contacts (not blocked) and the node's own relay bypass the connection limits: a
    /// flood of strangers never keeps them out.
    fn refresh_bypass(&mut self) {
        let mut wanted: HashSet<PeerId> = self
            .contacts
            .values()
            .filter(|c| !self.blocked.contains(&c.id))
            .filter_map(|c| PeerId::from_bytes(&c.contact.peer_id).ok())
            .collect();
        if let Some((relay, _)) = &self.relay {
            wanted.insert(*relay);
        }
        let b = self.swarm.behaviour_mut();
        // Hole punching only with contacts (a stranger could make us dial addresses of its
        // choosing).
        let mut contacts = wanted.clone();
        if let Some((relay, _)) = &self.relay {
            contacts.remove(relay);
        }
        b.dcutr.set_allowed(contacts);
        for p in self.bypassed.difference(&wanted) {
            b.limits.remove_peer_id(p);
            b.ip_limits.remove_bypass(p);
        }
        for p in wanted.difference(&self.bypassed) {
            b.limits.bypass_peer_id(p);
            b.ip_limits.bypass(*p);
        }
        self.bypassed = wanted;
    }

    /// Disconnects peers that are neither contacts nor our relay once they have been
    /// connected for [`NodeConfig::stranger_idle`] (a handshake with a newcomer takes a
    /// round trip; the newcomer is then a contact and stays).
    fn drop_idle_strangers(&mut self, now: u64) {
        let limit = u64::try_from(self.config.stranger_idle.as_millis()).unwrap_or(u64::MAX);
        let bypassed = &self.bypassed;
        self.strangers.retain(|p, _| !bypassed.contains(p));
        let due: Vec<PeerId> = self
            .strangers
            .iter()
            .filter(|(_, since)| now.saturating_sub(**since) >= limit)
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            self.strangers.remove(&peer);
            tracing::debug!("closing an idle connection from a stranger");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// The contact `peer` is, if a session reset with it is under way or ended less than
    /// [`RESET_GRACE_MS`] ago.
    fn resetting_contact_of(&self, peer: Option<PeerId>) -> Option<ContactId> {
        let peer = peer?.to_bytes();
        let now = now_ms();
        self.contacts
            .values()
            .find(|c| c.contact.peer_id == peer)
            .map(|c| c.id)
            .filter(|cid| {
                self.resetting.contains(cid)
                    || self.answers.contains_key(cid)
                    || self
                        .reset_at
                        .get(cid)
                        .is_some_and(|t| now < t.saturating_add(RESET_GRACE_MS))
            })
    }

    /// The contact whose session receives under `tag`. A protocol v2 session's tags move
    /// with its ratchet: on a miss, the index is rebuilt if any session has stepped
    /// since it was built (junk under random tags costs one comparison per contact).
    fn contact_for_tag(&mut self, tag: &RoutingTag) -> Option<ContactId> {
        if let Some(cid) = self.tags.get(tag) {
            return Some(*cid);
        }
        let stale = self.contacts.values().any(|c| {
            c.session
                .as_ref()
                .is_some_and(|s| self.tags_steps.get(&c.id) != Some(&s.receive_steps()))
        });
        if !stale {
            return None;
        }
        self.tags_epoch = u64::MAX;
        self.refresh_tags(false);
        self.tags.get(tag).copied()
    }

    fn card(&self) -> ProfileCard {
        let mut addrs: Vec<Vec<u8>> = Vec::new();
        let mut seen = HashSet::new();
        for a in &self.listen_addrs {
            let s = a.to_string();
            // Unspecified addresses cannot be dialled.
            if s.contains("/0.0.0.0/") || s.contains("/::/") || !seen.insert(s) {
                continue;
            }
            if addrs.len() < cairn_crypto::card::MAX_ADDRS {
                addrs.push(a.to_vec());
            }
        }
        ProfileCard {
            display_name: self.profile.display_name.clone(),
            peer_id: self.swarm.local_peer_id().to_bytes(),
            addrs,
            mailbox: self.relay.as_ref().map(|(_, a)| a.to_vec()),
        }
    }

    async fn run(&mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let listen = if self.config.listen.is_empty() {
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
            if let Err(e) = self.swarm.listen_on(a.clone()) {
                self.emit(Event::error(
                    ErrorCode::ListenFailed,
                    format!("cannot listen on {a}: {e}"),
                ));
            }
        }
        if let Some((peer, addr)) = self.relay.clone() {
            self.swarm.add_peer_address(peer, addr.clone());
            if let Err(e) = self.swarm.dial(addr.clone()) {
                self.emit(Event::error(ErrorCode::RelayUnreachable, e.to_string()));
            }
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.stopping {
            // Biased: drain whatever is ready first, then flush once for all of it.
            tokio::select! {
                biased;
                ev = self.swarm.select_next_some() => self.swarm_event(ev),
                cmd = commands.recv() => match cmd {
                    Some(Command::Send { to, text, client_ref }) => {
                        // Sends to the same contact that are already waiting are stored
                        // together (one transaction, one ratchet state write).
                        let mut texts = vec![(text, client_ref)];
                        let mut other = None;
                        while texts.len() < MAX_BATCH {
                            match commands.try_recv() {
                                Ok(Command::Send { to: t, text, client_ref }) if t == to => {
                                    texts.push((text, client_ref))
                                }
                                Ok(c) => {
                                    other = Some(c);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.cmd_send(&to, texts);
                        if let Some(c) = other {
                            self.command(c);
                        }
                        // A burst of sends must not starve the connection tasks this
                        // one woke (tokio runs them on this worker after we yield).
                        tokio::task::yield_now().await;
                    }
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                _ = tick.tick() => self.housekeeping(),
                done = self.flush_done.1.recv() => {
                    if let Some((id, result)) = done {
                        self.flush_completed(id, result);
                    }
                }
                _ = std::future::ready(()), if self.dirty && self.flushing.is_none() => {
                    self.start_flush();
                }
            }
            if self.deferred.len() >= MAX_DEFERRED {
                self.flush();
            }
        }
        self.store_sent_marks();
        self.flush();
        self.emit(Event::Stopped);
    }

    fn housekeeping(&mut self) {
        let now = now_ms();
        if !self.ready_sent && !self.listen_addrs.is_empty() {
            self.ready_sent = true;
            self.reconnect_pending();
            self.announce_card_if_changed();
            self.announce_protocol();
            self.emit(Event::Ready {
                peer_id: self.swarm.local_peer_id().to_string(),
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
        }
    }

    // ---------------------------------------------------------------- commands

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Invite {
                ttl_secs,
                for_contact,
            } => self.cmd_invite(
                ttl_secs.unwrap_or(DEFAULT_INVITE_TTL_SECS),
                for_contact.as_deref(),
            ),
            Command::Accept { code, alias } => self.cmd_accept(&code, &alias),
            Command::Send {
                to,
                text,
                client_ref,
            } => self.cmd_send(&to, vec![(text, client_ref)]),
            Command::Contacts => self.cmd_contacts(),
            Command::History { with, limit } => self.cmd_history(&with, limit.unwrap_or(100)),
            Command::Verify { alias, confirm } => self.cmd_verify(&alias, confirm),
            Command::Expire { alias, seconds } => self.cmd_expire(&alias, seconds),
            Command::ExpireStatus { alias } => match self.by_alias(&alias) {
                None => self.unknown_contact(&alias),
                Some(cid) => match self.profile.store.conversation(&cid) {
                    Ok(c) => self.emit(Event::ExpireSet {
                        alias,
                        seconds: c.disappear_after_ms.map(|ms| ms / 1000),
                        by_contact: false,
                    }),
                    Err(e) => self.emit(Event::error(ErrorCode::StoreFailed, e.to_string())),
                },
            },
            Command::Status => self.emit(Event::Status {
                peers: self.swarm.connected_peers().count(),
                addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
                relay: self.relay_reserved,
                lan: self.config.lan,
                rejected: self.rejected,
            }),
            Command::Rename { alias, to } => self.cmd_rename(&alias, &to),
            Command::Reset { alias, code: None } => self.cmd_reset(&alias),
            Command::Reset {
                alias,
                code: Some(code),
            } => self.cmd_reset_with_code(&alias, &code),
            Command::Block { alias } => self.cmd_block(&alias, true),
            Command::Unblock { alias } => self.cmd_block(&alias, false),
            Command::Delete {
                alias,
                keep_history,
            } => self.cmd_delete(&alias, keep_history),
            Command::Wipe { confirm } => self.cmd_wipe(&confirm),
            Command::Quit => self.stopping = true,
        }
    }

    fn by_alias(&self, alias: &str) -> Option<ContactId> {
        self.contacts
            .values()
            .find(|c| c.contact.alias == alias)
            .map(|c| c.id)
    }

    fn unknown_contact(&self, alias: &str) {
        self.emit(Event::error(
            ErrorCode::UnknownContact,
            format!("no contact named {alias:?}"),
        ));
    }

    fn cmd_invite(&mut self, ttl: u64, for_contact: Option<&str>) {
        let bound = match for_contact {
            None => None,
            Some(alias) => match self.unblocked_contact(alias) {
                None => return,
                cid => cid,
            },
        };
        let now = now_secs();
        let card = self.card();
        let invite = match Invite::new(
            self.profile.identity.public(),
            card.peer_id.clone(),
            card.addrs.clone(),
            card.mailbox.clone(),
            now + ttl,
            &mut OsRng,
        ) {
            Ok(i) => i,
            Err(e) => return self.emit(Event::error(ErrorCode::InviteFailed, e.to_string())),
        };
        let keys = invite.keys();
        let record = StoredInvite {
            created_at_ms: now * 1000,
            expires_at_ms: (now + ttl) * 1000,
            payload: SecretBytes::from_slice(&keys.to_bytes()),
        };
        // The binding first: an invite stored without it would add the contact's new
        // device as a stranger.
        if let Some(cid) = bound {
            if let Err(e) = self.bind_invite(keys.init_tag, cid) {
                return self.emit(Event::error(ErrorCode::StoreFailed, e));
            }
        }
        if let Err(e) = self.profile.store.add_invite(&keys.init_tag, &record) {
            return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
        }
        self.invites
            .insert(keys.init_tag, (keys.clone(), record.expires_at_ms));
        match invite.encode() {
            Ok(code) => self.emit(Event::Invite {
                code: code.to_string(),
            }),
            Err(e) => self.emit(Event::error(ErrorCode::InviteFailed, e.to_string())),
        }
    }

    fn unique_alias(&self, wanted: &str) -> String {
        let base: String = wanted
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let base = if base.is_empty() {
            "contact".to_owned()
        } else {
            base
        };
        if self.by_alias(&base).is_none() {
            return base;
        }
        (2..)
            .map(|n| format!("{base}-{n}"))
            .find(|a| self.by_alias(a).is_none())
            .unwrap_or(base)
    }

    /// Decodes an invite code a user gave; reports why it is refused.
    fn decode_invite(&self, code: &str) -> Option<Invite> {
        match Invite::decode(code, now_secs()) {
            Ok(i) => Some(i),
            Err(cairn_crypto::InviteError::Expired) => {
                self.emit(Event::error(
                    ErrorCode::InviteExpired,
                    "this invite has expired; ask for a new one",
                ));
                None
            }
            Err(e) => {
                self.emit(Event::error(ErrorCode::InvalidInvite, e.to_string()));
                None
            }
        }
    }

    /// The contact named `alias`, if there is one and it is not blocked (else reported).
    fn unblocked_contact(&self, alias: &str) -> Option<ContactId> {
        let Some(cid) = self.by_alias(alias) else {
            self.unknown_contact(alias);
            return None;
        };
        if self.blocked.contains(&cid) {
            self.emit(Event::error(
                ErrorCode::Blocked,
                format!("{alias:?} is blocked; unblock them first"),
            ));
            return None;
        }
        Some(cid)
    }

    fn cmd_accept(&mut self, code: &str, alias: &str) {
        let Some(invite) = self.decode_invite(code) else {
            return;
        };
        if let Some(e) = Self::alias_problem(alias) {
            return self.emit(e);
        }
        if self.by_alias(alias).is_some() {
            return self.emit(Event::error(
                ErrorCode::AliasTaken,
                format!("{alias:?} is already a contact"),
            ));
        }
        if invite.identity == self.profile.identity.public() {
            return self.emit(Event::error(
                ErrorCode::OwnInvite,
                "this is your own invite",
            ));
        }
        let id = self.profile.store.contact_id(invite.identity.as_bytes());
        if self.blocked.contains(&id) {
            return self.emit(Event::error(
                ErrorCode::Blocked,
                "this invite is from a contact you blocked; unblock them first",
            ));
        }
        if self.contacts.contains_key(&id) {
            return self.emit(Event::error(
                ErrorCode::AlreadyContact,
                "you already have this contact",
            ));
        }
        let card = self.card();
        let (pending, first) =
            match handshake::initiate(&self.profile.identity, &invite, &card, &mut OsRng) {
                Ok(x) => x,
                Err(e) => {
                    return self.emit(Event::error(ErrorCode::HandshakeFailed, e.to_string()))
                }
            };
        // What the invite says about the inviter, until its own card arrives.
        let routing = ProfileCard {
            display_name: String::new(),
            peer_id: invite.peer_id.clone(),
            addrs: invite.addrs.clone(),
            mailbox: invite.mailbox.clone(),
        };
        let contact = self.contact_from_card(alias.to_owned(), &invite.identity, &routing);
        let store = &self.profile.store;
        let name = format!("{HANDSHAKE_SETTING_PREFIX}{}", hex(&id.0));
        let result = store
            .put_contact(&contact)
            .and_then(|_| store.set_setting(&name, &pending.to_bytes()))
            .and_then(|_| {
                store.queue_control(
                    &id,
                    None,
                    MessageId(pending.invite_id()),
                    &first.encode(),
                    now_ms(),
                )
            });
        if let Err(e) = result {
            return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
        }
        self.mirror(
            id,
            MessageId(pending.invite_id()),
            CONTROL_SEQ,
            first.encode(),
            now_ms(),
        );
        self.handshakes
            .insert(pending.response_tag().0, (id, pending));
        self.contacts.insert(
            id,
            ContactState {
                id,
                contact,
                session: None,
                online: false,
            },
        );
        self.emit(Event::ContactAdded {
            alias: alias.to_owned(),
        });
        self.process_outbox(now_ms());
        self.next_fetch_ms = 0;
    }

    /// Sends `texts` (each with the client's `ref`, echoed in its `queued` or `error`).
    fn cmd_send(&mut self, to: &str, texts: Vec<(String, Option<String>)>) {
        // One error per send, so a client can pair each answer with its send.
        let fail_all =
            |me: &Self, code: ErrorCode, message: String, texts: Vec<(String, Option<String>)>| {
                for (_, r) in texts {
                    me.emit(Event::error_for(code, message.clone(), r));
                }
            };
        let Some(cid) = self.by_alias(to) else {
            return fail_all(
                self,
                ErrorCode::UnknownContact,
                format!("no contact named {to:?}"),
                texts,
            );
        };
        if self.blocked.contains(&cid) {
            return fail_all(
                self,
                ErrorCode::Blocked,
                format!("{to:?} is blocked; unblock them to write to them"),
                texts,
            );
        }
        let Some(session) = self.contacts.get(&cid).and_then(|s| s.session.as_ref()) else {
            return fail_all(
                self,
                ErrorCode::NotEstablished,
                format!("the handshake with {to:?} has not finished yet"),
                texts,
            );
        };
        let mut next = session.clone();
        let mut messages = Vec::with_capacity(texts.len());
        let mut outboxes = Vec::with_capacity(texts.len());
        let mut refs = Vec::with_capacity(texts.len());
        for (text, client_ref) in texts {
            let mut id = [0u8; 16];
            OsRng.fill_bytes(&mut id);
            let now = now_ms().max(self.last_sent_ms + 1);
            let content = Content::Text {
                id,
                sent_at_ms: now,
                text,
            };
            let plain = match content.encode() {
                Ok(p) => p,
                Err(e) => {
                    self.emit(Event::error_for(
                        ErrorCode::TooLong,
                        e.to_string(),
                        client_ref,
                    ));
                    continue;
                }
            };
            let env = match next.encrypt(&plain, now / 1000, &mut OsRng) {
                Ok(e) => e,
                Err(e) => {
                    self.emit(Event::error_for(
                        ErrorCode::EncryptFailed,
                        e.to_string(),
                        client_ref,
                    ));
                    continue;
                }
            };
            self.last_sent_ms = now;
            let Content::Text { text, .. } = content else {
                continue;
            };
            messages.push(NewMessage {
                id: MessageId(id),
                direction: Direction::Outgoing,
                text,
                created_at_ms: now,
                received_at_ms: None,
                state: DeliveryState::Queued,
            });
            outboxes.push(NewOutbox {
                envelope: env.encode(),
                // Due at once, even when the display timestamp runs ahead in a burst.
                next_attempt_at_ms: now_ms(),
            });
            refs.push(client_ref);
        }
        if messages.is_empty() {
            return;
        }
        let now = self.last_sent_ms;
        let stored = self.profile.store.record_outgoing_many_deferred(
            &cid,
            &SecretBytes::from_slice(&next.to_bytes()),
            &messages,
            &outboxes,
            now,
        );
        match stored {
            Ok((first, batches)) => {
                if let Some(state) = self.contacts.get_mut(&cid) {
                    state.session = Some(next);
                }
                let mut ids = messages.iter().map(|m| m.id);
                for (batch, n) in batches {
                    self.batch_left.insert(batch, n);
                    for id in ids.by_ref().take(n) {
                        self.batch_of.insert(id, batch);
                    }
                }
                // Shown as queued, and sent, only once durable (at the next flush).
                for (i, ((m, o), client_ref)) in
                    messages.into_iter().zip(outboxes).zip(refs).enumerate()
                {
                    self.deferred.push(Deferred::Emit(Event::Queued {
                        id: hex(&m.id.0),
                        client_ref,
                    }));
                    self.defer_mirror(cid, m.id, first + i as u64, o.envelope, m.created_at_ms);
                }
            }
            Err(e) => {
                for r in refs {
                    self.emit(Event::error_for(ErrorCode::StoreFailed, e.to_string(), r));
                }
            }
        }
    }

    fn cmd_contacts(&self) {
        let mut contacts: Vec<ContactInfo> = self
            .contacts
            .values()
            .map(|c| ContactInfo {
                alias: c.contact.alias.clone(),
                verified: c.contact.verified,
                online: c.online,
                established: c.session.is_some(),
                blocked: self.blocked.contains(&c.id),
                protocol: c.session.as_ref().map(|s| s.protocol().as_u8()),
                messages: self
                    .profile
                    .store
                    .conversation(&c.id)
                    .map(|conv| usize::try_from(conv.next_seq).unwrap_or(usize::MAX))
                    .unwrap_or(0),
            })
            .collect();
        contacts.sort_by(|a, b| a.alias.cmp(&b.alias));
        self.emit(Event::Contacts { contacts });
    }

    fn cmd_history(&self, alias: &str, limit: usize) {
        let Some(cid) = self.by_alias(alias) else {
            return self.unknown_contact(alias);
        };
        match self.profile.store.messages(&cid) {
            Ok(mut listing) => {
                // Conversation order: by the writer's clock (strictly increasing per
                // sender), then by arrival.
                listing.items.sort_by_key(|m| (m.created_at_ms, m.seq));
                let skip = listing.items.len().saturating_sub(limit);
                let messages = listing
                    .items
                    .into_iter()
                    .skip(skip)
                    .map(|m| MessageInfo {
                        id: hex(&m.id.0),
                        direction: match m.direction {
                            Direction::Incoming => MessageDirection::In,
                            Direction::Outgoing => MessageDirection::Out,
                        },
                        text: m.text,
                        sent_at: m.created_at_ms,
                        state: match m.state {
                            DeliveryState::Queued => MessageState::Queued,
                            DeliveryState::Sent => MessageState::Sent,
                            DeliveryState::Delivered => MessageState::Delivered,
                            DeliveryState::Failed => MessageState::Failed,
                            DeliveryState::Received => MessageState::Received,
                        },
                    })
                    .collect();
                self.emit(Event::History {
                    with: alias.to_owned(),
                    messages,
                });
            }
            Err(e) => self.emit(Event::error(ErrorCode::StoreFailed, e.to_string())),
        }
    }

    fn cmd_verify(&mut self, alias: &str, confirm: bool) {
        let Some(cid) = self.by_alias(alias) else {
            return self.unknown_contact(alias);
        };
        let Some(state) = self.contacts.get_mut(&cid) else {
            return;
        };
        let Ok(key) = <[u8; 32]>::try_from(state.contact.identity_key.as_slice()) else {
            return;
        };
        let sn = SafetyNumber::new(
            &self.profile.identity.public(),
            &cairn_crypto::IdentityPublicKey::from_bytes(key),
        );
        if confirm && !state.contact.verified {
            state.contact.verified = true;
            if let Err(e) = self.profile.store.put_contact(&state.contact) {
                state.contact.verified = false;
                return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
            }
        }
        let verified = state.contact.verified;
        self.emit(Event::SafetyNumber {
            alias: alias.to_owned(),
            digits: sn.groups().join(" "),
            qr: sn.qr_payload(),
            verified,
        });
    }

    fn cmd_expire(&mut self, alias: &str, seconds: Option<u64>) {
        let Some(cid) = self.by_alias(alias) else {
            return self.unknown_contact(alias);
        };
        if seconds.is_some_and(|s| s > crate::content::MAX_TIMER_SECS) {
            return self.emit(Event::error(
                ErrorCode::BadArguments,
                "disappearing messages can be set to at most a year",
            ));
        }
        let now = now_ms();
        if let Err(e) = self.store_timer(&cid, seconds, now) {
            return self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
        }
        // The contact's copy of the conversation follows (both sides delete at expiry).
        let timer = Content::Timer {
            set_at_ms: now,
            seconds,
        };
        if let Ok(plain) = timer.encode() {
            if !self.send_control(&cid, &plain) {
                tracing::warn!("the timer could not be sent to the contact");
            }
        }
        self.emit(Event::ExpireSet {
            alias: alias.to_owned(),
            seconds,
            by_contact: false,
        });
    }

    /// Stores envelopes encrypted again under `next` together with that session (one
    /// transaction), then parks their entries until the write is durable, when the new
    /// envelopes replace the old ones (`Deferred::Renewed`). Nothing changes on error.
    fn commit_renewed(
        &mut self,
        cid: &ContactId,
        next: Session,
        renewed: Vec<OutboxEntry>,
    ) -> Result<(), String> {
        if renewed.is_empty() {
            return Ok(());
        }
        let session = SecretBytes::from_slice(&next.to_bytes());
        self.profile
            .store
            .renew_envelopes_deferred(cid, &session, &renewed)
            .map_err(|e| e.to_string())?;
        if let Some(state) = self.contacts.get_mut(cid) {
            state.session = Some(next);
        }
        tracing::debug!(n = renewed.len(), "messages encrypted again");
        for e in renewed {
            if let Some(parked) = self.outbox.get_mut(&e.message_id) {
                parked.next_attempt_at_ms = u64::MAX;
            }
            self.renewed.insert(e.message_id);
            self.deferred.push(Deferred::Renewed(e));
        }
        self.dirty = true;
        Ok(())
    }

    fn cmd_wipe(&mut self, confirm: &str) {
        if confirm != "WIPE" {
            return self.emit(Event::error(
                ErrorCode::WipeNotConfirmed,
                "send {\"cmd\":\"wipe\",\"confirm\":\"WIPE\"}",
            ));
        }
        let paths = self.profile.store.paths().clone();
        match crate::store::wipe_profile(&paths) {
            Ok(_) => self.emit(Event::Wiped),
            Err(e) => self.emit(Event::error(ErrorCode::WipeFailed, e.to_string())),
        }
        self.stopping = true;
    }

    // ---------------------------------------------------------------- delivery

    fn backoff_delay(attempts: u32) -> u64 {
        let base = u64::try_from(RETRY_BASE.as_millis()).unwrap_or(500);
        let max = u64::try_from(RETRY_MAX.as_millis()).unwrap_or(300_000);
        let exp = base.saturating_mul(1u64 << attempts.min(20)).min(max);
        // Full jitter on half the delay: spreads retries of many nodes.
        exp / 2 + OsRng.gen_range(0..=exp / 2)
    }

    fn process_outbox(&mut self, now: u64) {
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            return;
        }
        let mut due: Vec<&OutboxEntry> = self
            .outbox
            .values()
            .filter(|e| e.next_attempt_at_ms <= now && !self.in_flight.contains(&e.message_id))
            // Nothing leaves for a blocked contact (it waits, should the block be lifted).
            .filter(|e| !self.blocked.contains(&e.contact))
            // A message a hop took waits for `renew_unacknowledged` (at the next tick).
            .filter(|e| {
                e.attempts == 0 || e.seq == CONTROL_SEQ || self.renewed.contains(&e.message_id)
            })
            .filter(|e| {
                self.backoff
                    .get(&e.message_id)
                    .is_none_or(|(_, next)| *next <= now)
            })
            .collect();
        // A handshake answer first (a contact must have the session before anything else of
        // it arrives: messages encrypted again after a reset are older than the answer),
        // then oldest first: conversation order on the wire as far as possible.
        due.sort_by_key(|e| {
            (
                self.answers.get(&e.contact) != Some(&e.message_id),
                e.created_at_ms,
                e.seq,
            )
        });
        let mut room = MAX_IN_FLIGHT - self.in_flight.len();
        // Envelopes due for the same contact travel together, up to a full batch, and
        // at most MAX_REQUESTS_PER_CONTACT requests per contact are in flight: what
        // becomes due meanwhile waits for a slot and then goes as one batch.
        let mut batches: Vec<Vec<OutboxEntry>> = Vec::new();
        let mut open: HashMap<ContactId, (usize, usize)> = HashMap::new();
        let mut opened: HashMap<ContactId, usize> = HashMap::new();
        // A contact with a request in flight gets another only for a batch worth it:
        // the answer to the one in flight calls this again (Nagle's rule, in short).
        let mut due_per_contact: HashMap<ContactId, usize> = HashMap::new();
        for e in &due {
            *due_per_contact.entry(e.contact).or_default() += 1;
        }
        for e in due {
            if room == 0 {
                break;
            }
            if self.requests.contains_key(&e.contact)
                && due_per_contact.get(&e.contact).copied().unwrap_or(0) < MIN_BATCH_WHILE_BUSY
            {
                continue;
            }
            let len = e.envelope.len();
            let slot = open.get(&e.contact).copied().filter(|(b, bytes)| {
                batches.get(*b).is_some_and(|v| v.len() < MAX_BATCH)
                    && Request::batch_len([*bytes, len]) <= MAX_REQUEST_LEN
            });
            match slot {
                Some((b, bytes)) => {
                    if let Some(v) = batches.get_mut(b) {
                        v.push(e.clone());
                    }
                    open.insert(e.contact, (b, bytes + 4 + len));
                }
                None => {
                    let busy = self.requests.get(&e.contact).copied().unwrap_or(0)
                        + opened.get(&e.contact).copied().unwrap_or(0);
                    if busy >= MAX_REQUESTS_PER_CONTACT {
                        continue;
                    }
                    *opened.entry(e.contact).or_default() += 1;
                    open.insert(e.contact, (batches.len(), len));
                    batches.push(vec![e.clone()]);
                }
            }
            room -= 1;
        }
        for batch in batches {
            match <[OutboxEntry; 1]>::try_from(batch) {
                Ok([entry]) => self.attempt(&entry, Route::Direct),
                Err(batch) => self.attempt_batch(batch),
            }
        }
    }

    /// Records a delivery request, which takes one of its contact's slots.
    fn request_started(&mut self, rid: OutboundRequestId, pending: Pending) {
        if let Pending::Outbox { contact, .. } | Pending::Batch { contact, .. } = &pending {
            *self.requests.entry(*contact).or_default() += 1;
        }
        self.pending.insert(rid, pending);
    }

    /// The request is answered or failed: forgets it, and frees its contact's slot.
    fn take_pending(&mut self, rid: &OutboundRequestId) -> Option<Pending> {
        let pending = self.pending.remove(rid)?;
        if let Some(peer) = self.mailbox_rids.remove(rid) {
            if let Some(n) = self.mailbox_load.get_mut(&peer) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.mailbox_load.remove(&peer);
                }
            }
        }
        if let Pending::Outbox { contact, .. } | Pending::Batch { contact, .. } = &pending {
            if let Some(n) = self.requests.get_mut(contact) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.requests.remove(contact);
                }
            }
        }
        Some(pending)
    }

    /// Sends several envelopes for one contact in one `DeliverBatch`.
    fn attempt_batch(&mut self, batch: Vec<OutboxEntry>) {
        let Some(contact) = batch.first().map(|e| e.contact) else {
            return;
        };
        let ids: Vec<MessageId> = batch.iter().map(|e| e.message_id).collect();
        let Some((peer, addrs)) = self.contact_target(&contact) else {
            return self.entries_failed(ids, Route::Direct, contact);
        };
        let req = Request::DeliverBatch(batch.into_iter().map(|e| e.envelope).collect());
        let rid = self
            .swarm
            .behaviour_mut()
            .rr
            .send_request_with_addresses(&peer, req, addrs);
        self.in_flight.extend(ids.iter().copied());
        self.request_started(
            rid,
            Pending::Batch {
                contact,
                ids,
                route: Route::Direct,
            },
        );
    }

    /// Hops did not take these entries of `contact` on `route`: what failed directly goes
    /// to the contact's mailbox at once, in `MailboxPutBatch` requests; the rest backs off.
    /// Entries that left the outbox meanwhile (their receipt came) are only forgotten.
    fn entries_failed(&mut self, ids: Vec<MessageId>, route: Route, contact: ContactId) {
        let mailbox = self.contact_mailbox(&contact);
        let mut fallback: Vec<OutboxEntry> = Vec::new();
        for id in ids {
            self.in_flight.remove(&id);
            let Some(entry) = self.outbox.get(&id) else {
                continue;
            };
            if route == Route::Direct && mailbox.is_some() {
                fallback.push(entry.clone());
            } else {
                self.back_off(id);
            }
        }
        let Some((peer, addr)) = mailbox else {
            return;
        };
        if self.mailbox_busy(&peer) {
            // Its requests in flight are at the cap: try again shortly, in order.
            for e in fallback {
                self.wait_for_mailbox(e.message_id);
            }
            return;
        }
        if fallback.len() == 1 || self.no_mailbox_batch.contains(&peer) {
            for e in fallback {
                self.attempt(&e, Route::Mailbox);
            }
            return;
        }
        // Packed like a DeliverBatch: at most MAX_BATCH and MAX_REQUEST_LEN per request.
        let mut batch: Vec<OutboxEntry> = Vec::new();
        let mut bytes = 0;
        for e in fallback {
            let len = e.envelope.len();
            if !batch.is_empty()
                && (batch.len() >= MAX_BATCH || Request::batch_len([bytes, len]) > MAX_REQUEST_LEN)
            {
                self.attempt_mailbox_batch(contact, peer, &addr, std::mem::take(&mut batch));
                bytes = 0;
            }
            bytes += 4 + len;
            batch.push(e);
        }
        if !batch.is_empty() {
            self.attempt_mailbox_batch(contact, peer, &addr, batch);
        }
    }

    /// Deposits several entries of `contact` into its mailbox with one request.
    fn attempt_mailbox_batch(
        &mut self,
        contact: ContactId,
        peer: PeerId,
        addr: &Multiaddr,
        batch: Vec<OutboxEntry>,
    ) {
        let ids: Vec<MessageId> = batch.iter().map(|e| e.message_id).collect();
        if self.mailbox_busy(&peer) {
            for id in ids {
                self.wait_for_mailbox(id);
            }
            return;
        }
        let req = Request::MailboxPutBatch(batch.into_iter().map(|e| e.envelope).collect());
        let rid = self.swarm.behaviour_mut().rr.send_request_with_addresses(
            &peer,
            req,
            vec![addr.clone()],
        );
        self.mailbox_started(rid, peer);
        self.in_flight.extend(ids.iter().copied());
        self.request_started(
            rid,
            Pending::Batch {
                contact,
                ids,
                route: Route::Mailbox,
            },
        );
    }

    /// If our reachable addresses or mailbox changed since we last told our contacts,
    /// send them the new profile card (through the outbox: directly, or into their
    /// mailbox), so a contact whose view of us is stale still reaches us.
    fn announce_card_if_changed(&mut self) {
        const SETTING: &str = "last-announced-card";
        let card = self.card();
        let Ok(bytes) = card.to_bytes() else {
            return;
        };
        let previous = self.profile.store.setting(SETTING).ok().flatten();
        if previous.as_deref() == Some(bytes.as_slice()) {
            return;
        }
        let Ok(plain) = Content::Card(card).encode() else {
            return;
        };
        let ids: Vec<ContactId> = self.contacts.keys().copied().collect();
        for cid in ids {
            self.send_control(&cid, &plain);
        }
        let _ = self.profile.store.set_setting(SETTING, &bytes);
    }

    /// Encrypts a control content for `cid` and queues it with the new ratchet state in one
    /// transaction (sent like a message, not resent once a hop took it). False if there is
    /// no session yet or it could not be stored.
    fn send_control(&mut self, cid: &ContactId, plain: &[u8]) -> bool {
        let now = now_ms();
        let Some(state) = self.contacts.get_mut(cid) else {
            return false;
        };
        let Some(session) = state.session.as_ref() else {
            return false;
        };
        let mut next = session.clone();
        let Ok(env) = next.encrypt(plain, now / 1000, &mut OsRng) else {
            return false;
        };
        let mut rid = [0u8; 16];
        OsRng.fill_bytes(&mut rid);
        let b = SecretBytes::from_slice(&next.to_bytes());
        let wire = env.encode();
        if self
            .profile
            .store
            .queue_control(cid, Some(&b), MessageId(rid), &wire, now)
            .is_err()
        {
            return false;
        }
        state.session = Some(next);
        self.mirror(*cid, MessageId(rid), CONTROL_SEQ, wire, now);
        true
    }

    /// After a start: connect to every contact, so both sides see each other online
    /// and retry at once instead of waiting out a backoff that began while we were
    /// down.
    fn reconnect_pending(&mut self) {
        let contacts: Vec<ContactId> = self
            .contacts
            .keys()
            .filter(|id| !self.blocked.contains(id))
            .copied()
            .collect();
        for cid in contacts {
            if let Some((peer, addrs)) = self.contact_target(&cid) {
                let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                    .addresses(addrs)
                    .build();
                let _ = self.swarm.dial(opts);
            }
        }
    }

    /// Whether local addresses may be dialled (LAN mode or `--private-addresses`).
    fn allow_local(&self) -> bool {
        self.config.lan || self.config.private_addresses
    }

    /// A contact's PeerId and the addresses of it the node may dial.
    fn contact_target(&mut self, cid: &ContactId) -> Option<(PeerId, Vec<Multiaddr>)> {
        let allow_local = self.allow_local();
        let c = &self.contacts.get(cid)?.contact;
        let peer = PeerId::from_bytes(&c.peer_id).ok()?;
        let all: Vec<Multiaddr> = c.addresses.iter().filter_map(|a| a.parse().ok()).collect();
        let addrs: Vec<Multiaddr> = all
            .iter()
            .filter(|a| addresses::dialable(a, allow_local))
            .cloned()
            .collect();
        if addrs.is_empty() && !all.is_empty() && self.warned_local.insert(*cid) {
            let alias = c.alias.clone();
            self.emit(Event::error(
                ErrorCode::LocalAddressesOnly,
                format!(
                    "{alias} can only be reached at local addresses (loopback, LAN or \
                     link-local), which are dialled only with --lan or --private-addresses; \
                     messages go through the mailbox"
                ),
            ));
        }
        Some((peer, addrs))
    }

    /// A contact's mailbox (its relay) as PeerId and address, if the node may dial it.
    fn contact_mailbox(&self, cid: &ContactId) -> Option<(PeerId, Multiaddr)> {
        let addr = self
            .contacts
            .get(cid)?
            .contact
            .mailbox
            .as_ref()?
            .parse::<Multiaddr>()
            .ok()?;
        if !addresses::dialable(&addr, self.allow_local()) {
            return None;
        }
        peer_of(&addr).map(|p| (p, addr))
    }

    fn attempt(&mut self, entry: &OutboxEntry, route: Route) {
        let req;
        let (peer, addrs) = match route {
            Route::Direct => {
                let Some(t) = self.contact_target(&entry.contact) else {
                    return self.attempt_failed(entry.message_id, route, entry.contact);
                };
                req = Request::Deliver(entry.envelope.clone());
                t
            }
            Route::Mailbox => {
                let Some((peer, addr)) = self.contact_mailbox(&entry.contact) else {
                    return self.attempt_failed(entry.message_id, route, entry.contact);
                };
                if self.mailbox_busy(&peer) {
                    self.in_flight.remove(&entry.message_id);
                    return self.wait_for_mailbox(entry.message_id);
                }
                req = Request::MailboxPut(entry.envelope.clone());
                (peer, vec![addr])
            }
        };
        let rid = self
            .swarm
            .behaviour_mut()
            .rr
            .send_request_with_addresses(&peer, req, addrs);
        if route == Route::Mailbox {
            self.mailbox_started(rid, peer);
        }
        self.in_flight.insert(entry.message_id);
        self.request_started(
            rid,
            Pending::Outbox {
                id: entry.message_id,
                route,
                contact: entry.contact,
            },
        );
    }

    fn attempt_failed(&mut self, id: MessageId, route: Route, contact: ContactId) {
        self.in_flight.remove(&id);
        if route == Route::Direct {
            // Fall back to the contact's mailbox at once.
            let has_mailbox = self
                .contacts
                .get(&contact)
                .is_some_and(|c| c.contact.mailbox.is_some());
            if has_mailbox {
                if let Ok(Some(entry)) = self.outbox_entry(&id) {
                    return self.attempt(&entry, Route::Mailbox);
                }
            }
        }
        self.back_off(id);
    }

    /// The PeerId of `contact`'s mailbox.
    fn mailbox_of(&self, contact: &ContactId) -> Option<PeerId> {
        self.contact_mailbox(contact).map(|(p, _)| p)
    }

    /// Whether deposits into the mailbox at `peer` are at [`MAX_MAILBOX_REQUESTS`].
    fn mailbox_busy(&self, peer: &PeerId) -> bool {
        self.mailbox_load.get(peer).copied().unwrap_or(0) >= MAX_MAILBOX_REQUESTS
    }

    /// Counts a deposit request to the mailbox at `peer` until it is answered or fails.
    fn mailbox_started(&mut self, rid: OutboundRequestId, peer: PeerId) {
        *self.mailbox_load.entry(peer).or_default() += 1;
        self.mailbox_rids.insert(rid, peer);
    }

    /// `id` waits for a free request slot of its mailbox: a short wait that does not count
    /// as a failed attempt.
    fn wait_for_mailbox(&mut self, id: MessageId) {
        let attempts = self.backoff.get(&id).map_or(0, |(a, _)| *a);
        let next = now_ms() + 200 + OsRng.gen_range(0..200);
        self.backoff.insert(id, (attempts, next));
    }

    /// The next attempt of `id` waits (exponential backoff with jitter).
    fn back_off(&mut self, id: MessageId) {
        let attempts = self.backoff.get(&id).map_or(0, |(a, _)| *a) + 1;
        let next = now_ms() + Self::backoff_delay(attempts);
        self.backoff.insert(id, (attempts, next));
    }

    /// A hop did not take an entry (failure or refusal): mailbox fallback, then backoff
    /// — unless the entry left the outbox meanwhile (its receipt came).
    fn entry_failed(&mut self, id: MessageId, route: Route, contact: ContactId) {
        if self.outbox.contains_key(&id) {
            self.attempt_failed(id, route, contact);
        } else {
            self.in_flight.remove(&id);
        }
    }

    fn outbox_entry(&self, id: &MessageId) -> Result<Option<OutboxEntry>, String> {
        Ok(self.outbox.get(id).cloned())
    }

    /// A hop took these entries. Messages now wait for their receipt (and are resent
    /// if none comes); control entries are done, except a handshake init, which stays
    /// until the response arrives, and a handshake answer, which stays until the acceptor
    /// is heard from (at most [`ANSWER_KEPT_MS`]). One store write for all of them.
    fn hops_accepted(&mut self, ids: Vec<MessageId>) {
        let now = now_ms();
        let resend = u64::try_from(self.config.resend_after.as_millis()).unwrap_or(600_000);
        let mut sent: Vec<(MessageId, ContactId, u64, u64)> = Vec::new();
        let mut done: Vec<MessageId> = Vec::new();
        for id in ids {
            self.in_flight.remove(&id);
            self.backoff.remove(&id);
            self.renewed.remove(&id);
            let Some(seq) = self.outbox.get(&id).map(|e| e.seq) else {
                continue;
            };
            if seq == CONTROL_SEQ && !self.awaits_answer(&id, now) {
                done.push(id);
                continue;
            }
            let Some(entry) = self.outbox.get_mut(&id) else {
                continue;
            };
            // Wait for the receipt (or the handshake response), then send again; a
            // message renewed MAX_RENEWALS times waits for its contact to be heard from.
            entry.attempts = entry.attempts.saturating_add(1);
            if entry.seq != CONTROL_SEQ && entry.attempts > MAX_RENEWALS {
                entry.next_attempt_at_ms = u64::MAX;
                self.parked.entry(entry.contact).or_default().push(id);
            } else {
                entry.next_attempt_at_ms = now.saturating_add(renew_delay(resend, entry.attempts));
            }
            if entry.seq != CONTROL_SEQ && entry.attempts == 1 {
                sent.push((id, entry.contact, entry.seq, now));
                self.emit(Event::Sent { id: hex(&id.0) });
            }
        }
        if !done.is_empty() {
            let _ = self.profile.store.remove_controls_relaxed(&done);
            for id in &done {
                if let Some(e) = self.outbox.remove(id) {
                    if self.answers.get(&e.contact) == Some(id) {
                        self.answers.remove(&e.contact);
                    }
                }
            }
        }
        self.sent_marks.extend(sent);
    }

    /// Whether the control entry `id` must stay in the outbox after a hop took it: our
    /// handshake init until its answer arrives, our handshake answer until the acceptor
    /// is heard from (a mailbox can lose either; the other side cannot ask again).
    fn awaits_answer(&self, id: &MessageId, now: u64) -> bool {
        let init = self
            .handshakes
            .values()
            .any(|(_, p)| MessageId(p.invite_id()) == *id);
        let answer = self.outbox.get(id).is_some_and(|e| {
            self.answers.get(&e.contact) == Some(id)
                && e.created_at_ms.saturating_add(ANSWER_KEPT_MS) > now
        });
        init || answer
    }

    /// `cid` sent us something authentic: it has the session, so our handshake answer
    /// (if one is still kept) has arrived.
    fn heard_from(&mut self, cid: &ContactId) {
        // Both sides have the session now: it can carry our protocol announcement (sent at
        // the next tick, never in the middle of reading a batch).
        if self
            .contacts
            .get(cid)
            .and_then(|c| c.session.as_ref())
            .is_some_and(|s| s.protocol() < cairn_crypto::Protocol::LATEST)
            && !self.announced.contains(cid)
        {
            self.announce_due = true;
        }
        if let Some(id) = self.answers.remove(cid) {
            if let Err(e) = self.outbox_done(&id, now_ms()) {
                tracing::warn!(error = %e, "could not retire a handshake answer");
            }
        }
        self.unpark(cid);
    }

    /// `cid` is alive (heard from, or connected): messages that used up their renewals
    /// without a receipt start a new round, the first after `resend_after`.
    fn unpark(&mut self, cid: &ContactId) {
        let Some(ids) = self.parked.remove(cid) else {
            return;
        };
        let now = now_ms();
        let resend = u64::try_from(self.config.resend_after.as_millis()).unwrap_or(600_000);
        for id in ids {
            if let Some(e) = self.outbox.get_mut(&id) {
                if e.next_attempt_at_ms == u64::MAX && !self.renewed.contains(&id) {
                    e.attempts = 1;
                    e.next_attempt_at_ms = now.saturating_add(resend);
                }
            }
        }
    }

    /// Messages a hop took whose receipt did not come in time are encrypted again (same
    /// id, text and time, the next keys of the sending chain) before they are resent. If
    /// the recipient has the message and only its receipt was lost (a mailbox that expired
    /// or dropped it), the old envelope is recognised there as a replay and never
    /// acknowledged; a new one is decrypted, found in the dedup set (not shown twice) and
    /// acknowledged. The new envelope replaces the old one in the outbox together with the
    /// session, and leaves only once that is durable; meanwhile the entry is parked. This
    /// happens at most once per `resend_after` × hops per message, so the recipient's
    /// skipped keys stay few. Runs at each tick; until then `process_outbox` holds such
    /// entries back.
    fn renew_unacknowledged(&mut self, now: u64) {
        let mut stale: HashMap<ContactId, Vec<MessageId>> = HashMap::new();
        for e in self.outbox.values() {
            if e.attempts > 0
                && e.seq != CONTROL_SEQ
                && e.next_attempt_at_ms <= now
                && !self.in_flight.contains(&e.message_id)
                && !self.renewed.contains(&e.message_id)
            {
                stale.entry(e.contact).or_default().push(e.message_id);
            }
        }
        for (cid, ids) in stale {
            let Some(mut next) = self.contacts.get(&cid).and_then(|c| c.session.clone()) else {
                continue;
            };
            let mut renewed = Vec::new();
            for id in ids {
                let Some(entry) = self.outbox.get(&id).cloned() else {
                    continue;
                };
                match self.encrypt_again(&cid, entry, &mut next, now) {
                    Some(e) => renewed.push(e),
                    // A message gone from the store (expired, wiped) or unreadable is resent
                    // as it was.
                    None => {
                        self.renewed.insert(id);
                    }
                }
            }
            if let Err(e) = self.commit_renewed(&cid, next, renewed) {
                tracing::warn!(error = %e, "renewing envelopes failed");
            }
        }
    }

    /// `entry` with its message encrypted again from the stored text under `next`.
    fn encrypt_again(
        &self,
        cid: &ContactId,
        mut entry: OutboxEntry,
        next: &mut Session,
        now: u64,
    ) -> Option<OutboxEntry> {
        let m = self.profile.store.message(cid, entry.seq).ok()??;
        let plain = Content::Text {
            id: m.id.0,
            sent_at_ms: m.created_at_ms,
            text: m.text,
        }
        .encode()
        .ok()?;
        entry.envelope = next.encrypt(&plain, now / 1000, &mut OsRng).ok()?.encode();
        entry.next_attempt_at_ms = now;
        Some(entry)
    }

    /// Stores `Sent` for messages a hop took that are still waiting for their receipt.
    fn store_sent_marks(&mut self) {
        if self.sent_marks.is_empty() {
            return;
        }
        let marks: Vec<(ContactId, u64, u64)> = std::mem::take(&mut self.sent_marks)
            .into_iter()
            .filter(|(id, _, _, _)| self.outbox.contains_key(id))
            .map(|(_, c, seq, at)| (c, seq, at))
            .collect();
        if marks.is_empty() {
            return;
        }
        if let Err(e) = self.profile.store.mark_sent_relaxed(&marks) {
            tracing::warn!(error = %e, "mark_sent failed");
        }
    }

    /// An acknowledgement was answered (or failed): once none is left, a collection that
    /// found a full response goes on at the next tick.
    fn ack_done(&mut self) {
        let busy = !self.fetch_queue.is_empty()
            || self
                .pending
                .values()
                .any(|p| matches!(p, Pending::Ack | Pending::Fetch));
        if self.fetch_more && !busy {
            self.fetch_more = false;
            // At once, not at the next tick: a backlog is collected at the pace of the
            // round trips, not of the timer.
            self.next_fetch_ms =
                now_ms() + u64::try_from(MAILBOX_POLL.as_millis()).unwrap_or(20_000);
            self.fetch_mail();
        }
    }

    fn fetch_mail(&mut self) {
        if self.relay.is_none() {
            return;
        }
        // One collection at a time: the next starts when this one (and its
        // acknowledgements) is done, so the mailbox never hands out the same mail twice.
        if !self.fetch_queue.is_empty()
            || self
                .pending
                .values()
                .any(|p| matches!(p, Pending::Fetch | Pending::Ack))
        {
            return;
        }
        let now = now_secs();
        let mut keys: Vec<[u8; 32]> = Vec::new();
        self.fetch_keys.clear();
        for c in self.contacts.values() {
            if let Some(s) = &c.session {
                // Oldest chain and epoch first: with each tag's mail in deposit order, a
                // backlog comes back in the order it was written.
                for k in s
                    .receive_mailbox_keys(
                        now + cairn_crypto::routing::ROUTING_EPOCH_SECS,
                        MAILBOX_LOOKBACK_SECS,
                    )
                    .into_iter()
                    .rev()
                {
                    keys.push(k.to_array());
                    self.fetch_keys.insert(k.tag(), k);
                }
            }
        }
        for (_, p) in self.handshakes.values() {
            keys.push(p.response_mailbox_key().to_array());
        }
        for (_, k) in self.reset_keys.values() {
            keys.push(k.init_mailbox_key().to_array());
        }
        for (k, _) in self.invites.values() {
            keys.push(k.init_mailbox_key().to_array());
        }
        self.fetch_queue = keys.chunks(MAX_FETCH_KEYS).map(<[_]>::to_vec).collect();
        self.send_fetches();
    }

    /// Sends queued fetch requests while fewer than [`MAX_FETCH_REQUESTS`] are answered:
    /// a node with many contacts stays within the relay's streams per connection.
    fn send_fetches(&mut self) {
        let Some((relay, addr)) = self.relay.clone() else {
            self.fetch_queue.clear();
            return;
        };
        let mut pending = self
            .pending
            .values()
            .filter(|p| matches!(p, Pending::Fetch))
            .count();
        while pending < MAX_FETCH_REQUESTS {
            let Some(chunk) = self.fetch_queue.pop_front() else {
                break;
            };
            let rid = self.swarm.behaviour_mut().rr.send_request_with_addresses(
                &relay,
                Request::MailboxFetch(chunk),
                vec![addr.clone()],
            );
            self.pending.insert(rid, Pending::Fetch);
            pending += 1;
        }
    }

    /// The mailbox key that opens `tag`, if it is one of ours.
    fn mailbox_key_for(&self, tag: &RoutingTag) -> Option<MailboxKey> {
        if let Some(k) = self.fetch_keys.get(tag) {
            return Some(k.clone());
        }
        let now = now_secs();
        if let Some(cid) = self.tags.get(tag) {
            let s = self.contacts.get(cid)?.session.as_ref()?;
            return s
                .receive_mailbox_keys(
                    now + cairn_crypto::routing::ROUTING_EPOCH_SECS,
                    MAILBOX_LOOKBACK_SECS,
                )
                .into_iter()
                .find(|k| k.tag() == *tag);
        }
        if let Some((_, p)) = self.handshakes.get(&tag.0) {
            return Some(p.response_mailbox_key().clone());
        }
        if let Some((_, k)) = self.reset_keys.get(&tag.0) {
            return Some(k.init_mailbox_key().clone());
        }
        self.invites
            .get(&tag.0)
            .map(|(k, _)| k.init_mailbox_key().clone())
    }

    /// Processes fetched mail and acknowledges what may go; returns how many envelopes were
    /// authentic (processed or kept).
    fn got_mail(&mut self, items: Vec<([u8; 16], Vec<u8>)>) -> usize {
        let mut acks: HashMap<[u8; 32], Vec<[u8; 16]>> = HashMap::new();
        let (mids, envelopes): (Vec<[u8; 16]>, Vec<Vec<u8>>) = items.into_iter().unzip();
        self.reading_mail = true;
        let outcomes = self.inbound_envelopes(&envelopes);
        self.reading_mail = false;
        let authentic = outcomes
            .iter()
            .filter(|o| matches!(o, Inbound::Processed | Inbound::Kept))
            .count();
        tracing::debug!(n = outcomes.len(), authentic, "mail collected");
        for ((mid, bytes), processed) in mids.into_iter().zip(envelopes).zip(outcomes) {
            // Ack what we processed and what can never be processed (not ours / junk):
            // mail stays in the mailbox if storing it here failed, or if it is authentic
            // but cannot be read yet.
            if processed != Inbound::TryLater && processed != Inbound::Kept {
                if let Ok(env) = Envelope::decode(&bytes) {
                    if let Some(k) = self.mailbox_key_for(&env.tag) {
                        acks.entry(k.to_array()).or_default().push(mid);
                    }
                }
            }
        }
        // Delete from the mailbox only what is durable here.
        if !self.flush() {
            return authentic;
        }
        if let Some((relay, addr)) = self.relay.clone() {
            for (key, ids) in acks {
                let rid = self.swarm.behaviour_mut().rr.send_request_with_addresses(
                    &relay,
                    Request::MailboxAck { key, ids },
                    vec![addr.clone()],
                );
                self.pending.insert(rid, Pending::Ack);
            }
        }
        authentic
    }

    // ---------------------------------------------------------------- inbound

    fn inbound_envelope(&mut self, bytes: &[u8]) -> Inbound {
        let env = match Envelope::decode(bytes) {
            Ok(e) => e,
            Err(_) => return self.hostile("malformed envelope"),
        };
        match env.kind {
            EnvelopeKind::HandshakeInit => self.inbound_handshake_init(&env),
            EnvelopeKind::HandshakeResponse => self.inbound_handshake_response(&env),
            EnvelopeKind::Message => self.inbound_message(&env),
        }
    }

    fn hostile(&mut self, what: &'static str) -> Inbound {
        self.rejected += 1;
        tracing::info!(
            reason = what,
            count = self.rejected,
            "inbound envelope dropped"
        );
        Inbound::Dropped
    }

    fn inbound_handshake_init(&mut self, env: &Envelope) -> Inbound {
        // One lookup in memory, whatever the number of pending invites: junk under a
        // random tag costs as little with 300 invites as with none, and the time it takes
        // says nothing about how many there are.
        let Some((keys, expires)) = self.invites.get(&env.tag.0).cloned() else {
            if self.reset_keys.contains_key(&env.tag.0) {
                return self.inbound_reset_init(env);
            }
            return self.handshake_for_used_invite(env);
        };
        if now_ms() >= expires {
            // The sweep removes it (within SWEEP_EVERY_MS).
            self.emit(Event::error(
                ErrorCode::InviteExpired,
                "someone used an expired invite; it was refused",
            ));
            return Inbound::Dropped;
        }
        let card = self.card();
        let (est, response) =
            match handshake::respond(&self.profile.identity, &keys, &card, env, &mut OsRng) {
                Ok(x) => x,
                Err(_) => return self.hostile("handshake rejected"),
            };
        let id = self.profile.store.contact_id(est.peer_identity.as_bytes());
        if self.blocked.contains(&id) {
            // A blocked contact used one of our invites: no answer, and the invite stays
            // open for whoever it was meant for.
            return self.hostile("handshake from a blocked contact");
        }
        if let Some(old) = self.invite_for.get(&keys.init_tag).copied() {
            if self.contacts.contains_key(&old) {
                return self.answer_rekey_invite(env, &keys, expires, old, est, &response);
            }
        }
        if self.contacts.contains_key(&id) {
            // The invite is used up all the same, as before: nobody else may use it now.
            let _ = self
                .profile
                .store
                .consume_invite(&keys.init_tag, now_ms(), &env.encode(), &id);
            self.invites.remove(&keys.init_tag);
            self.emit(Event::error(
                ErrorCode::AlreadyContact,
                "an existing contact accepted another invite; ignored",
            ));
            return Inbound::Dropped;
        }
        let alias = self.unique_alias(&est.peer_card.display_name);
        let contact = self.contact_from_card(alias.clone(), &est.peer_identity, &est.peer_card);
        let session_bytes = SecretBytes::from_slice(&est.session.to_bytes());
        // The invite used, the contact, its session and our answer: one atomic batch.
        match self.profile.store.answer_invite(
            &keys.init_tag,
            now_ms(),
            &env.encode(),
            &contact,
            &session_bytes,
            (MessageId(keys.id), &response.encode()),
        ) {
            Ok(_) => {
                self.invites.remove(&keys.init_tag);
                self.keep_used_invite_keys(&keys, expires);
            }
            Err(InviteError::Store(e)) => {
                self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
                return Inbound::TryLater;
            }
            Err(e) => {
                self.invites.remove(&keys.init_tag);
                self.emit(Event::error(
                    ErrorCode::InviteUsed,
                    format!("an invite was used again and refused: {e}"),
                ));
                return Inbound::Dropped;
            }
        }
        self.mirror(
            id,
            MessageId(keys.id),
            CONTROL_SEQ,
            response.encode(),
            now_ms(),
        );
        self.answers.insert(id, MessageId(keys.id));
        let online =
            PeerId::from_bytes(&contact.peer_id).is_ok_and(|p| self.swarm.is_connected(&p));
        self.contacts.insert(
            id,
            ContactState {
                id,
                contact,
                session: Some(est.session),
                online,
            },
        );
        self.refresh_tags(true);
        self.emit(Event::ContactAdded {
            alias: alias.clone(),
        });
        self.emit(Event::SessionEstablished { alias });
        self.process_outbox(now_ms());
        Inbound::Processed
    }

    /// `old` after a new handshake (a reset, a re-key): its alias and added date, the new
    /// key and card; "verified" only if the identity key is the one compared.
    fn renewed_contact(&self, old: &Contact, est: &cairn_crypto::Established) -> Contact {
        let mut contact =
            self.contact_from_card(old.alias.clone(), &est.peer_identity, &est.peer_card);
        contact.added_at_ms = old.added_at_ms;
        contact.verified = old.verified && old.identity_key == contact.identity_key;
        contact
    }

    fn contact_from_card(
        &self,
        alias: String,
        identity: &cairn_crypto::IdentityPublicKey,
        card: &ProfileCard,
    ) -> Contact {
        Contact {
            alias,
            identity_key: identity.as_bytes().to_vec(),
            peer_id: card.peer_id.clone(),
            addresses: addr_strings(&card.addrs),
            mailbox: mailbox_string(card.mailbox.as_ref()),
            verified: false,
            safety_number: SafetyNumber::new(&self.profile.identity.public(), identity)
                .digits()
                .to_owned(),
            added_at_ms: now_ms(),
        }
    }

    fn inbound_handshake_response(&mut self, env: &Envelope) -> Inbound {
        let Some((cid, pending)) = self.handshakes.remove(&env.tag.0) else {
            return self.hostile("handshake response for no pending handshake");
        };
        let invite_id = MessageId(pending.invite_id());
        let est = match pending.finish(&self.profile.identity, env) {
            Ok(est) => est,
            Err(rej) => {
                self.handshakes.insert(env.tag.0, (cid, rej.state));
                return self.hostile("handshake response rejected");
            }
        };
        let Some(state) = self.contacts.get(&cid) else {
            return Inbound::Dropped;
        };
        let contact = self.renewed_contact(&state.contact, &est);
        // Acknowledge the answer at once (a receipt for the invite's id, our first message
        // in the session): the inviter keeps resending its answer until it hears from us.
        let mut session = est.session;
        let now = now_ms();
        let ack = Content::Receipt(vec![invite_id.0])
            .encode()
            .ok()
            .and_then(|r| session.encrypt(&r, now / 1000, &mut OsRng).ok())
            .map(|env| env.encode());
        let mut rid = [0u8; 16];
        OsRng.fill_bytes(&mut rid);
        let changed = state.session.is_some() && state.contact.identity_key != contact.identity_key;
        if changed {
            // A re-key with the contact's new device (rekey.rs): the contact moves to its
            // new identity key with its history.
            return self.finish_rekey(cid, contact, session, ack, rid, invite_id);
        }
        let store = &self.profile.store;
        let name = format!("{HANDSHAKE_SETTING_PREFIX}{}", hex(&cid.0));
        let session_bytes = SecretBytes::from_slice(&session.to_bytes());
        let result = store
            .put_contact(&contact)
            .and_then(|_| match &ack {
                // The session after the receipt and the receipt, in one batch.
                Some(wire) => {
                    store.queue_control(&cid, Some(&session_bytes), MessageId(rid), wire, now)
                }
                None => store.put_session(&cid, &session_bytes),
            })
            .and_then(|_| store.remove_setting(&name));
        if let Err(e) = result {
            self.emit(Event::error(ErrorCode::StoreFailed, e.to_string()));
            return Inbound::TryLater;
        }
        let alias = contact.alias.clone();
        let protocol = session.protocol().as_u8();
        if let Some(s) = self.contacts.get_mut(&cid) {
            s.contact = contact;
            s.session = Some(session);
        }
        if let Some(wire) = ack {
            self.mirror(cid, MessageId(rid), CONTROL_SEQ, wire, now);
        }
        // The first handshake message needs no more retries.
        let _ = self.outbox_done(&invite_id, now);
        if self.resetting.remove(&cid) {
            self.after_reset(&cid);
            self.refresh_tags(true);
            self.emit(Event::SessionReset {
                alias,
                protocol,
                identity_changed: false,
            });
            self.process_outbox(now);
            return Inbound::Processed;
        }
        self.refresh_tags(true);
        self.emit(Event::SessionEstablished { alias });
        self.process_outbox(now);
        Inbound::Processed
    }

    fn inbound_message(&mut self, env: &Envelope) -> Inbound {
        let mut out = [Inbound::Dropped];
        let mut group = None;
        self.inbound_message_into(env, 0, &mut group, &mut out);
        self.finish_group(group, &mut out);
        out[0]
    }

    /// Several envelopes that arrived together (a `DeliverBatch`, a mailbox fetch): text
    /// messages of one contact in a row are stored in one transaction with one receipt
    /// for all of them. Returns one outcome per envelope, in order.
    fn inbound_envelopes(&mut self, items: &[Vec<u8>]) -> Vec<Inbound> {
        let mut out = vec![Inbound::Dropped; items.len()];
        let mut group: Option<TextGroup> = None;
        for (i, bytes) in items.iter().enumerate() {
            match Envelope::decode(bytes) {
                Ok(env) if env.kind == EnvelopeKind::Message => {
                    self.inbound_message_into(&env, i, &mut group, &mut out);
                }
                _ => {
                    if !self.finish_group(group.take(), &mut out) {
                        set(&mut out, i, Inbound::TryLater);
                        continue;
                    }
                    let r = self.inbound_envelope(bytes);
                    set(&mut out, i, r);
                }
            }
        }
        self.finish_group(group, &mut out);
        out
    }

    /// Decrypts one message envelope (item `i`) on top of `group`: a text joins the
    /// group (stored when the group is finished); anything else finishes the group
    /// first and is applied at once. The outcome goes to `out[i]`.
    fn inbound_message_into(
        &mut self,
        env: &Envelope,
        i: usize,
        group: &mut Option<TextGroup>,
        out: &mut [Inbound],
    ) {
        let Some(cid) = self.contact_for_tag(&env.tag) else {
            // Straight from a contact whose session is being reset (or just was): it may
            // be under the session we are about to get, or the one we just left. "Try
            // later" makes its node send it again shortly — by then encrypted again under
            // the new session — instead of waiting for a renewal.
            if self.resetting_contact_of(self.direct_from).is_some() {
                tracing::debug!("message across a session reset: try later");
                // Its node may put it into our mailbox instead: look there soon.
                self.next_fetch_ms = self.next_fetch_ms.min(now_ms() + 2_000);
                return set(out, i, Inbound::TryLater);
            }
            let r = self.hostile("message with unknown routing tag");
            return set(out, i, r);
        };
        if self.blocked.contains(&cid) {
            // Dropped without an answer, like a stranger's (a mailbox deletes it).
            let r = self.hostile("message from a blocked contact");
            return set(out, i, r);
        }
        let full = group
            .as_ref()
            .is_some_and(|g| g.cid != cid || g.messages.len() >= MAX_RECEIPT_IDS);
        if full && !self.finish_group(group.take(), out) {
            return set(out, i, Inbound::TryLater);
        }
        let current = match group.as_ref() {
            Some(g) => Some(g.session.clone()),
            None => match self.contacts.get(&cid) {
                Some(state) => state.session.clone(),
                None => {
                    let r = self.hostile("message for removed contact");
                    return set(out, i, r);
                }
            },
        };
        let Some(mut next) = current else {
            let r = self.hostile("message before handshake");
            return set(out, i, r);
        };
        // Read ahead of a mailbox backlog that is still being collected, this message
        // would give up keys of messages the mailbox is about to hand over: the sender
        // tries it again a little later (bounded by MAILBOX_CATCH_UP_MS). Judged from the
        // header alone, so holding it back costs no chain walk.
        if !self.reading_mail && now_ms() < self.catch_up_until_ms && next.would_give_up_keys(env) {
            return set(out, i, Inbound::TryLater);
        }
        let plain = match next.decrypt(env, now_secs()) {
            Ok(p) => {
                self.heard_from(&cid);
                p
            }
            // Authentic but already processed: a retransmission; acknowledge it again —
            // but only to the contact itself (or our mailbox). Anyone else holding a copy
            // gets the answer junk gets, and so cannot learn which node it is for.
            Err(DecryptError::Replayed) => {
                let from_contact = self.direct_from.is_none_or(|p| {
                    self.contacts
                        .get(&cid)
                        .is_some_and(|c| c.contact.peer_id == p.to_bytes())
                });
                if !from_contact {
                    let r = self.hostile("replay from someone other than the contact");
                    return set(out, i, r);
                }
                self.heard_from(&cid);
                return set(out, i, Inbound::Processed);
            }
            // Authentic header, but further ahead than this session can walk: keep it
            // (a mailbox holds it; deleting it as junk would lose the message) and say
            // once that this conversation needs a session reset.
            Err(DecryptError::TooFarAhead) => {
                self.heard_from(&cid);
                if self.too_far_ahead.insert(cid) {
                    let alias = self
                        .contacts
                        .get(&cid)
                        .map(|c| c.contact.alias.clone())
                        .unwrap_or_default();
                    tracing::warn!("a contact's message is too far ahead of the session");
                    self.emit(Event::error(
                        ErrorCode::SessionBehind,
                        format!(
                            "messages from {alias} are too far ahead of your session to be read; \
                             reset the session with them"
                        ),
                    ));
                }
                return set(out, i, Inbound::Kept);
            }
            Err(_) => {
                let r = self.hostile("message failed authentication");
                return set(out, i, r);
            }
        };
        let content = Content::decode(&plain);
        if let Ok(Content::Text {
            id,
            sent_at_ms,
            text,
        }) = content
        {
            let message = NewMessage {
                id: MessageId(id),
                direction: Direction::Incoming,
                text,
                created_at_ms: sent_at_ms,
                received_at_ms: None,
                state: DeliveryState::Received,
            };
            match group {
                Some(g) => {
                    g.session = next;
                    g.indices.push(i);
                    g.messages.push(message);
                }
                None => {
                    *group = Some(TextGroup {
                        cid,
                        session: next,
                        indices: vec![i],
                        messages: vec![message],
                    })
                }
            }
            return;
        }
        if group.is_some() {
            // Texts before this one are waiting: store them (with their receipt, which
            // moves our sending chain) first, then decrypt this one again on top of
            // the stored state, so no state is ever written over a newer one.
            if !self.finish_group(group.take(), out) {
                return set(out, i, Inbound::TryLater);
            }
            return self.inbound_message_into(env, i, group, out);
        }
        let r = match content {
            Ok(c) => self.inbound_content(cid, next, c),
            Err(_) => {
                // Authentic but unreadable (a newer version): keep the ratchet moving —
                // in memory only once it is stored, so memory never runs ahead of the disk.
                if self
                    .profile
                    .store
                    .put_session(&cid, &SecretBytes::from_slice(&next.to_bytes()))
                    .is_err()
                {
                    return set(out, i, Inbound::TryLater);
                }
                self.dirty = true;
                if let Some(s) = self.contacts.get_mut(&cid) {
                    s.session = Some(next);
                }
                self.hostile("unreadable content")
            }
        };
        set(out, i, r);
    }

    /// Stores a group of texts with one receipt for all of them, in one transaction:
    /// messages, dedup ids, ratchet state, receipt. Sets their outcomes; false if it
    /// could not (the sender retries; the ratchet state in memory is unchanged).
    fn finish_group(&mut self, group: Option<TextGroup>, out: &mut [Inbound]) -> bool {
        let Some(TextGroup {
            cid,
            mut session,
            indices,
            mut messages,
        }) = group
        else {
            return true;
        };
        let now = now_ms();
        for m in &mut messages {
            m.received_at_ms = Some(now);
        }
        let ids: Vec<[u8; 16]> = messages.iter().map(|m| m.id.0).collect();
        let receipt = Content::Receipt(ids)
            .encode()
            .ok()
            .and_then(|r| session.encrypt(&r, now / 1000, &mut OsRng).ok());
        let stored = match receipt {
            Some(receipt_env) => {
                let mut rid = [0u8; 16];
                OsRng.fill_bytes(&mut rid);
                let receipt_wire = receipt_env.encode();
                self.profile
                    .store
                    .record_incoming_batch_deferred(
                        &cid,
                        &SecretBytes::from_slice(&session.to_bytes()),
                        &messages,
                        MessageId(rid),
                        &receipt_wire,
                        now,
                    )
                    .map(|outcomes| (outcomes, rid, receipt_wire))
                    .map_err(|e| self.emit(Event::error(ErrorCode::StoreFailed, e.to_string())))
                    .ok()
            }
            None => None,
        };
        let Some((outcomes, rid, receipt_wire)) = stored else {
            for i in indices {
                set(out, i, Inbound::TryLater);
            }
            return false;
        };
        let alias = match self.contacts.get_mut(&cid) {
            Some(s) => {
                s.session = Some(session);
                s.contact.alias.clone()
            }
            None => String::new(),
        };
        for ((i, m), outcome) in indices.into_iter().zip(messages).zip(outcomes) {
            if let Incoming::Stored { .. } = outcome {
                self.deferred.push(Deferred::Emit(Event::Message {
                    from: alias.clone(),
                    id: hex(&m.id.0),
                    text: m.text,
                    sent_at: m.created_at_ms,
                }));
            }
            set(out, i, Inbound::Processed);
        }
        self.defer_mirror(cid, MessageId(rid), CONTROL_SEQ, receipt_wire, now);
        true
    }

    /// Applies a decrypted message that is not a text (receipt, card); `next` is the
    /// ratchet state after decrypting it.
    fn inbound_content(&mut self, cid: ContactId, next: Session, content: Content) -> Inbound {
        let now = now_ms();
        match content {
            Content::Text { .. } => Inbound::Dropped,
            Content::Receipt(ids) => {
                // The mirror holds every pending outbox entry (an envelope leaves only once
                // mirrored), so an id not in it for this contact confirms nothing to do: only
                // mirrored ids go to the store, with their sequence number. Each id once: a
                // receipt that repeats one must not count it twice.
                let mut seen = HashSet::new();
                let ids: Vec<(MessageId, Option<u64>)> = ids
                    .into_iter()
                    .map(MessageId)
                    .filter(|id| seen.insert(*id))
                    .filter_map(|id| {
                        let e = self.outbox.get(&id).filter(|e| e.contact == cid)?;
                        Some((id, Some(e.seq)))
                    })
                    .collect();
                // Batch records whose last pending entries this receipt confirms go in
                // the same write (every id with a known sequence number becomes done).
                let mut left: HashMap<BatchId, usize> = HashMap::new();
                for (id, seq) in &ids {
                    if seq.is_some_and(|s| s != CONTROL_SEQ) {
                        if let Some(b) = self.batch_of.get(id) {
                            let n = left
                                .entry(*b)
                                .or_insert_with(|| self.batch_left.get(b).copied().unwrap_or(0));
                            *n = n.saturating_sub(1);
                        }
                    }
                }
                let retire: Vec<BatchId> = left
                    .iter()
                    .filter(|(_, n)| **n == 0)
                    .map(|(b, _)| *b)
                    .collect();
                let bytes = SecretBytes::from_slice(&next.to_bytes());
                match self
                    .profile
                    .store
                    .apply_receipt_deferred(&cid, &bytes, &ids, &retire, now)
                {
                    Ok(done) => {
                        if let Some(s) = self.contacts.get_mut(&cid) {
                            s.session = Some(next);
                        }
                        self.dirty = true;
                        for (b, n) in left {
                            if n == 0 {
                                self.batch_left.remove(&b);
                            } else {
                                self.batch_left.insert(b, n);
                            }
                        }
                        for mid in done {
                            self.batch_of.remove(&mid);
                            self.outbox.remove(&mid);
                            self.in_flight.remove(&mid);
                            self.backoff.remove(&mid);
                            self.renewed.remove(&mid);
                            self.deferred
                                .push(Deferred::Emit(Event::Delivered { id: hex(&mid.0) }));
                        }
                        Inbound::Processed
                    }
                    Err(_) => Inbound::TryLater,
                }
            }
            Content::Timer { set_at_ms, seconds } => {
                // The later setting wins (by the setters' clocks), so two people changing
                // it at once end with the same timer. Applied before the session moves: a
                // crash in between makes the envelope come again, and applying is idempotent.
                let newer = set_at_ms > self.timer_set_at(&cid);
                if newer && self.store_timer(&cid, seconds, set_at_ms).is_err() {
                    return Inbound::TryLater;
                }
                let bytes = SecretBytes::from_slice(&next.to_bytes());
                if self.profile.store.put_session(&cid, &bytes).is_err() {
                    return Inbound::TryLater;
                }
                let Some(s) = self.contacts.get_mut(&cid) else {
                    return Inbound::Dropped;
                };
                s.session = Some(next);
                if newer {
                    let alias = s.contact.alias.clone();
                    self.emit(Event::ExpireSet {
                        alias,
                        seconds,
                        by_contact: true,
                    });
                }
                Inbound::Processed
            }
            Content::Protocol(newest) => self.inbound_protocol(cid, next, newest),
            Content::Card(card) => {
                let Some(mut contact) = self.contacts.get(&cid).map(|s| s.contact.clone()) else {
                    return Inbound::Dropped;
                };
                contact.addresses = addr_strings(&card.addrs);
                contact.mailbox = mailbox_string(card.mailbox.as_ref());
                // Stored first; memory follows only what the disk holds.
                let bytes = SecretBytes::from_slice(&next.to_bytes());
                let stored = self
                    .profile
                    .store
                    .put_contact(&contact)
                    .and_then(|_| self.profile.store.put_session(&cid, &bytes));
                if stored.is_err() {
                    return Inbound::TryLater;
                }
                if let Some(s) = self.contacts.get_mut(&cid) {
                    s.session = Some(next);
                    s.contact = contact;
                }
                Inbound::Processed
            }
        }
    }

    // ---------------------------------------------------------------- swarm

    fn swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::debug!(%address, "listening");
                self.listen_addrs.push(address);
                // A new address after start (e.g. the relayed one): tell our contacts at
                // the next tick (addresses often come and go several at a time).
                self.card_changed = self.ready_sent;
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| *a != address);
                self.card_changed = self.ready_sent;
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                let addr = endpoint.get_remote_address();
                let relayed = addr.iter().any(|p| matches!(p, Protocol::P2pCircuit));
                if endpoint.is_listener() && !relayed {
                    if let Some(source) = crate::net::ip_limits::Source::of(addr) {
                        self.stranger_sources.insert(peer_id, source);
                    }
                }
                if let Some((relay, addr)) = self.relay.clone() {
                    if peer_id == relay && !self.relay_reserved {
                        let circuit = addr.with(Protocol::P2pCircuit);
                        if let Err(e) = self.swarm.listen_on(circuit) {
                            self.emit(Event::error(ErrorCode::RelayFailed, e.to_string()));
                        }
                        self.next_fetch_ms = 0;
                        self.catch_up_until_ms = now_ms().saturating_add(MAILBOX_CATCH_UP_MS);
                    }
                }
                if !self.bypassed.contains(&peer_id) {
                    self.strangers.entry(peer_id).or_insert_with(now_ms);
                }
                self.set_online(peer_id, true);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.strangers.remove(&peer_id);
                self.stranger_sources.remove(&peer_id);
                self.set_online(peer_id, false);
                if self.relay.as_ref().is_some_and(|(r, _)| *r == peer_id) {
                    self.relay_reserved = false;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => self.rr_event(ev),
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(
                relay::client::Event::ReservationReqAccepted { .. },
            )) if !self.relay_reserved => {
                self.relay_reserved = true;
                if let Some((_, addr)) = &self.relay {
                    self.emit(Event::Relay {
                        state: RelayState::Reserved,
                        addr: addr.to_string(),
                    });
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => self.learn_addresses(peer_id, info.listen_addrs),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(list))) => {
                let contacts: HashSet<PeerId> = self
                    .contacts
                    .values()
                    .filter_map(|c| PeerId::from_bytes(&c.contact.peer_id).ok())
                    .collect();
                for (peer, addr) in lan_addresses_to_add(&contacts, &mut self.lan_addrs, list) {
                    self.swarm.add_peer_address(peer, addr);
                }
            }
            _ => {}
        }
    }

    fn set_online(&mut self, peer: PeerId, online: bool) {
        let bytes = peer.to_bytes();
        let mut changed = None;
        for c in self.contacts.values_mut() {
            if c.contact.peer_id == bytes && c.online != online {
                c.online = online;
                changed = Some(c.contact.alias.clone());
            }
        }
        if let Some(alias) = changed {
            self.emit(if online {
                Event::PeerOnline { alias }
            } else {
                Event::PeerOffline { alias }
            });
            if online {
                // A contact came back: retry what waits for it now.
                let ids: Vec<ContactId> = self
                    .contacts
                    .iter()
                    .filter(|(_, c)| c.contact.peer_id == bytes)
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.unpark(&id);
                }
                let now = now_ms();
                self.backoff.retain(|_, (_, next)| *next <= now);
                self.process_outbox(now);
            }
        }
    }

    /// Identify told us where a contact listens now: remember it (address changes).
    fn learn_addresses(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let bytes = peer.to_bytes();
        let Some(c) = self
            .contacts
            .values_mut()
            .find(|c| c.contact.peer_id == bytes)
        else {
            return;
        };
        // Addresses the node may dial first, so local ones never crowd them out.
        let allow_local = self.config.lan || self.config.private_addresses;
        let (mut usable, local): (Vec<Multiaddr>, Vec<Multiaddr>) = addrs
            .into_iter()
            .filter(|a| addresses::first_ip(a).is_some_and(|ip| !ip.is_unspecified()))
            .partition(|a| addresses::dialable(a, allow_local));
        usable.extend(local);
        let mut list: Vec<String> = usable
            .iter()
            .map(|a| a.to_string())
            .take(cairn_crypto::card::MAX_ADDRS)
            .collect();
        list.sort();
        let mut old = c.contact.addresses.clone();
        old.sort();
        if list != old && !list.is_empty() {
            c.contact.addresses = list;
            let contact = c.contact.clone();
            let _ = self.profile.store.put_contact(&contact);
        }
    }

    fn rr_event(&mut self, ev: request_response::Event<Request, Response>) {
        let outbound_done = matches!(
            ev,
            request_response::Event::OutboundFailure { .. }
                | request_response::Event::Message {
                    message: request_response::Message::Response { .. },
                    ..
                }
        );
        self.rr_event_inner(ev);
        if outbound_done {
            // A slot in the window freed up.
            self.process_outbox(now_ms());
        }
    }

    fn rr_event_inner(&mut self, ev: request_response::Event<Request, Response>) {
        match ev {
            request_response::Event::Message { message, peer, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    self.direct_from = Some(peer);
                    self.inbound_request(request, channel);
                    self.direct_from = None;
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.response(request_id, response),
            },
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                let peer = matches!(
                    error,
                    request_response::OutboundFailure::Io(_)
                        | request_response::OutboundFailure::UnsupportedProtocols
                )
                .then_some(peer);
                tracing::debug!(%error, "request failed");
                match self.take_pending(&request_id) {
                    Some(Pending::Outbox { id, route, contact }) => {
                        self.entry_failed(id, route, contact)
                    }
                    Some(Pending::Batch {
                        contact,
                        ids,
                        route,
                    }) => {
                        if route == Route::Mailbox {
                            // A relay of the previous version cannot read a batch (it
                            // resets the stream): one that never took a batch gets single
                            // deposits from now on.
                            if let Some(peer) =
                                peer.filter(|p| !self.mailbox_batches_ok.contains(p))
                            {
                                if self.no_mailbox_batch.insert(peer) {
                                    tracing::info!("mailbox takes no batch deposits");
                                }
                            }
                        }
                        self.entries_failed(ids, route, contact);
                    }
                    Some(Pending::Ack) => self.ack_done(),
                    _ => {}
                }
            }
            request_response::Event::InboundFailure { .. } => {
                self.rejected += 1;
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// A request from `direct_from` held nothing for us. A stranger that keeps sending such
    /// requests (junk handshakes, say) past [`crate::relay::ABUSE_BURST`] at once or
    /// [`crate::relay::ABUSE_PER_SEC`] a second is disconnected, and its address refused for
    /// [`crate::relay::ABUSE_PENALTY`]: a flood then costs the node a refused handshake per
    /// attempt instead of work on its event loop. Contacts and the node's relay are never cut
    /// off (nor refused: they bypass the address limits).
    fn dropped_request(&mut self) {
        let Some(peer) = self.direct_from else {
            return;
        };
        if self.bypassed.contains(&peer) {
            return;
        }
        let key = self.stranger_sources.get(&peer).copied().ok_or(peer);
        if self.dropped_from.try_take(key, 1.0, now_ms()) {
            return;
        }
        tracing::info!("a stranger kept sending what is not for this node: cut off for a while");
        if let Ok(source) = key {
            self.swarm
                .behaviour_mut()
                .ip_limits
                .penalize(source, crate::relay::ABUSE_PENALTY);
        }
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn inbound_request(&mut self, request: Request, channel: ResponseChannel<Response>) {
        let response = match request {
            Request::Deliver(bytes) => match self.inbound_envelope(&bytes) {
                // Acknowledged only once what it changed is durable.
                Inbound::Processed if self.dirty => {
                    self.deferred
                        .push(Deferred::Respond(channel, Response::Accepted));
                    return;
                }
                Inbound::Processed => Response::Accepted,
                Inbound::TryLater | Inbound::Kept => Response::Rejected(RejectCode::TryLater),
                // Dropped without a reply: a stranger learns nothing.
                Inbound::Dropped => return self.dropped_request(),
            },
            Request::DeliverBatch(items) => {
                let outcomes = self.inbound_envelopes(&items);
                if outcomes.iter().all(|o| *o == Inbound::Dropped) {
                    // Nothing in it was for us: no reply, as for a single envelope.
                    return self.dropped_request();
                }
                let codes = outcomes
                    .into_iter()
                    .map(|o| match o {
                        Inbound::Processed => None,
                        Inbound::TryLater | Inbound::Kept => Some(RejectCode::TryLater),
                        Inbound::Dropped => Some(RejectCode::NotAccepted),
                    })
                    .collect();
                if self.dirty {
                    // Acknowledged only once what it changed is durable.
                    self.deferred
                        .push(Deferred::Respond(channel, Response::Results(codes)));
                    return;
                }
                Response::Results(codes)
            }
            Request::MailboxPut(_)
            | Request::MailboxPutBatch(_)
            | Request::MailboxFetch(_)
            | Request::MailboxAck { .. } => Response::Rejected(RejectCode::Unsupported),
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .rr
            .send_response(channel, response);
    }

    fn response(&mut self, rid: OutboundRequestId, response: Response) {
        match self.take_pending(&rid) {
            Some(Pending::Outbox { id, route, contact }) => match response {
                Response::Accepted => self.hops_accepted(vec![id]),
                _ => self.entry_failed(id, route, contact),
            },
            Some(Pending::Batch {
                contact,
                ids,
                route,
            }) => {
                if route == Route::Mailbox && matches!(response, Response::Results(_)) {
                    if let Some(peer) = self.mailbox_of(&contact) {
                        self.mailbox_batches_ok.insert(peer);
                        self.no_mailbox_batch.remove(&peer);
                    }
                }
                let codes = match response {
                    Response::Results(codes) if codes.len() == ids.len() => codes,
                    // Refused as a whole (or an answer that does not fit): every entry
                    // failed this time.
                    _ => vec![Some(RejectCode::NotAccepted); ids.len()],
                };
                let mut accepted = Vec::new();
                let mut failed = Vec::new();
                for (id, code) in ids.into_iter().zip(codes) {
                    match code {
                        None => accepted.push(id),
                        Some(_) => failed.push(id),
                    }
                }
                self.entries_failed(failed, route, contact);
                self.hops_accepted(accepted);
            }
            Some(Pending::Fetch) => {
                if matches!(response, Response::Rejected(_)) {
                    // "Try later": the rest of this collection waits for the next one
                    // (a relay cuts off a source that keeps asking).
                    self.fetch_queue.clear();
                }
                if let Response::Mail(items) = response {
                    let full = crate::net::protocol::mail_may_have_more(&items);
                    let authentic = self.got_mail(items);
                    if full {
                        // Go on once the acknowledgements are answered (`ack_done`).
                        self.fetch_more = true;
                        // Still collecting a real backlog: keep direct mail from overtaking
                        // it a while longer (a mailbox of junk does not extend this).
                        if authentic > 0 && self.catch_up_until_ms != 0 {
                            self.catch_up_until_ms = now_ms().saturating_add(MAILBOX_CATCH_UP_MS);
                        }
                    } else if !self.fetch_more
                        && self.fetch_queue.is_empty()
                        && self.pending.values().all(|p| !matches!(p, Pending::Fetch))
                    {
                        // The mailbox has nothing more: direct mail is read as it comes.
                        self.catch_up_until_ms = 0;
                    }
                }
                // The rest of this collection, then — once every fetch and acknowledgement
                // of it is answered — the next one if any response was full. (Checked after
                // every answer: with several fetches in flight, the last to come back may be
                // an empty one, after the full one's acknowledgements.)
                self.send_fetches();
                self.ack_done();
            }
            Some(Pending::Ack) => self.ack_done(),
            None => {}
        }
    }
}

/// Of the addresses mDNS discovered, those to dial: only contacts' (anyone on the LAN can
/// announce any PeerId with any address), at most `MAX_ADDRS` per contact over the whole
/// run (`known` keeps what was added), each once. Without the bound, every spoofed answer
/// added an address to every dial of that PeerId.
fn lan_addresses_to_add(
    contacts: &HashSet<PeerId>,
    known: &mut HashMap<PeerId, Vec<Multiaddr>>,
    discovered: Vec<(PeerId, Multiaddr)>,
) -> Vec<(PeerId, Multiaddr)> {
    let mut out = Vec::new();
    for (peer, addr) in discovered {
        if !contacts.contains(&peer) {
            continue;
        }
        let list = known.entry(peer).or_default();
        if list.len() >= cairn_crypto::card::MAX_ADDRS || list.contains(&addr) {
            continue;
        }
        list.push(addr.clone());
        out.push((peer, addr));
    }
    out
}

#[cfg(test)]
mod lan_tests {
    use super::*;

    /// Catches LAN discovery that dials strangers' announcements, or that lets a spoofer add
    /// addresses to a contact's dials without bound.
    #[test]
    fn lan_discovery_adds_few_addresses_and_only_for_contacts() {
        let contact = PeerId::random();
        let stranger = PeerId::random();
        let contacts: HashSet<PeerId> = [contact].into_iter().collect();
        let mut known = HashMap::new();
        let addr = |i: u16| -> Multiaddr { format!("/ip4/192.168.1.7/tcp/{i}").parse().unwrap() };
        let flood: Vec<(PeerId, Multiaddr)> = (0..500)
            .map(|i| (contact, addr(i)))
            .chain((0..10).map(|i| (stranger, addr(i))))
            .chain([(contact, addr(0))])
            .collect();
        let added = lan_addresses_to_add(&contacts, &mut known, flood);
        assert_eq!(added.len(), cairn_crypto::card::MAX_ADDRS);
        assert!(added.iter().all(|(p, _)| *p == contact));
        let again = lan_addresses_to_add(&contacts, &mut known, vec![(contact, addr(900))]);
        assert!(again.is_empty(), "the bound holds over the whole run");
    }
}

/// Texts of one contact decrypted in a row, waiting to be stored with one receipt.
struct TextGroup {
    cid: ContactId,
    /// The ratchet state after the last of them.
    session: Session,
    /// Their indices in the batch, and the messages.
    indices: Vec<usize>,
    messages: Vec<NewMessage>,
}

fn set(out: &mut [Inbound], i: usize, r: Inbound) {
    if let Some(slot) = out.get_mut(i) {
        *slot = r;
    }
}

/// What happened to an inbound envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inbound {
    /// Stored or already had it: acknowledge.
    Processed,
    /// Authentic, but this session cannot read it now (too far ahead in its chain):
    /// never acknowledged, so a mailbox keeps it and a sender retries it.
    Kept,
    /// Not ours, forged or malformed: no reply.
    Dropped,
    /// Could not store it now: the sender should retry.
    TryLater,
}
