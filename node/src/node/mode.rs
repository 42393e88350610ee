//! Hidden or direct (issue 17): the profile's mode, kept in its store, and the switch
//! between them with contacts told through their sessions.
//!
//! A node in hidden mode dials only onion addresses, and a direct one none, so a contact
//! who has only the old addresses of a node that switched could never reach it again, nor
//! hear its new ones. The switch therefore tells every contact first, through the mode the
//! node is still in: the card it will have after (its onion address, known from the seed
//! without tor, or the circuit through its next relay), sent like any control message, and
//! only then is the mode stored and the node stopped for the front end to start again. A
//! card that no hop took within [`SWITCH_WAIT`] stays in the outbox and goes out once the
//! contact can be reached in the new mode (having switched too). Onion rotation is the same
//! switch to a new onion address.

use super::*;
use crate::api::Alias;

/// The setting that keeps the mode: `hidden` or absent (direct).
pub(crate) const MODE_SETTING: &str = "network-mode";
/// The setting that keeps the seed of the onion key, sealed like every other.
pub(crate) const ONION_SEED_SETTING: &str = "onion-seed";
/// How long a switch waits for a hop to take each contact's new card.
pub const SWITCH_WAIT: Duration = Duration::from_secs(30);

/// Whether the profile in `store` is in hidden mode.
pub fn stored_hidden(store: &crate::store::Store) -> Result<bool, String> {
    let v = store.setting(MODE_SETTING).map_err(|e| e.to_string())?;
    Ok(v.as_deref() == Some(b"hidden".as_slice()))
}

/// Keeps the profile's mode (durable when this returns).
pub fn store_hidden(store: &crate::store::Store, hidden: bool) -> Result<(), String> {
    if hidden {
        store.set_setting(MODE_SETTING, b"hidden")
    } else {
        store.remove_setting(MODE_SETTING)
    }
    .and_then(|()| store.make_durable())
    .map_err(|e| e.to_string())
}

/// The profile's onion seed, made (and kept, durable) on first use; with `fresh`, a new
/// one in its place (rotation).
pub(crate) fn onion_seed(
    store: &crate::store::Store,
    fresh: bool,
) -> Result<zeroize::Zeroizing<[u8; 32]>, String> {
    let kept = if fresh {
        None
    } else {
        store
            .setting(ONION_SEED_SETTING)
            .map_err(|e| e.to_string())?
            .and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok())
    };
    let seed = zeroize::Zeroizing::new(match kept {
        Some(seed) => seed,
        None => {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
            store
                .set_setting(ONION_SEED_SETTING, &seed)
                .and_then(|()| store.make_durable())
                .map_err(|e| e.to_string())?;
            seed
        }
    });
    Ok(seed)
}

/// A switch under way: the new cards each contact was sent, until a hop takes them.
#[derive(Debug)]
pub(super) struct Switch {
    hidden: bool,
    onion: Option<String>,
    sent: BTreeMap<MessageId, ContactId>,
    not_told: Vec<Alias>,
    until_ms: u64,
}

