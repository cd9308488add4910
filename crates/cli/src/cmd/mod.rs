//! The subcommands. Each lives in its own module with its `Args` and a `run` function.

use clap::Subcommand;

use crate::context::{Context, Outcome};

mod check;
mod config;
mod reflector;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate, print or document the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Prove from outside that the ports are right, and diagnose the NAT.
    ///
    /// Needs a `pbxguard reflector` on a host outside the NAT and a shared secret. Probes every port
    /// that must be reachable (SIP with OPTIONS, RTP by sample; free ports are listened on briefly)
    /// and every port that must not be, then reports pass or fail per port with the fix. Exits 1
    /// when any port check fails.
    Check(Box<check::CheckArgs>),
    /// Run the outside half of `pbxguard check`: a STUN server and the probe service.
    ///
    /// Probes only the address a request comes from, only for authenticated, fresh requests, and at
    /// a bounded rate: it is never an open scanner or an amplifier.
    Reflector(reflector::ReflectorArgs),
}

/// Runs one subcommand.
pub fn run(command: Command, ctx: &Context) -> Outcome {
    match command {
        Command::Config(c) => config::run(c, ctx),
        Command::Check(a) => check::run(*a, ctx),
        Command::Reflector(a) => reflector::run(a, ctx),
    }
}
