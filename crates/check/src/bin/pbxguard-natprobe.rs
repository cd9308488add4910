//! A small command-line front end to the STUN drivers, for the lab and for manual use until the
//! `pbxguard check` / `pbxguard reflector` subcommands exist:
//!
//! ```text
//! pbxguard-natprobe serve PRIMARY [--alt-ip IP] [--alt-port PORT]
//! pbxguard-natprobe discover SERVER [--quick] [--no-hairpin]
//! pbxguard-natprobe lifetime SERVER [--intervals 10,20,30] [--kept-alive] [--quick]
//! ```
//!
//! Results are printed as `key: value` lines.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pbxguard_check::udp::{ClientSockets, StunServer, local_ip_towards, random_seed, run_probe};
use pbxguard_stun::RetransmitConfig;
use pbxguard_stun::discovery::{
    DiscoveryConfig, FilteringBehavior, Finding, MAPPING_SOCKET, MappingBehavior, NatDiscovery,
    Tests,
};
use pbxguard_stun::lifetime::{Flow, LifetimeConfig, LifetimeProbe};
use pbxguard_stun::server::{Limits, Server, ServerConfig};

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  pbxguard-natprobe serve PRIMARY [--alt-ip IP] [--alt-port PORT]\n  \
         pbxguard-natprobe discover SERVER [--quick] [--no-hairpin]\n  \
         pbxguard-natprobe lifetime SERVER [--intervals S,S,...] [--kept-alive] [--quick]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(cmd), Some(addr)) = (args.first(), args.get(1)) else {
        return usage();
    };
    let rest = args.get(2..).unwrap_or_default();
    let flag = |name: &str| rest.iter().any(|a| a == name);
    let value = |name: &str| {
        rest.iter()
            .position(|a| a == name)
            .and_then(|i| rest.get(i + 1))
            .cloned()
    };
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        eprintln!("not an IP:port address: {addr}");
        return usage();
    };
    let retransmit = if flag("--quick") {
        RetransmitConfig::quick()
    } else {
        RetransmitConfig::default()
    };
    let result = match cmd.as_str() {
        "serve" => {
            let alt_ip = match value("--alt-ip").map(|v| v.parse::<IpAddr>()) {
                None => None,
                Some(Ok(ip)) => Some(ip),
                Some(Err(_)) => return usage(),
            };
            let alt_port = match value("--alt-port").map(|v| v.parse::<u16>()) {
                None => None,
                Some(Ok(p)) => Some(p),
                Some(Err(_)) => return usage(),
            };
            serve(addr, alt_ip, alt_port)
        }
        "discover" => discover(addr, retransmit, !flag("--no-hairpin")),
        "lifetime" => {
            let intervals = match value("--intervals") {
                None => LifetimeConfig::default_intervals(),
                Some(v) => {
                    let parsed: Result<Vec<u64>, _> = v.split(',').map(str::parse).collect();
                    match parsed {
                        Ok(s) => s.into_iter().map(Duration::from_secs).collect(),
                        Err(_) => return usage(),
                    }
                }
            };
            let flow = if flag("--kept-alive") {
                Flow::kept_alive()
            } else {
                Flow::OneShot
            };
            lifetime(addr, retransmit, intervals, flow)
        }
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res = Result<(), Box<dyn std::error::Error>>;

fn serve(primary: SocketAddr, alternate_ip: Option<IpAddr>, alternate_port: Option<u16>) -> Res {
    let server = StunServer::start(Server::new(ServerConfig {
        primary,
        alternate_ip,
        alternate_port,
        software: Some(concat!("pbxguard ", env!("CARGO_PKG_VERSION")).into()),
        limits: Some(Limits::default()),
    }))?;
    for a in server.addresses() {
        println!("listening: {a}");
    }
    println!("ready");
    // Serve until killed.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn finding<T: std::fmt::Display>(f: Finding<T>) -> String {
    match f {
        None => "not tested".into(),
        Some(Ok(v)) => v.to_string(),
        Some(Err(e)) => format!("undetermined ({e})"),
    }
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn discover(server: SocketAddr, retransmit: RetransmitConfig, hairpin: bool) -> Res {
    let ip = local_ip_towards(server)?;
    let mut sockets = ClientSockets::new(ip);
    let local = sockets.bind(MAPPING_SOCKET)?;
    let start = Instant::now();
    let mut probe = NatDiscovery::new(
        start,
        DiscoveryConfig {
            server,
            tests: Tests {
                mapping: true,
                filtering: true,
                hairpinning: hairpin,
            },
            retransmit,
            seed: random_seed(),
        },
    );
    probe.set_local_address(local);
    let report = run_probe(&mut probe, &mut sockets, Duration::from_secs(300))??;
    println!("local: {local}");
    println!("mapped: {}", report.mapped);
    match report.other_address {
        Some(o) => println!("other-address: {o}"),
        None => println!("other-address: none"),
    }
    println!("mapping: {}", finding::<MappingBehavior>(report.mapping));
    println!(
        "filtering: {}",
        finding::<FilteringBehavior>(report.filtering)
    );
    println!("hairpinning: {}", yes_no(report.hairpinning));
    println!("port-preserved: {}", yes_no(report.port_preserved()));
    println!("elapsed-ms: {}", start.elapsed().as_millis());
    Ok(())
}

fn lifetime(
    server: SocketAddr,
    retransmit: RetransmitConfig,
    intervals: Vec<Duration>,
    flow: Flow,
) -> Res {
    let ip = local_ip_towards(server)?;
    let mut sockets = ClientSockets::new(ip);
    let longest = intervals.iter().max().copied().unwrap_or_default();
    let start = Instant::now();
    let mut probe = LifetimeProbe::new(
        start,
        LifetimeConfig {
            server,
            intervals,
            flow,
            retransmit,
            seed: random_seed(),
        },
    );
    let deadline = longest + Duration::from_secs(120);
    let report = run_probe(&mut probe, &mut sockets, deadline)??;
    println!("flow: {}", report.flow);
    for (d, o) in &report.intervals {
        println!("interval {}s: {o:?}", d.as_secs());
    }
    let secs = |d: Option<Duration>| d.map_or("none".into(), |d| d.as_secs().to_string());
    println!("longest-alive-s: {}", secs(report.longest_alive()));
    println!("shortest-expired-s: {}", secs(report.shortest_expired()));
    println!("elapsed-ms: {}", start.elapsed().as_millis());
    Ok(())
}