impl<S: Shell> Runtime<S> {
    /// `switch_mode` (and `rotate_onion`, `rotate`): tells every contact the card of the
    /// new mode, then (see [`Runtime::switch_progress`]) stores the mode and stops.
    pub(super) fn cmd_switch_mode(&mut self, hidden: bool, relay: Option<String>, rotate: bool) {
        if self.switching.is_some() {
            return self.emit(Event::error(
                ErrorCode::BadArguments,
                "a switch is under way",
            ));
        }
        if rotate && self.config.hidden.is_none() {
            let e = "only a node in hidden mode has an onion address to rotate";
            return self.emit(Event::error(ErrorCode::BadArguments, e));
        }
        let relay = match relay.map(|r| r.parse::<Multiaddr>()) {
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => {
                return self.emit(Event::error(
                    ErrorCode::BadArguments,
                    format!("bad relay: {e}"),
                ))
            }
            // Kept if it suits the new mode.
            None => self
                .relay
                .as_ref()
                .map(|(_, a)| a.clone())
                .filter(|a| crate::net::tor::onion_target(a).is_some() == hidden),
        };
        if let Some(r) = &relay {
            let onion = crate::net::tor::onion_target(r).is_some();
            if onion != hidden || peer_of(r).is_none() {
                let e = if hidden {
                    "in hidden mode the relay must be an onion service (/onion3/…/p2p/<peer id>)"
                } else {
                    "outside hidden mode the relay must be an IP address (…/p2p/<peer id>)"
                };
                return self.emit(Event::error(ErrorCode::BadArguments, e));
            }
        }
        let store = &self.profile.store;
        let (addrs, onion) = if hidden {
            let seed = match onion_seed(store, rotate) {
                Ok(s) => s,
                Err(e) => return self.emit(Event::error(ErrorCode::StoreFailed, e)),
            };
            let id = crate::net::tor_control::onion_address(&seed);
            let port = crate::net::onion::ONION_PORT;
            let onion: Option<Multiaddr> = format!("/onion3/{id}:{port}").parse().ok();
            (onion.iter().map(|a| a.to_vec()).collect(), Some(id))
        } else {
            // Reached through the next relay's circuit (the node reserves one there once
            // it runs), and at what it will listen on that a contact could dial.
            let me = self.shell.local_peer_id();
            let circuit = relay
                .iter()
                .map(|r| r.clone().with(Protocol::P2pCircuit).with(Protocol::P2p(me)));
            let allow_local = self.allow_local();
            let listen = self
                .config
                .listen
                .iter()
                .filter(|a| addresses::shareable(a, allow_local))
                .cloned();
            let addrs = circuit.chain(listen).take(cairn_crypto::card::MAX_ADDRS);
            (addrs.map(|a| a.to_vec()).collect(), None)
        };
        let card = ProfileCard {
            display_name: self.profile.display_name.clone(),
            peer_id: self.shell.local_peer_id().to_bytes(),
            addrs,
            mailbox: relay.as_ref().map(|r| r.to_vec()),
        };
        let Ok(plain) = Content::Card(card).encode() else {
            return self.emit(Event::error(ErrorCode::EncryptFailed, "the new card"));
        };
        let (mut sent, mut not_told) = (BTreeMap::new(), Vec::new());
        let ids: Vec<ContactId> = self.contacts.keys().copied().collect();
        for cid in ids {
            match self.send_control(&cid, &plain) {
                Some(id) => {
                    sent.insert(id, cid);
                }
                None => {
                    if let Some(c) = self.contacts.get(&cid) {
                        not_told.push(c.contact.alias.clone().into());
                    }
                }
            }
        }
        self.switching = Some(Switch {
            hidden,
            onion,
            sent,
            not_told,
            until_ms: self.now_ms().saturating_add(duration_ms(SWITCH_WAIT)),
        });
    }

    /// A switch ends once a hop took every contact's new card, or at its deadline: the mode
    /// is stored, `mode_switched` says who was told, and the node stops.
    pub(super) fn switch_progress(&mut self, now: u64) {
        let Some(s) = &self.switching else {
            return;
        };
        let queued = |id: &MessageId| self.outbox.contains_key(id) || self.awaiting_mirror(id);
        let waiting = s.sent.keys().any(queued);
        if waiting && now < s.until_ms {
            return;
        }
        let Some(s) = self.switching.take() else {
            return;
        };
        let mut told = Vec::new();
        let mut not_told = s.not_told;
        for (id, cid) in &s.sent {
            let Some(c) = self.contacts.get(cid) else {
                continue;
            };
            let alias: Alias = c.contact.alias.clone().into();
            if self.outbox.contains_key(id) || self.awaiting_mirror(id) {
                not_told.push(alias);
            } else {
                told.push(alias);
            }
        }
        if let Err(e) = store_hidden(&self.profile.store, s.hidden) {
            return self.emit(Event::error(ErrorCode::StoreFailed, e));
        }
        self.emit(Event::ModeSwitched {
            hidden: s.hidden,
            onion: s.onion,
            told,
            not_told,
        });
        self.stopping = true;
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
