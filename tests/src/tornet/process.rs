//! The tor processes of a private network, their control connections, and waiting for
//! what a test needs of them (bootstrap, a full directory).

use super::*;

/// A tor process, killed when dropped.
pub(super) struct TorProcess {
    pub(super) name: String,
    pub(super) dir: PathBuf,
    pub(super) control: SocketAddr,
    pub(super) child: Child,
}

impl TorProcess {
    /// Writes `<dir>/torrc` and starts `tor -f` on it, its output to `<dir>/stdout.log`.
    pub(super) fn spawn(
        name: &str,
        dir: &Path,
        torrc: &str,
        control: SocketAddr,
    ) -> Result<Self, String> {
        let torrc_path = dir.join("torrc");
        std::fs::write(&torrc_path, torrc).map_err(at(&torrc_path))?;
        let stdout_path = dir.join("stdout.log");
        let stdout = std::fs::File::create(&stdout_path).map_err(at(&stdout_path))?;
        let stderr = stdout.try_clone().map_err(at(&stdout_path))?;
        let child = Command::new("tor")
            .args(["--defaults-torrc", "/dev/null", "-f"])
            .arg(&torrc_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting tor {name}: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            control,
            child,
        })
    }

    /// An error, with the log tail, if the process has exited.
    pub(super) fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(st)) => Err(format!("tor {} exited ({st}){}", self.name, self.tail())),
            Err(e) => Err(format!("tor {}: {e}", self.name)),
        }
    }

    /// The last lines of the process's `stdout.log` and `notice.log`, for an error.
    pub(super) fn tail(&self) -> String {
        let mut out = String::new();
        for log in ["stdout.log", "notice.log"] {
            let path = self.dir.join(log);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                continue;
            }
            let _ = write!(out, "\n--- tail of {} ---", path.display());
            for line in &lines[lines.len().saturating_sub(TAIL_LINES)..] {
                let _ = write!(out, "\n{line}");
            }
        }
        out
    }
}

impl Drop for TorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A control-port connection (control-spec.txt), authenticated with the cookie.
pub(super) struct Control {
    pub(super) reader: BufReader<TcpStream>,
    pub(super) writer: TcpStream,
    /// What came of a line before a read timed out.
    pub(super) partial: String,
}

