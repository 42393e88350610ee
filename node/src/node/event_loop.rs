//! `cairn run`'s event loop: the runtime with libp2p's shell, driven by tokio — the swarm,
//! the front end's commands, the housekeeping tick and finished flushes. The only code of the
//! node that knows about tokio and libp2p; everything it calls is generic over the
//! [`Shell`] (see `shell.rs`), as the simulator drives it.

use super::*;

impl Runtime<Libp2pShell> {
    pub(super) fn new(
        profile: Profile,
        config: NodeConfig,
        events: mpsc::UnboundedSender<Event>,
        flush_done: mpsc::UnboundedSender<shell::FlushDone>,
    ) -> Result<Self, String> {
        let (hidden, socks) = match config.hidden {
            Some(control) => {
                let (hidden, socks) = Self::hidden(&profile, control)?;
                let extra = config
                    .bench_onion_target
                    .map(|t| (super::config::BENCH_ONION_PORT, t));
                (Some(hidden.with_extra_port(extra)), Some(socks))
            }
            None => (None, None),
        };
        let swarm = swarm::build(
            profile.libp2p_key.clone(),
            &SwarmOptions {
                lan: config.lan,
                hidden: socks,
                ..SwarmOptions::default()
            },
        )?;
        Runtime::with_shell(
            profile,
            config,
            events,
            Libp2pShell::new(swarm, flush_done).with_hidden(hidden),
            NodeRng::Os,
        )
    }

    /// Hidden mode through the tor whose control port is `control`: the onion services
    /// with the profile's onion key (its seed made and kept sealed in the profile on the
    /// first start in hidden mode), and tor's SOCKS port.
    fn hidden(
        profile: &Profile,
        control: std::net::SocketAddr,
    ) -> Result<(crate::net::onion::Onions, std::net::SocketAddr), String> {
        let seed = mode::onion_seed(&profile.store, false)?;
        crate::net::onion::Onions::connect(control, &seed)
    }

    pub(super) async fn run(
        &mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut flush_done: mpsc::UnboundedReceiver<shell::FlushDone>,
    ) {
        self.start_listening();
        let (_unused, idle) = mpsc::unbounded_channel();
        let mut jobs_done = self.shell.jobs.take().unwrap_or(idle);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.stopping {
            // Biased: drain whatever is ready first, then flush once for all of it.
            tokio::select! {
                biased;
                ev = self.shell.swarm.select_next_some() => {
                    if let Some(ev) = self.shell.translate(ev) {
                        self.net_event(ev);
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(Command::Send { to, text, client_ref }) => {
                        // Sends to the same contact that are already waiting are stored
                        // together (one transaction, one ratchet state write).
                        let mut texts = vec![(text, client_ref)];
                        let mut other = None;
                        while texts.len() < MAX_BATCH {
                            match commands.try_recv() {
                                Ok(Command::Send { to: t, text, client_ref }) if t == to => {
                                    texts.push((text, client_ref))
                                }
                                Ok(c) => {
                                    other = Some(c);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.cmd_send(&to, texts);
                        if let Some(c) = other {
                            self.command(c);
                        }
                        // A burst of sends must not starve the connection tasks this
                        // one woke (tokio runs them on this worker after we yield).
                        tokio::task::yield_now().await;
                    }
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                _ = tick.tick() => self.housekeeping(),
                done = flush_done.recv() => {
                    if let Some((id, result)) = done {
                        self.flush_completed(id, result);
                    }
                }
                done = jobs_done.recv() => {
                    if let Some((id, outcome)) = done {
                        self.job_completed(id, outcome);
                    }
                }
                _ = std::future::ready(()), if self.flush_wanted() => {
                    self.start_flush();
                }
            }
            self.after_inputs();
        }
        self.stop();
    }
}
