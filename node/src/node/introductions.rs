//! Introductions (docs/PROTOCOL.md §24.4, `crate::intro`): sending them (a contact
//! introduction, or a group's admin introducing members who are not contacts), keeping
//! the ones received until the user answers, and turning an accepted one into a handshake
//! — started as an invite's acceptor, or answered as its inviter.

use super::groups::{Carry, Fan, Out};
use super::*;
use crate::api::IntroId;
use crate::group::{GroupId, MemberKey};
use crate::intro::{Introduction, Role};
use cairn_crypto::InviteSecret;
use zeroize::Zeroizing;

/// The setting that keeps introductions waiting for the user's answer.
const PENDING_SETTING: &str = "introductions";
/// The setting that keeps accepted introductions this node answers the handshake of.
const ANSWERS_SETTING: &str = "introduction-answers";
/// The setting that lists group-only peers (contact ids, 32 bytes each).
const GROUP_ONLY_SETTING: &str = "group-only-contacts";
/// The setting that lists introduced peers still to take the name they chose (their
/// ids, 32 bytes each): kept across a restart between accepting and the handshake.
const RENAME_SETTING: &str = "rename-on-session";
/// Most introductions waiting for an answer (a new member of a 100-member group gets 98 at
/// once); more are dropped, and the user told.
pub const MAX_PENDING_INTROS: usize = 512;
/// How long an introduction's pair secret is honoured: the mailbox retention, twice.
pub const INTRO_TTL_SECS: u64 = 28 * 24 * 3600;
/// The alias an introduced person has until its handshake brings the name it chose.
const PLACEHOLDER_ALIAS: &str = "introduced";

/// An accepted introduction whose handshake this node answers.
#[derive(Clone, Debug)]
pub(super) struct IntroAnswer {
    /// The identity key the handshake must come from.
    peer: [u8; 32],
    /// The alias the user chose, if any.
    alias: Option<String>,
    /// For a group: the peer is group-only.
    group_only: bool,
}

fn intro_ref(id: &[u8; 16]) -> IntroId {
    hex(id).into()
}

