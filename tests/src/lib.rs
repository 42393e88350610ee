//! A small harness for end-to-end tests over real `cairn` processes, so that tests
//! read like a conversation:
//!
//! ```text
//! let net = Net::new();
//! let mut alice = net.node("alice").start();
//! let mut bob = net.node("bob").start();
//! connect(&mut alice, &mut bob);
//! let id = alice.send("bob", "hi");
//! bob.sees_message("alice", "hi");
//! alice.sees_delivered(&id);
//! ```
#![forbid(unsafe_code)]

pub mod attack;
pub mod netns;
pub mod script;
pub mod tmux;
pub mod tornet;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Default time to wait for an expected event.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The `cairn` binary of this build, with the test-only KDF flag. Built (or found up to
/// date) once per test process: a binary left from an older build of the tree would test
/// old code — a mutant of the node under mutation testing, for one, would go unseen.
pub fn cairn_bin() -> PathBuf {
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            let dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("target directory")
                .to_path_buf();
            let bin = dir.join("cairn");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            // `cargo test --release` runs the release binary (for figures).
            let release = dir.ends_with("release").then_some("--release");
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "cairn-tui",
                    "--features",
                    "test-hooks",
                ])
                .args(release)
                .status()
                .expect("cargo build");
            assert!(status.success(), "building cairn failed");
            let has_flag = Command::new(&bin)
                .args(["--insecure-fast-kdf-for-tests", "--version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(has_flag, "cairn was built without the test-only KDF flag");
            bin
        })
        .clone()
}

/// Copies a directory tree (a profile or relay data directory, e.g. a fixture).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

/// A temporary directory holding every profile of one test.
pub struct Net {
    dir: tempfile::TempDir,
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

impl Net {
    /// A fresh directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("passphrase"),
            "correct horse battery staple\n",
        )
        .expect("passphrase file");
        Self { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A profile named `name` (display name the same), created on first use.
    pub fn node(&self, name: &str) -> Profile {
        let dir = self.dir.path().join(name);
        let p = Profile {
            name: name.to_owned(),
            dir,
            passphrase: self.dir.path().join("passphrase"),
            relay: None,
            // A node keeps its port across restarts, as a real one would.
            listen: format!("/ip4/127.0.0.1/tcp/{}", free_port()),
            // Every test node is on this machine's loopback, which a node dials only when
            // told to (see `public_only`).
            run_args: vec!["--private-addresses".to_owned()],
            netns: None,
        };
        if !p.dir.exists() {
            let out = p
                .command()
                .args(["init", "--name", name])
                .output()
                .expect("cairn init");
            assert!(
                out.status.success(),
                "init failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        p
    }

    /// Starts a relay with its data under this directory.
    pub fn relay(&self) -> Relay {
        self.relay_on("/ip4/127.0.0.1/tcp/0")
    }

    /// A relay whose mailbox accepts every deposit and throws it away (hostile or broken).
    pub fn discarding_relay(&self) -> Relay {
        self.relay_with("/ip4/127.0.0.1/tcp/0", &["--discard-mail-for-tests"])
    }

    /// A relay on a random loopback TCP port and a random loopback QUIC port (an attacker
    /// in a test reaches it over QUIC from another loopback address, see `Relay::quic`).
    pub fn relay_with_quic(&self) -> Relay {
        self.relay_with(
            &format!("/ip4/127.0.0.1/tcp/{}", free_port()),
            &["--listen", "/ip4/127.0.0.1/udp/0/quic-v1"],
        )
    }

    /// A relay in hidden mode (`cairn relay --tor-control ADDR`): an onion service in front
    /// of a loopback listener, through the tor whose control port is `control` (a client of
    /// [`tornet::TorNet`]); its addresses are onion addresses only.
    pub fn hidden_relay(&self, control: std::net::SocketAddr) -> Relay {
        let control = control.to_string();
        self.relay_with("/ip4/127.0.0.1/tcp/0", &["--tor-control", &control])
    }

    /// A relay listening on `listen` (e.g. a fixed port), with its data in `relay-data`.
    pub fn relay_on(&self, listen: &str) -> Relay {
        self.relay_with(listen, &[])
    }

    fn relay_with(&self, listen: &str, extra: &[&str]) -> Relay {
        self.relay_in(None, listen, extra)
    }

    /// A relay inside the network namespace `ns` (see [`netns::Lan`]) listening on `listen`
    /// and, if given, on more addresses (`extra`: `--listen ADDR`…).
    pub fn relay_in_netns(&self, ns: &str, listen: &str, extra: &[&str]) -> Relay {
        self.relay_in(Some(ns), listen, extra)
    }

    fn relay_in(&self, ns: Option<&str>, listen: &str, extra: &[&str]) -> Relay {
        let data = self.dir.path().join("relay-data");
        let mut command = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(cairn_bin());
                c
            }
            None => Command::new(cairn_bin()),
        };
        // The relay's mailbox key is protected by a passphrase, as an operator should run it.
        let mut child = command
            .arg("--passphrase-file")
            .arg(self.dir.path().join("passphrase"))
            .arg("--insecure-fast-kdf-for-tests")
            .args(["relay", "--listen", listen])
            .args(extra)
            .arg("--data")
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn relay");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().expect("relay ready").expect("read");
        let ready: Value = serde_json::from_str(&line).expect("json");
        let addrs: Vec<String> = ready["addrs"]
            .as_array()
            .expect("relay addrs")
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        let addr = addrs
            .iter()
            .find(|a| a.contains("/tcp/"))
            .unwrap_or(&addrs[0])
            .clone();
        std::thread::spawn(move || for _ in lines {});
        Relay {
            child,
            addr,
            addrs,
            data,
        }
    }
}

/// A running relay.
pub struct Relay {
    child: Child,
    /// Its (TCP) address, ending in /p2p/<peer id>.
    pub addr: String,
    /// Every address it listens on.
    pub addrs: Vec<String>,
    /// Its data directory.
    pub data: PathBuf,
}

impl Relay {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its QUIC address, if it listens on one.
    pub fn quic(&self) -> Option<String> {
        self.addrs.iter().find(|a| a.contains("/quic-v1")).cloned()
    }

