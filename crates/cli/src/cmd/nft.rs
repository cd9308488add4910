//! `pbxguard nft`: pbxguard's own nftables table, operated directly in the kernel (no daemon needed).

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Subcommand};
use pbxguard_config::Config;
use pbxguard_config::value::{format_duration, parse_duration};
use pbxguard_sys::netns;
use pbxguard_sys::nft::{self, Cidr, DryRun, Enforcer, NetList, Nft, NftError, Target};
use serde_json::json;

use crate::context::{self, Context, Exit, Failure, Outcome};

/// `pbxguard nft …`
#[derive(Debug, Args)]
pub struct NftArgs {
    /// Print what would be done, in nft syntax, and change nothing.
    #[arg(long, global = true)]
    dry_run: bool,

    /// Act in this network namespace (a name from `ip netns list`) instead of the current one.
    #[arg(long, global = true, value_name = "NAME")]
    netns: Option<String>,

    #[command(subcommand)]
    command: NftCommand,
}

/// The operations on table `inet pbxguard`.
#[derive(Debug, Subcommand)]
pub enum NftCommand {
    /// Print the table pbxguard creates, in nft syntax. Needs no privileges.
    ///
    /// One table, `inet pbxguard`: allow and block lists (interval sets), ban sets with per-element
    /// timeouts, and one chain at hook prerouting, priority raw (-300). It runs before connection
    /// tracking, so a banned UDP source is dropped even when the host's own ruleset accepts
    /// established flows first (the trap that makes fail2ban's UDP bans useless).
    Show,
    /// Create the table (idempotent: bans already in it are kept) and load the allow list
    /// (`lists.allow` and `lists.trunks`) and the block list (`lists.block`) from the configuration.
    Setup,
    /// Ban addresses in the kernel for a while (IPv6 addresses as their `bans.ipv6_prefix` network).
    Ban {
        /// The addresses to ban.
        #[arg(required = true, value_name = "ADDRESS")]
        addresses: Vec<IpAddr>,
        /// How long the ban lasts, e.g. 10m, 1h, 7d.
        #[arg(long, short = 't', default_value = "1h", value_parser = parse_duration, conflicts_with = "forever")]
        time: Duration,
        /// Ban until lifted with `pbxguard nft unban`.
        #[arg(long)]
        forever: bool,
    },
    /// Lift bans. Addresses that are not banned are ignored.
    Unban {
        /// The addresses to release.
        #[arg(required = true, value_name = "ADDRESS")]
        addresses: Vec<IpAddr>,
    },
    /// List the bans in force, with the time each has left.
    List,
    /// Show how many packets each rule of the table accepted (allow lists) or dropped (block list, bans).
    Counters,
    /// Delete table `inet pbxguard` with every ban and list in it. Leaves no trace; other tables are
    /// never touched.
    Remove,
}

/// Runs `pbxguard nft …`.
pub fn run(args: NftArgs, ctx: &Context) -> Outcome {
    let config = ctx.config()?;
    let prefix = config.bans.ipv6_prefix;
    if let NftCommand::Show = args.command {
        context::print(&nft::ruleset_text(prefix))?;
        return Ok(Exit::Ok);
    }
    if args.dry_run {
        let mut d = DryRun::new();
        let outcome = exec(&mut d, args.command, &config, ctx);
        let actions: Vec<String> = d.actions().iter().map(ToString::to_string).collect();
        if ctx.json {
            context::print_json(&json!({ "dry_run": true, "actions": actions }))?;
        } else {
            for a in actions {
                context::print(&format!("# would run:\n{a}"))?;
            }
        }
        return outcome;
    }
    let nft = match &args.netns {
        Some(name) => Nft::open_in_netns(&netns::named(name)),
        None => Nft::open(),
    };
    let mut nft = nft.map_err(explain)?;
    if let NftCommand::Counters = args.command {
        return counters(&mut nft, ctx);
    }
    exec(&mut nft, args.command, &config, ctx)
}

fn exec<E: Enforcer>(e: &mut E, command: NftCommand, config: &Config, ctx: &Context) -> Outcome {
    let prefix = config.bans.ipv6_prefix;
    e.set_ipv6_prefix(prefix).map_err(explain)?;
    match command {
        NftCommand::Show => Ok(Exit::Ok),
        NftCommand::Counters => Err(Failure::Usage(
            "`nft counters` reads the kernel and has no dry run".to_owned(),
        )),
        NftCommand::Setup => setup(e, config),
        NftCommand::Ban {
            addresses,
            time,
            forever,
        } => ban(e, config, &addresses, (!forever).then_some(time)),
        NftCommand::Unban { addresses } => {
            let targets: Vec<Target> = addresses.iter().map(|a| target(*a, prefix)).collect();
            e.unban(&targets).map_err(explain)?;
            Ok(Exit::Ok)
        }
        NftCommand::List => list(e, ctx),
        NftCommand::Remove => {
            let existed = e.delete_table().map_err(explain)?;
            tracing::info!(
                "table inet pbxguard {}",
                if existed { "deleted" } else { "did not exist" }
            );
            Ok(Exit::Ok)
        }
    }
}

