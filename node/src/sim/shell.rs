//! The simulated machine's side of the [`Shell`]: it records what the node asks for (the
//! world carries it out between steps) and answers from the world's view (the clock, who
//! is connected).

use crate::net::ip_limits::Source;
use crate::net::protocol::{Request, Response};
use crate::node::{Dial, RequestId, Responder, Shell};

use libp2p::{Multiaddr, PeerId};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// What a node asked the world for.
#[derive(Debug)]
pub(crate) enum Action {
    Request {
        to: PeerId,
        id: RequestId,
        request: Request,
    },
    Respond(Responder, Response),
    Ignore(Responder),
    /// A flush started: the store's writes and these slots of the vault.
    Flush(u64, Vec<crate::files::vault::Slot>),
    /// A file job done (run at once: its outcome comes back at the next step).
    Job(u64, crate::node::shell::JobOutcome),
}

/// A machine's view of the world, shared by its shell and the world.
#[derive(Debug)]
pub(crate) struct Io {
    pub now_ms: u64,
    pub peer: PeerId,
    pub connected: BTreeSet<PeerId>,
    pub actions: Vec<Action>,
    next_request: u64,
    /// The machine's disk, to check what the node claims is durable.
    pub disk: Option<crate::store::MemDisk>,
    /// Mail acknowledged to the mailbox while writes waited for a flush: the relay would
    /// delete what a crash could still lose here (a violation the world reports).
    pub acked_unflushed: bool,
    /// The machine's files (kept across its restarts, like its disk).
    pub vault: crate::files::vault::MemVault,
}

impl Io {
    pub(crate) fn new(peer: PeerId, now_ms: u64) -> Self {
        Self {
            now_ms,
            peer,
            connected: BTreeSet::new(),
            actions: Vec::new(),
            next_request: 0,
            disk: None,
            acked_unflushed: false,
            vault: crate::files::vault::MemVault::default(),
        }
    }
}

/// The shell of a simulated node.
pub(crate) struct SimShell(pub Rc<RefCell<Io>>);

impl Shell for SimShell {
    fn now_ms(&self) -> u64 {
        self.0.borrow().now_ms
    }

    fn local_peer_id(&self) -> PeerId {
        self.0.borrow().peer
    }

    fn send_request(&mut self, peer: &PeerId, request: Request, _: Vec<Multiaddr>) -> RequestId {
        let mut io = self.0.borrow_mut();
        if matches!(request, Request::MailboxAck { .. })
            && io
                .disk
                .as_ref()
                .is_some_and(crate::store::MemDisk::unflushed)
        {
            io.acked_unflushed = true;
        }
        let id = RequestId(io.next_request);
        io.next_request += 1;
        io.actions.push(Action::Request {
            to: *peer,
            id,
            request,
        });
        id
    }

    fn respond(&mut self, to: Responder, response: Response) {
        self.0
            .borrow_mut()
            .actions
            .push(Action::Respond(to, response));
    }

    fn ignore(&mut self, to: Responder) {
        self.0.borrow_mut().actions.push(Action::Ignore(to));
    }

    fn dial(&mut self, _: Dial) -> Result<(), String> {
        // Machines whose link is up are connected; a dial changes nothing.
        Ok(())
    }

    fn listen_on(&mut self, _: Multiaddr) -> Result<(), String> {
        Ok(())
    }

    fn add_peer_address(&mut self, _: PeerId, _: Multiaddr) {}

    fn is_connected(&self, peer: &PeerId) -> bool {
        self.0.borrow().connected.contains(peer)
    }

    fn connected_peers(&self) -> usize {
        self.0.borrow().connected.len()
    }

    fn disconnect(&mut self, _: &PeerId) {}

    fn set_contacts(&mut self, _: BTreeSet<PeerId>) {}

    fn bypass(&mut self, _: PeerId, _: bool) {}

    fn penalize(&mut self, _: Source, _: Duration) {}

    fn start_flush(&mut self, id: u64, flush: crate::node::shell::Flush) {
        self.0
            .borrow_mut()
            .actions
            .push(Action::Flush(id, flush.slots));
    }

    fn start_job(&mut self, id: u64, job: crate::node::shell::FileJob) {
        let outcome = job.run();
        self.0.borrow_mut().actions.push(Action::Job(id, outcome));
    }

    fn vault(&self, _: &crate::store::ProfilePaths) -> Arc<dyn crate::files::vault::Vault> {
        Arc::new(self.0.borrow().vault.clone())
    }
}
