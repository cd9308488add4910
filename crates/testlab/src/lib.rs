//! Test support for pbxguard's real-network tier.
//!
//! Tests that need root (network namespaces, nftables, real SIP peers) call [`root_or_skip`] first. When the
//! test process is not root they print a loud `SKIPPED` line and return early, unless `CI=true`, where a
//! missing privilege is a failure: CI must run the whole tier.
//!
//! [`Netns`] creates a uniquely named network namespace and deletes it on drop, so a failing test leaves
//! nothing behind. Only addresses inside namespaces created here (or loopback) may receive test traffic.
//!
//! [`NatLab`] is the three-namespace NAT lab of the exposure check (lan — router — wan), and [`Daemon`]
//! a peer process inside it that is stopped on drop.

use std::ffi::OsStr;
use std::fmt;
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Whether the current process runs with effective UID 0.
pub fn is_root() -> bool {
    // /proc/self/status has "Uid:\treal\teffective\tsaved\tfs"; no libc call (and no unsafe) needed.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Whether this run is a CI run (`CI=true`), where skipping the root tier is not allowed.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns `true` when the root-tier test `name` may run. Otherwise prints a loud skip notice and returns
/// `false`, so the test can `return` early.
///
/// # Panics
///
/// Under `CI=true` when not root: CI must exercise the real-network tier, not skip it.
pub fn root_or_skip(name: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        !is_ci(),
        "root-tier test `{name}` needs root, and CI=true forbids skipping it"
    );
    eprintln!(
        "\n*** SKIPPED root-tier test `{name}`: it needs root (network namespaces, nftables). ***\n\
         *** Run the tests as root, or with CI=true to make this a failure.                ***\n"
    );
    false
}

