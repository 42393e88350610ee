//! The I/O edge of the TUI: the terminal, the node, the clock. One loop selects on
//! terminal input, node events, background work (key derivation) and a tick, feeds
//! [`Action`]s to [`update`] and carries out the [`Effect`]s. Nothing here blocks: the
//! KDF runs on `spawn_blocking`, the node on its own tokio task.

use crate::app::{update, Action, App, Effect, Retry, Screen, SetupForm, UnlockForm};
use crate::config::Settings;
use cairn_node::api::tor::OwnTor;
use cairn_node::api::{Command, Event};
use cairn_node::api::{KdfParams, OpenError, OpenOptions, Passphrase, ProfilePaths};
use cairn_node::api::{NodeConfig, NodeHandle};
use cairn_node::api::{Profile, ProfileError};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self as cevent, DisableBracketedPaste, DisableFocusChange, EnableBracketedPaste,
    EnableFocusChange, Event as TermEvent,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// UI clock.
pub const TICK: Duration = Duration::from_secs(1);
/// How long to wait for the node to stop on quit.
pub const QUIT_GRACE: Duration = Duration::from_secs(5);

/// How the TUI starts.
pub enum Start {
    /// A profile on disk (created on first run).
    Profile {
        /// Where.
        paths: ProfilePaths,
        /// Passphrase from a file (skips the prompt).
        passphrase: Option<zeroize::Zeroizing<String>>,
    },
    /// `cairn demo`: two temporary profiles, one of them an echo bot.
    Demo,
}

/// Everything the runner needs.
pub struct Launch {
    /// Profile or demo.
    pub start: Start,
    /// Node configuration.
    pub node: NodeConfig,
    /// Put the profile in hidden mode (true) or take it out, when it opens.
    pub mode: Option<bool>,
    /// Extra torrc lines for hidden mode's tor.
    pub tor_config: String,
    /// KDF for new profiles and open options (fast only for tests).
    pub kdf: (KdfParams, OpenOptions),
    /// Settings and bindings.
    pub settings: Settings,
    /// Local time zone offset in seconds.
    pub utc_offset_secs: i32,
    /// Benchmarks only: leave right after the first frame is drawn.
    pub exit_after_first_frame: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Restores the terminal: leaves raw mode and the alternate screen. Safe to call twice.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableFocusChange,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn setup_terminal() -> Result<(Terminal<CrosstermBackend<std::io::Stdout>>, TerminalGuard), String>
{
    // A panic anywhere restores the terminal before the message is printed.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode().map_err(|e| format!("cannot use this terminal: {e}"))?;
    let guard = TerminalGuard;
    execute!(
        std::io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        EnableFocusChange
    )
    .map_err(|e| e.to_string())?;
    let terminal =
        Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(|e| e.to_string())?;
    Ok((terminal, guard))
}

fn spawn_input_thread(tx: mpsc::UnboundedSender<Action>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match cevent::poll(Duration::from_millis(50)) {
                Ok(true) => {
                    let action = match cevent::read() {
                        Ok(TermEvent::Key(k)) => Action::Key(k),
                        Ok(TermEvent::Paste(p)) => Action::Paste(p),
                        Ok(TermEvent::Resize(w, h)) => Action::Resize(w, h),
                        Ok(TermEvent::FocusGained) => Action::Focus(true),
                        Ok(TermEvent::FocusLost) => Action::Focus(false),
                        Ok(_) => continue,
                        Err(_) => break,
                    };
                    if tx.send(action).is_err() {
                        break;
                    }
                }
                Ok(false) => {}
                Err(_) => break,
            }
        }
    });
}

/// Results of background work.
enum Internal {
    Opened(Result<(Profile, Passphrase), (bool, String)>),
    Demo(Result<(Profile, DemoParts), String>),
    /// Hidden mode's tor started (or not), for this profile's node.
    Tor(Result<OwnTor, String>, Box<(Profile, Passphrase)>),
}

/// The running demo: the echo node and the temporary directory.
pub struct DemoParts {
    /// Passphrase of the user's temporary profile.
    pub passphrase: Passphrase,
    /// The echo node.
    pub echo: NodeHandle,
    /// The echo task.
    pub echo_task: JoinHandle<()>,
    /// The invite code of the echo node.
    pub invite: String,
    /// Temporary profiles; removed when dropped.
    pub dir: tempfile::TempDir,
}

enum NodeSignal {
    Event(Option<Event>),
    Ended(Result<(), tokio::task::JoinError>),
}

struct RunningNode {
    handle: NodeHandle,
    events: mpsc::UnboundedReceiver<Event>,
    events_open: bool,
    task: JoinHandle<()>,
}

