//! `pbxguard audit`: lint PBX configurations and firewall rulesets.

use std::path::PathBuf;

use clap::Args;
use pbxguard_audit::fs::{DiskResolver, collect};
use pbxguard_audit::{Options, Severity, Suppression, audit, output, rules};
use serde_json::json;

use crate::context::{self, Context, Exit, Failure, Outcome};

/// `pbxguard audit PATH…`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Configuration files or directories to audit (directories are read recursively).
    ///
    /// Recognised: Asterisk sip.conf, pjsip.conf, iax.conf, extensions.conf, voicemail.conf,
    /// manager.conf (and their *_custom.conf / *_additional.conf parts); FreeSWITCH XML (vars.xml,
    /// autoload_configs, sip_profiles, directory, dialplan); kamailio.cfg; firewall rulesets saved with
    /// `iptables-save`, `nft list ruleset` or `nft -j list ruleset`; a firewalld configuration
    /// directory (`/etc/firewalld`: zones, services, policies and firewalld.conf, read together);
    /// ufw's rules with its defaults (`/etc/ufw /etc/default/ufw`). Other files are skipped.
    /// docs/audit.md says how firewalld zones and ufw chains are read.
    #[arg(required_unless_present = "list_rules", value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Print every rule (id, severity, what it finds, why it matters, the fix) and exit.
    #[arg(long)]
    list_rules: bool,

    /// Print SARIF 2.1.0 (for CI code scanning and editors) instead of the table.
    #[arg(long)]
    sarif: bool,

    /// Report only findings at or above this severity; exit 1 when any remain.
    #[arg(long, value_name = "LEVEL", default_value = "low", value_parser = parse_severity)]
    min_severity: Severity,

    /// Accept a finding: "RULE[@PATH[:LINE]] REASON" (repeatable; added to `[audit] suppress`).
    #[arg(long, value_name = "SUPPRESSION")]
    suppress: Vec<String>,

    /// A Kamailio define given on its command line (`kamailio -A NAME`), which the file cannot show
    /// (repeatable).
    #[arg(long = "kamailio-define", value_name = "NAME")]
    kamailio_defines: Vec<String>,

    /// Directory relative includes are also looked up in, after the including file's own directory
    /// (repeatable; e.g. /etc/asterisk).
    #[arg(long = "include-dir", value_name = "DIR")]
    include_dirs: Vec<PathBuf>,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// Runs `pbxguard audit`.
pub fn run(args: AuditArgs, ctx: &Context) -> Outcome {
    if args.sarif && ctx.json {
        return Err(Failure::Usage("--json and --sarif are exclusive".into()));
    }
    if args.list_rules {
        return list_rules(ctx);
    }
    let config = ctx.config()?;
    let mut suppressions = Vec::new();
    for (i, entry) in config.audit.suppress.iter().enumerate() {
        let s = Suppression::parse(entry)
            .map_err(|e| Failure::Usage(format!("`audit.suppress` entry {}: {e}", i + 1)))?;
        suppressions.push(s);
    }
    for entry in &args.suppress {
        let s = Suppression::parse(entry)
            .map_err(|e| Failure::Usage(format!("--suppress {entry:?}: {e}")))?;
        suppressions.push(s);
    }
    for p in &args.paths {
        if !p.exists() {
            return Err(Failure::Usage(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    let (files, errors) = collect(&args.paths);
    for e in &errors {
        tracing::warn!("not audited: {e}");
    }
    tracing::info!("auditing {} file(s)", files.len());
    let mut resolver = DiskResolver {
        bases: args.include_dirs,
    };
    let options = Options {
        suppressions,
        kamailio_defines: args.kamailio_defines,
    };
    let report = audit(files, &mut resolver, &options);
    let text = if args.sarif {
        output::sarif(&report, args.min_severity)
    } else if ctx.json {
        output::json(&report, args.min_severity)
    } else {
        output::table(&report, args.min_severity)
    };
    context::print(&text)?;
    Ok(if report.fails(args.min_severity) {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

fn list_rules(ctx: &Context) -> Outcome {
    if ctx.json {
        let list: Vec<_> = rules::ALL
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "severity": r.severity.as_str(),
                    "title": r.title,
                    "why": r.why,
                    "fix": r.fix,
                })
            })
            .collect();
        context::print_json(&json!(list))?;
    } else {
        let mut text = String::new();
        for r in rules::ALL {
            text.push_str(&format!(
                "{:<27} {:<8} {}\n",
                r.id,
                r.severity.as_str(),
                r.title
            ));
            text.push_str(&format!("{:<36} why: {}\n", "", r.why));
            text.push_str(&format!("{:<36} fix: {}\n\n", "", r.fix));
        }
        context::print(&text)?;
    }
    Ok(Exit::Ok)
}
