//! The answering side of a session reset (docs/PROTOCOL.md §23): an answered reset is a
//! *candidate* until the contact is heard from under it, and only then replaces the
//! session in use.
//!
//! Every reset in one direction shares its tag and id, so copies of old first messages
//! (given up, or kept by a mailbox) cannot be told from new ones. A responder that moved to
//! the new session as soon as it answered could end on a session the initiator had given
//! up (docs/SIMULATION.md, seeds 24, 60000, 60064 of the reset-heavy configuration). Here
//! the initiator decides: it finishes only the reset it is waiting for and acknowledges
//! every answer it gets with a receipt naming that answer, under the session it holds
//! afterwards. A receipt under a candidate's session means the contact took it (commit);
//! one under the session in use means it will never take it (dropped).

use super::*;
use cairn_crypto::wire::{Reader, Writer};
use cairn_crypto::MAX_SESSION_STATE_LEN;

/// Setting: the candidates answered for a contact, oldest first.
const CANDIDATES_SETTING_PREFIX: &str = "reset-candidates/";

/// Least time between two receipts for the same answer (the contact resends an answer
/// with backoff; a copy replayed by someone else gets no more than this).
pub(super) const RECEIPT_GAP_MS: u64 = 30_000;

/// Most answers remembered as acknowledged (past it, further ones wait for a slot).
const MAX_ACKED_ANSWERS: usize = 64;

/// A reset of the contact's that we answered, kept until the contact takes it or shows
/// that it never will.
#[derive(Clone)]
pub(super) struct Candidate {
    /// The session the reset makes, as we hold it (no message received under it yet).
    pub(super) session: Session,
    /// Our answer's outbox id, derived from the answer ([`answer_id`]): the contact's
    /// receipt names it.
    pub(super) answer: MessageId,
    /// The keyed digest of the first message it answers (a retry resends the answer).
    pub(super) first: [u8; 32],
}

/// The id of a reset answer: the first 16 bytes of SHA-256 over a label and the answer's
/// envelope. Both sides compute it from the same bytes.
pub(super) fn answer_id(wire: &[u8]) -> MessageId {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"cairn/v1 reset answer");
    h.update(wire);
    let d: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 16];
    for (o, b) in id.iter_mut().zip(d) {
        *o = b;
    }
    MessageId(id)
}

/// The candidates kept for `cid` (the setting of given-up resets of earlier versions is
/// removed: nothing reads it any more).
pub(super) fn load_candidates(store: &crate::store::Store, cid: &ContactId) -> Vec<Candidate> {
    let _ = store.remove_setting(&format!("handshake-superseded/{}", hex(&cid.0)));
    let name = format!("{CANDIDATES_SETTING_PREFIX}{}", hex(&cid.0));
    match store.setting(&name) {
        Ok(Some(bytes)) => decode_candidates(&zeroize::Zeroizing::new(bytes)),
        _ => Vec::new(),
    }
}

/// The setting's value: per candidate, `u32 length | session state | answer id [16] |
/// first message digest [32]`.
fn encode_candidates(kept: &[Candidate]) -> zeroize::Zeroizing<Vec<u8>> {
    let states: Vec<_> = kept.iter().map(|c| c.session.to_bytes()).collect();
    // Exact size: no reallocation leaves a copy of the session keys behind.
    let len = states.iter().map(|s| 4 + s.len() + 16 + 32).sum();
    let mut value = zeroize::Zeroizing::new(Vec::with_capacity(len));
    for (c, state) in kept.iter().zip(&states) {
        value.put_bytes_u32(state);
        value.extend_from_slice(&c.answer.0);
        value.extend_from_slice(&c.first);
    }
    value
}

/// The candidates in a setting's value, at most [`MAX_CANDIDATES`]: what a damaged value
/// still holds whole before the damage is kept, the rest skipped (never a panic).
fn decode_candidates(bytes: &[u8]) -> Vec<Candidate> {
    let mut r = Reader::new(bytes);
    let mut kept = Vec::new();
    while r.remaining() > 0 && kept.len() < MAX_CANDIDATES {
        let (Ok(state), Ok(answer), Ok(first)) = (
            r.bytes_u32(MAX_SESSION_STATE_LEN),
            r.array::<16>(),
            r.array::<32>(),
        ) else {
            tracing::warn!("damaged reset candidates skipped");
            break;
        };
        match Session::from_bytes(state) {
            Ok(session) => kept.push(Candidate {
                session,
                answer: MessageId(answer),
                first,
            }),
            Err(e) => tracing::warn!(error = %e, "damaged reset candidate skipped"),
        }
    }
    kept
}