struct Runner {
    app: App,
    node: Option<RunningNode>,
    paths: Option<ProfilePaths>,
    passphrase: Option<Passphrase>,
    config: NodeConfig,
    kdf: (KdfParams, OpenOptions),
    internal: mpsc::UnboundedSender<Internal>,
    restart: Option<bool>,
    quit_deadline: Option<Instant>,
    demo: Option<DemoParts>,
    /// Hidden mode's tor, while the profile is in hidden mode.
    tor: Option<OwnTor>,
    /// Extra torrc lines for it (`--tor-config`).
    tor_config: String,
    /// That tor is starting (a second start waits for it).
    tor_starting: bool,
    /// The mode to store when the profile opens (`--hidden`, `--direct`).
    mode: Option<bool>,
    /// After start, accept this invite (the demo connects to its echo node).
    accept_after_start: Option<(String, String)>,
    out: Vec<u8>,
}

fn open_error(e: ProfileError) -> (bool, String) {
    match e {
        ProfileError::Open(OpenError::WrongPassphrase) => (true, "wrong passphrase".into()),
        ProfileError::Open(OpenError::InUse(_)) => (
            false,
            "This profile is open in another Cairn. Close it there, then try again.".into(),
        ),
        other => (false, other.to_string()),
    }
}

impl Runner {
    fn apply(&mut self, action: Action) {
        let effects = update(&mut self.app, action);
        for e in effects {
            self.effect(e);
        }
    }

    fn send(&self, cmd: Command) {
        if let Some(n) = &self.node {
            n.handle.send(cmd);
        }
    }

    fn effect(&mut self, e: Effect) {
        match e {
            Effect::Node(cmd) => self.send(cmd),
            Effect::Open(pass) => {
                let Some(paths) = self.paths.clone() else {
                    return;
                };
                let opts = self.kdf.1.clone();
                let tx = self.internal.clone();
                let pass = Passphrase::new(pass.as_str());
                tokio::task::spawn_blocking(move || {
                    let r = Profile::open(&paths, &pass, &opts)
                        .map(|p| (p, pass))
                        .map_err(open_error);
                    let _ = tx.send(Internal::Opened(r));
                });
            }
            Effect::Create {
                name,
                passphrase,
                hidden,
            } => {
                let Some(paths) = self.paths.clone() else {
                    return;
                };
                let (kdf, opts) = self.kdf.clone();
                let tx = self.internal.clone();
                let pass = Passphrase::new(passphrase.as_str());
                tokio::task::spawn_blocking(move || {
                    let r = Profile::create(&paths, &pass, &name, kdf, &opts)
                        .map_err(open_error)
                        .and_then(|p| {
                            cairn_node::api::mode::store_hidden(&p, hidden)
                                .map_err(|e| (false, e))?;
                            Ok((p, pass))
                        });
                    let _ = tx.send(Internal::Opened(r));
                });
            }
            Effect::RestartNode { lan } => {
                self.config.lan = lan;
                self.restart = Some(lan);
                if self.node.is_some() {
                    self.send(Command::Quit);
                } else {
                    self.reopen();
                }
            }
            Effect::ListDir(dir) => {
                let names = list_dir(&dir);
                self.apply(Action::Listing { dir, names });
            }
            Effect::Bell => self.out.extend_from_slice(b"\x07"),
            Effect::Copy(text) => {
                let b64 = data_encoding::BASE64.encode(text.as_bytes());
                self.out
                    .extend_from_slice(format!("\x1b]52;c;{b64}\x07").as_bytes());
            }
            Effect::Quit => {
                self.quit_deadline = Some(Instant::now() + QUIT_GRACE);
                self.send(Command::Quit);
                if let Some(d) = &self.demo {
                    d.echo.send(Command::Quit);
                }
            }
        }
    }

    /// Opens the profile again with the passphrase kept from unlock (LAN toggle).
    fn reopen(&mut self) {
        let (Some(paths), Some(pass)) = (self.paths.clone(), self.passphrase.clone()) else {
            self.apply(Action::NodeStopped {
                error: Some("cannot restart without the passphrase".into()),
            });
            return;
        };
        let opts = self.kdf.1.clone();
        let tx = self.internal.clone();
        tokio::task::spawn_blocking(move || {
            let r = Profile::open(&paths, &pass, &opts)
                .map(|p| (p, pass))
                .map_err(open_error);
            let _ = tx.send(Internal::Opened(r));
        });
    }

