//! The subcommands. Each lives in its own module with its `Args` and a `run` function.

use clap::Subcommand;

use crate::context::{Context, Outcome};

mod capture;
mod config;
mod control;
mod nft;
mod plan;
mod replay;
mod run;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate, print or document the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),

    /// Run the guard: watch SIP traffic, ban attackers in the kernel (nftables), keep state, serve the API.
    ///
    /// Captures SIP on [guard] interfaces and sip_ports (default: every interface, UDP/TCP 5060 and 5080),
    /// feeds every message to the detection engine, and bans offenders in the nftables table
    /// `inet pbxguard`, which drops them before conntrack. Bans are stored in [guard] state_dir and
    /// restored at start. Without the privileges to change nftables it runs observe-only and says so.
    /// SIGHUP reloads the configuration; SIGTERM stops (bans stay in the kernel until they expire;
    /// `nft delete table inet pbxguard` removes every trace).
    Run(run::RunArgs),

    /// Show a running guard's state: bans, counters, kernel drops, ban latency.
    Status {
        #[command(flatten)]
        socket: control::SocketArg,
    },

    /// List the bans in force, with detector and evidence.
    Bans {
        #[command(flatten)]
        socket: control::SocketArg,
    },

    /// Ban an address by hand.
    Ban(control::BanArgs),

    /// Lift a ban.
    Unban {
        /// The banned address (or any address in a banned IPv6 prefix).
        address: String,
        #[command(flatten)]
        socket: control::SocketArg,
    },

    /// Manage the runtime allow list of a running guard.
    #[command(subcommand)]
    Allow(control::AllowCommand),
    /// Watch the SIP traffic the capture sensor sees, and the kernel's drop counters.
    Capture(capture::CaptureArgs),
    /// Operate pbxguard's nftables table directly: set it up, ban, unban, list, remove.
    Nft(nft::NftArgs),
    /// Plan the firewall for a PBX site: nftables, iptables, firewalld, ufw, AWS security group, router
    /// port forwards, conntrack advice, and why every port is open or closed.
    ///
    /// Reads a site description (TOML; `pbxguard plan --example` prints one), validates it (every
    /// mistake with its line), and renders the plan. `--json` prints the plan model itself.
    Plan(plan::PlanArgs),
    /// Replay PBX logs and packet captures through the engine offline: what would have been banned, when
    /// and why.
    ///
    /// Reads Asterisk, FreeSWITCH and Kamailio logs (format recognised from the first lines, or
    /// --format) and pcap captures, merged by time, with the global configuration ([rules], [lists],
    /// [logs] kamailio_patterns). Prints the bans as a table (or --json) and exits 1 if there is any.
    Replay(replay::ReplayArgs),
}

/// Runs one subcommand.
pub fn run(command: Command, ctx: &Context) -> Outcome {
    match command {
        Command::Config(c) => config::run(c, ctx),
        Command::Run(args) => run::run(args, ctx),
        Command::Status { socket } => control::status(&socket, ctx),
        Command::Bans { socket } => control::bans(&socket, ctx),
        Command::Ban(args) => control::ban(&args, ctx),
        Command::Unban { address, socket } => control::unban(&address, &socket, ctx),
        Command::Allow(cmd) => control::allow(&cmd, ctx),
        Command::Nft(a) => nft::run(a, ctx),
        Command::Capture(a) => capture::run(a, ctx),
        Command::Plan(args) => plan::run(args, ctx),
        Command::Replay(args) => replay::run(args, ctx),
    }
}
