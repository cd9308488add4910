//! The subcommands. Each lives in its own module with its `Args` and a `run` function.

use clap::Subcommand;

use crate::context::{Context, Outcome};

mod capture;
mod config;
mod nft;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate, print or document the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Watch the SIP traffic the capture sensor sees, and the kernel's drop counters.
    Capture(capture::CaptureArgs),
    /// Operate pbxguard's nftables table directly: set it up, ban, unban, list, remove.
    Nft(nft::NftArgs),
}

/// Runs one subcommand.
pub fn run(command: Command, ctx: &Context) -> Outcome {
    match command {
        Command::Config(c) => config::run(c, ctx),
        Command::Nft(a) => nft::run(a, ctx),
        Command::Capture(a) => capture::run(a, ctx),
    }
}
