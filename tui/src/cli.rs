//! Command-line definitions and dispatch.

use cairn_node::api::Profile;
use cairn_node::api::{KdfParams, OpenOptions, Passphrase, ProfilePaths};
use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

/// Cairn: peer-to-peer, end-to-end encrypted messaging.
///
/// With no command, opens the terminal UI for the profile (created on first run).
/// `cairn demo` shows Cairn working with a temporary profile and an echo bot.
#[derive(Parser, Debug)]
#[command(name = "cairn", version, about, long_about)]
pub struct Cli {
    /// Profile directory (default: the XDG data directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// Read the passphrase from this file instead of prompting.
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// TESTS ONLY: create/open profiles with a weak, fast key derivation. Never use
    /// this for a real profile: it makes the passphrase easy to guess from a copy of
    /// the key file. Exists only in builds with the `test-hooks` feature (the
    /// end-to-end tests' build); a release build has no such flag.
    #[cfg(feature = "test-hooks")]
    #[arg(long, global = true, hide = true)]
    pub insecure_fast_kdf_for_tests: bool,
    /// Terminal UI config file (default: config.toml in the XDG config directory).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Terminal UI: listen address (repeatable; default TCP and QUIC on all interfaces).
    #[arg(long = "listen", value_name = "MULTIADDR")]
    pub tui_listen: Vec<String>,
    /// Terminal UI: relay to reserve a circuit at and use as mailbox (…/p2p/PEERID).
    #[arg(long = "relay", value_name = "MULTIADDR")]
    pub tui_relay: Option<String>,
    /// Terminal UI: start with LAN mode on (mDNS broadcasts your PeerId on the LAN).
    #[arg(long = "lan")]
    pub tui_lan: bool,
    /// Terminal UI: dial loopback, private and link-local addresses that contacts give,
    /// without mDNS (a closed network or VPN; implied by --lan).
    #[arg(long = "private-addresses")]
    pub tui_private_addresses: bool,
    /// Terminal UI: put the profile in hidden mode (every connection through a tor of its
    /// own) from now on; the profile keeps it. `/hidden` in the TUI does the same and tells
    /// your contacts.
    #[arg(long = "hidden", conflicts_with = "tui_direct")]
    pub tui_hidden: bool,
    /// Terminal UI: take the profile out of hidden mode from now on.
    #[arg(long = "direct")]
    pub tui_direct: bool,
    /// Terminal UI: extra torrc lines for hidden mode's tor (bridges), from this file.
    #[arg(long = "tor-config", value_name = "FILE")]
    pub tui_tor_config: Option<std::path::PathBuf>,
    /// BENCHMARKS ONLY: leave right after the first frame is drawn.
    #[arg(long, hide = true)]
    pub bench_exit_after_first_frame: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// How the node meets the network (`run` and `exposure`).
#[derive(clap::Args, Debug)]
pub struct NetFlags {
    /// Listen address (repeatable), e.g. /ip4/0.0.0.0/tcp/4001.
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Relay to reserve a circuit at and use as mailbox (…/p2p/PEERID).
    #[arg(long, value_name = "MULTIADDR")]
    pub relay: Option<String>,
    /// Discover and be discovered on the LAN with mDNS (broadcasts your PeerId).
    #[arg(long)]
    pub lan: bool,
    /// Dial loopback, private and link-local addresses that contacts give, and put your own
    /// in your card and invites, without mDNS (a closed network, a VPN, several nodes on
    /// one machine; implied by --lan).
    #[arg(long)]
    pub private_addresses: bool,
    /// Hidden mode (Tor).
    #[command(flatten)]
    pub tor: TorFlags,
}

/// Hidden mode's flags (`run`, `exposure`, `relay`).
#[derive(clap::Args, Debug)]
pub struct TorFlags {
    /// Hidden mode: every connection through the Tor whose control port is here (e.g.
    /// 127.0.0.1:9051, cookie authentication); others get only an onion address.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "hidden")]
    pub tor_control: Option<String>,
    /// Hidden mode with a tor of its own (the system's `tor` binary, its data in the
    /// profile's, or the relay's, `tor` directory); others get only an onion address. A
    /// profile keeps the mode: later runs are hidden without the flag.
    #[arg(long)]
    pub hidden: bool,
    /// Leave hidden mode: the profile runs direct from now on (contacts are not told your
    /// new addresses: `switch_mode` on a running node does that).
    #[arg(long, conflicts_with_all = ["hidden", "tor_control"])]
    pub direct: bool,
    /// Extra torrc lines for that tor (bridges; a private test network's DirAuthority
    /// lines), from this file.
    #[arg(long, value_name = "FILE", requires = "hidden")]
    pub tor_config: Option<std::path::PathBuf>,
}

/// A tor of the node's own, alive as long as this is.
type TorGuard = Option<cairn_node::api::tor::OwnTor>;

impl TorFlags {
    /// Hidden mode asked for: `--hidden` or `--tor-control`; `--direct` says no; neither
    /// leaves it to `kept` (a profile's stored mode).
    pub fn hidden(&self, kept: bool) -> bool {
        (kept && !self.direct) || self.hidden || self.tor_control.is_some()
    }

