//! The subcommands. Each lives in its own module with its `Args` and a `run` function.

use clap::Subcommand;

use crate::context::{Context, Outcome};

mod cdr;
mod classify;
mod config;
mod policy_file;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate, print or document the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Classify dialled numbers: country, type, fraud risk, policy verdict.
    Classify(classify::ClassifyArgs),
    /// Audit call detail records (Asterisk, FreeSWITCH, CSV) for toll fraud.
    Cdr(cdr::CdrArgs),
}

/// Runs one subcommand.
pub fn run(command: Command, ctx: &Context) -> Outcome {
    match command {
        Command::Config(c) => config::run(c, ctx),
        Command::Classify(a) => classify::run(a, ctx),
        Command::Cdr(a) => cdr::run(a, ctx),
    }
}
