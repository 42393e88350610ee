//! A tor of the node's own for hidden mode (`cairn run --hidden`), started from the system's
//! `tor` binary (Debian's `tor` package) with its data directory in the profile's, so the
//! user configures nothing: a SOCKS port and a control port on loopback, chosen by tor
//! (`auto`) and read back from the file tor writes, cookie authentication, and tor bound to
//! this process (`__OwningControllerProcess`: it exits when the node does, however the node
//! ends). Extra torrc lines (`--tor-config`) are appended: bridges, or a private test
//! network's `DirAuthority` lines.
//!
//! What it writes to disk is tor's own state (consensus cache, guards) in `<profile>/tor`,
//! unencrypted as tor keeps it; the onion key never is (the node adds it over the control
//! port, from the profile's sealed seed). Panic wipe removes the directory with the profile.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the node waits for its tor to bootstrap.
pub const BOOTSTRAP_DEADLINE: Duration = Duration::from_secs(300);

/// A running tor of the node's, killed when dropped.
pub struct OwnTor {
    child: Child,
    control: SocketAddr,
    dir: PathBuf,
}

impl std::fmt::Debug for OwnTor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnTor")
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl OwnTor {
    /// Starts tor with its data in `dir` (made if missing: a profile's is
    /// `ProfilePaths::tor_dir`, which panic wipe removes; a relay's `<data>/tor`) and
    /// `extra` torrc lines, and waits until it has bootstrapped (at most
    /// [`BOOTSTRAP_DEADLINE`]).
    pub fn start(dir: &std::path::Path, extra: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Tor refuses a data directory others can read.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let port_file = dir.join("control-port");
        let _ = std::fs::remove_file(&port_file);
        let torrc = format!(
            "DataDirectory {data}\n\
             SocksPort 127.0.0.1:auto\n\
             ControlPort 127.0.0.1:auto\n\
             ControlPortWriteToFile {port}\n\
             CookieAuthentication 1\n\
             ClientOnly 1\n\
             AvoidDiskWrites 1\n\
             Log notice file {log}\n\
             __OwningControllerProcess {pid}\n\
             {extra}\n",
            data = dir.display(),
            port = port_file.display(),
            log = dir.join("notice.log").display(),
            pid = std::process::id(),
        );
        let torrc_path = dir.join("torrc");
        std::fs::write(&torrc_path, torrc).map_err(|e| format!("{}: {e}", torrc_path.display()))?;
        let child = Command::new("tor")
            .args(["--defaults-torrc", "/dev/null", "-f"])
            .arg(&torrc_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "hidden mode needs tor (Debian: apt install tor), and it did not start: {e}"
                )
            })?;
        let mut tor = Self {
            child,
            control: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + BOOTSTRAP_DEADLINE;
        tor.control = loop {
            tor.check_running()?;
            let text = std::fs::read_to_string(&port_file).unwrap_or_default();
            if let Some(addr) = text
                .lines()
                .find_map(|l| l.strip_prefix("PORT="))
                .and_then(|a| a.trim().parse().ok())
            {
                break addr;
            }
            if Instant::now() > deadline {
                return Err(tor.failure("no control port"));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut control = super::tor_control::TorControl::connect(tor.control)
            .map_err(|e| tor.failure(&e.to_string()))?;
        loop {
            tor.check_running()?;
            let phase = control
                .getinfo("status/bootstrap-phase")
                .map_err(|e| tor.failure(&e.to_string()))?;
            if phase.contains("PROGRESS=100") {
                return Ok(tor);
            }
            if Instant::now() > deadline {
                return Err(tor.failure(&format!("not bootstrapped: {phase}")));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Its control port (cookie authentication).
    pub fn control_addr(&self) -> SocketAddr {
        self.control
    }

    fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.failure(&format!("tor exited ({status})"))),
            Err(e) => Err(format!("tor: {e}")),
        }
    }

    /// `why`, with the last lines of tor's log.
    fn failure(&self, why: &str) -> String {
        let log = std::fs::read_to_string(self.dir.join("notice.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines
            .get(lines.len().saturating_sub(5)..)
            .unwrap_or_default()
            .join("\n  ");
        format!("hidden mode: {why}; tor's log ends:\n  {tail}")
    }
}

impl Drop for OwnTor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
