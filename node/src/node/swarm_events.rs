//! What the swarm reports: connections, relay reservations, identify and LAN
//! discovery, and the requests and responses of `/cairn/envelope/1`.

use super::*;

impl<S: Shell> Runtime<S> {
    /// What the network reported.
    pub(crate) fn net_event(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::ListenAddr(address) => {
                tracing::debug!(%address, "listening");
                self.listen_addrs.push(address);
                // A new address after start (e.g. the relayed one): tell our contacts at
                // the next tick (addresses often come and go several at a time).
                self.card_changed = self.ready_sent;
            }
            NetEvent::ListenAddrExpired(address) => {
                self.listen_addrs.retain(|a| *a != address);
                self.card_changed = self.ready_sent;
            }
            NetEvent::ListenFailed(why) => self.emit(Event::error(ErrorCode::ListenFailed, why)),
            NetEvent::Connected {
                peer,
                remote,
                inbound,
            } => {
                // In hidden mode every connection comes from tor on loopback: no source to
                // count strangers by (one would shut out all), so each is its own.
                let hidden = self.config.hidden.is_some();
                if inbound && !hidden && !crate::net::hole_punch::is_relayed(&remote) {
                    if let Some(source) = crate::net::ip_limits::Source::of(&remote) {
                        self.stranger_sources.insert(peer, source);
                    }
                }
                if let Some((relay, addr)) = self.relay.clone() {
                    if peer == relay && self.config.hidden.is_some() {
                        // Hidden mode reserves no circuit: contacts reach the node at its
                        // onion; the relay is its mailbox.
                        self.emit(Event::Relay {
                            state: RelayState::Mailbox,
                            addr: addr.to_string(),
                        });
                        self.next_fetch_ms = 0;
                        self.catch_up_until_ms = self.now_ms().saturating_add(MAILBOX_CATCH_UP_MS);
                    } else if peer == relay && !self.relay_reserved {
                        let circuit = addr.with(Protocol::P2pCircuit);
                        if let Err(e) = self.shell.listen_on(circuit) {
                            self.emit(Event::error(ErrorCode::RelayFailed, e));
                        }
                        self.next_fetch_ms = 0;
                        self.catch_up_until_ms = self.now_ms().saturating_add(MAILBOX_CATCH_UP_MS);
                    }
                }
                if !self.bypassed.contains(&peer) {
                    let now = self.now_ms();
                    self.strangers.entry(peer).or_insert(now);
                }
                self.set_online(peer, true);
            }
            NetEvent::Disconnected(peer) => {
                self.strangers.remove(&peer);
                self.stranger_sources.remove(&peer);
                self.set_online(peer, false);
                if self.relay.as_ref().is_some_and(|(r, _)| *r == peer) {
                    self.relay_reserved = false;
                }
            }
            NetEvent::RelayReserved if !self.relay_reserved => {
                self.relay_reserved = true;
                if let Some((_, addr)) = &self.relay {
                    self.emit(Event::Relay {
                        state: RelayState::Reserved,
                        addr: addr.to_string(),
                    });
                }
            }
            NetEvent::RelayReserved => {}
            NetEvent::Identified { peer, addrs } => self.learn_addresses(peer, addrs),
            NetEvent::LanDiscovered(peer) => self.lan_discovered(peer),
            NetEvent::Request {
                peer,
                request,
                responder,
            } => {
                self.direct_from = Some(peer);
                self.inbound_request(request, responder);
                self.direct_from = None;
            }
            NetEvent::Response { id, response } => {
                self.response(id, response);
                // A slot in the window freed up.
                let now = self.now_ms();
                self.process_outbox(now);
            }
            NetEvent::RequestFailed { id, peer, refused } => {
                self.request_failed(id, refused.then_some(peer));
                let now = self.now_ms();
                self.process_outbox(now);
            }
            NetEvent::InboundFailed => self.rejected += 1,
        }
    }

    /// A contact appeared on the LAN (only contacts are looked for): dial it now, with its
    /// card's addresses and what discovery found, if not connected.
    fn lan_discovered(&mut self, peer: PeerId) {
        if self.shell.is_connected(&peer) {
            return;
        }
        let card = self
            .contacts
            .iter()
            .find(|(_, c)| PeerId::from_bytes(&c.contact.peer_id).ok() == Some(peer))
            .map(|(id, _)| *id)
            .and_then(|cid| self.contact_target(&cid))
            .map(|(_, addrs)| addrs)
            .unwrap_or_default();
        let _ = self.shell.dial(Dial {
            peer: Some(peer),
            addrs: card,
            with_discovered: true,
            if_disconnected: true,
        });
    }

    pub(super) fn set_online(&mut self, peer: PeerId, online: bool) {
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
                Event::PeerOnline {
                    alias: alias.into(),
                }
            } else {
                Event::PeerOffline {
                    alias: alias.into(),
                }
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
                let now = self.now_ms();
                self.backoff.retain(|_, (_, next)| *next <= now);
                self.process_outbox(now);
            }
        }
    }

    /// Identify told us where a contact listens now: remember it (address changes).
    pub(super) fn learn_addresses(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
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

    /// One of our requests failed; `refused_by`: the peer's stream failed or it does not
    /// speak the protocol (rather than a timeout or no connection).
    pub(super) fn request_failed(&mut self, request_id: RequestId, refused_by: Option<PeerId>) {
        let peer = refused_by;
        match self.take_pending(&request_id) {
            Some(Pending::Outbox { id, route, contact }) => {
                // Dropped by the contact itself: it cannot read it.
                let dropped = peer.is_some() && route == Route::Direct;
                if !(dropped && self.dropped_by_contact(id)) {
                    self.entry_failed(id, route, contact);
                }
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
                    if let Some(peer) = peer.filter(|p| !self.mailbox_batches_ok.contains(p)) {
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

    /// A request from `direct_from` held nothing for us. A stranger that keeps sending such
    /// requests (junk handshakes, say) past [`crate::relay::ABUSE_BURST`] at once or
    /// [`crate::relay::ABUSE_PER_SEC`] a second is disconnected, and its address refused for
    /// [`crate::relay::ABUSE_PENALTY`]: a flood then costs the node a refused handshake per
    /// attempt instead of work on its event loop. Contacts and the node's relay are never cut
    /// off (nor refused: they bypass the address limits).
    pub(super) fn dropped_request(&mut self) {
        let Some(peer) = self.direct_from else {
            return;
        };
        if self.bypassed.contains(&peer) {
            return;
        }
        let key = self.stranger_sources.get(&peer).copied().ok_or(peer);
        if self.dropped_from.try_take(key, 1.0, self.now_ms()) {
            return;
        }
        tracing::info!("a stranger kept sending what is not for this node: cut off for a while");
        if let Ok(source) = key {
            self.shell.penalize(source, crate::relay::ABUSE_PENALTY);
        }
        self.shell.disconnect(&peer);
    }

    pub(super) fn inbound_request(&mut self, request: Request, channel: Responder) {
        let response = match request {
            Request::Deliver(bytes) => match self.inbound_envelope_alone(&bytes) {
                // Acknowledged only once what it changed is durable.
                Inbound::Processed if self.dirty => {
                    self.deferred
                        .push(Deferred::Respond(channel, Response::Accepted));
                    return;
                }
                Inbound::Processed => Response::Accepted,
                Inbound::TryLater | Inbound::Kept => Response::Rejected(RejectCode::TryLater),
                // Dropped without a reply: a stranger learns nothing.
                Inbound::Dropped => {
                    self.shell.ignore(channel);
                    return self.dropped_request();
                }
            },
            Request::DeliverBatch(items) => {
                let outcomes = self.inbound_envelopes(&items);
                if outcomes.iter().all(|o| *o == Inbound::Dropped) {
                    // Nothing in it was for us: no reply, as for a single envelope.
                    self.shell.ignore(channel);
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
            Request::Unread => {
                // Not read: the budget for large requests in flight was spent. "Try later"
                // (a contact's envelope is tried again); a stranger who keeps doing it is
                // cut off as for junk (contacts never are).
                self.shell
                    .respond(channel, Response::Rejected(RejectCode::TryLater));
                return self.dropped_request();
            }
        };
        self.shell.respond(channel, response);
    }

    pub(super) fn response(&mut self, rid: RequestId, response: Response) {
        match self.take_pending(&rid) {
            Some(Pending::Outbox { id, route, contact }) => match response {
                Response::Accepted => self.hops_accepted(vec![id]),
                // The contact could not read it (as in a batch, below).
                Response::Rejected(RejectCode::NotAccepted)
                    if route == Route::Direct && self.dropped_by_contact(id) => {}
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
                let (codes, per_item) = match response {
                    Response::Results(codes) if codes.len() == ids.len() => (codes, true),
                    // Refused as a whole (or an answer that does not fit): every entry
                    // failed this time.
                    _ => (vec![Some(RejectCode::NotAccepted); ids.len()], false),
                };
                let mut accepted = Vec::new();
                let mut failed = Vec::new();
                for (id, code) in ids.into_iter().zip(codes) {
                    match code {
                        None => accepted.push(id),
                        // The contact could not read this one.
                        Some(RejectCode::NotAccepted)
                            if per_item
                                && route == Route::Direct
                                && self.dropped_by_contact(id) => {}
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
                            self.catch_up_until_ms =
                                self.now_ms().saturating_add(MAILBOX_CATCH_UP_MS);
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
