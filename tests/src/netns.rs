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

/// A host alone in a network namespace, linked to this machine by one veth pair (this
/// machine's end `10.232.<n>.1`, the host's `10.232.<n>.2`, and `fd32:<n>::1` and `::2`),
/// with default routes through it, so that every packet the host sends anywhere, over IPv4
/// or IPv6, meets the namespace's firewall (nftables) rather than "no route". The firewall
/// ([`Isolated::allow_only`]) lets out TCP to the addresses given and counts the rest: DNS,
/// and anything else, dropped.
pub struct Isolated {
    ns: String,
    subnet: u32,
}

/// Packets the firewall of an [`Isolated`] host counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// To the allowed addresses.
    pub allowed: u64,
    /// DNS queries (UDP or TCP port 53), dropped.
    pub dns: u64,
    /// Anything else leaving the host (loopback and IPv6 neighbour discovery aside), dropped.
    pub other: u64,
}

impl Isolated {
    /// A namespace named after `name` and this test process. Panics, saying why and how to
    /// skip, if it cannot be made.
    pub fn new(name: &str) -> Self {
        let pid = std::process::id();
        let host = Self {
            ns: format!("cairn{pid}-{name}"),
            subnet: pid % 250 + 1,
        };
        if let Err(e) = host.build(pid) {
            panic!(
                "cannot build an isolated network namespace ({e}); these tests need root and \
                 iproute2 (set {SKIP_VAR}=1 to skip them)"
            );
        }
        host
    }

    fn build(&self, pid: u32) -> Result<(), String> {
        let ns = &self.ns;
        let link = format!("cl{pid}");
        let n = self.subnet;
        ip(&["netns", "add", ns])?;
        ip(&[
            "link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ])?;
        ip(&["addr", "add", &format!("10.232.{n}.1/24"), "dev", &link])?;
        let v6 = format!("fd32:{n:x}::1/64");
        ip(&["-6", "addr", "add", &v6, "dev", &link, "nodad"])?;
        ip(&["link", "set", &link, "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("10.232.{n}.2/24"),
            "dev",
            "eth0",
        ])?;
        let v6 = format!("fd32:{n:x}::2/64");
        ip(&["-n", ns, "-6", "addr", "add", &v6, "dev", "eth0", "nodad"])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        let gw = format!("10.232.{n}.1");
        ip(&["-n", ns, "route", "add", "default", "via", &gw])?;
        let gw6 = format!("fd32:{n:x}::1");
        ip(&["-n", ns, "-6", "route", "add", "default", "via", &gw6])
    }

    /// The namespace's name (for `ip netns exec`, or `Profile::in_netns`).
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// This machine's end of the link: what the host reaches, and all it reaches.
    pub fn machine_ip(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(10, 232, u8::try_from(self.subnet).unwrap_or(1), 1)
    }

    /// Installs the firewall: DNS (port 53, to anywhere, loopback resolvers included) is
    /// counted and dropped; then loopback and IPv6 neighbour discovery (the kernel's, not
    /// the host's programs') go out uncounted; TCP to `allowed` goes out, counted;
    /// everything else is counted and dropped. Counters start at zero.
    pub fn allow_only(&self, allowed: &[std::net::SocketAddr]) -> Result<(), String> {
        let mut v4: Vec<String> = Vec::new();
        for a in allowed {
            match a {
                std::net::SocketAddr::V4(a) => v4.push(format!("{} . {}", a.ip(), a.port())),
                std::net::SocketAddr::V6(_) => return Err("IPv4 addresses only".into()),
            }
        }
        let allow = if v4.is_empty() {
            String::new()
        } else {
            format!(
                "ip daddr . tcp dport {{ {} }} counter name \"allowed\" accept\n",
                v4.join(", ")
            )
        };
        let rules = format!(
            "table inet cairn_leak {{\n\
             counter allowed {{ }}\n\
             counter dns {{ }}\n\
             counter other {{ }}\n\
             chain output {{\n\
             type filter hook output priority filter; policy accept;\n\
             udp dport 53 counter name \"dns\" drop\n\
             tcp dport 53 counter name \"dns\" drop\n\
             oifname \"lo\" accept\n\
             meta l4proto ipv6-icmp accept\n\
             {allow}\
             counter name \"other\" drop\n\
             }}\n\
             }}\n"
        );
        let path = std::env::temp_dir().join(format!("{}.nft", self.ns));
        std::fs::write(&path, rules).map_err(|e| format!("{}: {e}", path.display()))?;
        let path_text = path.display().to_string();
        let result = nft(&self.ns, &["-f", &path_text]).map(drop);
        let _ = std::fs::remove_file(&path);
        result
    }

    /// What the firewall has counted.
    pub fn counters(&self) -> Result<Counters, String> {
        let text = nft(
            &self.ns,
            &["list", "counters", "table", "inet", "cairn_leak"],
        )?;
        // "counter NAME {" then "packets N bytes M".
        let mut counters = Counters::default();
        let mut current = None;
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("counter ") {
                current = rest.split_whitespace().next().map(str::to_owned);
            } else if let Some(rest) = line.strip_prefix("packets ") {
                let packets = rest
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| format!("nft: cannot read {line:?}"))?;
                match current.as_deref() {
                    Some("allowed") => counters.allowed = packets,
                    Some("dns") => counters.dns = packets,
                    Some("other") => counters.other = packets,
                    _ => {}
                }
            }
        }
        Ok(counters)
    }

    /// Sets the counters back to zero.
    pub fn reset_counters(&self) -> Result<(), String> {
        nft(
            &self.ns,
            &["reset", "counters", "table", "inet", "cairn_leak"],
        )
        .map(drop)
    }

    /// `program` to run inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }
}

/// `nft args…` inside namespace `ns`; its output.
fn nft(ns: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft"])
        .args(args)
        .output()
        .map_err(|e| format!("nft (Debian: nftables): {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "nft {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair, this machine's end too.
        let _ = ip(&["netns", "del", &self.ns]);
    }
}