    /// Resident memory of the relay's process now, in bytes (Linux).
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_of(self.child.id())
    }

    /// Stops the relay, lets `meanwhile` change its data directory, and starts it again on
    /// the same address (same port; the same peer id, which is kept in its data).
    pub fn restart(&mut self, net: &Net, meanwhile: impl FnOnce(&Path)) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        meanwhile(&self.data);
        let tcp = self
            .addr
            .split('/')
            .skip_while(|p| *p != "tcp")
            .nth(1)
            .expect("relay port")
            .to_owned();
        let again = net.relay_on(&format!("/ip4/127.0.0.1/tcp/{tcp}"));
        assert_eq!(again.addr, self.addr, "relay came back elsewhere");
        *self = again;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A profile on disk.
#[derive(Clone)]
pub struct Profile {
    /// Display name.
    pub name: String,
    /// Profile directory.
    pub dir: PathBuf,
    passphrase: PathBuf,
    relay: Option<String>,
    listen: String,
    run_args: Vec<String>,
    netns: Option<String>,
}

impl Profile {
    fn command(&self) -> Command {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(cairn_bin());
                c
            }
            None => Command::new(cairn_bin()),
        };
        c.arg("--profile")
            .arg(&self.dir)
            .arg("--passphrase-file")
            .arg(&self.passphrase)
            .arg("--insecure-fast-kdf-for-tests");
        c
    }

    /// Runs `cairn exposure` on this profile (the node must not be running) with the
    /// settings `start` would use; returns what it printed.
    pub fn exposure(&self) -> String {
        let mut c = self.command();
        c.args(["exposure", "--listen", &self.listen]);
        if let Some(r) = &self.relay {
            c.args(["--relay", r]);
        }
        for flag in ["--lan", "--private-addresses"] {
            if self.run_args.iter().any(|a| a == flag) {
                c.arg(flag);
            }
        }
        let out = c.output().expect("run cairn exposure");
        assert!(
            out.status.success(),
            "cairn exposure failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Opens this profile's store directly (the node must not be running), as `cairn` does.
    pub fn open_store(&self) -> cairn_node::api::inspect::Store {
        use cairn_node::api::inspect::Store;
        use cairn_node::api::{OpenOptions, Passphrase, ProfilePaths};
        let text = std::fs::read_to_string(&self.passphrase).expect("passphrase file");
        Store::open(
            &ProfilePaths::new(self.dir.clone()),
            &Passphrase::new(text.trim_end_matches(['\n', '\r'])),
            &OpenOptions::new().allow_insecure_kdf_for_tests(),
        )
        .expect("open store")
    }

    /// Uses `relay` as relay and mailbox when started.
    pub fn with_relay(mut self, relay: &Relay) -> Self {
        self.relay = Some(relay.addr.clone());
        self
    }

    /// Waits `secs` for a receipt after a hop took a message before resending it
    /// (`cairn run --resend-after`).
    pub fn resend_after(mut self, secs: u64) -> Self {
        self.run_args
            .extend(["--resend-after".to_owned(), secs.to_string()]);
        self
    }

    /// Closes connections from peers that are not contacts after `secs`
    /// (`cairn run --stranger-idle`).
    pub fn stranger_idle(mut self, secs: u64) -> Self {
        self.run_args
            .extend(["--stranger-idle".to_owned(), secs.to_string()]);
        self
    }

    /// Dials no local address (the default outside tests): contacts on this machine are
    /// then reachable through nothing but a mailbox that is not local either.
    pub fn public_only(mut self) -> Self {
        self.run_args.retain(|a| a != "--private-addresses");
        self
    }

    /// Hidden mode (`cairn run --tor-control ADDR`) through the tor whose control port is
    /// `control` (a client of [`tornet::TorNet`]): listening only behind an onion service.
    pub fn hidden(mut self, control: std::net::SocketAddr) -> Self {
        self.run_args.retain(|a| a != "--private-addresses");
        self.run_args
            .extend(["--tor-control".to_owned(), control.to_string()]);
        self
    }

    /// Hidden mode with a tor of the node's own (`cairn run --hidden --tor-config FILE`),
    /// `torrc` the extra lines that join it to a [`tornet::TorNet`].
    pub fn hidden_own_tor(mut self, torrc: &Path) -> Self {
        self.run_args.retain(|a| a != "--private-addresses");
        self.run_args.extend([
            "--hidden".to_owned(),
            "--tor-config".to_owned(),
            torrc.display().to_string(),
        ]);
        self
    }

    /// In hidden mode, the node's onion service also forwards its port 9 to `target`
    /// (`cairn run --bench-onion-target-for-tests`): a bare stream through the node's own
    /// onion circuit, for the hidden-mode benchmark.
    pub fn bench_onion_target(mut self, target: std::net::SocketAddr) -> Self {
        self.run_args.extend([
            "--bench-onion-target-for-tests".to_owned(),
            target.to_string(),
        ]);
        self
    }

    /// Takes the profile out of hidden mode (`cairn run --direct`), dialling loopback
    /// addresses again as every test node does.
    pub fn direct(mut self) -> Self {
        // `--tor-control ADDR`, `--hidden --tor-config FILE`: each flag with its value.
        let mut args = std::mem::take(&mut self.run_args).into_iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--tor-control" | "--tor-config" => {
                    args.next();
                }
                "--hidden" | "--private-addresses" => {}
                _ => self.run_args.push(a),
            }
        }
        self.run_args
            .extend(["--direct".to_owned(), "--private-addresses".to_owned()]);
        self
    }

    /// Runs the node inside the network namespace `ns` (see [`netns::Lan`]).
    pub fn in_netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.to_owned());
        self
    }

    /// LAN mode (`cairn run --lan`): mDNS discovery, local addresses dialled.
    pub fn lan(mut self) -> Self {
        self.run_args.retain(|a| a != "--private-addresses");
        self.run_args.push("--lan".to_owned());
        self
    }

    /// Listens on this address instead of a random loopback TCP port.
    pub fn listen_on(mut self, addr: &str) -> Self {
        self.listen = addr.to_owned();
        self
    }

    /// Starts `cairn run` and waits for `ready`.
    pub fn start(&self) -> Node {
        let mut c = self.command();
        c.args(["run", "--listen", &self.listen]);
        if let Some(r) = &self.relay {
            c.args(["--relay", r]);
        }
        c.args(&self.run_args);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn cairn run");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(_) => panic!("cairn printed a non-JSON line: {line}"),
                }
            }
        });
        let mut node = Node {
            name: self.name.clone(),
            profile: self.clone(),
            child: Some(child),
            stdin: Some(stdin),
            events: rx,
            seen: Vec::new(),
            peer_id: String::new(),
            addrs: Vec::new(),
        };
        let ready = node.expect("ready", |e| e["event"] == "ready");
        node.peer_id = ready["peer_id"].as_str().unwrap_or_default().to_owned();
        node.addrs = ready["addrs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        node
    }
}

