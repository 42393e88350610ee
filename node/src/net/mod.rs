//! Networking: the libp2p swarm shared by profile nodes and relays, and the wire
//! protocol between them.

pub mod addresses;
pub mod budget;
pub mod hole_punch;
pub mod ip_limits;
pub mod lan;
pub mod onion;
pub mod protocol;
pub mod swarm;
pub mod tor;
pub mod tor_control;
pub mod tor_process;
