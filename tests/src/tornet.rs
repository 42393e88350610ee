//! A private Tor network on loopback, booted by the test itself from the real `tor` binary
//! (Debian's `tor` package, which also ships `tor-gencert`; `.ci/run` installs it), the way
//! Tor's own test-network tool, chutney, does it. It is the ground for tests of nodes that
//! run in hidden mode behind onion services; nothing here reaches the Internet.
//!
//! # Topology
//!
//! Chutney's `hs-v3-min`, with the authorities made exits: 3 directory authorities
//! `auth0..2`, each also a relay (Guard, HSDir) and an exit to loopback; 3 non-exit relays
//! `relay0..2` (Guard, HSDir); clients, started on demand with [`TorNet::client`], each
//! with a SOCKS port and a control port, where a test makes onion services (`ADD_ONION`).
//! Six relays: `hs-v3-min` says an onion service needs five (a three-hop path, the client's
//! rendezvous point, a separate introduction point), and relays one more, as none builds a
//! path through itself. Unlike chutney, the relays start after the first consensus.
//!
//! Every tor listens on 127.0.0.1 only, on ports found free at start (bound to port 0 and
//! released just before tor binds them: should another process take one in between, that
//! tor exits at once, and the error says so). Each has a directory `<dir>/<name>` with its
//! torrc, keys, `notice.log`, `info.log` and `stdout.log`; errors quote their tails.
//!
//! # The torrc options, after chutney's `torrc_templates/`
//!
//! Every node (`common.i`):
//! * `TestingTorNetwork 1`: private addresses allowed everywhere, many relays on one IP,
//!   no download back-off (the `Testing*DownloadInitialDelay` options at 0). Needs
//!   non-default `DirAuthority` lines, which every node gets: the authorities' addresses,
//!   RSA identity fingerprints (`tor --list-fingerprint`) and v3 identities (the
//!   `fingerprint` line of the certificate made by `tor-gencert`).
//! * `PathsNeededToBuildCircuits 0.67`: in a network this small the default fraction of
//!   descriptors is reached later, or never.
//! * `TestingDirAuthVoteExit *`, `TestingDirAuthVoteGuard *`, `TestingDirAuthVoteHSDir *`,
//!   `TestingMinExitFlagThreshold 0`: the authorities give the Exit, Guard and HSDir flags
//!   at once, not after the days of uptime and bandwidth they want on the real network. No
//!   HSDir flag, no onion service.
//! * `V3AuthNIntervalsValid 2`: consensuses expire quickly (chutney's rapid setup).
//! * `ConnLimit 60`, `ShutdownWaitLength 0`, `DisableDebuggerAttachment 0`, `Log`,
//!   `ProtocolWarnings 1`, `SafeLogging 0`, `LogTimeGranularity 1`: chutney's, for logs
//!   that say what went wrong.
//! * `ControlPort` with `CookieAuthentication 1`: the client here sends the 32 bytes of
//!   `<datadir>/control_auth_cookie` hex-encoded in `AUTHENTICATE` (no password to hash with
//!   `tor --hash-password`; only who can read the data directory controls the tor).
//! * `__OwningControllerProcess <test pid>` (chutney's `owning_controller_process`): tor
//!   exits by itself when the test process is gone (checked every 15 s), even if it died
//!   without running destructors. `Drop` kills every tor this module starts in any case.
//! * `RunAsDaemon 0` (chutney's is 1): each tor is a child process, to kill and to see
//!   exit. `--defaults-torrc /dev/null`: no system-wide `/etc/tor/torrc-defaults`.
//!
//! Relays (`relay-non-dir.tmpl`, `relay-non-exit.tmpl`, `exit-v4.i`): `Address 127.0.0.1`,
//! `ORPort`, `DirPort`, `ContactInfo`, `Nickname`; no DNS, which there is none of
//! (`ServerDNSResolvConfFile /dev/null`, `ServerDNSDetectHijacking 0`, empty
//! `ServerDNSTestAddresses`); exits: `ExitRelay 1`, `ExitPolicyRejectPrivate 0`, `ExitPolicy
//! accept 127.0.0.0/8:*`, `accept private:*`, `accept *:*` (chutney's way round tor #11264:
//! a policy summary of private addresses only keeps clients off the exit; nothing but
//! loopback is reachable here anyway), `reject *:*`; the others `ExitRelay 0`.
//! `AssumeReachable 1` on every relay (chutney's older "rapid bootstrap" `common.i`; the
//! current one has it on authorities only): a relay publishes its descriptor without first
//! testing its own reachability through circuits; on authorities, no reachability tests.
//!
//! Authorities (`authority.i`): `AuthoritativeDirectory 1`, `V3AuthoritativeDirectory 1`,
//! `TestingV3AuthInitialVotingInterval 20`, `TestingV3AuthInitialVoteDelay 4`,
//! `TestingV3AuthInitialDistDelay 4`, `V3AuthVotingInterval 20`, `V3AuthVoteDelay 4`,
//! `V3AuthDistDelay 4`: a consensus every 20 s, not every hour. Vote + dist delays must stay
//! under half the interval; chutney's older 5 s/10 s intervals proved unstable, and on two
//! busy cores a vote late by 2 s would miss a round.
//!
//! Clients (`client.tmpl`): the common options, `SocksPort 127.0.0.1:<port> ExtendedErrors`
//! (SOCKS5 replies 0xF0–0xF7 say why an onion connection failed) and the `ControlPort`.
//!
//! # How long it takes
//!
//! Measured here (2 cores, tor 0.4.9.11, a release build running alongside), six runs:
//! keys and fingerprints about 2 s; the network ready 34–48 s after `start` (the first
//! consensus at the first 20 s boundary the authorities can vote for, the relays in the
//! next, then up to 10 s more for a relay's microdescriptors); a client bootstrapped in
//! 2.5–3 s; an onion service published 1.1–4 s after `ADD_ONION`, reached 1.7–5.8 s after
//! it; the test 43–53 s. Should the test process die without unwinding, tor exits ~15 s
//! later.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