    fn start_node(&mut self, profile: Profile, pass: Passphrase) {
        if let Some(hidden) = self.mode.take() {
            if let Err(e) = cairn_node::api::mode::store_hidden(&profile, hidden) {
                return self.apply(Action::NodeStopped { error: Some(e) });
            }
        }
        // The profile's mode: in hidden mode, its own tor first (the demo is never hidden).
        // A mode that cannot be read does not start the node: direct would reveal where a
        // hidden user is.
        let hidden = match cairn_node::api::mode::stored_hidden(&profile) {
            Ok(h) => h && self.demo.is_none(),
            Err(e) => return self.apply(Action::NodeStopped { error: Some(e) }),
        };
        if !hidden {
            self.tor = None;
        } else if self.tor.is_none() {
            if self.tor_starting {
                return; // the tor on its way starts this node
            }
            self.tor_starting = true;
            self.apply(Action::Starting(
                "Starting Tor for hidden mode… this can take a minute".into(),
            ));
            let dir = profile.store.paths().tor_dir();
            let extra = self.tor_config.clone();
            let tx = self.internal.clone();
            tokio::task::spawn_blocking(move || {
                let r = OwnTor::start(&dir, &extra);
                let _ = tx.send(Internal::Tor(r, Box::new((profile, pass))));
            });
            return;
        }
        self.config.hidden = self.tor.as_ref().map(OwnTor::control_addr);
        self.paths = Some(profile.store.paths().clone());
        self.passphrase = Some(pass);
        let name = profile.display_name.clone();
        let label = if self.demo.is_some() {
            format!("{name} (demo)")
        } else {
            name
        };
        match cairn_node::api::start_node(profile, self.config.clone()) {
            Ok((handle, events, task)) => {
                self.node = Some(RunningNode {
                    handle,
                    events,
                    events_open: true,
                    task,
                });
                self.restart = None;
                self.apply(Action::NodeStarted {
                    profile: label,
                    lan: self.config.lan,
                    relay: self.config.relay.is_some(),
                    hidden,
                });
            }
            Err(e) => {
                self.restart = None;
                self.apply(Action::NodeStopped { error: Some(e) });
            }
        }
    }

    fn internal(&mut self, msg: Internal) {
        match msg {
            Internal::Opened(Ok((profile, pass))) => self.start_node(profile, pass),
            Internal::Opened(Err((wrong, message))) => {
                if self.restart.is_some() {
                    self.restart = None;
                    return self.apply(Action::NodeStopped {
                        error: Some(message),
                    });
                }
                self.apply(Action::OpenFailed {
                    wrong_passphrase: wrong,
                    message,
                })
            }
            Internal::Demo(Ok((profile, parts))) => {
                // The demo's throwaway profiles use the fast test KDF (see demo.rs); a
                // restart (LAN toggle) must be able to open them again.
                self.kdf = (
                    KdfParams::insecure_fast_for_tests(),
                    OpenOptions::new().allow_insecure_kdf_for_tests(),
                );
                let pass = parts.passphrase.clone();
                self.accept_after_start = Some((parts.invite.clone(), "Echo".into()));
                self.demo = Some(parts);
                self.start_node(profile, pass);
            }
            Internal::Demo(Err(e)) => self.apply(Action::NodeStopped { error: Some(e) }),
            Internal::Tor(Ok(tor), opened) => {
                self.tor_starting = false;
                self.tor = Some(tor);
                let (profile, pass) = *opened;
                self.start_node(profile, pass);
            }
            Internal::Tor(Err(e), _) => {
                self.tor_starting = false;
                self.restart = None;
                self.apply(Action::NodeStopped {
                    error: Some(format!(
                        "hidden mode needs tor, and it did not start ({e}); install tor, or \
                         leave hidden mode: start Cairn once with `cairn --direct`"
                    )),
                });
            }
        }
    }
}

