//! `pbxguard plan`: a site description in, firewall rules, port forwards and explanations out.

use std::path::PathBuf;

use clap::Args;
use clap::builder::PossibleValuesParser;
use pbxguard_firewall::{Catalog, EXAMPLE_SITE, Format, Plan, Site, render};
use serde_json::json;

use crate::context::{self, Context, Exit, Failure, Outcome};

fn format_names() -> Vec<&'static str> {
    Format::ALL.iter().map(|(n, _)| *n).collect()
}

/// `pbxguard plan [SITE] [--format F] [--explain] [--check]`
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Site description (TOML): product, features, LAN address, RTP range, trusted sources, SSH and
    /// admin networks, deployment. Without it, the built-in example site is used (print it with
    /// --example and edit it).
    site: Option<PathBuf>,

    /// Output: nft (nftables ruleset), iptables / ip6tables (iptables-restore / ip6tables-restore),
    /// firewalld (zone file), ufw
    /// (commands), aws (security-group permissions JSON), forwards / forwards-md (router port-forward
    /// table), conntrack (SIP helper and UDP timeout advice), explain (same as --explain).
    #[arg(long, short = 'f', default_value = "nft", value_parser = PossibleValuesParser::new(format_names()))]
    format: String,

    /// Say for every port why it is open or closed, list the warnings, and give the conntrack and NAT
    /// advice (instead of a ruleset).
    #[arg(long, conflicts_with = "format")]
    explain: bool,

    /// Only validate the site description: report every mistake with its line, print nothing else.
    #[arg(long)]
    check: bool,

    /// Print the built-in example site description, to start a site file from.
    #[arg(long, conflicts_with_all = ["site", "check", "explain"])]
    example: bool,

    /// List the products of the catalog with their features.
    #[arg(long, conflicts_with_all = ["site", "check", "explain", "example"])]
    products: bool,
}

/// Runs `pbxguard plan`. The global configuration is not involved: the site file is its own input.
pub fn run(args: PlanArgs, ctx: &Context) -> Outcome {
    let catalog = Catalog::builtin()
        .map_err(|e| Failure::Other(anyhow::anyhow!("the built-in port catalog is broken: {e}")))?;
    if args.example {
        context::print(EXAMPLE_SITE)?;
        return Ok(Exit::Ok);
    }
    if args.products {
        return products(&catalog, ctx);
    }
    let (name, text) = match &args.site {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|e| {
                Failure::Usage(format!("cannot read site file {}: {e}", path.display()))
            })?,
        ),
        None => {
            tracing::info!("no site file given: planning the built-in example site");
            ("built-in example site".to_owned(), EXAMPLE_SITE.to_owned())
        }
    };
    let site = match Site::parse(&text, &catalog) {
        Ok(site) => site,
        Err(errors) => {
            if ctx.json {
                let diags: Vec<_> = errors
                    .0
                    .iter()
                    .map(|e| json!({"file": name, "line": e.line(), "column": e.column(), "message": e.message()}))
                    .collect();
                context::print_json(&json!({"file": name, "valid": false, "diagnostics": diags}))?;
            }
            let lines: Vec<String> = errors
                .0
                .iter()
                .map(|e| match e.column() {
                    Some(c) => format!("{name}:{}:{c}: {}", e.line(), e.message()),
                    None => format!("{name}:{}: {}", e.line(), e.message()),
                })
                .collect();
            let n = lines.len();
            return Err(Failure::Usage(format!(
                "{}\nthe site description has {n} mistake{}",
                lines.join("\n"),
                if n == 1 { "" } else { "s" }
            )));
        }
    };
    if args.check {
        if ctx.json {
            context::print_json(&json!({"file": name, "valid": true, "diagnostics": []}))?;
        } else {
            context::print(&format!("{name}: site description is valid"))?;
        }
        return Ok(Exit::Ok);
    }
    let plan = Plan::build(&site, &catalog).map_err(|e| Failure::Other(e.into()))?;
    if ctx.json {
        let value = serde_json::to_value(&plan)?;
        context::print_json(&value)?;
        return Ok(Exit::Ok);
    }
    let format = if args.explain {
        Format::Explain
    } else {
        args.format
            .parse::<Format>()
            .map_err(|e| Failure::Usage(e.to_string()))?
    };
    if format != Format::Explain {
        for w in &plan.warnings {
            tracing::warn!("{}", w.message);
        }
    }
    context::print(&render(&plan, format))?;
    Ok(Exit::Ok)
}

fn products(catalog: &Catalog, ctx: &Context) -> Outcome {
    if ctx.json {
        let v: Vec<_> = catalog
            .products()
            .iter()
            .map(|p| {
                json!({
                    "id": p.id,
                    "name": p.name,
                    "aliases": p.aliases,
                    "rtp_default": p.rtp.as_ref().map(|r| r.default.to_string()),
                    "features": p.features,
                    "sources": p.sources,
                })
            })
            .collect();
        context::print_json(&json!(v))?;
        return Ok(Exit::Ok);
    }
    let mut out = String::new();
    for p in catalog.products() {
        out.push_str(&format!("{} ({})", p.id, p.name));
        if !p.aliases.is_empty() {
            out.push_str(&format!(", also: {}", p.aliases.join(", ")));
        }
        out.push('\n');
        if let Some(r) = &p.rtp {
            out.push_str(&format!("  RTP {}\n", r.default));
        }
        for f in &p.features {
            out.push_str(&format!("  feature {:<20} {}\n", f.name, f.description));
        }
    }
    context::print(&out)?;
    Ok(Exit::Ok)
}
