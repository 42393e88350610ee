//! Hidden or direct (issue 17): the profile's mode, kept in its store, and the switch
//! between them with contacts told through their sessions.
//!
//! A node in hidden mode dials only onion addresses, and a direct one none, so a contact
//! who has only the old addresses of a node that switched could never reach it again, nor
//! hear its new ones. The switch therefore tells every contact first, through the mode the
//! node is still in: the card it will have after (its onion address, known from the seed
//! without tor, or the circuit through its next relay), sent like any control message. The
//! new mode, its relay (and on rotation the new seed) are stored durably before any card is
//! sent: however the switch ends (done, the node stopped, a crash), the node starts next in
//! the mode its contacts were told about. Card announcements wait while it runs (the card
//! of the mode being left must not follow the new one). It ends once a hop took every card,
//! or after [`SWITCH_WAIT`]; a card no hop took stays in the outbox and goes out once the
//! contact can be reached in the new mode (having switched too). Onion rotation is the same
//! switch to a new onion address.

use super::*;
use crate::api::Alias;

/// The setting that keeps the mode: `hidden` or absent (direct).
pub(crate) const MODE_SETTING: &str = "network-mode";
/// The setting that keeps the seed of the onion key, sealed like every other.
pub(crate) const ONION_SEED_SETTING: &str = "onion-seed";
/// The setting that keeps the relay of the mode, as `switch_mode` chose it.
pub(crate) const MODE_RELAY_SETTING: &str = "mode-relay";
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

/// The relay the profile's mode uses when none is given at start (`switch_mode`'s).
pub fn stored_relay(store: &crate::store::Store) -> Option<Multiaddr> {
    let bytes = store.setting(MODE_RELAY_SETTING).ok().flatten()?;
    Multiaddr::try_from(bytes).ok()
}

