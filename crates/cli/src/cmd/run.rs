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

/// Runs the guard until SIGTERM or SIGINT; SIGHUP reloads the configuration and the call policy.
pub fn run(args: RunArgs, ctx: &Context) -> Outcome {
    let config = ctx.config()?;
    let policy_source = args.site.policy.as_ref().map(|path| {
        let site = args.site.clone();
        let load = move || {
            let site = site.load().map_err(|e| match e {
                Failure::Usage(m) => m.lines().map(str::to_owned).collect(),
                other => vec![format!("{other:?}")],
            })?;
            Ok(pbxguard_numbers::guard::CallGuard::new(
                site.plan,
                pbxguard_numbers::Classifier::default(),
                site.policy,
            ))
        };
        daemon::PolicySource::new(path, Arc::new(load))
    });
    let call_guard = match &policy_source {
        Some(source) => {
            let guard = source
                .load()
                .map_err(|mistakes| Failure::Usage(mistakes.join("\n")))?;
            daemon::check_trunks(guard.policy().config(), &config)
                .map_err(|problems| Failure::Usage(problems.join("\n")))?;
            Some(guard)
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
        policy_source,
    };
    daemon::run(opts, &stop, &reload).map_err(|e| Failure::Other(e.into()))?;
    Ok(Exit::Ok)
}
