//! The subcommands. Each lives in its own module with its `Args` and a `run` function.

use clap::Subcommand;

use crate::context::{Context, Outcome};

mod audit;
mod config;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate, print or document the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Lint PBX configurations and firewall rulesets for the holes attackers use.
    ///
    /// Reads Asterisk, FreeSWITCH and Kamailio configuration and iptables/nft rulesets, and reports each
    /// risk (guest calls, missing permit/deny, open dial plans, default passwords, exposed control ports,
    /// bans that conntrack bypasses…) with its file:line, why it matters and the fix. Exits 1 when a
    /// finding at or above --min-severity remains. Accept a finding with a reason inline
    /// (`; pbxguard-audit: ignore RULE reason`) or in `[audit] suppress`.
    Audit(audit::AuditArgs),
}

/// Runs one subcommand.
pub fn run(command: Command, ctx: &Context) -> Outcome {
    match command {
        Command::Config(c) => config::run(c, ctx),
        Command::Audit(a) => audit::run(a, ctx),
    }
}