/// An IPv6 address is banned as its network when the configuration says so (the default /64).
fn target(addr: IpAddr, ipv6_prefix: u8) -> Target {
    match Target::from(addr) {
        Target::V6(v6) if ipv6_prefix < 128 => Target::v6_net(v6, ipv6_prefix),
        t => t,
    }
}

/// Converts the configuration's networks (validated there, host bits already zero).
fn cidrs<N>(nets: &[N], parts: impl Fn(&N) -> (IpAddr, u8)) -> Vec<Cidr> {
    nets.iter()
        .filter_map(|n| {
            let (a, p) = parts(n);
            Cidr::new(a, p).ok()
        })
        .collect()
}

/// Networks never dropped: the allow list and the trunks.
fn never_banned(config: &Config) -> Vec<Cidr> {
    let mut v = cidrs(&config.lists.allow, |n| (n.addr(), n.prefix_len()));
    v.extend(cidrs(&config.lists.trunks, |n| (n.addr(), n.prefix_len())));
    v
}

fn setup<E: Enforcer>(e: &mut E, config: &Config) -> Outcome {
    e.ensure_table().map_err(explain)?;
    let allow = never_banned(config);
    let block = cidrs(&config.lists.block, |n| (n.addr(), n.prefix_len()));
    e.set_list(NetList::Allow, &allow).map_err(explain)?;
    e.set_list(NetList::Block, &block).map_err(explain)?;
    tracing::info!(
        "table inet pbxguard ready: {} allow-listed and {} blocked networks",
        allow.len(),
        block.len()
    );
    Ok(Exit::Ok)
}

fn ban<E: Enforcer>(
    e: &mut E,
    config: &Config,
    addresses: &[IpAddr],
    time: Option<Duration>,
) -> Outcome {
    let prefix = e.ipv6_prefix();
    let never = never_banned(config);
    for a in addresses {
        if let Some(n) = never.iter().find(|n| n.contains(*a)) {
            tracing::warn!(
                "{a} is allow-listed or a trunk ({n}): the kernel does not drop it while the table's \
                 allow list holds it"
            );
        }
    }
    let bans: Vec<(Target, Option<Duration>)> = addresses
        .iter()
        .map(|a| (target(*a, prefix), time))
        .collect();
    e.ensure_table().map_err(explain)?;
    e.ban(&bans).map_err(explain)?;
    Ok(Exit::Ok)
}

fn list<E: Enforcer>(e: &mut E, ctx: &Context) -> Outcome {
    let bans = match e.list_bans() {
        Ok(b) => b,
        Err(NftError::TableMissing) => Vec::new(),
        Err(err) => return Err(explain(err)),
    };
    if ctx.json {
        let v: Vec<_> = bans
            .iter()
            .map(|b| {
                json!({
                    "target": b.target.to_string(),
                    "timeout_secs": b.timeout.map(|d| d.as_secs()),
                    "expires_secs": b.expires.map(|d| d.as_secs()),
                })
            })
            .collect();
        context::print_json(&json!(v))?;
        return Ok(Exit::Ok);
    }
    let fmt = |d: Option<Duration>| {
        d.map_or_else(
            || "never".to_owned(),
            |d| format_duration(Duration::from_secs(d.as_secs().max(1))),
        )
    };
    let mut text = format!("{:<44} {:>12} {:>12}\n", "BANNED", "EXPIRES IN", "BAN TIME");
    for b in &bans {
        text += &format!(
            "{:<44} {:>12} {:>12}\n",
            b.target.to_string(),
            fmt(b.expires),
            fmt(b.timeout)
        );
    }
    text += &format!(
        "{} ban{}",
        bans.len(),
        if bans.len() == 1 { "" } else { "s" }
    );
    context::print(&text)?;
    Ok(Exit::Ok)
}

fn counters(nft: &mut Nft, ctx: &Context) -> Outcome {
    let counters = nft.counters().map_err(explain)?;
    if ctx.json {
        let v: Vec<_> = counters
            .iter()
            .map(|c| json!({ "set": c.set, "packets": c.packets, "bytes": c.bytes }))
            .collect();
        context::print_json(&json!(v))?;
        return Ok(Exit::Ok);
    }
    let mut text = format!(
        "{:<10} {:>8} {:>14} {:>16}\n",
        "SET", "ACTION", "PACKETS", "BYTES"
    );
    for c in &counters {
        let action = if c.set.starts_with("allow") {
            "accept"
        } else {
            "drop"
        };
        text += &format!(
            "{:<10} {:>8} {:>14} {:>16}\n",
            c.set, action, c.packets, c.bytes
        );
    }
    context::print(&text)?;
    Ok(Exit::Ok)
}

fn explain(e: NftError) -> Failure {
    let hint = match &e {
        NftError::SocketOpenFailed(io) | NftError::KernelRejected { error: io, .. }
            if io.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            ": this needs root or CAP_NET_ADMIN (--dry-run shows what would be done)"
        }
        NftError::NamespaceJoinFailed(_) => ": is it in `ip netns list`? Joining needs root",
        _ => "",
    };
    Failure::Other(anyhow::Error::new(e).context(format!("nftables{hint}")))
}
