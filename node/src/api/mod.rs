//! The one door front ends use: profiles (create, open), the node (start, `Command` in,
//! `Event` out), the relay. The JSON-lines mode of the `cairn` binary serialises exactly
//! these commands and events (see `docs/CLI.md`).
//!
//! The TUI and the tests import nothing else from `cairn-node` (`tests/tests/layout.rs`
//! checks it): what they need beyond a front end's calls — the wire protocol to speak to a
//! node as a (hostile) peer would, the limits they measure, a profile's store read after
//! the node stopped, the simulator and the fuzz targets — is in the submodules below, each
//! saying whom it is for. Everything else in the crate is free to change shape.

mod command;
mod event;
mod ids;
#[cfg(test)]
mod tests;

pub use command::{parse_command, Command, MAX_COMMAND_LINE, MAX_REF_LEN};
pub use event::{
    ContactInfo, ErrorCode, Event, FileInfo, FileStateName, GroupChange, GroupInfo,
    GroupMessageInfo, MemberInfo, MessageDirection, MessageInfo, MessageState, RelayState,
};
pub use ids::{Alias, ClientRef, FileId, GroupRef, IntroId, MemberName, MessageId, PeerId};

/// The exposure report's parties (the `exposure` event) and their text.
pub use crate::exposure::{lines as exposure_lines, own_ips, Party as ExposureParty};
/// Profiles: created with a passphrase, opened with it (`Profile::create`, `Profile::open`).
pub use crate::profile::{Profile, ProfileError};
pub use crate::store::{KdfParams, OpenError, OpenOptions, Passphrase, ProfilePaths};

/// The node: `start_node(profile, config)` runs it on the current tokio runtime and gives a
/// [`NodeHandle`] for commands and a receiver of events.
pub use crate::node::{
    start as start_node, NodeConfig, NodeHandle, BENCH_ONION_PORT, RESEND_AFTER_HOP, STRANGER_IDLE,
};
/// Addresses to listen on, of a relay, of a peer.
pub use libp2p::Multiaddr;

/// The relay and mailbox (`cairn relay`): `run_relay(config, events, stop)`.
pub use crate::relay::{run as run_relay, RelayConfig, DEFAULT_RETENTION};

/// The wire as a peer sees it, for tests and tools that talk to a node or a relay the way
/// another machine does — a hostile one included: the request/response protocol, the
/// libp2p swarm every node builds, the content inside the ratchet, LAN discovery packets.
pub mod peer {
    pub use crate::content::Content;
    pub use crate::net::lan::packet;
    pub use crate::net::protocol::{
        RejectCode, Request, Response, MAX_BUFFERED_PER_CONNECTION, MAX_REQUEST_LEN,
        MAX_RESPONSE_LEN, PROTOCOL,
    };
    pub use crate::net::swarm::{build as build_swarm, Behaviour, BehaviourEvent, SwarmOptions};
}

/// The profile's mode, hidden or direct (issue 17), kept in its store.
pub mod mode {
    pub use crate::node::mode::SWITCH_WAIT;

    /// Whether `profile` is in hidden mode.
    pub fn stored_hidden(profile: &crate::profile::Profile) -> Result<bool, String> {
        crate::node::mode::stored_hidden(&profile.store)
    }

    /// Keeps `profile`'s mode (durable when this returns). `switch_mode` on a running
    /// node also tells the contacts; this alone does not.
    pub fn store_hidden(profile: &crate::profile::Profile, hidden: bool) -> Result<(), String> {
        crate::node::mode::store_hidden(&profile.store, hidden)
    }
}

/// Hidden mode's tor (issue 17): one of the node's own, started from the system `tor`.
pub mod tor {
    pub use crate::net::tor_control::{onion_address, onion_key};
    pub use crate::net::tor_process::{OwnTor, BOOTSTRAP_DEADLINE};
}

/// The limits a node and a relay hold to against abuse (docs/THREAT_MODEL.md §6), for the
/// tests that measure them under attack.
pub mod limits {
    pub use crate::net::ip_limits::MAX_PENDING_PER_SOURCE;
    pub use crate::net::swarm::MAX_PENDING_INCOMING;
    pub use crate::relay::reservations::{
        MAX_RESERVATIONS_PER_NETWORK, MAX_RESERVATIONS_PER_SOURCE,
    };
    pub use crate::relay::{
        ABUSE_BURST, ABUSE_PER_SEC, DEPOSIT_BYTES_BURST, DEPOSIT_BYTES_PER_SEC, FETCH_UNITS_BURST,
        FETCH_UNITS_PER_SEC,
    };
}

/// A profile's encrypted store opened directly, for tests that check what a node left on
/// disk after it stopped (never while it runs: the profile lock keeps a second opener out).
pub mod inspect {
    pub use crate::store::{DeliveryState, Store, TreeName};
}

/// The deterministic simulator (feature `sim`; docs/SIMULATION.md).
#[cfg(feature = "sim")]
pub use crate::sim;

/// The fuzz targets' bodies (feature `fuzzing`; docs/FUZZING.md).
#[cfg(feature = "fuzzing")]
pub use crate::fuzzing;
