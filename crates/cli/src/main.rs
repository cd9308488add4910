//! `pbxguard`: keeps internet-facing PBXs safe.

mod cmd;
mod context;

use std::process::ExitCode;

use clap::Parser;

use crate::context::{Context, Exit, Failure};

/// pbxguard keeps internet-facing phone systems (PBXs) safe.
///
/// It plans which ports a PBX needs open, bans SIP scanners and brute forcers in the kernel, stops toll
/// fraud and lints PBX configurations. Every command reads one configuration file
/// (/etc/pbxguard/pbxguard.toml, or --config FILE); without one it uses safe built-in defaults, which
/// `pbxguard config default` prints with a comment on every key.
///
/// Exit codes: 0 success, 1 findings or failure, 2 usage or configuration error.
#[derive(Debug, Parser)]
#[command(
    name = "pbxguard",
    version,
    propagate_version = true,
    max_term_width = 110
)]
struct Cli {
    /// Configuration file [default: /etc/pbxguard/pbxguard.toml, built-in defaults if it does not exist].
    #[arg(
        long,
        short = 'c',
        global = true,
        value_name = "FILE",
        env = "PBXGUARD_CONFIG"
    )]
    config: Option<std::path::PathBuf>,

    /// Print machine-readable JSON instead of text, where the output is data.
    #[arg(long, global = true)]
    json: bool,

    /// More log detail (-v info, -vv debug, -vvv trace). Logs go to stderr.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Only log errors.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    quiet: bool,

    #[command(subcommand)]
    command: cmd::Command,
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PBXGUARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon reports what it guards and every ban at info level; other commands stay quiet.
    let daemon = matches!(cli.command, cmd::Command::Run(_));
    init_logging(cli.verbose.max(u8::from(daemon)), cli.quiet);
    let ctx = Context::new(cli.config, cli.json);
    match cmd::run(cli.command, &ctx) {
        Ok(Exit::Ok) => ExitCode::SUCCESS,
        Ok(Exit::Findings) => ExitCode::from(1),
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Config(err)) => {
            eprintln!("{err}");
            let n = err.diagnostics.len();
            eprintln!(
                "error: the configuration has {n} mistake{}",
                if n == 1 { "" } else { "s" }
            );
            ExitCode::from(2)
        }
        Err(Failure::Other(err)) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
