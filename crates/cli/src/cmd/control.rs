//! `pbxguard status`, `bans`, `ban`, `unban`, `allow`: operate a running guard through its control socket.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use pbxguard_daemon::api;
use serde_json::{Value, json};

use crate::context::{self, Context, Exit, Failure, Outcome};

/// Where to reach the guard.
#[derive(Debug, Args)]
pub struct SocketArg {
    /// The guard's control socket [default: [guard] socket of the configuration].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

impl SocketArg {
    fn path(&self, ctx: &Context) -> Result<PathBuf, Failure> {
        match &self.socket {
            Some(p) => Ok(p.clone()),
            None => Ok(PathBuf::from(ctx.config()?.guard.socket)),
        }
    }
}

/// `pbxguard ban`
#[derive(Debug, Args)]
pub struct BanArgs {
    /// The address to ban (an IPv6 address bans its [bans] ipv6_prefix network).
    address: String,
    /// How long, e.g. 30m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    duration: std::time::Duration,
    /// Why, recorded with the ban.
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    socket: SocketArg,
}

/// `pbxguard allow`
#[derive(Debug, Subcommand)]
pub enum AllowCommand {
    /// Add a network to the runtime allow list (never banned; lifts bans it covers). Persists across restarts.
    Add {
        /// Address or network in CIDR notation.
        net: String,
        /// A note, e.g. "Berlin office".
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Remove a network from the runtime allow list.
    Remove {
        /// Address or network as added.
        net: String,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// List the runtime allow list (the configuration's [lists] allow applies too).
    List {
        #[command(flatten)]
        socket: SocketArg,
    },
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    pbxguard_config::value::parse_duration(s)
}

fn call(
    socket: &SocketArg,
    ctx: &Context,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Failure> {
    let path_buf = socket.path(ctx)?;
    api::call(&path_buf, method, path, body.as_ref()).map_err(|e| match e {
        api::ApiError::Refused {
            status: 400 | 404 | 409,
            message,
        } => Failure::Usage(message),
        other => Failure::Other(other.into()),
    })
}

fn encode(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2F")
}

/// `pbxguard status`
pub fn status(socket: &SocketArg, ctx: &Context) -> Outcome {
    let v = call(socket, ctx, "GET", "/status", None)?;
    if ctx.json {
        context::print_json(&v)?;
        return Ok(Exit::Ok);
    }
    let g = |p: &str| v.pointer(p).cloned().unwrap_or(Value::Null);
    let mut text = format!(
        "pbxguard {} up {}s, {}\n\
         active bans      {}\n\
         tracked sources  {}\n\
         observations     {}   bans {}   alerts {}   dropped inline {}\n\
         packets          {}   SIP messages {}   not SIP {}   kernel drops {}\n\
         ban latency      p50 {} µs   p99 {} µs",
        g("/version").as_str().unwrap_or("?"),
        g("/uptime_secs"),
        if g("/enforcing").as_bool() == Some(true) {
            "enforcing (nftables)"
        } else {
            "OBSERVE-ONLY (not banning)"
        },
        g("/active_bans"),
        g("/tracked_sources"),
        g("/engine/observations"),
        g("/engine/bans"),
        g("/engine/alerts"),
        g("/engine/dropped"),
        g("/pipeline/packets"),
        g("/pipeline/messages"),
        g("/pipeline/not_sip"),
        g("/capture/kernel_drops"),
        g("/ban_latency_us/p50"),
        g("/ban_latency_us/p99"),
    );
    if !g("/inline").is_null() {
        text.push_str(&format!(
            "\ninline queue     {} judged   {} accepted   {} dropped   {} answered",
            g("/inline/packets"),
            g("/inline/accepted"),
            g("/inline/dropped"),
            g("/inline/answered"),
        ));
    }
    text.push_str(&trunk_table(&g("/trunks")));
    context::print(&text)?;
    Ok(Exit::Ok)
}

/// The call policy's trunks as lines of the status table: calls in progress against each cap, and what
/// the cap turned away. Nothing without a call policy (or from a guard too old to report trunks).
fn trunk_table(trunks: &Value) -> String {
    let rows = trunks.as_array().map(Vec::as_slice).unwrap_or_default();
    if rows.is_empty() {
        return String::new();
    }
    let line = |name: &str, calls: &str, cap: &str, refused: &str, over: &str| {
        format!("\n{name:<16} {calls:>6} {cap:>5} {refused:>8} {over:>16}")
    };
    let mut out = line("trunk", "calls", "cap", "refused", "placed over cap");
    for t in rows {
        let n = |key: &str| {
            t.get(key)
                .and_then(Value::as_u64)
                .map_or_else(|| "-".to_owned(), |n| n.to_string())
        };
        out.push_str(&line(
            t.get("name").and_then(Value::as_str).unwrap_or("?"),
            &n("calls"),
            &n("cap"),
            &n("refused"),
            &n("placed_over_cap"),
        ));
    }
    out
}

/// `pbxguard bans`
pub fn bans(socket: &SocketArg, ctx: &Context) -> Outcome {
    let v = call(socket, ctx, "GET", "/bans", None)?;
    if ctx.json {
        context::print_json(&v)?;
        return Ok(Exit::Ok);
    }
    let mut out = format!(
        "{:<28} {:>10} {:>7} {:<22} evidence\n",
        "target", "remaining", "offence", "detector"
    );
    for b in v.as_array().into_iter().flatten() {
        let ev = b.get("evidence").cloned().unwrap_or(Value::Null);
        let mut evidence = format!(
            "{}/{}",
            ev.get("count").unwrap_or(&Value::Null),
            ev.get("threshold").unwrap_or(&Value::Null)
        );
        if let Some(u) = ev.get("sample_user").and_then(Value::as_str) {
            evidence.push_str(&format!(" user={u}"));
        }
        if let Some(ua) = ev.get("sample_user_agent").and_then(Value::as_str) {
            evidence.push_str(&format!(" ua={ua:?}"));
        }
        out.push_str(&format!(
            "{:<28} {:>9}s {:>7} {:<22} {}\n",
            b.get("target").and_then(Value::as_str).unwrap_or("?"),
            b.get("remaining_secs").unwrap_or(&Value::Null),
            b.get("offence").unwrap_or(&Value::Null),
            b.get("detector").and_then(Value::as_str).unwrap_or("-"),
            evidence
        ));
    }
    context::print(&out)?;
    Ok(Exit::Ok)
}

/// `pbxguard ban ADDRESS`
pub fn ban(args: &BanArgs, ctx: &Context) -> Outcome {
    let body = json!({ "target": args.address, "duration_secs": args.duration.as_secs(), "reason": args.reason });
    let v = call(&args.socket, ctx, "POST", "/bans", Some(body))?;
    if ctx.json {
        context::print_json(&v)?;
    } else {
        context::print(&format!(
            "banned {}",
            v.get("banned").and_then(Value::as_str).unwrap_or("?")
        ))?;
    }
    Ok(Exit::Ok)
}

/// `pbxguard unban ADDRESS`
pub fn unban(address: &str, socket: &SocketArg, ctx: &Context) -> Outcome {
    let v = call(
        socket,
        ctx,
        "DELETE",
        &format!("/bans/{}", encode(address)),
        None,
    )?;
    if ctx.json {
        context::print_json(&v)?;
    } else {
        context::print(&format!(
            "unbanned {}",
            v.get("unbanned").and_then(Value::as_str).unwrap_or("?")
        ))?;
    }
    Ok(Exit::Ok)
}

/// `pbxguard allow …`
pub fn allow(cmd: &AllowCommand, ctx: &Context) -> Outcome {
    let v = match cmd {
        AllowCommand::Add { net, note, socket } => call(
            socket,
            ctx,
            "POST",
            "/allow",
            Some(json!({ "net": net, "note": note })),
        )?,
        AllowCommand::Remove { net, socket } => call(
            socket,
            ctx,
            "DELETE",
            &format!("/allow/{}", encode(net)),
            None,
        )?,
        AllowCommand::List { socket } => call(socket, ctx, "GET", "/allow", None)?,
    };
    if ctx.json {
        context::print_json(&v)?;
    } else if let Some(list) = v.as_array() {
        let lines: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
        context::print(&if lines.is_empty() {
            "(runtime allow list is empty)".to_owned()
        } else {
            lines.join("\n")
        })?;
    } else {
        context::print(&v.to_string())?;
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_table_lists_each_trunk_with_its_calls_cap_and_refusals() {
        let trunks = json!([
            { "name": "carrier", "calls": 2, "cap": 2, "refused": 1, "placed_over_cap": 0 },
            { "name": "backup", "calls": 0, "cap": null, "refused": 0, "placed_over_cap": 0 },
        ]);
        let table = trunk_table(&trunks);
        let lines: Vec<Vec<&str>> = table
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines,
            [
                vec!["trunk", "calls", "cap", "refused", "placed", "over", "cap"],
                vec!["carrier", "2", "2", "1", "0"],
                vec!["backup", "0", "-", "0", "0"],
            ]
        );
        assert_eq!(trunk_table(&json!([])), "");
        assert_eq!(trunk_table(&Value::Null), "");
    }
}