/// The relay of the node's mode: `given` if it suits it (an onion service in hidden mode,
/// anything else outside it), else the one `switch_mode` stored if that suits, else none.
/// A given relay that does not suit is returned as the second value, to be reported.
pub(crate) fn relay_for(
    store: &crate::store::Store,
    given: Option<&Multiaddr>,
    hidden: bool,
) -> (Option<Multiaddr>, Option<Multiaddr>) {
    let suits = |a: &Multiaddr| crate::net::tor::onion_target(a).is_some() == hidden;
    match given {
        Some(a) if suits(a) => (Some(a.clone()), None),
        other => (stored_relay(store).filter(suits), other.cloned()),
    }
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
    /// Each card's contact, and whether a hop took it.
    sent: BTreeMap<MessageId, (ContactId, bool)>,
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
            (
                onion.iter().map(|a| a.to_vec()).collect::<Vec<_>>(),
                Some(id),
            )
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
                // A port the system picks at start is not known yet.
                .filter(|a| {
                    !a.iter()
                        .any(|p| matches!(p, Protocol::Tcp(0) | Protocol::Udp(0)))
                })
                .cloned();
            let addrs = circuit.chain(listen).take(cairn_crypto::card::MAX_ADDRS);
            (addrs.map(|a| a.to_vec()).collect(), None)
        };
        if addrs.is_empty() {
            // Contacts would be left with no way to reach the node, nor it to tell them.
            let e = "outside hidden mode the node needs a relay (`relay`) or a public listen \
                     address for its contacts to reach it";
            return self.emit(Event::error(ErrorCode::BadArguments, e));
        }
        let card = self.card_with(addrs, relay.as_ref());
        let Ok(plain) = Content::Card(card).encode() else {
            return self.emit(Event::error(ErrorCode::EncryptFailed, "the new card"));
        };
        // The new mode and its relay first, durably (the seed already is): the node's next
        // start is in the mode its contacts are about to be told of.
        let stored = match &relay {
            Some(r) => store.set_setting(MODE_RELAY_SETTING, &r.to_vec()),
            None => store.remove_setting(MODE_RELAY_SETTING),
        };
        if let Err(e) = stored
            .map_err(|e| e.to_string())
            .and_then(|()| store_hidden(store, hidden))
        {
            return self.emit(Event::error(ErrorCode::StoreFailed, e));
        }
        let (mut sent, mut not_told) =
            (BTreeMap::<MessageId, (ContactId, bool)>::new(), Vec::new());
        let ids: Vec<ContactId> = self.contacts.keys().copied().collect();
        for cid in ids {
            match self.send_control(&cid, &plain) {
                Some(id) => {
                    sent.insert(id, (cid, false));
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

    /// A hop took outbox entries `ids`: the cards of a switch among them are told.
    pub(super) fn switch_hops(&mut self, ids: &[MessageId]) {
        if let Some(s) = self.switching.as_mut() {
            for id in ids {
                if let Some((_, took)) = s.sent.get_mut(id) {
                    *took = true;
                }
            }
        }
    }

    /// Whether a switch is under way (card announcements wait).
    pub(super) fn switch_under_way(&self) -> bool {
        self.switching.is_some()
    }

    /// A switch ends once a hop took every contact's new card, or at its deadline (or if
    /// the clock went back past its start): `mode_switched` says who was told, and the
    /// node stops.
    pub(super) fn switch_progress(&mut self, now: u64) {
        let Some(s) = &self.switching else {
            return;
        };
        let waiting = s.sent.values().any(|(_, took)| !took);
        let started = s.until_ms.saturating_sub(duration_ms(SWITCH_WAIT));
        if waiting && now < s.until_ms && now >= started {
            return;
        }
        let Some(s) = self.switching.take() else {
            return;
        };
        let mut told = Vec::new();
        let mut not_told = s.not_told;
        for (cid, took) in s.sent.values() {
            let Some(c) = self.contacts.get(cid) else {
                continue;
            };
            let alias: Alias = c.contact.alias.clone().into();
            if *took {
                told.push(alias);
            } else {
                not_told.push(alias);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KdfParams, OpenOptions, Passphrase, ProfilePaths, Store};

    fn store(dir: &std::path::Path) -> Store {
        let opts = OpenOptions::new().allow_insecure_kdf_for_tests();
        let pass = Passphrase::new("a test passphrase");
        Store::create(
            &ProfilePaths::new(dir.join("p")),
            &pass,
            KdfParams::insecure_fast_for_tests(),
            &opts,
        )
        .expect("store")
    }

    /// Catches a mode that is not kept, a relay for the wrong mode used (an IP relay by a
    /// hidden node: its address leaks to the relay; an onion one by a direct node: it cannot
    /// dial it), or a kept relay that a suitable `--relay` does not override.
    #[test]
    fn the_mode_and_its_relay_are_kept_and_each_relay_used_only_in_its_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path());
        assert!(!stored_hidden(&store).expect("mode"), "direct by default");
        store_hidden(&store, true).expect("store");
        assert!(stored_hidden(&store).expect("mode"));
        let ip: Multiaddr =
            "/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                .parse()
                .expect("ip relay");
        let onion: Multiaddr = "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
            .parse()
            .expect("onion relay");
        // Nothing kept: a given relay that suits is used; one that does not is reported.
        assert_eq!(
            relay_for(&store, Some(&onion), true),
            (Some(onion.clone()), None)
        );
        assert_eq!(relay_for(&store, Some(&ip), true), (None, Some(ip.clone())));
        // Kept (as `switch_mode` keeps it): used when none suitable is given.
        store
            .set_setting(MODE_RELAY_SETTING, &onion.to_vec())
            .expect("set");
        assert_eq!(stored_relay(&store), Some(onion.clone()));
        assert_eq!(
            relay_for(&store, Some(&ip), true),
            (Some(onion.clone()), Some(ip.clone()))
        );
        assert_eq!(relay_for(&store, None, true), (Some(onion.clone()), None));
        assert_eq!(relay_for(&store, None, false), (None, None));
        assert_eq!(relay_for(&store, Some(&ip), false), (Some(ip), None));
        store_hidden(&store, false).expect("store");
        assert!(!stored_hidden(&store).expect("mode"));
    }

    /// Catches a rotation that keeps the old seed, or a start that makes a new one.
    #[test]
    fn the_onion_seed_is_kept_until_rotated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path());
        let first = onion_seed(&store, false).expect("seed");
        assert_eq!(*onion_seed(&store, false).expect("seed"), *first);
        let rotated = onion_seed(&store, true).expect("seed");
        assert_ne!(*rotated, *first);
        assert_eq!(*onion_seed(&store, false).expect("seed"), *rotated);
    }
}
