//! The subcommands. Each lives in its own module with its `Args` and a `run` function.

use clap::Subcommand;

use crate::context::{Context, Outcome};

mod config;
mod plan;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate, print or document the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Plan the firewall for a PBX site: nftables, iptables, firewalld, ufw, AWS security group, router
    /// port forwards, conntrack advice, and why every port is open or closed.
    ///
    /// Reads a site description (TOML; `pbxguard plan --example` prints one), validates it (every
    /// mistake with its line), and renders the plan. `--json` prints the plan model itself.
    Plan(plan::PlanArgs),
}

/// Runs one subcommand.
pub fn run(command: Command, ctx: &Context) -> Outcome {
    match command {
        Command::Config(c) => config::run(c, ctx),
        Command::Plan(args) => plan::run(args, ctx),
    }
}
