//! The subcommands. Each lives in its own module with its `Args` and a `run` function.

use clap::Subcommand;

use crate::context::{Context, Outcome};

mod config;
mod sip;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate, print or document the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Parse SIP messages as the guard does; print the response it would send.
    #[command(subcommand)]
    Sip(sip::SipCommand),
}

/// Runs one subcommand.
pub fn run(command: Command, ctx: &Context) -> Outcome {
    match command {
        Command::Config(c) => config::run(c, ctx),
        Command::Sip(c) => sip::run(c, ctx),
    }
}
