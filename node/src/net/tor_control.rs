//! A client of Tor's control port (control-spec.txt), as much as hidden mode needs: cookie
//! authentication, where the SOCKS port is, and an onion service whose key the node keeps
//! sealed in its profile (`ADD_ONION`). Tor is local and trusted, but its replies are still
//! read with a length limit and every failure is a typed error.
//!
//! The onion service belongs to this control connection (no `Flags=Detach`): it ends when
//! the node does, whatever way the node ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use thiserror::Error;

/// Longest reply line read.
const MAX_LINE: usize = 4096;
/// Most lines in one reply.
const MAX_LINES: usize = 64;
/// Read and write timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong talking to tor.
#[derive(Debug, Error)]
pub enum TorControlError {
    /// The control port could not be reached or the connection broke.
    #[error("tor control port: {0}")]
    Io(#[from] std::io::Error),
    /// Tor answered with an error status.
    #[error("tor refused {command}: {reply}")]
    Refused {
        /// The command's first word.
        command: String,
        /// Tor's reply line.
        reply: String,
    },
    /// A reply this client does not understand (or too long).
    #[error("unexpected reply from tor: {0}")]
    Malformed(String),
}

/// An authenticated control connection.
pub struct TorControl {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl std::fmt::Debug for TorControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorControl").finish_non_exhaustive()
    }
}

/// The onion service key tor takes (`ED25519-V3:<base64>`: the expanded Ed25519 secret
/// key, SHA-512 of the seed with the scalar clamped) for `seed`, the 32 random bytes the
/// node keeps sealed in its profile: the same seed gives the same onion address on every
/// start, a new seed (rotation) a new one.
pub fn onion_key(seed: &[u8; 32]) -> zeroize::Zeroizing<String> {
    use sha2::{Digest, Sha512};
    let mut expanded = zeroize::Zeroizing::new([0u8; 64]);
    expanded.copy_from_slice(&Sha512::digest(seed));
    if let Some(first) = expanded.first_mut() {
        *first &= 248;
    }
    if let Some(last) = expanded.get_mut(31) {
        *last = (*last & 127) | 64;
    }
    zeroize::Zeroizing::new(format!(
        "ED25519-V3:{}",
        data_encoding::BASE64.encode(expanded.as_slice())
    ))
}

/// The onion address (56 characters, without `.onion`) of the key of `seed`, as tor makes
/// it (rend-spec-v3 §6): base32 of the Ed25519 public key, a two-byte checksum (SHA3-256 of
/// ".onion checksum", the key and the version) and the version, 3. Known without tor, so a
/// node can tell its contacts its address before it runs in hidden mode.
pub fn onion_address(seed: &[u8; 32]) -> String {
    use sha3::{Digest, Sha3_256};
    let mut secret = zeroize::Zeroizing::new(*seed);
    let public = match libp2p::identity::ed25519::SecretKey::try_from_bytes(secret.as_mut()) {
        Ok(secret) => libp2p::identity::ed25519::Keypair::from(secret)
            .public()
            .to_bytes(),
        // 32 bytes are always a secret key.
        Err(_) => [0u8; 32],
    };
    let mut hasher = Sha3_256::new();
    hasher.update(b".onion checksum");
    hasher.update(public);
    hasher.update([3u8]);
    let checksum = hasher.finalize();
    let mut raw = Vec::with_capacity(35);
    raw.extend_from_slice(&public);
    raw.extend_from_slice(checksum.get(..2).unwrap_or_default());
    raw.push(3);
    data_encoding::BASE32_NOPAD
        .encode(&raw)
        .to_ascii_lowercase()
}

impl TorControl {
    /// Connects to the control port at `addr` and authenticates with tor's cookie
    /// (`CookieAuthentication 1`) or, if tor asks for none, without.
    pub fn connect(addr: SocketAddr) -> Result<Self, TorControlError> {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let mut c = Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        let info = c.command("PROTOCOLINFO 1")?;
        let auth = info
            .iter()
            .find_map(|l| l.strip_prefix("AUTH METHODS="))
            .ok_or_else(|| TorControlError::Malformed("PROTOCOLINFO without AUTH".into()))?;
        let methods: Vec<&str> = auth
            .split(' ')
            .next()
            .unwrap_or_default()
            .split(',')
            .collect();
        if methods.contains(&"COOKIE") {
            let path = cookie_file(auth)
                .ok_or_else(|| TorControlError::Malformed("no COOKIEFILE".into()))?;
            let mut cookie = Vec::new();
            std::fs::File::open(&path)?
                .take(64)
                .read_to_end(&mut cookie)?;
            if cookie.len() != 32 {
                return Err(TorControlError::Malformed(
                    "a cookie not 32 bytes long".into(),
                ));
            }
            c.command(&format!("AUTHENTICATE {}", hex::encode(&cookie)))?;
        } else if methods.contains(&"NULL") {
            c.command("AUTHENTICATE")?;
        } else {
            return Err(TorControlError::Malformed(format!(
                "no authentication method this client has: {auth}"
            )));
        }
        Ok(c)
    }