mod process;
mod socks;
use process::{bootstrapped, listed, wait_for, wait_for_directory, Control, TorProcess, BOOTSTRAP};
pub use socks::{socks5_connect, socks5_connect_as};

/// Directory authorities (each also a relay and an exit).
pub const AUTHORITIES: usize = 3;
/// Non-authority, non-exit relays.
pub const RELAYS: usize = 3;
/// How long [`TorNet::start`] waits for a consensus that lists every relay.
pub const NETWORK_DEADLINE: Duration = Duration::from_secs(180);
/// How long [`TorNet::client`] waits for the client to bootstrap.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(120);
/// Read and write timeout on a control connection.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of a log quoted in an error.
const TAIL_LINES: usize = 25;

/// `tor-gencert` arguments (chutney's `_genAuthorityKey`), the files in `keys/`; then
/// `-a <DirPort address>`.
const GENCERT_ARGS: &str = "--create-identity-key --passphrase-fd 0 -m 12 \
    -i authority_identity_key -s authority_signing_key -c authority_certificate";

/// Options every node has (chutney's `common.i`), `{…}` filled in.
const COMMON: &str = "\
TestingTorNetwork 1
PathsNeededToBuildCircuits 0.67
TestingDirAuthVoteExit *
TestingDirAuthVoteHSDir *
TestingDirAuthVoteGuard *
TestingMinExitFlagThreshold 0
V3AuthNIntervalsValid 2
DataDirectory {dir}
RunAsDaemon 0
ConnLimit 60
Nickname {nick}
ShutdownWaitLength 0
DisableDebuggerAttachment 0
ControlPort 127.0.0.1:{control}
CookieAuthentication 1
Log notice file {dir}/notice.log
Log info file {dir}/info.log
ProtocolWarnings 1
SafeLogging 0
LogTimeGranularity 1
__OwningControllerProcess {pid}
";

/// Options every relay has (`relay-non-dir.tmpl`, `relay-non-exit.tmpl`).
const RELAY: &str = "\
SocksPort 0
Address {ip}
ORPort {ip}:{orport}
DirPort {ip}:{dirport}
ContactInfo {nick}@test.test
AssumeReachable 1
ServerDNSDetectHijacking 0
ServerDNSTestAddresses
ServerDNSResolvConfFile /dev/null
";

/// An exit to loopback (`exit-v4.i`).
const EXIT: &str = "\
ExitRelay 1
ExitPolicy accept 127.0.0.0/8:*
ExitPolicyRejectPrivate 0
ExitPolicy accept private:*
ExitPolicy accept *:*
ExitPolicy reject *:*
";

