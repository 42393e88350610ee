//! A private LAN for tests: network namespaces joined by a bridge, made by the test itself
//! (as root, with iproute2) and removed when dropped. Each host has one interface, `eth0`,
//! with an address in `10.231.<n>.0/24` (`n` from the test process's id, so two test
//! processes do not share a LAN), and a route for multicast, so mDNS works between hosts
//! as on a real LAN and nowhere else.

use std::process::Command;

/// Set to skip the tests that need network namespaces (a machine where the tests do not
/// run as root). CI runs them.
pub const SKIP_VAR: &str = "CAIRN_SKIP_NETNS_TESTS";

/// A LAN of hosts.
pub struct Lan {
    prefix: String,
    subnet: u32,
    hosts: Vec<String>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lan {
    /// Whether the tests that need namespaces are to be skipped (said on stderr).
    pub fn skipped() -> bool {
        let skip = std::env::var_os(SKIP_VAR).is_some();
        if skip {
            eprintln!("SKIPPED: {SKIP_VAR} is set");
        }
        skip
    }

    /// A LAN with `hosts`, named in that order `.1`, `.2`, … Panics, saying why and how to
    /// skip, if namespaces cannot be made.
    pub fn new(hosts: &[&str]) -> Self {
        let pid = std::process::id();
        let lan = Self {
            prefix: format!("cairn{pid}"),
            subnet: pid % 250 + 1,
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        };
        if let Err(e) = lan.build() {
            panic!(
                "cannot build a LAN of network namespaces ({e}); these tests need root and \
                 iproute2 (set {SKIP_VAR}=1 to skip them)"
            );
        }
        lan
    }

    fn hub(&self) -> String {
        format!("{}-hub", self.prefix)
    }

    /// The namespace of `host`.
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// The IPv4 address of `host`.
    pub fn ip(&self, host: &str) -> String {
        let i = self
            .hosts
            .iter()
            .position(|h| h == host)
            .expect("no such host")
            + 1;
        format!("10.231.{}.{i}", self.subnet)
    }

    fn build(&self) -> Result<(), String> {
        let hub = self.hub();
        ip(&["netns", "add", &hub])?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        // No IGMP snooping: the bridge floods multicast as a switch without a querier does.
        ip(&[
            "-n",
            &hub,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        for (i, host) in self.hosts.iter().enumerate() {
            let ns = self.ns(host);
            let port = format!("p{i}");
            ip(&["netns", "add", &ns])?;
            ip(&[
                "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ])?;
            ip(&["-n", &hub, "link", "set", &port, "master", "br0", "up"])?;
            let addr = format!("{}/24", self.ip(host));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        }
        Ok(())
    }

    /// An IPv6 address of this LAN's own network, `fd31:<n>::/32`: `fd31:<n>:<rest>`.
    pub fn ipv6(&self, rest: &str) -> String {
        format!("fd31:{:x}:{rest}", self.subnet)
    }

    /// Gives `host` the IPv6 address `addr` (one of [`Lan::ipv6`]'s, on-link for the whole
    /// /32), usable at once (no duplicate address detection). Panics if it cannot.
    pub fn add_ipv6(&self, host: &str, addr: &str) {
        let cidr = format!("{addr}/32");
        if let Err(e) = ip(&[
            "-n",
            &self.ns(host),
            "-6",
            "addr",
            "add",
            &cidr,
            "dev",
            "eth0",
            "nodad",
        ]) {
            panic!("cannot give {host} the IPv6 address {addr} ({e}): is IPv6 disabled?");
        }
    }

    /// `program args…` to run inside `host`'s namespace.
    pub fn command(&self, host: &str, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host)]).arg(program);
        c
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for h in &self.hosts {
            let _ = ip(&["netns", "del", &self.ns(h)]);
        }
        let _ = ip(&["netns", "del", &self.hub()]);
    }
}