impl Control {
    pub(super) fn connect(addr: SocketAddr, cookie_path: &Path) -> Result<Self, String> {
        let cookie = std::fs::read(cookie_path).map_err(at(cookie_path))?;
        let stream = TcpStream::connect_timeout(&addr, CONTROL_TIMEOUT)
            .map_err(|e| format!("control port {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(CONTROL_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(CONTROL_TIMEOUT)))
            .map_err(|e| format!("control port {addr}: {e}"))?;
        let writer = stream
            .try_clone()
            .map_err(|e| format!("control port {addr}: {e}"))?;
        let mut control = Self {
            reader: BufReader::new(stream),
            writer,
            partial: String::new(),
        };
        let mut hex = String::with_capacity(2 * cookie.len());
        for b in &cookie {
            let _ = write!(hex, "{b:02X}");
        }
        control.command(&format!("AUTHENTICATE {hex}"))?;
        Ok(control)
    }

    /// Sends `line`; returns the reply's lines without status (data lines included).
    pub(super) fn command(&mut self, line: &str) -> Result<Vec<String>, String> {
        if line.contains(['\r', '\n']) {
            return Err("a control command cannot contain a line break".into());
        }
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| format!("control port: {e}"))?;
        let mut lines = Vec::new();
        let mut ok = true;
        loop {
            let reply = self.read_line()?;
            if reply.len() < 4 || !reply.is_char_boundary(3) || !reply.is_char_boundary(4) {
                return Err(format!("malformed control reply {reply:?}"));
            }
            let (code, sep, rest) = (&reply[..3], &reply[3..4], &reply[4..]);
            if code.starts_with('6') {
                continue; // an asynchronous event
            }
            ok &= code == "250";
            lines.push(rest.to_owned());
            match sep {
                " " => break,
                "-" => {}
                "+" => loop {
                    let data = self.read_line()?;
                    if data == "." {
                        break;
                    }
                    let data = data.strip_prefix('.').unwrap_or(&data);
                    lines.push(data.to_owned());
                },
                _ => return Err(format!("malformed control reply {reply:?}")),
            }
        }
        // The verb only: an ADD_ONION line can hold a secret key, AUTHENTICATE the cookie.
        let verb = line.split(' ').next().unwrap_or_default();
        if ok {
            Ok(lines)
        } else {
            Err(format!("{verb}: {}", lines.join(" | ")))
        }
    }

    /// The next line, or `None` if the read timed out.
    pub(super) fn next_line(&mut self) -> Result<Option<String>, String> {
        match self.reader.read_line(&mut self.partial) {
            Ok(0) => Err("control port closed the connection".into()),
            Ok(_) => {
                let line = std::mem::take(&mut self.partial);
                Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(format!("control port: {e}")),
        }
    }

    pub(super) fn read_line(&mut self) -> Result<String, String> {
        self.next_line()?
            .ok_or_else(|| format!("control port: no answer within {CONTROL_TIMEOUT:?}"))
    }
}

/// The control command for a tor's bootstrap progress, and the check that it is done.
pub(super) const BOOTSTRAP: &str = "GETINFO status/bootstrap-phase";
pub(super) fn bootstrapped(lines: &[String]) -> Result<(), String> {
    let phase = lines.join(" ");
    let done = phase.split_whitespace().any(|w| w == "PROGRESS=100");
    done.then_some(()).ok_or(phase)
}

/// `Ok` if the consensus in `lines` (`GETINFO ns/all`) lists `want` relays, Running with
/// the HSDir flag; otherwise how many it lists.
pub(super) fn listed(lines: &[String], want: usize) -> Result<(), String> {
    let flags = |l: &&String| l.starts_with("s ") && l.contains(" Running");
    let ready = lines.iter().filter(flags).filter(|l| l.contains(" HSDir"));
    let ready = ready.count();
    (ready >= want)
        .then_some(())
        .ok_or(format!("{ready} relays listed"))
}

/// Waits until `processes[target]` has a consensus that lists every relay in `nicks`,
/// Running with the HSDir flag, and the microdescriptor of each; returns the connection.
pub(super) fn wait_for_directory(
    processes: &mut [TorProcess],
    target: usize,
    nicks: &[String],
    timeout: Duration,
) -> Result<Control, String> {
    let name = processes[target].name.clone();
    let what = format!("{name} did not learn all {} relays", nicks.len());
    let check = |lines: &[String]| listed(lines, nicks.len());
    let control = wait_for(&what, timeout, processes, target, "GETINFO ns/all", check)?;
    drop(control);
    // `md/name/<nick>` answers with the relay's microdescriptor, empty while it has none.
    let command: String = nicks.iter().map(|n| format!(" md/name/{n}")).collect();
    let check = |lines: &[String]| {
        let have = lines
            .iter()
            .filter(|l| l.starts_with("ntor-onion-key "))
            .count();
        (have >= nicks.len())
            .then_some(())
            .ok_or(format!("{have} of {} microdescriptors", nicks.len()))
    };
    wait_for(
        &what,
        timeout,
        processes,
        target,
        &format!("GETINFO{command}"),
        check,
    )
}

/// Sends `command` to the control port of `processes[target]` every half second until
/// `check` takes the reply (`Err` says how far it got), then returns the connection.
/// Fails, with the log tails of `processes`, if one exits or at `timeout`.
pub(super) fn wait_for(
    what: &str,
    timeout: Duration,
    processes: &mut [TorProcess],
    target: usize,
    command: &str,
    check: impl Fn(&[String]) -> Result<(), String>,
) -> Result<Control, String> {
    let deadline = Instant::now() + timeout;
    let addr = processes[target].control;
    let cookie = processes[target].dir.join("control_auth_cookie");
    let mut last = String::from("no answer yet");
    let mut control: Option<Control> = None;
    loop {
        for process in processes.iter_mut() {
            process.check_running()?;
        }
        if control.is_none() {
            match Control::connect(addr, &cookie) {
                Ok(c) => control = Some(c),
                Err(e) => last = e,
            }
        }
        if let Some(mut c) = control.take() {
            match c.command(command).map(|lines| check(&lines)) {
                Ok(Ok(())) => return Ok(c),
                Ok(Err(progress)) => (last, control) = (progress, Some(c)),
                Err(e) => last = e, // a new connection next time
            }
        }
        if Instant::now() >= deadline {
            let mut msg = format!("{what} within {timeout:?} ({last})");
            for process in processes.iter() {
                msg += &process.tail();
            }
            return Err(msg);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