/// A directory authority (`authority.i`).
const AUTHORITY: &str = "\
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
TestingV3AuthInitialVotingInterval 20
TestingV3AuthInitialVoteDelay 4
TestingV3AuthInitialDistDelay 4
V3AuthVotingInterval 20
V3AuthVoteDelay 4
V3AuthDistDelay 4
";

/// A running private network: authorities and relays. Dropping it kills them.
pub struct TorNet {
    dir: PathBuf,
    dir_authority_lines: String,
    nodes: Vec<TorProcess>,
    relay_addrs: Vec<SocketAddr>,
}

/// A client tor on the network. Dropping it kills it (and so its onion services).
pub struct TorClient {
    // Declared first, so the control connection closes before the process is killed.
    control: Mutex<Control>,
    /// A second connection, subscribed to `HS_DESC` events, and for each onion service the
    /// descriptor uploads begun, done and failed.
    events: Mutex<(Control, HashMap<String, [usize; 3]>)>,
    name: String,
    socks: SocketAddr,
    process: TorProcess,
}

/// An onion service made with [`TorClient::add_onion_with_key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnionService {
    /// The address without `.onion` (56 base32 characters).
    pub service_id: String,
    /// The secret key, as `ED25519-V3:<base64>`: what `ADD_ONION` takes to make the same
    /// service again.
    pub key: String,
}

impl TorNet {
    /// Boots the network in `dir` (made if missing; a subdirectory per node): authorities,
    /// then, once they have made a consensus, relays; returns once a consensus lists every
    /// relay as Running with the HSDir flag and every relay has bootstrapped. Errors quote
    /// the tails of the logs concerned.
    pub fn start(dir: &Path) -> Result<TorNet, String> {
        TorNet::start_on(dir, Ipv4Addr::LOCALHOST)
    }

