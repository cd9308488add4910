//! `pbxguard run`: the guard daemon.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Args;
use pbxguard_daemon::daemon::{self, Options};

use crate::context::{Context, Exit, Failure, Outcome};

/// `pbxguard run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Detect and log, store decisions, but do not touch nftables.
    #[arg(long)]
    dry_run: bool,

    /// Check the configuration and exit without starting.
    #[arg(long)]
    check: bool,

    /// The call policy (toll-fraud defence): refused INVITEs raise an alert. Same file as for
    /// `pbxguard classify` and `pbxguard cdr`.
    #[command(flatten)]
    site: crate::cmd::policy_file::SiteArgs,
}

/// Runs the guard until SIGTERM or SIGINT; SIGHUP reloads the configuration.
pub fn run(args: RunArgs, ctx: &Context) -> Outcome {
    let config = ctx.config()?;
    let call_guard = match &args.site.policy {
        Some(_) => {
            let site = args.site.load()?;
            check_trunks(&site.policy, &config)?;
            Some(pbxguard_numbers::guard::CallGuard::new(
                site.plan,
                pbxguard_numbers::Classifier::default(),
                site.policy,
            ))
        }
        None => None,
    };
    if args.check {
        crate::context::print("configuration is valid")?;
        return Ok(Exit::Ok);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Failure::Other(e.into()))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload))
        .map_err(|e| Failure::Other(e.into()))?;
    let opts = Options {
        config,
        config_path: ctx.config_file(),
        dry_run: args.dry_run,
        call_guard,
    };
    daemon::run(opts, &stop, &reload).map_err(|e| Failure::Other(e.into()))?;
    Ok(Exit::Ok)
}

/// The policy's named trunks must be trunks of the configuration too: their addresses are never banned
/// (UDP sources can be spoofed), and none may be allow-listed, since the allow list exempts an address from
/// every check, the trunk's cap included.
fn check_trunks(
    policy: &pbxguard_numbers::policy::PolicyConfig,
    config: &pbxguard_config::Config,
) -> Result<(), Failure> {
    let mut problems = Vec::new();
    for trunk in &policy.trunks {
        for net in &trunk.networks {
            if !config.lists.trunks.iter().any(|t| t.contains(net)) {
                problems.push(format!(
                    "policy `trunks.{}.addresses`: {net} is not within [lists] trunks of the configuration \
                     (add it there: a trunk's addresses are never banned)",
                    trunk.name
                ));
            }
            if let Some(a) = config
                .lists
                .allow
                .iter()
                .find(|a| a.contains(net) || net.contains(*a))
            {
                problems.push(format!(
                    "policy `trunks.{}.addresses`: {net} overlaps [lists] allow {a}, which exempts it from \
                     every check, the trunk's cap included",
                    trunk.name
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Usage(problems.join("\n")))
    }
}
