//! Machines of the simulated world: starting one (its node over its disk, with a fresh
//! shell), crashing it (unflushed writes lost), and connecting and disconnecting machines
//! and the relay as their links say.

use super::*;

impl World {
    pub(super) fn start(&mut self, i: usize) -> Result<(), String> {
        let seed = self.rng.next_u64();
        let relay_addr = self.relay.as_ref().map(|r| r.addr.clone());
        let now = self.now;
        let Some(m) = self.machines.get_mut(i) else {
            return Ok(());
        };
        let store = Store::in_memory(&m.disk, m.master).map_err(|e| e.to_string())?;
        let mut rng = StdRng::seed_from_u64(seed);
        let profile = Profile::in_store(store, &m.name, &mut rng).map_err(|e| e.to_string())?;
        let peer = profile.libp2p_key.public().to_peer_id();
        m.peer = Some(peer);
        m.epoch += 1;
        let mut io = Io::new(peer, now + m.clock_offset_ms);
        io.disk = Some(m.disk.clone());
        io.vault = m.io.borrow().vault.clone();
        m.io = Rc::new(RefCell::new(io));
        let (tx, rx) = mpsc::unbounded_channel();
        let config = NodeConfig {
            listen: vec![m.addr.clone()],
            relay: relay_addr,
            private_addresses: true,
            resend_after: Duration::from_millis(RESEND_AFTER_MS),
            stranger_idle: Duration::from_secs(120),
            ..NodeConfig::default()
        };
        let node = Runtime::with_shell(
            profile,
            config,
            tx,
            SimShell(m.io.clone()),
            NodeRng::Seeded(Box::new(rng)),
        )?;
        m.node = Some(node);
        m.events = Some(rx);
        let addr = m.addr.clone();
        self.note(format!("n{i} starts"));
        self.input(i, |n| {
            n.start_listening();
            n.net_event(NetEvent::ListenAddr(addr));
        })?;
        self.update_links()
    }

    pub(super) fn crash(&mut self, i: usize) -> Result<(), String> {
        let Some(m) = self.machines.get_mut(i) else {
            return Ok(());
        };
        m.node = None;
        m.events = None;
        m.epoch += 1;
        m.disk.crash();
        m.io.borrow().vault.crash();
        m.io.borrow_mut().connected.clear();
        self.oracle.crashed(i);
        self.report.crashes += 1;
        self.note(format!("n{i} crashes"));
        // Its unanswered requests are lost with it.
        self.responders.retain(|(j, _), _| *j != i);
        self.update_links()
    }

    /// Connects and disconnects machines (and the relay) as their links say.
    pub(super) fn update_links(&mut self) -> Result<(), String> {
        let n = self.machines.len();
        let relay = self.relay.as_ref().map(|r| (r.peer, r.addr.clone()));
        for i in 0..n {
            if !self.up(i) {
                continue;
            }
            if let Some((rp, raddr)) = relay.clone() {
                let should = self.linked(i, n);
                self.set_link(i, rp, raddr, should, true)?;
            }
            for j in 0..n {
                let other = self
                    .machines
                    .get(j)
                    .and_then(|m| Some((m.peer?, m.addr.clone())));
                if let (Some((pj, addr)), true) = (other, i != j) {
                    let should = self.linked(i, j);
                    self.set_link(i, pj, addr, should, false)?;
                }
            }
        }
        Ok(())
    }

    /// Machine `i` connects to `peer` at `remote` (or disconnects) unless it already is
    /// (or is not); a node that connects to the relay gets its reservation.
    fn set_link(
        &mut self,
        i: usize,
        peer: PeerId,
        remote: Multiaddr,
        should: bool,
        relay: bool,
    ) -> Result<(), String> {
        let Some(m) = self.machines.get(i) else {
            return Ok(());
        };
        let changed = {
            let mut io = m.io.borrow_mut();
            if should {
                io.connected.insert(peer)
            } else {
                io.connected.remove(&peer)
            }
        };
        if !changed {
            return Ok(());
        }
        let inbound = !relay && self.machine_of(&peer).is_some_and(|j| i > j);
        self.input(i, |node| {
            if should {
                node.net_event(NetEvent::Connected {
                    peer,
                    remote,
                    inbound,
                });
                if relay {
                    node.net_event(NetEvent::RelayReserved);
                }
            } else {
                node.net_event(NetEvent::Disconnected(peer));
            }
        })
    }
}