    /// Like [`start`](Self::start), with every relay's ORPort and DirPort on `ip` (an
    /// address of this host: a network namespace can then reach the network through a
    /// link to it, see [`TorNet::relay_addrs`]); control ports stay on loopback.
    pub fn start_on(dir: &Path, ip: Ipv4Addr) -> Result<TorNet, String> {
        check_installed()?;
        std::fs::create_dir_all(dir).map_err(at(dir))?;
        let dir = dir.canonicalize().map_err(at(dir))?;
        let total = AUTHORITIES + RELAYS;
        // ORPort, DirPort and ControlPort for each relay.
        let ports = free_ports(3 * total)?;
        let port = |node: usize, which: usize| ports[3 * node + which];

        // Authority keys: tor-gencert is slow (RSA-3072), so the three run at once.
        let mut gencerts = Vec::new();
        for i in 0..AUTHORITIES {
            let nick = format!("auth{i}");
            let node_dir = node_dir(&dir, &nick)?;
            let keys = node_dir.join("keys");
            std::fs::create_dir_all(&keys).map_err(at(&keys))?;
            let addr = format!("{ip}:{}", port(i, 1));
            // The identity key's passphrase is read from stdin: empty (chutney's is the
            // nickname).
            let child = Command::new("tor-gencert")
                .current_dir(&keys)
                .args(GENCERT_ARGS.split(' '))
                .args(["-a", &addr])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("tor-gencert: {e}"))?;
            gencerts.push((nick, node_dir, child));
        }
        // chutney's `_getAltAuthLines`, with its default `no-v2` flag.
        let mut dir_authority_lines = String::new();
        for (i, (nick, node_dir, child)) in gencerts.into_iter().enumerate() {
            let out = child
                .wait_with_output()
                .map_err(|e| format!("tor-gencert for {nick}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "tor-gencert for {nick} failed ({}): {}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let cert_path = node_dir.join("keys").join("authority_certificate");
            let cert = std::fs::read_to_string(&cert_path).map_err(at(&cert_path))?;
            let v3ident = cert
                .lines()
                .find_map(|l| l.strip_prefix("fingerprint "))
                .map(|f| f.trim().to_owned())
                .filter(|f| is_fingerprint(f))
                .ok_or_else(|| format!("no v3 fingerprint in {}", cert_path.display()))?;
            let fingerprint = relay_fingerprint(&node_dir)?;
            let (or, dir_addr) = (port(i, 0), SocketAddr::from((ip, port(i, 1))));
            let _ = writeln!(
                dir_authority_lines,
                "DirAuthority {nick} orport={or} no-v2 v3ident={v3ident} {dir_addr} {fingerprint}"
            );
        }

        let relay_addrs = (0..total)
            .flat_map(|i| [port(i, 0), port(i, 1)])
            .map(|p| SocketAddr::from((ip, p)))
            .collect();
        let mut net = TorNet {
            dir: dir.clone(),
            dir_authority_lines,
            nodes: Vec::new(),
            relay_addrs,
        };
        for i in 0..total {
            if i == AUTHORITIES {
                // Relays start once there is a consensus: one started before it asks for it
                // in vain (404), backs off, and may go without for a minute or more.
                net.wait_for_consensus(1)?;
            }
            let authority = i < AUTHORITIES;
            let nick = if authority {
                format!("auth{i}")
            } else {
                format!("relay{}", i - AUTHORITIES)
            };
            let node_dir = node_dir(&dir, &nick)?;
            let mut torrc = common_torrc(&nick, &node_dir, port(i, 2));
            torrc += &RELAY
                .replace("{orport}", &port(i, 0).to_string())
                .replace("{dirport}", &port(i, 1).to_string())
                .replace("{nick}", &nick)
                .replace("{ip}", &ip.to_string());
            if authority {
                torrc += EXIT;
                torrc += AUTHORITY;
            } else {
                torrc += "ExitRelay 0\n";
            }
            torrc += &net.dir_authority_lines;
            let process = TorProcess::spawn(&nick, &node_dir, &torrc, loopback(port(i, 2)))?;
            net.nodes.push(process);
        }
        net.wait_for_consensus(total)?;
        // Relays are directory caches: a client that asks one for microdescriptors it has
        // not fetched yet asks again 10 s later. Bootstrapped, a relay has them.
        for i in 0..total {
            let what = format!("{} did not bootstrap", net.nodes[i].name);
            let nodes = &mut net.nodes;
            wait_for(&what, NETWORK_DEADLINE, nodes, i, BOOTSTRAP, bootstrapped)?;
        }
        // Every authority, not only the one asked above, serves a consensus with every
        // relay: a client bootstraps from any of them. (One that missed a vote on a busy
        // machine could serve an older consensus, of the authorities alone.)
        for i in 0..AUTHORITIES {
            let nicks = net.nicks();
            wait_for_directory(&mut net.nodes, i, &nicks, NETWORK_DEADLINE)?;
        }
        Ok(net)
    }

    /// Waits until `auth0`'s consensus lists `want` relays, Running with the HSDir flag.
    fn wait_for_consensus(&mut self, want: usize) -> Result<(), String> {
        let what = format!("the tor network did not list {want} running HSDirs");
        let check = |lines: &[String]| listed(lines, want);
        let command = "GETINFO ns/all";
        wait_for(&what, NETWORK_DEADLINE, &mut self.nodes, 0, command, check).map(drop)
    }

    /// The relays' nicknames.
    fn nicks(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Starts a client tor named `name` (letters and digits, at most 19: it is the tor
    /// nickname and the directory name) and returns once it has bootstrapped to 100%.
    pub fn client(&self, name: &str) -> Result<TorClient, String> {
        if name.is_empty() || name.len() > 19 || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("bad client name {name:?}: 1-19 letters or digits"));
        }
        let node_dir = node_dir(&self.dir, name)?;
        let ports = free_ports(2)?;
        let (socks, control_addr) = (loopback(ports[0]), loopback(ports[1]));
        let mut torrc = common_torrc(name, &node_dir, control_addr.port());
        let _ = writeln!(torrc, "SocksPort {socks} ExtendedErrors");
        torrc += &self.dir_authority_lines;
        let mut process = [TorProcess::spawn(name, &node_dir, &torrc, control_addr)?];
        let what = format!("tor client {name} did not bootstrap");
        let p = &mut process;
        let control = wait_for(&what, CLIENT_DEADLINE, p, 0, BOOTSTRAP, bootstrapped)?;
        // Bootstrapped is "enough paths" (`PathsNeededToBuildCircuits` of the consensus
        // weight), not every relay, and the weights here are uneven (unmeasured, one relay
        // can hold more than half): a client can be bootstrapped with the microdescriptors
        // of three relays. An onion service made then finds no node for a hop of its
        // introduction circuits ("Failed to find node for hop #3"), and tor stops launching
        // them for minutes: CI saw no descriptor in 180 s. So a client is ready once it
        // knows every relay.
        drop(control);
        let control = wait_for_directory(p, 0, &self.nicks(), CLIENT_DEADLINE)?;
        let [process] = process;
        let mut events = Control::connect(control_addr, &node_dir.join("control_auth_cookie"))?;
        events.command("SETEVENTS HS_DESC")?;
        let short = Some(Duration::from_millis(500));
        let timeout = events.reader.get_ref().set_read_timeout(short);
        timeout.map_err(|e| format!("control port: {e}"))?;
        Ok(TorClient {
            control: Mutex::new(control),
            events: Mutex::new((events, HashMap::new())),
            name: name.to_owned(),
            socks,
            process,
        })
    }

    /// The network's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `DirAuthority` torrc lines that join a tor to this network (with
    /// `TestingTorNetwork 1`).
    pub fn dir_authority_lines(&self) -> &str {
        &self.dir_authority_lines
    }

    /// Every relay's ORPort and DirPort: all a client of the network connects to.
    pub fn relay_addrs(&self) -> &[SocketAddr] {
        &self.relay_addrs
    }

    /// The ids of the network's tor processes (clients not counted).
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.child.id()).collect()
    }
}