/// Returns `true` when every program in `programs` is on `PATH`. Under `CI=true` a missing program is a
/// failure (`.ci/run` must install it); otherwise the test is skipped with a loud notice.
///
/// # Panics
///
/// Under `CI=true` when a program is missing.
pub fn tools_or_skip(name: &str, programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !on_path(p)).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !is_ci(),
        "test `{name}` needs {missing:?} on PATH, and CI=true forbids skipping it"
    );
    eprintln!("\n*** SKIPPED test `{name}`: missing programs {missing:?}. ***\n");
    false
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A failed command in the lab: which command, its exit status and what it printed.
#[derive(Debug)]
pub struct LabError {
    command: String,
    detail: String,
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` failed: {}", self.command, self.detail)
    }
}

impl std::error::Error for LabError {}

/// Runs a command to completion and returns its output, or an error naming the command when it could not
/// start or exited non-zero.
///
/// # Errors
///
/// [`LabError`] when the program cannot be started or exits unsuccessfully.
pub fn run<I, S>(program: &str, args: I) -> Result<Output, LabError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let command = format!(
        "{program} {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = Command::new(program)
        .args(&args)
        .output()
        .map_err(|e| LabError {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(LabError {
            command,
            detail: format!(
                "{}; stderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out)
}

/// `systemd-journal-remote` (Debian package `systemd-journal-remote`): writes journal files from the
/// journal export format, so tests can log "as a unit" without a running journald.
pub const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// Appends one entry of systemd unit `unit` with `message` to the journal file `remote.journal` in `dir`,
/// stamped now and with this boot's id, as journald would (`journalctl --follow` reads only this boot's
/// entries unless merging).
///
/// # Errors
///
/// [`LabError`] when `systemd-journal-remote` cannot be run or fails.
pub fn journal_append(dir: &std::path::Path, unit: &str, message: &str) -> Result<(), LabError> {
    use std::io::Write;
    let fail = |detail: String| LabError {
        command: format!(
            "{JOURNAL_REMOTE} --output={}/remote.journal -",
            dir.display()
        ),
        detail,
    };
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map_err(|e| fail(e.to_string()))?
        .trim()
        .replace('-', "");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    let export = format!(
        "__REALTIME_TIMESTAMP={now}\n__MONOTONIC_TIMESTAMP={now}\n_BOOT_ID={boot}\n_SYSTEMD_UNIT={unit}\n\
         MESSAGE={message}\n\n"
    );
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", dir.join("remote.journal").display()))
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(export.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(format!(
            "{}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace owned by the test that created it; deleted (with everything in it) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named `<prefix><pid>_<n>` with loopback up. The name is unique per process and
    /// call, so tests running in parallel never share or delete each other's namespaces.
    ///
    /// # Errors
    ///
    /// [`LabError`] when `ip netns add` fails (for example without root).
    pub fn new(prefix: &str) -> Result<Self, LabError> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}{}_{n}", std::process::id());
        run("ip", ["netns", "add", &name])?;
        let ns = Self { name };
        ns.exec("ip", ["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A [`Command`] that runs `program` inside this namespace (`ip netns exec NAME program`), for callers
    /// that need to spawn a long-running peer.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `program args…` inside this namespace to completion.
    ///
    /// # Errors
    ///
    /// [`LabError`] when the command cannot start or exits non-zero.
    pub fn exec<I, S>(&self, program: &str, args: I) -> Result<Output, LabError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec![
            "netns".into(),
            "exec".into(),
            self.name.clone().into(),
            program.into(),
        ];
        all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        run("ip", all)
    }

    /// Connects this namespace to `peer` with a veth pair, assigns the addresses (CIDR notation, e.g.
    /// `10.77.0.2/24`) and brings both ends up. Returns the interface names (this side, peer side).
    ///
    /// # Errors
    ///
    /// [`LabError`] when any `ip` command fails.
    pub fn link(
        &self,
        peer: &Netns,
        addr: &str,
        peer_addr: &str,
    ) -> Result<(String, String), LabError> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Interface names are limited to 15 bytes; the pid keeps them unique across test processes.
        let (a, b) = (
            format!("va{}_{n}", std::process::id() % 100_000),
            format!("vb{}_{n}", std::process::id() % 100_000),
        );
        run(
            "ip",
            [
                "link", "add", &a, "netns", &self.name, "type", "veth", "peer", "name", &b,
                "netns", &peer.name,
            ],
        )?;
        self.exec("ip", ["addr", "add", addr, "dev", &a])?;
        peer.exec("ip", ["addr", "add", peer_addr, "dev", &b])?;
        self.exec("ip", ["link", "set", &a, "up"])?;
        peer.exec("ip", ["link", "set", &b, "up"])?;
        Ok((a, b))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Best effort: a namespace that is already gone is fine.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Polls `ok` every 100 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if ok() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process the test started (usually inside a namespace), killed by its own PID and reaped on drop.
#[derive(Debug)]
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The three-namespace NAT lab: a PBX-side host (`lan`), a router doing NAT (`rtr`) and an outside
/// host with two addresses (`wan`), as RFC 5780 tests need.
///
/// ```text
/// lan 192.0.2.10/24 ── 192.0.2.1 rtr 198.51.100.1 ── 198.51.100.10 + .11 wan
/// ```
///
/// The router forwards IPv4 but has no ruleset until [`NatLab::rules`] loads one; the namespaces go
/// when the lab is dropped (drop peers running inside them first).
#[derive(Debug)]
pub struct NatLab {
    /// The inside host (the PBX side); its default route is the router.
    pub lan: Netns,
    /// The router.
    pub rtr: Netns,
    /// The outside host.
    pub wan: Netns,
    /// The inside host's interface.
    pub lan_if: String,
    /// The router's interface towards the inside host.
    pub rtr_lan: String,
    /// The router's interface towards the outside host (`WAN` in [`NatLab::rules`] templates).
    pub rtr_wan: String,
    /// The outside host's interface (holding both of its addresses).
    pub wan_if: String,
}

impl NatLab {
    /// The inside host's address.
    pub const LAN_HOST: &'static str = "192.0.2.10";
    /// The router's inside address.
    pub const ROUTER_LAN: &'static str = "192.0.2.1";
    /// The router's outside address: the site's public address.
    pub const ROUTER_WAN: &'static str = "198.51.100.1";
    /// The outside host's first address.
    pub const WAN_HOST: &'static str = "198.51.100.10";
    /// The outside host's second address.
    pub const WAN_ALT: &'static str = "198.51.100.11";
    /// The inside host's IPv6 address (after [`NatLab::add_ipv6`]).
    pub const LAN_HOST6: &'static str = "2001:db8:a::10";
    /// The router's inside IPv6 address.
    pub const ROUTER_LAN6: &'static str = "2001:db8:a::1";
    /// The router's outside IPv6 address.
    pub const ROUTER_WAN6: &'static str = "2001:db8:b::1";
    /// The outside host's first IPv6 address.
    pub const WAN_HOST6: &'static str = "2001:db8:b::10";
    /// The outside host's second IPv6 address.
    pub const WAN_ALT6: &'static str = "2001:db8:b::11";