    /// The value of `GETINFO key`.
    pub fn getinfo(&mut self, key: &str) -> Result<String, TorControlError> {
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_'))
        {
            return Err(TorControlError::Malformed(format!("no such key: {key:?}")));
        }
        let lines = self.command(&format!("GETINFO {key}"))?;
        let prefix = format!("{key}=");
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(str::to_owned)
            .ok_or_else(|| TorControlError::Malformed(format!("no {key} in {lines:?}")))
    }

    /// Tor's SOCKS port (the first one it listens on).
    pub fn socks_addr(&mut self) -> Result<SocketAddr, TorControlError> {
        let value = self.getinfo("net/listeners/socks")?;
        value
            .split(' ')
            .next()
            .map(|v| v.trim_matches('"'))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| TorControlError::Malformed(format!("no SOCKS port: {value}")))
    }

    /// Makes the onion service of `key` ([`onion_key`]) forwarding each of its `ports`
    /// (virtual port, target) to its target; returns its address without `.onion`.
    pub fn add_onion(
        &mut self,
        key: &str,
        ports: &[(u16, SocketAddr)],
    ) -> Result<String, TorControlError> {
        let ports: String = ports
            .iter()
            .map(|(virt, target)| format!(" Port={virt},{target}"))
            .collect();
        let lines = self.command(&format!("ADD_ONION {key} Flags=DiscardPK{ports}"))?;
        lines
            .iter()
            .find_map(|l| l.strip_prefix("ServiceID="))
            .filter(|id| id.len() == 56 && id.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(str::to_owned)
            .ok_or_else(|| TorControlError::Malformed("ADD_ONION without a service id".into()))
    }

    /// Sends `line`; the reply's lines without their status prefix, or the refusal.
    fn command(&mut self, line: &str) -> Result<Vec<String>, TorControlError> {
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\r\n")?;
        self.writer.flush()?;
        let word = line.split(' ').next().unwrap_or_default().to_owned();
        let mut lines = Vec::new();
        loop {
            let mut buf = Vec::new();
            let n = (&mut self.reader)
                .take(u64::try_from(MAX_LINE).unwrap_or(u64::MAX))
                .read_until(b'\n', &mut buf)?;
            if n == 0 || !buf.ends_with(b"\n") {
                return Err(TorControlError::Malformed(
                    "a reply line cut or too long".into(),
                ));
            }
            let text = String::from_utf8_lossy(&buf).trim_end().to_owned();
            let (status, rest) = (text.get(..3).unwrap_or(""), text.get(3..).unwrap_or(""));
            if !status.starts_with('2') {
                return Err(TorControlError::Refused {
                    command: word,
                    reply: text,
                });
            }
            if lines.len() >= MAX_LINES {
                return Err(TorControlError::Malformed("a reply too long".into()));
            }
            let mut chars = rest.chars();
            let sep = chars.next();
            lines.push(chars.as_str().to_owned());
            match sep {
                Some(' ') => return Ok(lines),
                Some('-') => {}
                // Data lines ("250+…" then dot-terminated) are not asked for here.
                _ => return Err(TorControlError::Malformed(text)),
            }
        }
    }
}

/// The `COOKIEFILE="…"` of a PROTOCOLINFO auth line (tor escapes `"` and `\`).
fn cookie_file(auth: &str) -> Option<std::path::PathBuf> {
    let start = auth.find("COOKIEFILE=\"")? + "COOKIEFILE=\"".len();
    let mut path = String::new();
    let mut chars = auth.get(start..)?.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => path.push(chars.next()?),
            '"' => return Some(path.into()),
            c => path.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a cookie path read wrong from tor's PROTOCOLINFO (escapes, the closing
    /// quote) or taken from a line without one.
    #[test]
    fn cookie_file_is_read_with_its_escapes() {
        assert_eq!(
            cookie_file(r#"COOKIE,SAFECOOKIE COOKIEFILE="/var/lib/tor/a \"b\"\\c""#),
            Some(r#"/var/lib/tor/a "b"\c"#.into())
        );
        assert_eq!(cookie_file("NULL"), None);
        assert_eq!(cookie_file(r#"COOKIE COOKIEFILE="/unterminated"#), None);
    }

    /// Catches an onion address computed wrong from a seed (a node would tell its contacts
    /// an address it is not at). The expected address is the one tor 0.4.9 gave the key of
    /// this seed (`onion_key`) in the private Tor network test, which checks it again.
    #[test]
    fn the_onion_address_of_a_seed_is_tors() {
        assert_eq!(
            onion_address(&[7u8; 32]),
            "5jfgyy7ctrjavpxvkb5rglwf7gkuo5vox27hxescd3vgsfcg2iwfmxqd"
        );
        assert_ne!(onion_address(&[8u8; 32]), onion_address(&[7u8; 32]));
    }
}