/// A running `cairn run` process.
pub struct Node {
    /// Display name.
    pub name: String,
    /// Its profile.
    pub profile: Profile,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    events: Receiver<Value>,
    /// Every event seen so far, in order.
    pub seen: Vec<Value>,
    /// PeerId from `ready`.
    pub peer_id: String,
    /// Addresses from `ready`.
    pub addrs: Vec<String>,
}

impl Node {
    /// Resident memory of the node's process now, in bytes (Linux; None elsewhere).
    pub fn rss_bytes(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        rss_of(pid)
    }

    /// Sends one command line.
    pub fn cmd(&mut self, v: Value) {
        self.raw(&v.to_string());
    }

    /// Sends a raw line (for malformed-input tests).
    pub fn raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("node is running");
        writeln!(stdin, "{line}").expect("write to cairn");
        stdin.flush().expect("flush");
    }

    /// Waits for the first new event matching `pred`, up to [`TIMEOUT`].
    pub fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.expect_within(what, TIMEOUT, pred)
    }

    /// Waits for the first new event matching `pred`.
    pub fn expect_within(
        &mut self,
        what: &str,
        t: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + t;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: timed out waiting for {what}; recent events: {:?}",
                        self.name,
                        self.seen.iter().rev().take(8).collect::<Vec<_>>()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{}: process ended while waiting for {what}", self.name)
                }
            }
        }
    }

    /// Collects events for `t` without expecting anything.
    pub fn drain(&mut self, t: Duration) -> Vec<Value> {
        let end = Instant::now() + t;
        let mut out = Vec::new();
        while let Ok(v) = self
            .events
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push(v.clone());
            out.push(v);
        }
        out
    }

    /// Creates an invite and returns its code.
    pub fn invite(&mut self) -> String {
        self.cmd(json!({"cmd": "invite"}));
        let e = self.expect("invite", |e| e["event"] == "invite");
        e["code"].as_str().expect("code").to_owned()
    }

    /// Accepts `code`, naming the inviter `alias`.
    pub fn accept(&mut self, code: &str, alias: &str) {
        self.cmd(json!({"cmd": "accept", "code": code, "alias": alias}));
    }

    /// Sends `text` to `to`; returns the message id once queued.
    pub fn send(&mut self, to: &str, text: &str) -> String {
        self.cmd(json!({"cmd": "send", "to": to, "text": text}));
        let e = self.expect("queued", |e| {
            e["event"] == "queued" || e["event"] == "error"
        });
        assert_eq!(e["event"], "queued", "{}: send failed: {e}", self.name);
        e["id"].as_str().expect("id").to_owned()
    }

    /// Waits until a message with `text` from `from` is shown.
    pub fn sees_message(&mut self, from: &str, text: &str) -> Value {
        self.expect(&format!("message {text:?} from {from}"), |e| {
            e["event"] == "message" && e["from"] == from && e["text"] == text
        })
    }

    /// Waits for an event matching `pred`, also accepting one seen earlier.
    pub fn sees(&mut self, what: &str, pred: impl Fn(&Value) -> bool) {
        if !self.seen.iter().any(&pred) {
            self.expect(what, pred);
        }
    }

    /// Like [`Node::sees_message`], but also accepts a matching event seen earlier.
    pub fn sees_message_anywhere(&mut self, from: &str, text: &str) {
        let hit = |e: &Value| e["event"] == "message" && e["from"] == from && e["text"] == text;
        if !self.seen.iter().any(hit) {
            self.expect(&format!("message {text:?} from {from}"), hit);
        }
    }

    /// Like [`Node::sees_delivered`], but also accepts a matching event seen earlier.
    pub fn sees_delivered_anywhere(&mut self, id: &str) {
        let hit = |e: &Value| e["event"] == "delivered" && e["id"] == id;
        if !self.seen.iter().any(hit) {
            self.expect(&format!("delivered {id}"), hit);
        }
    }

    /// Waits until message `id` is delivered.
    pub fn sees_delivered(&mut self, id: &str) {
        self.sees_delivered_anywhere(id);
    }

    /// Waits until the session with `alias` is established.
    pub fn sees_session(&mut self, alias: &str) {
        self.expect(&format!("session with {alias}"), |e| {
            e["event"] == "session_established" && e["alias"] == alias
        });
    }

    /// Sends `quit` and waits for a clean exit.
    pub fn quit(mut self) {
        self.cmd(json!({"cmd": "quit"}));
        let mut child = self.child.take().expect("child");
        let status = wait_timeout(&mut child, Duration::from_secs(20));
        assert_eq!(status, Some(true), "{}: did not exit cleanly", self.name);
    }

    /// Waits for the node to stop by itself (after `mode_switched`, say), cleanly.
    pub fn exits(mut self) {
        let mut child = self.child.take().expect("child");
        let status = wait_timeout(&mut child, Duration::from_secs(30));
        assert_eq!(status, Some(true), "{}: did not exit cleanly", self.name);
    }

    /// Kills the process with SIGKILL (no chance to clean up).
    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A TCP port free on loopback right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_timeout(child: &mut Child, t: Duration) -> Option<bool> {
    let end = Instant::now() + t;
    while Instant::now() < end {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s.success());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// `inviter` invites, `acceptor` accepts naming the inviter by its name; both wait for
/// the session. The inviter names the acceptor by its display name.
pub fn connect(inviter: &mut Node, acceptor: &mut Node) {
    let code = inviter.invite();
    let alias = inviter.name.clone();
    acceptor.accept(&code, &alias);
    acceptor.sees_session(&alias);
    let name = acceptor.name.clone();
    inviter.sees_session(&name);
}

/// Every byte of every file under `dir`.
pub fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.extend(b);
            }
        }
    }
    out
}

/// True if `needle` appears in `hay` raw, as UTF-16 (LE/BE) or as hex.
pub fn contains_any_encoding(hay: &[u8], needle: &[u8]) -> bool {
    let utf16le: Vec<u8> = needle.iter().flat_map(|b| [*b, 0]).collect();
    let utf16be: Vec<u8> = needle.iter().flat_map(|b| [0, *b]).collect();
    let hex_l: String = needle.iter().map(|b| format!("{b:02x}")).collect();
    let hex_u = hex_l.to_uppercase();
    [
        needle.to_vec(),
        utf16le,
        utf16be,
        hex_l.into_bytes(),
        hex_u.into_bytes(),
    ]
    .iter()
    .any(|n| !n.is_empty() && hay.windows(n.len()).any(|w| w == n.as_slice()))
}

/// Resident memory of process `pid`, in bytes (from /proc; None if unavailable).
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}