    /// Builds the lab with namespaces named `<prefix>l`, `<prefix>r`, `<prefix>w` (plus the unique
    /// suffix [`Netns::new`] adds), and waits until both links carry traffic.
    ///
    /// # Errors
    ///
    /// [`LabError`] when a command fails or the links do not come up within 10 s.
    pub fn new(prefix: &str) -> Result<NatLab, LabError> {
        let lan = Netns::new(&format!("{prefix}l"))?;
        let rtr = Netns::new(&format!("{prefix}r"))?;
        let wan = Netns::new(&format!("{prefix}w"))?;
        let (lan_if, rtr_lan) = lan.link(&rtr, "192.0.2.10/24", "192.0.2.1/24")?;
        let (rtr_wan, wan_if) = rtr.link(&wan, "198.51.100.1/24", "198.51.100.10/24")?;
        wan.exec("ip", ["addr", "add", "198.51.100.11/24", "dev", &wan_if])?;
        lan.exec("ip", ["route", "add", "default", "via", Self::ROUTER_LAN])?;
        rtr.exec("sysctl", ["-qw", "net.ipv4.ip_forward=1"])?;
        // Let both veth pairs finish coming up (carrier) before any NAT exists.
        let up = wait_until(Duration::from_secs(10), || {
            lan.exec("ping", ["-c", "1", "-W", "1", Self::ROUTER_LAN])
                .is_ok()
                && wan
                    .exec("ping", ["-c", "1", "-W", "1", Self::ROUTER_WAN])
                    .is_ok()
        });
        if !up {
            return Err(LabError {
                command: format!("ping across {}", rtr.name()),
                detail: "the lab's links did not come up within 10 s".into(),
            });
        }
        Ok(NatLab {
            lan,
            rtr,
            wan,
            lan_if,
            rtr_lan,
            rtr_wan,
            wan_if,
        })
    }

    /// Adds routed IPv6 without NAT: the inside host in 2001:db8:a::/64, the outside host (two
    /// addresses) in 2001:db8:b::/64, the router forwarding between them. Addresses skip duplicate
    /// address detection, so they are usable at once.
    ///
    /// # Errors
    ///
    /// [`LabError`] when a command fails or the inside host cannot reach the outside host in 10 s.
    pub fn add_ipv6(&self) -> Result<(), LabError> {
        let add = |ns: &Netns, addr: &str, dev: &str| {
            ns.exec("ip", ["-6", "addr", "add", addr, "dev", dev, "nodad"])
        };
        add(&self.lan, "2001:db8:a::10/64", &self.lan_if)?;
        add(&self.rtr, "2001:db8:a::1/64", &self.rtr_lan)?;
        add(&self.rtr, "2001:db8:b::1/64", &self.rtr_wan)?;
        add(&self.wan, "2001:db8:b::10/64", &self.wan_if)?;
        add(&self.wan, "2001:db8:b::11/64", &self.wan_if)?;
        self.rtr
            .exec("sysctl", ["-qw", "net.ipv6.conf.all.forwarding=1"])?;
        self.lan.exec(
            "ip",
            ["-6", "route", "add", "default", "via", Self::ROUTER_LAN6],
        )?;
        self.wan.exec(
            "ip",
            [
                "-6",
                "route",
                "add",
                "2001:db8:a::/64",
                "via",
                Self::ROUTER_WAN6,
            ],
        )?;
        let up = wait_until(Duration::from_secs(10), || {
            self.lan
                .exec("ping", ["-6", "-c", "1", "-W", "1", Self::WAN_HOST6])
                .is_ok()
        });
        if up {
            Ok(())
        } else {
            Err(LabError {
                command: format!("ping -6 {}", Self::WAN_HOST6),
                detail: "IPv6 across the lab router did not come up within 10 s".into(),
            })
        }
    }

    /// Replaces the router's nftables ruleset with `template`, where `WAN` stands for the router's
    /// outside interface, and forgets the connections (NAT mappings) made under the old rules.
    ///
    /// # Errors
    ///
    /// [`LabError`] when the file cannot be written or `nft` rejects the rules.
    pub fn rules(&self, template: &str) -> Result<(), LabError> {
        let rules = template.replace("WAN", &self.rtr_wan);
        let path = std::env::temp_dir().join(format!("{}.nft", self.rtr.name()));
        std::fs::write(&path, rules).map_err(|e| LabError {
            command: format!("write {}", path.display()),
            detail: e.to_string(),
        })?;
        self.rtr.exec("nft", ["flush", "ruleset"])?;
        let loaded = self.rtr.exec("nft", [OsStr::new("-f"), path.as_os_str()]);
        let _ = std::fs::remove_file(&path);
        loaded?;
        let _ = self.rtr.exec("conntrack", ["-F"]);
        Ok(())
    }

    /// Loads a router that masquerades with `statement` (e.g. `masquerade`, `masquerade random`) on
    /// the way out, with no forwards and nothing else.
    ///
    /// # Errors
    ///
    /// As [`NatLab::rules`].
    pub fn nat(&self, statement: &str) -> Result<(), LabError> {
        self.rules(&format!(
            "table ip nat {{\n  chain post {{\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname \"WAN\" {statement}\n  }}\n}}\n"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_is_created_linked_and_removed() {
        if !root_or_skip("netns_is_created_linked_and_removed") {
            return;
        }
        let a = Netns::new("tla").unwrap();
        let b = Netns::new("tlb").unwrap();
        a.link(&b, "10.99.0.1/24", "10.99.0.2/24").unwrap();
        a.exec("ping", ["-c", "1", "-W", "2", "10.99.0.2"]).unwrap();
        let name = a.name().to_owned();
        drop(a);
        let list = run("ip", ["netns", "list"]).unwrap();
        assert!(!String::from_utf8_lossy(&list.stdout).contains(&name));
    }
}
