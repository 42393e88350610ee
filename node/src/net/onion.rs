//! Onion services in front of loopback listeners, for hidden mode's profile nodes and
//! relays alike: tor's control connection (which owns the services: they end with it) and
//! the key they are made with. Each loopback TCP listen address the swarm reports is
//! replaced, for whoever announces addresses, by its onion address (`/onion3/<id>:4001`:
//! one service per key, its port fixed, so the address follows from the key alone).

use super::tor_control::{onion_key, TorControl};
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use std::collections::HashMap;
use std::net::SocketAddr;

/// The port of a node's or relay's onion service: fixed, so that the onion address
/// (`/onion3/<id>:4001`) follows from the key alone.
pub const ONION_PORT: u16 = 4001;

/// The onion services of one node or relay.
pub struct Onions {
    control: TorControl,
    key: zeroize::Zeroizing<String>,
    /// The address the key gives (`tor_control::onion_address`): what tor must answer.
    expected: String,
    /// Onion address of each loopback listener.
    onions: HashMap<Multiaddr, Multiaddr>,
    /// Another port of the service and its target (`NodeConfig::bench_onion_target`).
    extra: Option<(u16, SocketAddr)>,
}

impl std::fmt::Debug for Onions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Onions")
            .field("onions", &self.onions.len())
            .finish_non_exhaustive()
    }
}

impl Onions {
    /// Connects to the tor whose control port is `control`; onion services will be made
    /// with the key of `seed` (`tor_control::onion_key`: the same seed, the same address).
    /// Returns them with tor's SOCKS port, for the hidden transport.
    pub fn connect(control: SocketAddr, seed: &[u8; 32]) -> Result<(Self, SocketAddr), String> {
        let mut control = TorControl::connect(control).map_err(|e| e.to_string())?;
        let socks = control.socks_addr().map_err(|e| e.to_string())?;
        let onions = Self {
            control,
            key: onion_key(seed),
            expected: super::tor_control::onion_address(seed),
            onions: HashMap::new(),
            extra: None,
        };
        Ok((onions, socks))
    }

    /// The service also forwards virtual port `port` to `target` (a test hook: see
    /// `NodeConfig::bench_onion_target`).
    pub fn with_extra_port(mut self, extra: Option<(u16, SocketAddr)>) -> Self {
        self.extra = extra;
        self
    }

    /// The onion address in front of loopback listener `local`, made on first sight at
    /// port [`ONION_PORT`]. `Ok(None)` for a listener that gets none: one that is not TCP,
    /// such as a relay circuit (in hidden mode the onion is how one is reached), or a second
    /// listener (one key, one onion service). An error if tor refuses the service, or
    /// makes it at another address than the seed's (the one contacts are told).
    pub fn onion(&mut self, local: &Multiaddr) -> Result<Option<Multiaddr>, String> {
        if let Some(a) = self.onions.get(local) {
            return Ok(Some(a.clone()));
        }
        if local.iter().any(|p| p == Protocol::P2pCircuit) || !self.onions.is_empty() {
            return Ok(None);
        }
        let Some(port) = local.iter().find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        }) else {
            return Ok(None);
        };
        let target = SocketAddr::from(([127, 0, 0, 1], port));
        let ports: Vec<(u16, SocketAddr)> = std::iter::once((ONION_PORT, target))
            .chain(self.extra)
            .collect();
        let id = self
            .control
            .add_onion(&self.key, &ports)
            .map_err(|e| format!("no onion service, so no way in: {e}"))?;
        if id != self.expected {
            return Err("tor made the onion service at another address than its key's".into());
        }
        let onion: Multiaddr = format!("/onion3/{id}:{ONION_PORT}")
            .parse()
            .map_err(|e| format!("onion address: {e}"))?;
        self.onions.insert(local.clone(), onion.clone());
        Ok(Some(onion))
    }

    /// Forgets listener `local`; its onion address, if it had one.
    pub fn forget(&mut self, local: &Multiaddr) -> Option<Multiaddr> {
        self.onions.remove(local)
    }
}

/// The onion seed kept in file `path` (made, private to the user, on first use): a relay's,
/// next to its libp2p key. A profile keeps its seed sealed in its store instead.
pub fn seed_file(path: &std::path::Path) -> Result<zeroize::Zeroizing<[u8; 32]>, String> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = zeroize::Zeroizing::new(bytes);
            if bytes.len() != seed.len() {
                return Err(format!(
                    "{}: an onion seed is 32 bytes, not {}",
                    path.display(),
                    bytes.len()
                ));
            }
            seed.copy_from_slice(&bytes);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
            crate::relay::write_private(path, seed.as_ref())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relays_seed_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("onion.seed");
        let first = seed_file(&path).expect("made");
        let again = seed_file(&path).expect("read");
        assert_eq!(*first, *again);
        assert_ne!(*first, [0u8; 32]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "the seed file is private");
        }
        std::fs::write(&path, [1u8; 5]).expect("write");
        let err = seed_file(&path).expect_err("a short seed is refused");
        assert!(err.contains("32 bytes"), "{err}");
    }
}