impl TorClient {
    /// The client's SOCKS5 port (with `ExtendedErrors`).
    pub fn socks_addr(&self) -> SocketAddr {
        self.socks
    }

    /// The client's control port (cookie authentication: `<dir>/<name>/control_auth_cookie`).
    pub fn control_addr(&self) -> SocketAddr {
        self.process.control
    }

    /// The tor process's id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// Makes an onion service with a new key that tor forgets (`ADD_ONION NEW:ED25519-V3
    /// Flags=DiscardPK`), forwarding its port `virt_port` to `target`; returns the address
    /// without `.onion`. The service lives as long as this client: no `Flags=Detach`, so
    /// tor removes it when the client's control connection closes.
    pub fn add_onion(&self, virt_port: u16, target: SocketAddr) -> Result<String, String> {
        let lines = self.command(&format!(
            "ADD_ONION NEW:ED25519-V3 Flags=DiscardPK Port={virt_port},{target}"
        ))?;
        service_id(&lines)
    }

    /// Like [`add_onion`](Self::add_onion), but keeps the key: with `key` `None` tor makes a
    /// new one and returns it, with `Some("ED25519-V3:<base64>")` (as returned before) the
    /// same service, at the same address, is made again, as a product that keeps the key
    /// sealed in its profile does on each start.
    pub fn add_onion_with_key(
        &self,
        key: Option<&str>,
        virt_port: u16,
        target: SocketAddr,
    ) -> Result<OnionService, String> {
        let key_arg = match key {
            None => "NEW:ED25519-V3".to_owned(),
            Some(k) => {
                let b64 = k.strip_prefix("ED25519-V3:").unwrap_or(k);
                let base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
                if b64.is_empty() || !b64.chars().all(base64) {
                    return Err("the onion key is not ED25519-V3:<base64>".into());
                }
                format!("ED25519-V3:{b64}")
            }
        };
        let lines = self.command(&format!("ADD_ONION {key_arg} Port={virt_port},{target}"))?;
        let service_id = service_id(&lines)?;
        let key = match key {
            Some(_) => key_arg,
            None => lines
                .iter()
                .find_map(|l| l.strip_prefix("PrivateKey="))
                .map(str::to_owned)
                .ok_or_else(|| format!("ADD_ONION returned no key: {lines:?}"))?,
        };
        Ok(OnionService { service_id, key })
    }