    /// In hidden mode (`hidden`), the control port of the tor to hide behind:
    /// `--tor-control`'s, or that of a tor started now with its data in `tor_dir`, which
    /// lives as long as the guard returned.
    pub fn control(
        &self,
        tor_dir: &std::path::Path,
        hidden: bool,
    ) -> Result<(Option<std::net::SocketAddr>, TorGuard), String> {
        if let Some(a) = &self.tor_control {
            let addr = a
                .parse()
                .map_err(|e| format!("bad --tor-control {a}: {e}"))?;
            return Ok((Some(addr), None));
        }
        if !hidden {
            return Ok((None, None));
        }
        let extra = match &self.tor_config {
            Some(f) => std::fs::read_to_string(f)
                .map_err(|e| format!("--tor-config {}: {e}", f.display()))?,
            None => String::new(),
        };
        eprintln!("cairn: starting tor for hidden mode (this can take a minute)");
        let tor = cairn_node::api::tor::OwnTor::start(tor_dir, &extra)?;
        Ok((Some(tor.control_addr()), Some(tor)))
    }
}

impl NetFlags {
    /// The node's configuration with these flags.
    fn config(
        &self,
        resend_after: std::time::Duration,
        stranger_idle: std::time::Duration,
    ) -> Result<cairn_node::api::NodeConfig, String> {
        Ok(cairn_node::api::NodeConfig {
            listen: parse_addrs(&self.listen, "--listen")?,
            relay: self
                .relay
                .as_ref()
                .map(|a| a.parse().map_err(|e| format!("bad --relay {a}: {e}")))
                .transpose()?,
            lan: self.lan,
            private_addresses: self.private_addresses,
            resend_after,
            stranger_idle,
            hidden: None,
            bench_onion_target: None,
        })
    }
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a new profile.
    Init {
        /// Your display name, shown to contacts.
        #[arg(long)]
        name: String,
        /// Start in hidden mode: every connection through Tor (slower; nobody you talk to,
        /// nor anyone holding your invite, learns where you are). Without it the profile
        /// is direct (faster; contacts and your relay learn your IP address). Either can
        /// be changed later.
        #[arg(long)]
        hidden: bool,
    },
    /// Run the node headless: JSON commands on stdin, JSON events on stdout.
    Run {
        #[command(flatten)]
        net: NetFlags,
        /// Seconds to wait for a delivery receipt after a hop (the contact or its mailbox)
        /// took a message, before sending it again, encrypted anew; times the number of
        /// hops that took it.
        #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
        resend_after: u64,
        /// Seconds a connection from someone who is not a contact may stay open (enough to
        /// answer an invite; idle strangers otherwise hold connection slots).
        #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
        stranger_idle: u64,
        /// TESTS ONLY: in hidden mode the onion service also forwards its port 9 here (the
        /// hidden-mode benchmark's bare stream, through the node's own onion circuit).
        /// Exists only in builds with the `test-hooks` feature.
        #[cfg(feature = "test-hooks")]
        #[arg(long, hide = true, value_name = "HOST:PORT")]
        bench_onion_target_for_tests: Option<std::net::SocketAddr>,
    },
    /// Who can learn what about you now, and the one change that would reduce each.
    ///
    /// A network observer, a LAN neighbour, your relay, each contact, someone holding an
    /// old invite, a device thief: computed from this profile and the settings given (the
    /// same flags as `run`). Starts the node briefly (it goes online).
    Exposure {
        #[command(flatten)]
        net: NetFlags,
        /// Print the `exposure` event (JSON) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a relay and mailbox for others. With --passphrase-file, the mailbox's key is
    /// wrapped under that passphrase (Argon2id) like a profile's key file.
    Relay {
        /// Listen address (repeatable).
        #[arg(long, value_name = "MULTIADDR", required = true)]
        listen: Vec<String>,
        /// Data directory for the mailbox.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Hidden mode: the relay is an onion service (listen on loopback only).
        #[command(flatten)]
        tor: TorFlags,
        /// TESTS ONLY: accept mail deposits and throw them away (a hostile or broken
        /// mailbox). Exists only in builds with the `test-hooks` feature.
        #[cfg(feature = "test-hooks")]
        #[arg(long, hide = true)]
        discard_mail_for_tests: bool,
    },
    /// Try Cairn: a temporary profile talking to a local echo bot (deleted on exit).
    Demo {
        /// Terminal UI config file (default: config.toml in the XDG config directory).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

impl Cli {
    /// True if this invocation opens the terminal UI.
    pub fn is_tui(&self) -> bool {
        matches!(self.command, None | Some(Cmd::Demo { .. }))
    }
}

/// Writes to stdout; a closed pipe (`cairn man | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(()),
    }
}

fn parse_addrs(list: &[String], flag: &str) -> Result<Vec<cairn_node::api::Multiaddr>, String> {
    list.iter()
        .map(|a| a.parse().map_err(|e| format!("bad {flag} {a}: {e}")))
        .collect()
}

fn settings(cli: &Cli) -> crate::config::Settings {
    let given = match &cli.command {
        Some(Cmd::Demo { config }) => config.clone(),
        _ => cli.config.clone(),
    };
    let path = given.or_else(crate::config::default_path);
    crate::config::Settings::load(path.as_deref())
}

fn file_passphrase(cli: &Cli) -> Result<Option<zeroize::Zeroizing<String>>, String> {
    let Some(f) = &cli.passphrase_file else {
        return Ok(None);
    };
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?,
    );
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err("the passphrase file is empty".into());
    }
    Ok(Some(zeroize::Zeroizing::new(trimmed.to_owned())))
}