impl<S: Shell> Runtime<S> {
    /// Loads pending introductions, accepted ones awaiting their handshake, and the
    /// group-only peers.
    pub(super) fn load_introductions(&mut self) -> Result<(), String> {
        let store = &self.profile.store;
        if let Some(bytes) = store.setting(PENDING_SETTING).map_err(|e| e.to_string())? {
            match crate::intro::decode_pending(&bytes) {
                Ok(list) => {
                    // Still waiting for the user's answer: said again, so that a front end
                    // started anew can show them (nothing else lists them).
                    for (by, i) in list {
                        self.emit(self.intro_event(&ContactId(by), &i));
                        self.intros.insert(i.id, (ContactId(by), i));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "damaged pending introductions skipped"),
            }
        }
        if let Some(bytes) = store.setting(ANSWERS_SETTING).map_err(|e| e.to_string())? {
            match crate::intro::decode_answers(&bytes) {
                Ok(list) => {
                    for a in list {
                        self.intro_answers.insert(
                            a.tag,
                            IntroAnswer {
                                peer: a.peer,
                                alias: a.alias,
                                group_only: a.group_only,
                            },
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "damaged introduction answers skipped"),
            }
        }
        self.group_only = Self::load_ids(store, GROUP_ONLY_SETTING)?;
        self.rename_on_session = Self::load_ids(store, RENAME_SETTING)?;
        Ok(())
    }

    /// A setting that lists contact ids (32 bytes each).
    fn load_ids(store: &crate::store::Store, setting: &str) -> Result<BTreeSet<ContactId>, String> {
        Ok(store
            .setting(setting)
            .map_err(|e| e.to_string())?
            .map(|bytes| {
                bytes
                    .chunks_exact(32)
                    .filter_map(|c| <[u8; 32]>::try_from(c).ok().map(ContactId))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn store_ids(&self, setting: &str, ids: &BTreeSet<ContactId>) -> Result<(), String> {
        let bytes: Vec<u8> = ids.iter().flat_map(|c| c.0).collect();
        self.profile
            .store
            .set_setting(setting, &bytes)
            .map_err(|e| e.to_string())
    }

    /// The pending introductions as their setting holds them (secrets inside: zeroized).
    fn pending_bytes(intros: &BTreeMap<[u8; 16], (ContactId, Introduction)>) -> Zeroizing<Vec<u8>> {
        crate::intro::encode_pending(intros.values().map(|(by, i)| (by.0, i)))
    }

    fn store_answers(&self) -> Result<(), String> {
        let answers: Vec<crate::intro::Answer> = self
            .intro_answers
            .iter()
            .map(|(tag, a)| crate::intro::Answer {
                tag: *tag,
                peer: a.peer,
                group_only: a.group_only,
                alias: a.alias.clone(),
            })
            .collect();
        self.profile
            .store
            .set_setting(ANSWERS_SETTING, &crate::intro::encode_answers(&answers))
            .map_err(|e| e.to_string())
    }

    fn store_group_only(&self) -> Result<(), String> {
        self.store_ids(GROUP_ONLY_SETTING, &self.group_only)
    }

    /// The card of a contact as an introduction gives it to the other side: its peer id,
    /// addresses and mailbox (no name: ours for it is our business).
    fn card_of(&self, cid: &ContactId) -> Option<ProfileCard> {
        let c = &self.contacts.get(cid)?.contact;
        let addrs = c
            .addresses
            .iter()
            .filter_map(|a| a.parse::<Multiaddr>().ok())
            .map(|a| a.to_vec())
            .take(cairn_crypto::card::MAX_ADDRS)
            .collect();
        Some(ProfileCard {
            display_name: crate::intro::CARD_NAME.to_owned(),
            peer_id: c.peer_id.clone(),
            addrs,
            mailbox: c
                .mailbox
                .as_ref()
                .and_then(|m| m.parse::<Multiaddr>().ok())
                .map(|m| m.to_vec()),
        })
    }

    /// The two halves of an introduction of `a` and `b` (both contacts with a session): one
    /// copy for each, the lower identity key to start the handshake. None if either is not
    /// a contact this node can write to.
    pub(super) fn intro_pair(
        &mut self,
        a: MemberKey,
        b: MemberKey,
        group: Option<GroupId>,
    ) -> Option<[(MemberKey, Introduction); 2]> {
        let (ca, cb) = (self.member_contact(&a)?, self.member_contact(&b)?);
        let (card_a, card_b) = (self.card_of(&ca)?, self.card_of(&cb)?);
        let mut id = [0u8; 16];
        self.rng.fill_bytes(&mut id);
        let secret = InviteSecret::random(&mut self.rng);
        let expires_at = self.now_secs() + INTRO_TTL_SECS;
        let half = |role, peer: MemberKey, card| Introduction {
            id,
            role,
            expires_at,
            group,
            peer: cairn_crypto::IdentityPublicKey::from_bytes(peer.0),
            secret: secret.clone(),
            card,
        };
        let (role_a, role_b) = if a.0 < b.0 {
            (Role::Start, Role::Answer)
        } else {
            (Role::Answer, Role::Start)
        };
        Some([(a, half(role_a, b, card_b)), (b, half(role_b, a, card_a))])
    }

    pub(super) fn cmd_introduce(&mut self, alias: &str, to: &str) {
        let (Some(a), Some(b)) = (self.unblocked_contact(alias), self.unblocked_contact(to)) else {
            return;
        };
        if a == b {
            return self.emit(Event::error(
                ErrorCode::BadArguments,
                "introduce two different contacts",
            ));
        }
        for (cid, name) in [(a, alias), (b, to)] {
            if self.contacts.get(&cid).is_none_or(|c| c.session.is_none()) {
                return self.emit(Event::error(
                    ErrorCode::NotEstablished,
                    format!("the handshake with {name:?} has not finished yet"),
                ));
            }
        }
        let (Some(ka), Some(kb)) = (self.member_of_contact(&a), self.member_of_contact(&b)) else {
            return;
        };
        let Some(pair) = self.intro_pair(ka, kb, None) else {
            return;
        };
        let fan: Fan = pair
            .into_iter()
            .map(|(k, i)| {
                let out = Out {
                    carry: Carry::Intro(vec![i]),
                    origin: None,
                };
                (k, vec![out])
            })
            .collect();
        if let Err(e) = self.fan_out(None, None, fan, None, Vec::new()) {
            self.emit(Event::error(ErrorCode::StoreFailed, e));
        }
    }

    /// Introductions from contact `cid`, decrypted into `next`: each kept for the user's
    /// answer (with the receipt, in one transaction) unless there is nothing to answer —
    /// it is about us or an existing contact, expired, or one with its id is waiting.
    pub(super) fn inbound_intros(
        &mut self,
        cid: ContactId,
        next: Session,
        copy: [u8; 16],
        received: Vec<Introduction>,
    ) -> Inbound {
        let now = self.now_ms();
        let mut intros = self.intros.clone();
        let mut new = Vec::new();
        for intro in received {
            let peer_cid = self.profile.store.contact_id(intro.peer.as_bytes());
            let moot = intro.peer == self.profile.identity.public()
                || self.contacts.contains_key(&peer_cid)
                || intros.contains_key(&intro.id)
                || intro.expires_at.saturating_mul(1000) <= now;
            if moot {
                continue;
            }
            if intros.len() >= MAX_PENDING_INTROS {
                tracing::warn!("too many introductions waiting: one dropped");
                continue;
            }
            intros.insert(intro.id, (cid, intro.clone()));
            new.push(intro);
        }
        let changed = !new.is_empty();
        let setting = changed.then(|| {
            (
                PENDING_SETTING.to_owned(),
                Self::pending_bytes(&intros).to_vec(),
            )
        });
        let Some(fresh) = self.take_copy(cid, next, copy, None, None, setting) else {
            return Inbound::TryLater;
        };
        if !fresh || !changed {
            return Inbound::Processed;
        }
        self.intros = intros;
        for intro in new {
            let event = self.intro_event(&cid, &intro);
            self.deferred.push(Deferred::Emit(event));
        }
        Inbound::Processed
    }

    /// The `introduction` event for `intro`, made by contact `by`.
    fn intro_event(&self, by: &ContactId, intro: &crate::intro::Introduction) -> Event {
        let by = self
            .contacts
            .get(by)
            .map(|c| c.contact.alias.clone())
            .unwrap_or_default();
        let group_name = intro
            .group
            .and_then(|g| self.groups.get(&g))
            .map(|l| l.state().name.clone())
            .filter(|n| !n.is_empty());
        Event::Introduction {
            id: intro_ref(&intro.id),
            by: by.into(),
            group: intro.group.map(|g| hex(&g.0).into()),
            group_name,
        }
    }

    fn pending_intro(&self, id: &str) -> Option<[u8; 16]> {
        let key = ::hex::decode(id)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .filter(|k| self.intros.contains_key(k));
        if key.is_none() {
            self.emit(Event::error(
                ErrorCode::UnknownIntroduction,
                format!("no introduction {id:?} is waiting"),
            ));
        }
        key
    }

    fn forget_intro(&mut self, key: &[u8; 16]) -> Result<(), String> {
        let mut intros = self.intros.clone();
        intros.remove(key);
        self.profile
            .store
            .set_setting(PENDING_SETTING, &Self::pending_bytes(&intros))
            .map_err(|e| e.to_string())?;
        self.intros = intros;
        Ok(())
    }

    pub(super) fn cmd_refuse_intro(&mut self, id: &str) {
        let Some(key) = self.pending_intro(id) else {
            return;
        };
        if let Err(e) = self.forget_intro(&key) {
            return self.emit(Event::error(ErrorCode::StoreFailed, e));
        }
        self.emit(Event::IntroductionAnswered {
            id: id.into(),
            accepted: false,
            alias: None,
        });
    }

    pub(super) fn cmd_accept_intro(&mut self, id: &str, alias: Option<&str>) {
        let Some(key) = self.pending_intro(id) else {
            return;
        };
        let Some((_, intro)) = self.intros.get(&key).cloned() else {
            return;
        };
        if let Some(e) = alias.and_then(Self::alias_problem) {
            return self.emit(e);
        }
        if alias.is_some_and(|a| self.by_alias(a).is_some()) {
            return self.emit(Event::error(
                ErrorCode::AliasTaken,
                format!("{:?} is already a contact", alias.unwrap_or_default()),
            ));
        }
        let group_only = intro.group.is_some();
        let chosen = match alias {
            Some(a) => a.to_owned(),
            None => self.unique_alias(PLACEHOLDER_ALIAS),
        };
        let accepted = match intro.role {
            Role::Start => {
                let invite = Invite {
                    identity: intro.peer,
                    peer_id: intro.card.peer_id.clone(),
                    addrs: intro.card.addrs.clone(),
                    mailbox: intro.card.mailbox.clone(),
                    secret: intro.secret.clone(),
                    expires_at: intro.expires_at,
                    protocol: cairn_crypto::Protocol::LATEST,
                };
                let ok = self.accept_invite(&invite, &chosen, !group_only);
                if ok {
                    let cid = self.profile.store.contact_id(intro.peer.as_bytes());
                    if alias.is_none() {
                        self.rename_on_session.insert(cid);
                        if let Err(e) = self.store_ids(RENAME_SETTING, &self.rename_on_session) {
                            tracing::warn!(error = %e, "introduced peers to rename not stored");
                        }
                    }
                    if group_only {
                        self.group_only.insert(cid);
                        if let Err(e) = self.store_group_only() {
                            tracing::warn!(error = %e, "group-only peers not stored");
                        }
                    }
                }
                ok
            }
            Role::Answer => {
                let keys = intro.secret.keys();
                let record = StoredInvite {
                    created_at_ms: self.now_ms(),
                    expires_at_ms: intro.expires_at.saturating_mul(1000),
                    payload: SecretBytes::from_slice(&keys.to_bytes()),
                };
                self.intro_answers.insert(
                    keys.init_tag,
                    IntroAnswer {
                        peer: *intro.peer.as_bytes(),
                        alias: alias.map(str::to_owned),
                        group_only,
                    },
                );
                let stored = self.store_answers().and_then(|_| {
                    self.profile
                        .store
                        .add_invite(&keys.init_tag, &record)
                        .map_err(|e| e.to_string())
                });
                if let Err(e) = stored {
                    self.intro_answers.remove(&keys.init_tag);
                    self.emit(Event::error(ErrorCode::StoreFailed, e));
                    false
                } else {
                    self.invites
                        .insert(keys.init_tag, (keys.clone(), record.expires_at_ms));
                    true
                }
            }
        };
        if !accepted {
            return;
        }
        if let Err(e) = self.forget_intro(&key) {
            tracing::warn!(error = %e, "an answered introduction is still listed");
        }
        self.emit(Event::IntroductionAnswered {
            id: id.into(),
            accepted: true,
            alias: match intro.role {
                Role::Start => Some(chosen.into()),
                Role::Answer => alias.map(Into::into),
            },
        });
    }

    /// The handshake of an introduction this node answers arrived (`init_tag`): the alias
    /// for the new peer, and whether it is group-only. Err if it comes from someone other
    /// than the person introduced. None if `init_tag` is a plain invite's.
    pub(super) fn intro_answering(
        &self,
        init_tag: &[u8; 16],
        peer: &cairn_crypto::IdentityPublicKey,
    ) -> Result<Option<(Option<String>, bool)>, ()> {
        match self.intro_answers.get(init_tag) {
            None => Ok(None),
            Some(a) if a.peer == *peer.as_bytes() => Ok(Some((a.alias.clone(), a.group_only))),
            Some(_) => Err(()),
        }
    }

    /// The handshake of an introduction we answered is done: `cid` is the new peer.
    pub(super) fn intro_answered(&mut self, init_tag: &[u8; 16], cid: ContactId, group_only: bool) {
        self.intro_answers.remove(init_tag);
        if let Err(e) = self.store_answers() {
            tracing::warn!(error = %e, "answered introductions not stored");
        }
        if group_only {
            self.group_only.insert(cid);
            if let Err(e) = self.store_group_only() {
                tracing::warn!(error = %e, "group-only peers not stored");
            }
        }
    }

    /// A session with an introduced person is up: it gets the name it chose (unless the
    /// user chose one).
    pub(super) fn name_introduced(&mut self, cid: &ContactId, chosen: &str) {
        if !self.rename_on_session.remove(cid) {
            return;
        }
        if let Err(e) = self.store_ids(RENAME_SETTING, &self.rename_on_session) {
            tracing::warn!(error = %e, "introduced peers to rename not stored");
        }
        let Some(mut contact) = self.contacts.get(cid).map(|c| c.contact.clone()) else {
            return;
        };
        let alias = self.unique_alias(chosen);
        if Self::alias_problem(&alias).is_some() {
            return;
        }
        contact.alias = alias;
        if self.profile.store.put_contact(&contact).is_ok() {
            if let Some(s) = self.contacts.get_mut(cid) {
                s.contact = contact;
            }
        }
    }

    pub(super) fn cmd_make_contact(&mut self, alias: &str) {
        let Some(cid) = self.by_alias(alias) else {
            return self.unknown_contact(alias);
        };
        if self.group_only.remove(&cid) {
            if let Err(e) = self.store_group_only() {
                self.group_only.insert(cid);
                return self.emit(Event::error(ErrorCode::StoreFailed, e));
            }
        }
        self.emit(Event::ContactAdded {
            alias: alias.into(),
        });
    }
}