impl<S: Shell> Runtime<S> {
    /// Writes the candidates of `cid` to their setting (or removes it).
    fn save_candidates(&self, cid: &ContactId) -> Result<(), String> {
        let name = format!("{CANDIDATES_SETTING_PREFIX}{}", hex(&cid.0));
        let kept = self
            .candidates
            .get(cid)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let result = if kept.is_empty() {
            self.profile.store.remove_setting(&name)
        } else {
            self.profile
                .store
                .set_setting(&name, &encode_candidates(kept))
        };
        result.map_err(|e| e.to_string())
    }

    /// Whether `id` is our answer to a reset of a contact's not taken yet.
    pub(super) fn is_candidate_answer(&self, id: &MessageId) -> bool {
        self.candidates.values().flatten().any(|c| c.answer == *id)
    }

    /// Answers a reset of `cid`'s: the new session becomes a candidate (the oldest one
    /// past [`MAX_CANDIDATES`] is dropped), the answer is queued, and the first message
    /// is remembered as answered (`used` plus `digest`, the setting written last: a
    /// crash before it answers a retry again rather than never).
    pub(super) fn answer_reset(
        &mut self,
        cid: ContactId,
        contact: Contact,
        session: Session,
        wire: &[u8],
        used: Vec<u8>,
        digest: &[u8; 32],
    ) -> Inbound {
        let answer = answer_id(wire);
        let before = self.candidates.get(&cid).cloned().unwrap_or_default();
        let mut kept = before.clone();
        kept.push(Candidate {
            session,
            answer,
            first: *digest,
        });
        let dropped: Vec<MessageId> = if kept.len() > MAX_CANDIDATES {
            kept.drain(..kept.len() - MAX_CANDIDATES)
                .map(|c| c.answer)
                .collect()
        } else {
            Vec::new()
        };
        self.candidates.insert(cid, kept);
        let now = self.now_ms();
        let used_name = format!("reset-used/{}", hex(&cid.0));
        let record = super::reset::with_digest(used, digest);
        let store = &self.profile.store;
        let result = self
            .save_candidates(&cid)
            .and_then(|_| store.put_contact(&contact).map_err(|e| e.to_string()))
            .and_then(|_| {
                store
                    .queue_control(&cid, None, answer, wire, now)
                    .map_err(|e| e.to_string())
            })
            .and_then(|_| {
                store
                    .set_setting(&used_name, &record)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            // Nothing changes: the contact sends its first message again.
            self.candidates.insert(cid, before);
            let _ = self.save_candidates(&cid);
            self.emit(Event::error(ErrorCode::StoreFailed, e));
            return Inbound::TryLater;
        }
        for id in dropped {
            let _ = self.outbox_done(&id, now);
        }
        self.mirror(cid, answer, CONTROL_SEQ, wire.to_vec(), now);
        if let Some(s) = self.contacts.get_mut(&cid) {
            s.contact = contact;
        }
        self.refresh_tags(true);
        self.process_outbox(now);
        Inbound::Processed
    }

    /// A first message we answered came again: the contact has not had our answer. It
    /// goes again now (if that reset is still a candidate).
    pub(super) fn resend_answer(&mut self, cid: &ContactId, digest: &[u8; 32]) {
        let Some(id) = self
            .candidates
            .get(cid)
            .and_then(|kept| kept.iter().find(|c| c.first == *digest))
            .map(|c| c.answer)
        else {
            return;
        };
        let now = self.now_ms();
        if let Some(e) = self.outbox.get_mut(&id) {
            e.next_attempt_at_ms = e.next_attempt_at_ms.min(now);
        }
        self.backoff.remove(&id);
        self.process_outbox(now);
    }

    /// A message under the tags of a reset of `cid`'s that we answered. If it is
    /// authentic, the contact holds that session: it replaces ours (and the older
    /// candidates go; newer ones stay, the contact may still take one). `None` when it was
    /// taken (the message is then read as any under the session in use), else what
    /// becomes of the message.
    pub(super) fn take_candidate(&mut self, cid: ContactId, env: &Envelope) -> Option<Inbound> {
        let now_s = self.now_secs();
        let Some(k) = self.candidates.get(&cid).and_then(|kept| {
            kept.iter()
                .position(|c| c.session.clone().decrypt(env, now_s).is_ok())
        }) else {
            return Some(self.hostile("message under an answered reset, not authentic"));
        };
        self.commit_candidate(cid, k)
    }

    /// Candidate `k` of `cid` replaces the session in use; the older ones go, newer ones
    /// stay. `None` once done, else what becomes of the message that showed it.
    fn commit_candidate(&mut self, cid: ContactId, k: usize) -> Option<Inbound> {
        let before = self.candidates.remove(&cid).unwrap_or_default();
        let mut older = before.clone();
        let newer = older.split_off(k.saturating_add(1).min(older.len()));
        let Some(taken) = older.pop() else {
            self.candidates.insert(cid, before);
            return Some(Inbound::Dropped);
        };
        if !newer.is_empty() {
            self.candidates.insert(cid, newer);
        }
        // The session first: a crash between the two writes leaves the taken candidate
        // listed, and its answer's receipt under the session in use then drops it.
        let session_bytes = SecretBytes::from_slice(&taken.session.to_bytes());
        let result = self
            .profile
            .store
            .put_session(&cid, &session_bytes)
            .map_err(|e| e.to_string())
            .and_then(|_| self.save_candidates(&cid));
        if let Err(e) = result {
            self.candidates.insert(cid, before);
            self.emit(Event::error(ErrorCode::StoreFailed, e));
            return Some(Inbound::TryLater);
        }
        let now = self.now_ms();
        for id in older.iter().chain([&taken]).map(|c| c.answer) {
            let _ = self.outbox_done(&id, now);
        }
        let protocol = taken.session.protocol().as_u8();
        let Some(state) = self.contacts.get_mut(&cid) else {
            return Some(Inbound::Dropped);
        };
        state.session = Some(taken.session);
        let alias = state.contact.alias.clone();
        self.after_reset(&cid, None);
        self.refresh_tags(true);
        self.emit(Event::SessionReset {
            alias: alias.into(),
            protocol,
            identity_changed: false,
        });
        None
    }

    /// A receipt from `cid` under the session in use named `ids`: any that is our answer
    /// to one of its resets says the contact received it and did not take it (it holds
    /// the session this receipt came under). Those candidates go.
    pub(super) fn answers_not_taken(&mut self, cid: &ContactId, ids: &[[u8; 16]]) {
        let Some(kept) = self.candidates.get(cid) else {
            return;
        };
        let (gone, left): (Vec<Candidate>, Vec<Candidate>) = kept
            .iter()
            .cloned()
            .partition(|c| ids.contains(&c.answer.0));
        if gone.is_empty() {
            return;
        }
        let before = self.candidates.insert(*cid, left);
        if self.candidates.get(cid).is_some_and(Vec::is_empty) {
            self.candidates.remove(cid);
        }
        if let Err(e) = self.save_candidates(cid) {
            if let Some(b) = before {
                self.candidates.insert(*cid, b);
            }
            tracing::warn!(error = %e, "could not drop an answered reset");
            return;
        }
        let now = self.now_ms();
        for c in gone {
            let _ = self.outbox_done(&c.answer, now);
        }
        self.refresh_tags(true);
    }

    /// Every candidate of `cid` goes (our own reset with it completed, or it was
    /// removed): the contact moves to the session we now hold when it hears from us.
    pub(super) fn drop_candidates(&mut self, cid: &ContactId) {
        let Some(gone) = self.candidates.remove(cid) else {
            return;
        };
        if let Err(e) = self.save_candidates(cid) {
            tracing::warn!(error = %e, "could not drop the answered resets");
        }
        let now = self.now_ms();
        for c in gone {
            let _ = self.outbox_done(&c.answer, now);
        }
    }

    /// The contact a reset answer under `tag` is for, if `tag` is the response tag of a
    /// reset we may start with it.
    pub(super) fn own_reset_contact(&self, tag: &[u8; 16]) -> Option<ContactId> {
        self.own_reset_keys.get(tag).map(|(cid, _)| *cid)
    }

    /// An answer to a reset of ours that we are not waiting for (given up, or finished
    /// and our receipt lost): a receipt naming it goes under the session we hold, so the
    /// contact takes that session if it is the answered one, or else drops the answer.
    pub(super) fn acknowledge_answer(&mut self, cid: ContactId, env: &Envelope) {
        let id = answer_id(&env.encode());
        let now = self.now_ms();
        self.acked_answers
            .retain(|_, at| now < at.saturating_add(RECEIPT_GAP_MS) && *at <= now);
        if self.acked_answers.contains_key(&id) || self.acked_answers.len() >= MAX_ACKED_ANSWERS {
            return;
        }
        let Ok(plain) = Content::Receipt(vec![id.0]).encode() else {
            return;
        };
        if self.send_control(&cid, &plain).is_some() {
            self.acked_answers.insert(id, now);
            self.process_outbox(now);
        }
    }

    /// The receive tags of every candidate's session.
    pub(super) fn refresh_candidate_tags(&mut self, ahead: u64, lookback: u64) {
        self.candidate_tags.clear();
        for (cid, kept) in &self.candidates {
            for c in kept {
                for t in c.session.receive_tags(ahead, lookback) {
                    self.candidate_tags.insert(t, *cid);
                }
            }
        }
    }

    /// The mailbox keys of the candidates' sessions (the contact's first message under
    /// one may wait in our mailbox).
    pub(super) fn candidate_mailbox_keys(&self, ahead: u64, lookback: u64) -> Vec<MailboxKey> {
        self.candidates
            .values()
            .flatten()
            .flat_map(|c| c.session.receive_mailbox_keys(ahead, lookback))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_crypto::card::ProfileCard;
    use cairn_crypto::handshake::{initiate, respond};
    use cairn_crypto::IdentityKeyPair;
    use rand::{Rng, SeedableRng};

    /// The responder's session of a fresh handshake.
    fn session(seed: u64) -> Session {
        let mut r = rand::rngs::StdRng::seed_from_u64(seed);
        let a = IdentityKeyPair::generate(&mut r);
        let b = IdentityKeyPair::generate(&mut r);
        let invite =
            cairn_crypto::Invite::new(b.public(), vec![1; 38], vec![], None, u64::MAX, &mut r)
                .unwrap();
        let card = ProfileCard {
            display_name: "x".into(),
            ..ProfileCard::default()
        };
        let (_, m1) = initiate(&a, &invite, &card, &mut r).unwrap();
        respond(&b, &invite.keys(), &card, &m1, &mut r)
            .unwrap()
            .0
            .session
    }

    fn candidate(seed: u8) -> Candidate {
        Candidate {
            session: session(seed.into()),
            answer: MessageId([seed; 16]),
            first: [seed ^ 0x55; 32],
        }
    }

    /// Would catch the answer id computed from anything but the label and the answer's
    /// bytes (both sides compute it; PROTOCOL.md §23 pins it): SHA-256 prefixes computed
    /// independently (Python's hashlib).
    #[test]
    fn the_answer_id_is_the_labelled_hash_of_the_answer() {
        assert_eq!(hex(&answer_id(b"").0), "2094e08bac6ab9fdaabccc275d91193a");
        assert_eq!(
            hex(&answer_id(&[1, 2, 3]).0),
            "2bf970df3d3a9779986f421383c833a8"
        );
    }

    /// Would catch a candidate that does not come back as it was kept (its session, its
    /// answer or the digest that resends the answer), or more than `MAX_CANDIDATES` read.
    #[test]
    fn candidates_come_back_as_they_were_kept() {
        let kept: Vec<Candidate> = (1..=MAX_CANDIDATES as u8 + 1).map(candidate).collect();
        let back = decode_candidates(&encode_candidates(&kept));
        assert_eq!(back.len(), MAX_CANDIDATES);
        for (a, b) in kept.iter().zip(&back) {
            assert_eq!(a.answer, b.answer);
            assert_eq!(a.first, b.first);
            assert_eq!(*a.session.to_bytes(), *b.session.to_bytes());
        }
    }

    /// Would catch a panic on a damaged value, or a damaged candidate taken for a whole
    /// one: every cut and every flipped byte of a two-candidate value, and random junk.
    #[test]
    fn a_damaged_value_keeps_what_is_whole_and_never_panics() {
        let kept = [candidate(1), candidate(2)];
        let value = encode_candidates(&kept);
        let first_len = 4 + kept[0].session.to_bytes().len() + 16 + 32;
        for cut in 0..value.len() {
            let back = decode_candidates(&value[..cut]);
            assert_eq!(back.len(), usize::from(cut >= first_len), "cut at {cut}");
        }
        for i in (0..value.len()).step_by(7) {
            let mut bad = value.to_vec();
            bad[i] ^= 0x80;
            assert!(decode_candidates(&bad).len() <= 2);
        }
        let mut r = rand::rngs::StdRng::seed_from_u64(9);
        for _ in 0..2000 {
            let n = r.gen_range(0..300);
            let junk: Vec<u8> = (0..n).map(|_| r.gen()).collect();
            assert!(decode_candidates(&junk).len() <= MAX_CANDIDATES);
        }
    }
}