fn run_tui(cli: &Cli, utc_offset_secs: i32, demo: bool) -> Result<(), String> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(
            "the terminal UI needs a terminal; for scripts use `cairn run` (see --help)".into(),
        );
    }
    let (kdf, opts) = options(cli);
    let node = if demo {
        crate::demo::loopback_config()
    } else {
        cairn_node::api::NodeConfig {
            listen: parse_addrs(&cli.tui_listen, "--listen")?,
            relay: cli
                .tui_relay
                .as_ref()
                .map(|a| a.parse().map_err(|e| format!("bad --relay {a}: {e}")))
                .transpose()?,
            lan: cli.tui_lan,
            private_addresses: cli.tui_private_addresses,
            resend_after: cairn_node::api::RESEND_AFTER_HOP,
            stranger_idle: cairn_node::api::STRANGER_IDLE,
            hidden: None,
            bench_onion_target: None,
        }
    };
    let start = if demo {
        crate::runner::Start::Demo
    } else {
        crate::runner::Start::Profile {
            paths: paths(cli)?,
            passphrase: file_passphrase(cli)?,
        }
    };
    let tor_config = match &cli.tui_tor_config {
        Some(f) => {
            std::fs::read_to_string(f).map_err(|e| format!("--tor-config {}: {e}", f.display()))?
        }
        None => String::new(),
    };
    let mode = (cli.tui_hidden || cli.tui_direct).then_some(cli.tui_hidden);
    crate::runner::run(crate::runner::Launch {
        start,
        node,
        mode,
        tor_config,
        kdf: (kdf, opts),
        settings: settings(cli),
        utc_offset_secs,
        exit_after_first_frame: cli.bench_exit_after_first_frame,
    })
}

fn paths(cli: &Cli) -> Result<ProfilePaths, String> {
    match &cli.profile {
        Some(p) => Ok(ProfilePaths::new(p.clone())),
        None => ProfilePaths::default_location().map_err(|e| e.to_string()),
    }
}

fn read_passphrase(cli: &Cli, confirm: bool) -> Result<Passphrase, String> {
    if let Some(f) = &cli.passphrase_file {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            return Err("the passphrase file is empty".into());
        }
        return Ok(Passphrase::new(text));
    }
    let first = rpassword::prompt_password("Passphrase: ").map_err(|e| e.to_string())?;
    if first.is_empty() {
        return Err("an empty passphrase is not allowed".into());
    }
    if confirm {
        let second =
            rpassword::prompt_password("Repeat passphrase: ").map_err(|e| e.to_string())?;
        if first != second {
            return Err("the passphrases differ".into());
        }
    }
    Ok(Passphrase::new(first))
}

/// Whether this build and invocation asked for the tests' weak key derivation.
#[cfg(feature = "test-hooks")]
fn insecure_kdf(cli: &Cli) -> bool {
    cli.insecure_fast_kdf_for_tests
}

/// Builds without the `test-hooks` feature have no way to ask for it.
#[cfg(not(feature = "test-hooks"))]
fn insecure_kdf(_cli: &Cli) -> bool {
    false
}

fn options(cli: &Cli) -> (KdfParams, OpenOptions) {
    if insecure_kdf(cli) {
        if cli.is_tui() {
            // The warning would be drawn over; the TUI is only run so in tests.
            return (
                KdfParams::insecure_fast_for_tests(),
                OpenOptions::new().allow_insecure_kdf_for_tests(),
            );
        }
        eprintln!("cairn: WARNING: weak key derivation for tests; never use this profile for real");
        (
            KdfParams::insecure_fast_for_tests(),
            OpenOptions::new().allow_insecure_kdf_for_tests(),
        )
    } else {
        (KdfParams::recommended(), OpenOptions::new())
    }
}

