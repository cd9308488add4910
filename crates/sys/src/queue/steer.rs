//! The iptables rules that steer SIP datagrams into the queue, in pbxguard's own chain.
//!
//! ```text
//! iptables -t mangle -N PBXGUARD_INLINE
//! iptables -t mangle -I PREROUTING 1 -j PBXGUARD_INLINE
//! iptables -t mangle -A PBXGUARD_INLINE -p udp --dport 5060 -j NFQUEUE --queue-num 0 --queue-bypass
//! ```
//!
//! (and the same with ip6tables). nft's native `queue` statement is missing on common kernels, while the
//! xtables `NFQUEUE` target (through iptables-nft's compat layer) is there, so the rules go through the
//! iptables command. `--queue-bypass` makes the kernel accept packets while no process is bound to the
//! queue: if the daemon dies, SIP flows again (fail-open by design).
//!
//! Why `mangle PREROUTING` (priority -150): it runs after pbxguard's nftables ban chain (`raw`, -300), so a
//! banned source's flood is dropped before it costs the queue anything, and the order does not depend on
//! which of two equal-priority chains was registered first (as it would in iptables' `raw` table, also
//! -300); it runs before the `INPUT`/`FORWARD` filter chains and before the PBX, on a PBX host and on a
//! router in front of one alike; and packets are already defragmented there (conntrack defrag, -400), so
//! the queue sees whole datagrams. Only UDP is steered: dropping a TCP segment would make the peer
//! retransmit it, and a stream cannot be judged one segment at a time.

use std::fmt;
use std::process::Command;

/// pbxguard's chain in the `mangle` table.
pub const CHAIN: &str = "PBXGUARD_INLINE";
/// The table.
pub const TABLE: &str = "mangle";
/// The built-in chain that jumps to [`CHAIN`].
pub const HOOK: &str = "PREROUTING";

/// Which rules to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SteerConfig {
    /// The NFQUEUE number.
    pub queue: u16,
    /// UDP destination ports to steer.
    pub ports: Vec<u16>,
}

/// Why the rules could not be installed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SteerError {
    /// The iptables command could not be run at all.
    ToolMissing {
        /// The command.
        tool: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// iptables refused a rule.
    RuleRefused {
        /// The command line.
        command: String,
        /// What iptables printed.
        stderr: String,
    },
}

impl fmt::Display for SteerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SteerError::ToolMissing { tool, source } => write!(f, "cannot run {tool}: {source}"),
            SteerError::RuleRefused { command, stderr } => {
                write!(f, "`{command}` failed: {}", stderr.trim())
            }
        }
    }
}

impl std::error::Error for SteerError {}

fn args(parts: &[&str]) -> Vec<String> {
    ["-w", "-t", TABLE]
        .iter()
        .chain(parts)
        .map(|s| (*s).to_owned())
        .collect()
}

/// The argument lists (after the tool name) that fill [`CHAIN`]: a flush, then one rule per port. The
/// chain creation and the jump are separate because they must tolerate existing state.
pub fn chain_rules(cfg: &SteerConfig) -> Vec<Vec<String>> {
    let queue = cfg.queue.to_string();
    let mut out = vec![args(&["-F", CHAIN])];
    for port in &cfg.ports {
        let port = port.to_string();
        out.push(args(&[
            "-A",
            CHAIN,
            "-p",
            "udp",
            "--dport",
            &port,
            "-j",
            "NFQUEUE",
            "--queue-num",
            &queue,
            "--queue-bypass",
        ]));
    }
    out
}

fn run(tool: &'static str, argv: &[String]) -> Result<(), SteerError> {
    let out = Command::new(tool)
        .args(argv)
        .output()
        .map_err(|source| SteerError::ToolMissing { tool, source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(SteerError::RuleRefused {
            command: format!("{tool} {}", argv.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

fn install_with(tool: &'static str, cfg: &SteerConfig) -> Result<(), SteerError> {
    // -N fails when the chain exists (a previous run that was killed): that is fine, it is flushed next.
    let _ = run(tool, &args(&["-N", CHAIN]));
    for argv in chain_rules(cfg) {
        run(tool, &argv)?;
    }
    if run(tool, &args(&["-C", HOOK, "-j", CHAIN])).is_err() {
        run(tool, &args(&["-I", HOOK, "1", "-j", CHAIN]))?;
    }
    Ok(())
}

fn remove_with(tool: &'static str) {
    // Delete every jump (a crashed run may have left one), then the chain.
    for _ in 0..16 {
        if run(tool, &args(&["-D", HOOK, "-j", CHAIN])).is_err() {
            break;
        }
    }
    let _ = run(tool, &args(&["-F", CHAIN]));
    let _ = run(tool, &args(&["-X", CHAIN]));
}

/// Installed steering rules; [`Steering::remove`] (or dropping) takes them out again. iptables acts on
/// the network namespace of the calling thread, so install and remove from the same one.
#[derive(Debug)]
pub struct Steering {
    ipv6: bool,
    removed: bool,
}

impl Steering {
    /// Installs the rules for IPv4 (required) and IPv6 (best effort: a host without ip6tables or IPv6
    /// netfilter still gets IPv4 steering; [`Steering::ipv6`] says which). Idempotent: a chain left by a
    /// killed run is flushed and refilled, and the jump is added only once.
    ///
    /// # Errors
    ///
    /// [`SteerError`] when iptables is missing or refuses the IPv4 rules (nothing is left installed then).
    pub fn install(cfg: &SteerConfig) -> Result<Self, SteerError> {
        if let Err(e) = install_with("iptables", cfg) {
            remove_with("iptables");
            return Err(e);
        }
        let ipv6 = match install_with("ip6tables", cfg) {
            Ok(()) => true,
            Err(_) => {
                remove_with("ip6tables");
                false
            }
        };
        Ok(Self {
            ipv6,
            removed: false,
        })
    }

    /// Whether IPv6 is steered too.
    pub fn ipv6(&self) -> bool {
        self.ipv6
    }

    /// Removes the jump and the chain.
    pub fn remove(mut self) {
        self.remove_now();
    }

    fn remove_now(&mut self) {
        if !self.removed {
            remove_with("iptables");
            if self.ipv6 {
                remove_with("ip6tables");
            }
            self.removed = true;
        }
    }
}

impl Drop for Steering {
    fn drop(&mut self) {
        self.remove_now();
    }
}

/// Removes pbxguard's steering rules if any are installed (e.g. after a crash), for both families.
pub fn remove_leftovers() {
    remove_with("iptables");
    remove_with("ip6tables");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bypass_rule_per_port_after_a_flush_of_our_own_chain() {
        let rules = chain_rules(&SteerConfig {
            queue: 3,
            ports: vec![5060, 5080],
        });
        let lines: Vec<String> = rules.iter().map(|r| r.join(" ")).collect();
        assert_eq!(
            lines,
            vec![
                "-w -t mangle -F PBXGUARD_INLINE",
                "-w -t mangle -A PBXGUARD_INLINE -p udp --dport 5060 -j NFQUEUE --queue-num 3 --queue-bypass",
                "-w -t mangle -A PBXGUARD_INLINE -p udp --dport 5080 -j NFQUEUE --queue-num 3 --queue-bypass",
            ]
        );
    }
}
