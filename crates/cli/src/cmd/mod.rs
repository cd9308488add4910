//! The subcommands. Each lives in its own module with its `Args` and a `run` function.

use clap::Subcommand;

use crate::context::{Context, Outcome};

mod audit;
mod capture;
mod cdr;
mod check;
mod classify;
mod config;
mod control;
mod nft;
mod plan;
mod policy_file;
mod reflector;
mod replay;
mod run;
mod sip;

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
    /// Lint PBX configurations and firewall rulesets for the holes attackers use.
    ///
    /// Reads Asterisk, FreeSWITCH and Kamailio configuration and iptables, nft, firewalld and ufw
    /// rulesets, and reports each risk (guest calls, missing permit/deny, open dial plans, default
    /// passwords, exposed control ports, bans that conntrack bypasses…) with its file:line, why it
    /// matters and the fix. Exits 1 when a finding at or above --min-severity remains. Accept a
    /// finding with a reason inline (`; pbxguard-audit: ignore RULE reason`) or in
    /// `[audit] suppress`.
    Audit(audit::AuditArgs),

    /// Run the guard: watch SIP traffic, ban attackers in the kernel (nftables), keep state, serve the API.
    ///
    /// Captures SIP on [guard] interfaces and sip_ports (default: every interface, UDP/TCP 5060 and 5080),
    /// feeds every message to the detection engine, and bans offenders in the nftables table
    /// `inet pbxguard`, which drops them before conntrack. Bans are stored in [guard] state_dir and
    /// restored at start. Without the privileges to change nftables it runs observe-only and says so.
    /// [logs] files and journal add what the PBX logs (failed logins over TLS or WebSocket), resuming
    /// where the guard stopped; [guard] mode = "inline" judges each SIP/UDP request before the PBX sees it
    /// (NFQUEUE, fail-open); --policy also refuses forbidden calls. The control API is on [guard] socket
    /// (and on [guard] api_listen, loopback TCP with a token, for a scraper).
    /// SIGHUP reloads the configuration and the --policy file; SIGTERM stops (bans stay in the kernel
    /// until they expire; `nft delete table inet pbxguard` removes every trace).
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
    /// Parse SIP messages as the guard does; print the response it would send.
    #[command(subcommand)]
    Sip(sip::SipCommand),
}

/// Runs one subcommand.
pub fn run(command: Command, ctx: &Context) -> Outcome {
    match command {
        Command::Config(c) => config::run(c, ctx),
        Command::Classify(a) => classify::run(a, ctx),
        Command::Cdr(a) => cdr::run(a, ctx),
        Command::Audit(a) => audit::run(a, ctx),
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
        Command::Check(a) => check::run(*a, ctx),
        Command::Reflector(a) => reflector::run(a, ctx),
        Command::Sip(c) => sip::run(c, ctx),
    }
}
