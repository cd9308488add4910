//! `pbxguard capture`: watch the SIP traffic the guard's capture sensor sees, and count what the kernel
//! dropped. A diagnostic for interfaces and ports, and a live measure of capture rates.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use pbxguard_config::value::parse_duration;
use pbxguard_sys::capture::{Capture, CaptureConfig};
use pbxguard_sys::decode::{self, Decoded, ReasmLimits, Reassembler, Transport};
use pbxguard_sys::netns;
use serde_json::json;

use crate::context::{self, Context, Exit, Failure, Outcome};

/// `pbxguard capture …`
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Interface to capture on [default: every interface].
    #[arg(long, short = 'i', value_name = "NAME")]
    interface: Option<String>,

    /// SIP port to watch, as source or destination, UDP and TCP (repeat for several).
    #[arg(long = "port", short = 'p', value_name = "PORT", default_values_t = [5060u16, 5080])]
    ports: Vec<u16>,

    /// Stop after this many packets.
    #[arg(long, short = 'n', value_name = "N")]
    count: Option<u64>,

    /// Stop after this long, e.g. 30s or 5m.
    #[arg(long, short = 'd', value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Print only the closing summary (rates and kernel drops), not every packet.
    #[arg(long, short = 's')]
    summary: bool,

    /// Capture in this network namespace (a name from `ip netns list`).
    #[arg(long, value_name = "NAME")]
    netns: Option<String>,
}

#[derive(Debug, Default)]
struct Totals {
    packets: u64,
    bytes: u64,
    reassembled: u64,
    undecodable: u64,
}

/// Runs `pbxguard capture`.
pub fn run(args: CaptureArgs, ctx: &Context) -> Outcome {
    if args.count.is_none() && args.duration.is_none() {
        tracing::warn!("capturing until interrupted; give --count or --duration to get a summary");
    }
    let cfg = CaptureConfig {
        interface: args.interface.clone(),
        ports: args.ports.clone(),
        ..CaptureConfig::default()
    };
    let cap = match &args.netns {
        Some(name) => Capture::open_in_netns(&netns::named(name), &cfg),
        None => Capture::open_with(&cfg),
    };
    let mut cap = cap.map_err(|e| {
        let hint = match &e {
            pbxguard_sys::capture::CaptureError::SocketOpenFailed(_) => {
                ": capturing needs root or CAP_NET_RAW"
            }
            _ => "",
        };
        Failure::Other(anyhow::Error::new(e).context(format!("capture{hint}")))
    })?;

    let start = Instant::now();
    let mut totals = Totals::default();
    let mut reasm = Reassembler::new(ReasmLimits::default());
    let mut out = std::io::stdout().lock();
    let done = |t: &Totals| {
        args.count.is_some_and(|n| t.packets >= n)
            || args.duration.is_some_and(|d| start.elapsed() >= d)
    };
    while !done(&totals) {
        let Some(batch) = cap
            .next_batch(Duration::from_millis(100))
            .map_err(|e| Failure::Other(e.into()))?
        else {
            continue;
        };
        for frame in batch.frames() {
            if done(&totals) {
                break;
            }
            let owned;
            let p = match frame.decode() {
                Ok(Decoded::Packet(p)) => p,
                Ok(Decoded::Fragment(f)) => {
                    let Some(r) = reasm.push(start.elapsed(), &f) else {
                        continue;
                    };
                    owned = r;
                    totals.reassembled += 1;
                    match decode::decode_transport(
                        owned.protocol,
                        owned.src,
                        owned.dst,
                        &owned.data,
                        None,
                    ) {
                        Ok(p) => p,
                        Err(_) => {
                            totals.undecodable += 1;
                            continue;
                        }
                    }
                }
                Err(_) => {
                    totals.undecodable += 1;
                    continue;
                }
            };
            totals.packets += 1;
            totals.bytes += p.payload.len() as u64;
            if args.summary {
                continue;
            }
            let proto = match p.transport {
                Transport::Udp => "udp",
                Transport::Tcp { .. } => "tcp",
            };
            let first = first_line(p.payload);
            let line = if ctx.json {
                json!({
                    "time": frame.timestamp.as_secs_f64(),
                    "src": format!("{}", std::net::SocketAddr::new(p.src, p.src_port)),
                    "dst": format!("{}", std::net::SocketAddr::new(p.dst, p.dst_port)),
                    "transport": proto,
                    "outgoing": frame.outgoing,
                    "length": p.payload.len(),
                    "first_line": first,
                })
                .to_string()
            } else {
                format!(
                    "{:.6} {} {}:{} -> {}:{} {} {}",
                    frame.timestamp.as_secs_f64(),
                    proto,
                    p.src,
                    p.src_port,
                    p.dst,
                    p.dst_port,
                    p.payload.len(),
                    first
                )
            };
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    drop(out);
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    let stats = cap.stats().map_err(|e| Failure::Other(e.into()))?;
    let rate = totals.packets as f64 / elapsed;
    if ctx.json {
        // One JSON object per line, the summary last: the whole output is a JSON-lines stream.
        context::print(
            &json!({
                "summary": {
                    "packets": totals.packets,
                    "payload_bytes": totals.bytes,
                    "reassembled": totals.reassembled,
                    "undecodable": totals.undecodable,
                    "seconds": elapsed,
                    "packets_per_second": rate,
                    "kernel_packets": stats.packets,
                    "kernel_drops": stats.drops,
                    "ring_full": stats.ring_full,
                }
            })
            .to_string(),
        )?;
    } else {
        context::print(&format!(
            "{} packets ({} payload bytes, {} reassembled, {} undecodable) in {elapsed:.3} s = {rate:.0} packets/s; \
             kernel: {} passed the filter, {} dropped, ring full {} times",
            totals.packets,
            totals.bytes,
            totals.reassembled,
            totals.undecodable,
            stats.packets,
            stats.drops,
            stats.ring_full
        ))?;
    }
    Ok(Exit::Ok)
}

/// The first line of a payload, printable: the SIP request or status line.
fn first_line(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .unwrap_or(payload.len())
        .min(120);
    payload
        .get(..end)
        .unwrap_or_default()
        .iter()
        .map(|b| {
            if b.is_ascii_graphic() || *b == b' ' {
                char::from(*b)
            } else {
                '.'
            }
        })
        .collect()
}