/// Opens the profile named on the command line.
pub fn open_profile(cli: &Cli) -> Result<Profile, String> {
    let paths = paths(cli)?;
    let pass = read_passphrase(cli, false)?;
    let (_, opts) = options(cli);
    Profile::open(&paths, &pass, &opts).map_err(|e| e.to_string())
}

/// Runs the chosen command.
pub fn dispatch(cli: Cli, utc_offset_secs: i32) -> Result<(), String> {
    match &cli.command {
        Some(Cmd::Init { name, hidden }) => {
            let paths = paths(&cli)?;
            let pass = read_passphrase(&cli, true)?;
            let (kdf, opts) = options(&cli);
            let profile =
                Profile::create(&paths, &pass, name, kdf, &opts).map_err(|e| e.to_string())?;
            cairn_node::api::mode::store_hidden(&profile, *hidden)?;
            eprintln!(
                "cairn: profile created in {} ({} mode)",
                paths.dir.display(),
                if *hidden { "hidden" } else { "direct" }
            );
            Ok(())
        }
        Some(Cmd::Run {
            net,
            resend_after,
            stranger_idle,
            ..
        }) => {
            let mut config = net.config(
                std::time::Duration::from_secs(*resend_after),
                std::time::Duration::from_secs(*stranger_idle),
            )?;
            let profile = open_profile(&cli)?;
            let kept = cairn_node::api::mode::stored_hidden(&profile)?;
            let hidden = net.tor.hidden(kept);
            if hidden != kept {
                cairn_node::api::mode::store_hidden(&profile, hidden)?;
                eprintln!(
                    "cairn: this profile runs in {} mode from now on",
                    if hidden { "hidden" } else { "direct" }
                );
            }
            let (control, _tor) = net.tor.control(&paths(&cli)?.tor_dir(), hidden)?;
            config.hidden = control;
            #[cfg(feature = "test-hooks")]
            if let Some(Cmd::Run {
                bench_onion_target_for_tests: target,
                ..
            }) = &cli.command
            {
                config.bench_onion_target = *target;
            }
            crate::headless::run_node(profile, config)
        }
        Some(Cmd::Exposure { net, json }) => {
            let mut config = net.config(
                cairn_node::api::RESEND_AFTER_HOP,
                cairn_node::api::STRANGER_IDLE,
            )?;
            let profile = open_profile(&cli)?;
            let hidden = net
                .tor
                .hidden(cairn_node::api::mode::stored_hidden(&profile)?);
            let (control, _tor) = net.tor.control(&paths(&cli)?.tor_dir(), hidden)?;
            config.hidden = control;
            crate::headless::exposure(profile, config, *json)
        }
        Some(Cmd::Relay {
            listen, data, tor, ..
        }) => {
            let listen = listen
                .iter()
                .map(|a| a.parse().map_err(|e| format!("bad --listen {a}: {e}")))
                .collect::<Result<Vec<_>, String>>()?;
            let data = match data {
                Some(d) => d.clone(),
                None => paths(&cli)?.dir.join("relay"),
            };
            // With --passphrase-file the mailbox key is wrapped under Argon2id like a
            // profile's; without, it is stored as is (for unattended starts).
            let passphrase = if cli.passphrase_file.is_some() {
                Some((read_passphrase(&cli, false)?, options(&cli).0))
            } else {
                eprintln!(
                    "cairn: the mailbox key is stored unprotected in the data directory; \
                     pass --passphrase-file to protect it at rest"
                );
                None
            };
            #[cfg(feature = "test-hooks")]
            let discard_mail = matches!(
                cli.command,
                Some(Cmd::Relay {
                    discard_mail_for_tests: true,
                    ..
                })
            );
            #[cfg(not(feature = "test-hooks"))]
            let discard_mail = false;
            if tor.direct {
                return Err("--direct is for profiles; a relay is direct without --hidden".into());
            }
            let (hidden, _tor) = tor.control(&data.join("tor"), tor.hidden(false))?;
            crate::headless::run_relay(cairn_node::api::RelayConfig {
                listen,
                data,
                retention: cairn_node::api::DEFAULT_RETENTION,
                passphrase,
                discard_mail,
                hidden,
            })
        }
        Some(Cmd::Demo { .. }) => run_tui(&cli, utc_offset_secs, true),
        Some(Cmd::Completions { shell }) => {
            let mut cmd = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "cairn", &mut out);
            write_stdout(&out)
        }
        Some(Cmd::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| format!("cannot render the man page: {e}"))?;
            write_stdout(&out)
        }
        None => run_tui(&cli, utc_offset_secs, false),
    }
}