    /// Waits until tor has uploaded the descriptors of its onion service `service_id`: an
    /// `HS_DESC UPLOADED` event, and one `UPLOADED` or `FAILED` for each `UPLOAD` begun. A
    /// client that looks the service up before gets SOCKS error 0xF0 and, once it has asked
    /// every HSDir, does not ask again until its next consensus (20 s here).
    pub fn wait_published(&self, service_id: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let (control, uploads) = &mut *events;
        let done = |u: &HashMap<String, [usize; 3]>| {
            u.get(service_id)
                .is_some_and(|[begun, ok, failed]| *ok > 0 && ok + failed >= *begun)
        };
        while !done(uploads) {
            if Instant::now() >= deadline {
                return Err(format!(
                    "tor client {}: no descriptor of {service_id} uploaded within {timeout:?}{}",
                    self.name,
                    self.process.tail()
                ));
            }
            let line = control
                .next_line()
                .map_err(|e| format!("{}: {e}", self.name))?;
            let words: Vec<&str> = line.as_deref().unwrap_or_default().split(' ').collect();
            if let ["650", "HS_DESC", action, id, ..] = words[..] {
                let kind = ["UPLOAD", "UPLOADED", "FAILED"]
                    .iter()
                    .position(|a| *a == action);
                if let Some(kind) = kind {
                    uploads.entry(id.to_owned()).or_default()[kind] += 1;
                }
            }
        }
        Ok(())
    }

    /// Removes an onion service of this client (`DEL_ONION`).
    pub fn del_onion(&self, service_id: &str) -> Result<(), String> {
        if !is_service_id(service_id) {
            return Err(format!("not an onion service id: {service_id:?}"));
        }
        self.command(&format!("DEL_ONION {service_id}")).map(drop)
    }

    /// Sends a control command on the client's connection; returns the reply's lines
    /// without status (data lines included), or the error with the log tail.
    pub fn command(&self, line: &str) -> Result<Vec<String>, String> {
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        control
            .command(line)
            .map_err(|e| format!("tor client {}: {e}{}", self.name, self.process.tail()))
    }
}

/// Fails, saying how to get them, unless `tor` and `tor-gencert` run.
fn check_installed() -> Result<(), String> {
    for program in ["tor", "tor-gencert"] {
        if Command::new(program).arg("--version").output().is_err() {
            return Err(format!(
                "`{program}` is not installed: the Tor tests need Debian's `tor` package \
                 (`apt-get install tor`; .ci/run installs it)"
            ));
        }
    }
    Ok(())
}

/// Makes `<dir>/<name>`, private to the user as tor requires of a data directory.
fn node_dir(dir: &Path, name: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::create_dir_all(&path)
        .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)))
        .map_err(at(&path))?;
    Ok(path)
}

/// Makes the relay keys in `dir` with `tor --list-fingerprint`; returns the RSA
/// fingerprint from its output, as chutney reads it.
fn relay_fingerprint(dir: &Path) -> Result<String, String> {
    let out = Command::new("tor")
        .args(["--defaults-torrc", "/dev/null", "-f", "/dev/null"])
        .args(["--ignore-missing-torrc", "--ORPort", "1", "--DataDirectory"])
        .arg(dir)
        .arg("--list-fingerprint")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("tor --list-fingerprint: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The last line is "<nickname> <fingerprint in groups of four>".
    let fingerprint: String = stdout
        .lines()
        .next_back()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .collect();
    if !out.status.success() || !is_fingerprint(&fingerprint) {
        return Err(format!(
            "tor --list-fingerprint --DataDirectory {} failed ({}): {stdout}{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(fingerprint)
}

/// The common torrc of a node.
fn common_torrc(nick: &str, dir: &Path, control_port: u16) -> String {
    COMMON
        .replace("{nick}", nick)
        .replace("{dir}", &dir.display().to_string())
        .replace("{control}", &control_port.to_string())
        .replace("{pid}", &std::process::id().to_string())
}

/// `n` distinct free ports on 127.0.0.1 (all held until all are found).
fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("finding a free port: {e}"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("finding a free port: {e}"))
}

/// An I/O error's message, naming `path`.
fn at(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn is_fingerprint(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn is_service_id(s: &str) -> bool {
    s.len() == 56 && s.chars().all(|c| matches!(c, 'a'..='z' | '2'..='7'))
}

/// The `ServiceID=` of an `ADD_ONION` reply.
fn service_id(lines: &[String]) -> Result<String, String> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("ServiceID="))
        .filter(|id| is_service_id(id))
        .map(str::to_owned)
        .ok_or_else(|| format!("ADD_ONION returned no service id: {lines:?}"))
}