/// Runs the TUI until the user quits.
pub fn run(launch: Launch) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = rt.block_on(run_async(launch));
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn run_async(launch: Launch) -> Result<(), String> {
    let (paths, file_pass, demo) = match launch.start {
        Start::Profile { paths, passphrase } => (Some(paths), passphrase, false),
        Start::Demo => (None, None, true),
    };
    let screen = if demo {
        Screen::Busy {
            text: "Starting the demo: two temporary profiles on this computer…".into(),
            retry: Retry::Unlock,
        }
    } else {
        let p = paths.as_ref().ok_or("no profile path")?;
        let exists = p.key_file().exists() && !p.creating_marker().exists();
        match (exists, &file_pass) {
            (false, _) => Screen::Setup(SetupForm::default()),
            (true, Some(_)) => Screen::Busy {
                text: "Unlocking… deriving the key from your passphrase".into(),
                retry: Retry::Unlock,
            },
            (true, None) => Screen::Unlock(UnlockForm::default()),
        }
    };
    let (mut terminal, _guard) = setup_terminal()?;
    let size = terminal.size().map_err(|e| e.to_string())?;
    let mut app = App::new(screen, launch.settings, (size.width, size.height));
    app.utc_offset_secs = launch.utc_offset_secs;
    app.now_ms = now_ms();
    let (internal_tx, mut internal_rx) = mpsc::unbounded_channel();
    let mut runner = Runner {
        app,
        node: None,
        paths,
        passphrase: None,
        config: launch.node,
        kdf: launch.kdf,
        internal: internal_tx,
        restart: None,
        quit_deadline: None,
        demo: None,
        tor: None,
        tor_starting: false,
        tor_config: launch.tor_config,
        mode: launch.mode,
        accept_after_start: None,
        out: Vec::new(),
    };
    if let Some(pass) = file_pass {
        if matches!(runner.app.screen, Screen::Busy { .. }) {
            runner.effect(Effect::Open(pass));
        }
    }
    if demo {
        let tx = runner.internal.clone();
        tokio::spawn(async move {
            let r = crate::demo::prepare().await;
            let _ = tx.send(Internal::Demo(r));
        });
    }
    terminal
        .draw(|f| crate::view::draw(f, &runner.app))
        .map_err(|e| e.to_string())?;
    if launch.exit_after_first_frame {
        return Ok(());
    }

    let (input_tx, mut input_rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    spawn_input_thread(input_tx, stop.clone());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| e.to_string())?;
    let mut outcome = Ok(());
    loop {
        tokio::select! {
            a = input_rx.recv() => match a {
                Some(a) => runner.apply(a),
                // The terminal's input is gone: quit cleanly, whatever the key bindings.
                None => runner.apply(Action::Terminate),
            },
            Some(m) = internal_rx.recv() => runner.internal(m),
            sig = async {
                match runner.node.as_mut() {
                    Some(n) if n.events_open => tokio::select! {
                        ev = n.events.recv() => NodeSignal::Event(ev),
                        res = &mut n.task => NodeSignal::Ended(res),
                    },
                    Some(n) => NodeSignal::Ended((&mut n.task).await),
                    None => std::future::pending().await,
                }
            } => match sig {
                NodeSignal::Event(Some(Event::Stopped)) => {}
                NodeSignal::Event(Some(ev)) => {
                    let started = matches!(ev, Event::Ready { .. });
                    runner.apply(Action::Node(ev));
                    if started {
                        if let Some((code, alias)) = runner.accept_after_start.take() {
                            runner.send(Command::Accept { code, alias: alias.into() });
                        }
                    }
                }
                NodeSignal::Event(None) => {
                    if let Some(n) = runner.node.as_mut() {
                        n.events_open = false;
                    }
                }
                NodeSignal::Ended(res) => {
                    // Deliver what the node said before it stopped (e.g. `wiped`).
                    if let Some(mut n) = runner.node.take() {
                        while let Ok(ev) = n.events.try_recv() {
                            if ev != Event::Stopped {
                                runner.apply(Action::Node(ev));
                            }
                        }
                    }
                    let error = res.err().map(|e| if e.is_panic() {
                        "the node crashed".to_owned()
                    } else {
                        "the node was cancelled".to_owned()
                    });
                    if runner.quit_deadline.is_some() {
                        // Quitting: done once the node is down.
                    } else if runner.restart.is_some() && error.is_none() {
                        runner.reopen();
                    } else {
                        runner.apply(Action::NodeStopped { error });
                    }
                }
            },
            _ = tick.tick() => runner.apply(Action::Tick(now_ms())),
            _ = term.recv() => runner.apply(Action::Terminate),
            _ = hup.recv() => runner.apply(Action::Terminate),
        }
        // Drain whatever else is ready before drawing once.
        while let Ok(a) = input_rx.try_recv() {
            runner.apply(a);
        }
        if let Some(deadline) = runner.quit_deadline {
            if runner.node.is_none() || Instant::now() >= deadline {
                break;
            }
        }
        if !runner.out.is_empty() {
            let out = std::mem::take(&mut runner.out);
            let backend = terminal.backend_mut();
            let _ = backend.write_all(&out);
            let _ = backend.flush();
        }
        if let Err(e) = terminal.draw(|f| crate::view::draw(f, &runner.app)) {
            outcome = Err(e.to_string());
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(demo) = runner.demo.take() {
        demo.echo.send(Command::Quit);
        let _ = tokio::time::timeout(QUIT_GRACE, demo.echo_task).await;
        drop(demo.dir);
    }
    if let Some(n) = runner.node.take() {
        n.handle.send(Command::Quit);
        let _ = tokio::time::timeout(QUIT_GRACE, n.task).await;
    }
    outcome
}

/// The entries of `dir` (a path as typed: `~/` is the home directory), directories with a
/// `/`, sorted; none if it cannot be read. For completing a path in the attach dialog.
fn list_dir(dir: &str) -> Vec<String> {
    let path = match dir.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(h) => std::path::PathBuf::from(h).join(rest),
            None => std::path::PathBuf::from(dir),
        },
        None => std::path::PathBuf::from(dir),
    };
    let mut names: Vec<String> = std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .take(10_000)
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let dir = e.file_type().ok()?.is_dir();
                    Some(if dir { format!("{name}/") } else { name })
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
