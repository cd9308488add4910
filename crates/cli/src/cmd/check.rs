//! `pbxguard check`: prove from outside that the ports are right and diagnose the NAT, with the help
//! of a `pbxguard reflector` on a host outside the NAT.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use clap::Args;
use pbxguard_check::agent::{CheckRequest, run_check};
use pbxguard_check::udp::{ClientSockets, local_ip_towards, random_seed, run_probe};
use pbxguard_firewall::catalog::Role;
use pbxguard_firewall::net::Protocol;
use pbxguard_firewall::{Catalog, ExposedPorts, Exposure, Plan, Site, exposure};
use pbxguard_probe::agent::{Answer, Credentials};
use pbxguard_probe::report::{
    Expect, Finding, describe, evaluate, parse_ports, random_ports, sample_range,
};
use pbxguard_probe::wire::{ProbeKind, ProbeSpec, RefusalCode, Verdict};
use pbxguard_stun::RetransmitConfig;
use pbxguard_stun::discovery::{
    DiscoveryConfig, FilteringBehavior, MAPPING_SOCKET, MappingBehavior, NatDiscovery, NatReport,
    Tests,
};
use pbxguard_stun::lifetime::{Flow, LifetimeConfig, LifetimeProbe, LifetimeReport};
use serde_json::json;

use crate::context::{self, Context, Exit, Failure, Outcome};

/// `pbxguard check …`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Site description (TOML, as for `pbxguard plan`): every port its plan opens to the internet
    /// must be reachable (ranges by sample), every port it closes must not be, on top of the ports
    /// the flags below name.
    #[arg(long, value_name = "FILE")]
    pub site: Option<PathBuf>,
    /// The reflector's IP address (a host outside the NAT running `pbxguard reflector`).
    #[arg(long, value_name = "IP")]
    pub reflector: IpAddr,
    /// The reflector's STUN port.
    #[arg(long, default_value_t = 3478)]
    pub stun_port: u16,
    /// The reflector's control port.
    #[arg(long, default_value_t = 3490)]
    pub control_port: u16,
    /// The key id the reflector knows this site by.
    #[arg(long, value_name = "ID")]
    pub key_id: String,
    /// File holding the shared secret for the key id.
    #[arg(long, value_name = "FILE")]
    pub secret_file: PathBuf,
    /// SIP ports the PBX answers on over UDP, e.g. 5060: probed with SIP OPTIONS (must be open).
    #[arg(long, value_name = "PORTS", default_value = "")]
    pub sip_udp: String,
    /// SIP ports the PBX answers on over TCP (must be open).
    #[arg(long, value_name = "PORTS", default_value = "")]
    pub sip_tcp: String,
    /// Other UDP ports that must be open, e.g. 4569 (IAX).
    #[arg(long, value_name = "PORTS", default_value = "")]
    pub udp: String,
    /// Other TCP ports that must be open, e.g. 5222.
    #[arg(long, value_name = "PORTS", default_value = "")]
    pub tcp: String,
    /// The RTP port range that must be open, e.g. 10000-20000: probed by sample.
    #[arg(long, value_name = "LOW-HIGH")]
    pub rtp: Option<String>,
    /// Ports probed between the two ends of the RTP range (and of every other range a site file
    /// names).
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub rtp_samples: u16,
    /// Random ports of the RTP range probed on top of the spread (different on every run, so
    /// repeated checks cover more of the range).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub rtp_random: u16,
    /// TCP ports that must not be reachable from the internet (with --site, also every port its plan
    /// closes).
    #[arg(long, value_name = "PORTS", default_value = "21,22,23,80,8021")]
    pub closed_tcp: String,
    /// UDP ports that must not be reachable from the internet (with --site, also every port its plan
    /// closes).
    #[arg(long, value_name = "PORTS", default_value = "69")]
    pub closed_udp: String,
    /// Also classify the NAT (RFC 5780 mapping, filtering, hairpinning).
    #[arg(long)]
    pub nat: bool,
    /// Also look for a SIP ALG on the way out (a router rewriting SIP it forwards).
    #[arg(long)]
    pub alg: bool,
    /// The reflector's SIP echo port, for --alg.
    #[arg(long, default_value_t = 5060)]
    pub sip_port: u16,
    /// The forwarded SIP port the inbound ALG test sends to, for --alg. The agent listens on it
    /// itself, so the PBX must not be using it during the check.
    #[arg(long, default_value_t = 5060)]
    pub alg_port: u16,
    /// Also measure UDP binding lifetimes (takes minutes).
    #[arg(long)]
    pub timeouts: bool,
    /// Idle intervals tested by --timeouts, in seconds [default: 10,20,30,45,60,90,120,180,300].
    #[arg(long, value_name = "SECONDS", value_delimiter = ',')]
    pub timeout_intervals: Vec<u64>,
    /// Local address to listen on for probes [default: the address that routes to the reflector].
    #[arg(long, value_name = "IP")]
    pub listen_ip: Option<IpAddr>,
}

fn ports(flag: &str, list: &str) -> Result<Vec<u16>, Failure> {
    let ranges = parse_ports(list).map_err(|e| Failure::Usage(format!("--{flag}: {e}")))?;
    Ok(ranges.into_iter().flat_map(|(lo, hi)| lo..=hi).collect())
}

/// Reads and plans a site description; every mistake in it is reported with its line.
fn load_site(path: &Path) -> Result<Exposure, Failure> {
    let catalog = Catalog::builtin()
        .map_err(|e| Failure::Other(anyhow!("the built-in port catalog is broken: {e}")))?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read site file {}: {e}", path.display())))?;
    let site = Site::parse(&text, &catalog).map_err(|errors| {
        let lines: Vec<String> = errors
            .0
            .iter()
            .map(|e| format!("{}:{}: {}", path.display(), e.line(), e.message()))
            .collect();
        Failure::Usage(format!(
            "{}\nthe site description has {} mistake(s)",
            lines.join("\n"),
            lines.len()
        ))
    })?;
    let plan = Plan::build(&site, &catalog).map_err(|e| Failure::Other(e.into()))?;
    Ok(exposure(&plan))
}

/// Whether a probe goes over TCP (else UDP): two probes of one transport and port are one port.
fn is_tcp(kind: ProbeKind) -> bool {
    matches!(kind, ProbeKind::TCP | ProbeKind::SIP_TCP)
}

/// The probes to run, what each must show, and where the expectation comes from.
#[derive(Debug, Default)]
struct Expected {
    probes: Vec<(ProbeSpec, Expect)>,
    /// The site's services on a probed port (empty for ports given by flags).
    services: BTreeMap<ProbeSpec, String>,
    /// Ports open to the admin networks only: not probed, listed in the report.
    restricted: Vec<String>,
    /// Probes of ports the site opens to its trusted sources only.
    trusted_only: BTreeSet<ProbeSpec>,
}

impl Expected {
    /// Adds `ports` probed with `kind` unless its transport and port are already decided: the first
    /// decision wins, and reachable ports are added before closed ones.
    fn add(
        &mut self,
        kind: ProbeKind,
        ports: &[u16],
        expect: Expect,
        services: &str,
    ) -> Vec<ProbeSpec> {
        let mut added = Vec::new();
        for &port in ports {
            let taken = self
                .probes
                .iter()
                .find(|(s, _)| s.port == port && is_tcp(s.kind) == is_tcp(kind))
                .copied();
            if let Some((spec, had)) = taken {
                // The same decision from the site names the services behind a flag's port.
                if had == expect && !services.is_empty() {
                    self.services
                        .entry(spec)
                        .or_insert_with(|| services.to_owned());
                }
                continue;
            }
            let spec = ProbeSpec { kind, port };
            self.probes.push((spec, expect));
            added.push(spec);
            if !services.is_empty() {
                self.services.insert(spec, services.to_owned());
            }
        }
        added
    }

    /// The ports `--closed-tcp` and `--closed-udp` name, expected closed.
    fn add_closed_flags(&mut self, args: &CheckArgs) -> Result<(), Failure> {
        self.add(
            ProbeKind::TCP,
            &ports("closed-tcp", &args.closed_tcp)?,
            Expect::Closed,
            "",
        );
        self.add(
            ProbeKind::UDP,
            &ports("closed-udp", &args.closed_udp)?,
            Expect::Closed,
            "",
        );
        Ok(())
    }
}

/// The sample of an RTP range: both ends, `spread` ports evenly between them, and `random` ports
/// drawn from `seed`.
fn rtp_sample(lo: u16, hi: u16, spread: u16, random: u16, seed: u64) -> Vec<u16> {
    let mut ports = sample_range(lo, hi, spread);
    let extra = random_ports(lo, hi, random, &ports, seed ^ u64::from(lo));
    ports.extend(extra);
    ports
}

/// How a range of the site is probed: SIP over UDP with OPTIONS (only a SIP answer proves a UDP
/// service port), everything over TCP with a connection (TLS and WebSocket ports do not speak plain
/// SIP), other UDP with a token the agent echoes; ranges by sample, RTP ranges with random ports too.
fn site_probes(e: &ExposedPorts, args: &CheckArgs, seed: u64) -> (ProbeKind, Vec<u16>) {
    let kind = match (e.protocol, e.role) {
        (Protocol::Tcp, _) => ProbeKind::TCP,
        (Protocol::Udp, Role::Sip) => ProbeKind::SIP_UDP,
        (Protocol::Udp, _) => ProbeKind::UDP,
    };
    let (lo, hi) = (e.ports.first(), e.ports.last());
    let ports = if e.role == Role::Rtp {
        rtp_sample(lo, hi, args.rtp_samples, args.rtp_random, seed)
    } else {
        sample_range(lo, hi, args.rtp_samples)
    };
    (kind, ports)
}

/// The probes to run and what each must show: the flags' ports, then the site's.
fn plan(args: &CheckArgs) -> Result<Expected, Failure> {
    let site = args.site.as_deref().map(load_site).transpose()?;
    let seed = random_seed()
        .iter()
        .take(8)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut x = Expected::default();
    x.add(
        ProbeKind::SIP_UDP,
        &ports("sip-udp", &args.sip_udp)?,
        Expect::Reachable,
        "",
    );
    x.add(
        ProbeKind::SIP_TCP,
        &ports("sip-tcp", &args.sip_tcp)?,
        Expect::Reachable,
        "",
    );
    x.add(
        ProbeKind::UDP,
        &ports("udp", &args.udp)?,
        Expect::Reachable,
        "",
    );
    x.add(
        ProbeKind::TCP,
        &ports("tcp", &args.tcp)?,
        Expect::Reachable,
        "",
    );
    if let Some(rtp) = &args.rtp {
        let ranges = parse_ports(rtp).map_err(|e| Failure::Usage(format!("--rtp: {e}")))?;
        for (lo, hi) in ranges {
            x.add(
                ProbeKind::UDP,
                &rtp_sample(lo, hi, args.rtp_samples, args.rtp_random, seed),
                Expect::Reachable,
                "",
            );
        }
    }
    if let Some(site) = &site {
        for e in &site.reachable {
            let (kind, ports) = site_probes(e, args, seed);
            let added = x.add(kind, &ports, Expect::Reachable, &e.services.join(", "));
            if e.trusted_only {
                x.trusted_only.extend(added);
            }
        }
        // Ports the admin networks may reach are neither required nor forbidden: markers keep the
        // default closed list off them, and go once it is in.
        let marked = x.probes.len();
        for e in &site.restricted {
            let (kind, ports) = site_probes(e, args, seed);
            x.add(kind, &ports, Expect::Closed, "");
            x.restricted.push(format!(
                "{} {} ({})",
                e.protocol,
                e.ports,
                e.services.join(", ")
            ));
        }
        let markers = marked..x.probes.len();
        x.add_closed_flags(args)?;
        for (spec, _) in x.probes.drain(markers) {
            x.services.remove(&spec);
        }
        for e in &site.closed {
            let (kind, ports) = site_probes(e, args, seed);
            // A closed port is probed the plain way: whatever answers is a finding.
            let kind = if is_tcp(kind) {
                ProbeKind::TCP
            } else {
                ProbeKind::UDP
            };
            x.add(kind, &ports, Expect::Closed, &e.services.join(", "));
        }
    } else {
        x.add_closed_flags(args)?;
    }
    Ok(x)
}

/// What the inbound SIP ALG probe found.
enum Inbound {
    /// The request reached our listener; these fields were rewritten on the way (none: no ALG).
    Tested(Vec<pbxguard_probe::alg::Rewrite>),
    /// The port was taken (by the PBX): the inbound direction cannot be tested.
    PortBusy,
    /// Our listener got nothing: the port is not forwarded to this host.
    NotArrived,
}

fn mapping_advice(m: MappingBehavior) -> &'static str {
    match m {
        MappingBehavior::NoNat => "no NAT between this host and the internet",
        MappingBehavior::EndpointIndependent => {
            "remote phones and ICE can use this site's server-reflexive address"
        }
        MappingBehavior::AddressDependent | MappingBehavior::AddressAndPortDependent => {
            "a new public port per destination (\"symmetric\" NAT): peer-to-peer media and ICE \
             fail without a TURN relay or an SBC; keep media anchored at the PBX"
        }
    }
}

fn filtering_advice(f: FilteringBehavior) -> &'static str {
    match f {
        FilteringBehavior::EndpointIndependent => "anyone may answer a mapping (full cone)",
        FilteringBehavior::AddressDependent => {
            "only hosts the PBX has sent to may answer: inbound calls need port forwards"
        }
        FilteringBehavior::AddressAndPortDependent => {
            "only the exact host and port the PBX sent to may answer: inbound calls need port \
             forwards"
        }
    }
}

fn lifetime_advice(oneshot: &LifetimeReport) -> String {
    match (oneshot.longest_alive(), oneshot.shortest_expired()) {
        (Some(alive), Some(dead)) => format!(
            "a UDP binding that saw one exchange lasts between {}s and {}s: phones must re-register \
             or send keep-alives more often than every {}s, or raise the router's UDP timeout (90 s \
             or more is the usual advice)",
            alive.as_secs(),
            dead.as_secs(),
            alive.as_secs()
        ),
        (None, Some(dead)) => format!(
            "UDP bindings last less than {}s: raise the router's UDP timeout (90 s or more)",
            dead.as_secs()
        ),
        (Some(alive), None) => format!(
            "UDP bindings last at least {}s: re-registration every {}s or less keeps phones reachable",
            alive.as_secs(),
            alive.as_secs()
        ),
        (None, None) => "binding lifetime could not be measured".to_owned(),
    }
}

fn discover(server: SocketAddr, ip: IpAddr, nat: bool) -> anyhow::Result<NatReport> {
    let mut sockets = ClientSockets::new(ip);
    let local = sockets.bind(MAPPING_SOCKET)?;
    let tests = Tests {
        mapping: nat,
        filtering: nat,
        hairpinning: nat,
    };
    let mut probe = NatDiscovery::new(
        Instant::now(),
        DiscoveryConfig {
            server,
            tests,
            retransmit: RetransmitConfig::quick(),
            seed: random_seed(),
        },
    );
    probe.set_local_address(local);
    Ok(run_probe(
        &mut probe,
        &mut sockets,
        Duration::from_secs(60),
    )??)
}

fn lifetime(
    server: SocketAddr,
    ip: IpAddr,
    flow: Flow,
    seconds: &[u64],
) -> anyhow::Result<LifetimeReport> {
    let mut sockets = ClientSockets::new(ip);
    let intervals = if seconds.is_empty() {
        LifetimeConfig::default_intervals()
    } else {
        seconds.iter().copied().map(Duration::from_secs).collect()
    };
    let longest = intervals.iter().max().copied().unwrap_or_default();
    let mut probe = LifetimeProbe::new(
        Instant::now(),
        LifetimeConfig {
            server,
            intervals,
            flow,
            retransmit: RetransmitConfig::quick(),
            seed: random_seed(),
        },
    );
    Ok(run_probe(
        &mut probe,
        &mut sockets,
        longest + Duration::from_secs(60),
    )??)
}

fn finding_json(f: &Finding, services: &BTreeMap<ProbeSpec, String>) -> serde_json::Value {
    json!({
        "probe": describe(f.spec),
        "services": services.get(&f.spec),
        "port": f.spec.port,
        "expect": match f.expect { Expect::Reachable => "open", Expect::Closed => "closed" },
        "pass": f.pass,
        "observed": f.observed,
        "heard_by_agent": f.heard,
        "fix": f.fix,
    })
}

/// Runs `pbxguard check`.
pub fn run(args: CheckArgs, ctx: &Context) -> Outcome {
    let started = Instant::now();
    let secret = super::reflector::read_secret(&args.secret_file)?;
    let creds = Credentials {
        key_id: args.key_id.clone(),
        secret,
    };
    let planned = plan(&args)?;
    let expected = &planned.probes;
    let stun = SocketAddr::new(args.reflector, args.stun_port);
    let ip = match args.listen_ip {
        Some(ip) => ip,
        None => local_ip_towards(stun).map_err(anyhow::Error::from)?,
    };

    eprintln!("asking the reflector at {stun} for our public address…");
    let nat = discover(stun, ip, args.nat).context("STUN exchange with the reflector")?;
    let public = nat.mapped.ip();

    // The inbound SIP ALG probe goes through the site's forward to our own listener, which must
    // own the port (the PBX must not be running on it), so it is reported apart from the ports.
    let alg_in = ProbeSpec {
        kind: ProbeKind::SIP_ALG_IN,
        port: args.alg_port,
    };
    let mut inbound: Option<Inbound> = None;
    let findings = if expected.is_empty() && !args.alg {
        Vec::new()
    } else {
        eprintln!(
            "asking the reflector to probe {} ports of {public}…",
            expected.len()
        );
        let mut probes: Vec<ProbeSpec> = expected.iter().map(|(s, _)| *s).collect();
        let mut listen_on: BTreeSet<ProbeSpec> = expected
            .iter()
            .filter(|(_, e)| *e == Expect::Reachable)
            .map(|(s, _)| *s)
            .collect();
        if args.alg {
            probes.push(alg_in);
            listen_on.insert(alg_in);
        }
        let n = u32::try_from(probes.len()).unwrap_or(u32::MAX);
        let outcome = run_check(&CheckRequest {
            reflector: SocketAddr::new(args.reflector, args.control_port),
            creds: creds.clone(),
            target: public,
            probes,
            listen_on,
            watch: expected
                .iter()
                .filter(|(s, e)| *e == Expect::Closed && s.kind == ProbeKind::UDP)
                .map(|(s, _)| *s)
                .collect(),
            listen_ip: ip,
            timeout: Duration::from_millis(600) * n + Duration::from_secs(5),
        })
        .context("probe request to the reflector")?;
        match outcome.answer {
            Answer::Results(results) => {
                if args.alg {
                    let sent = results
                        .iter()
                        .find(|r| r.spec == alg_in)
                        .map(|r| r.evidence.clone());
                    inbound = Some(match (outcome.captured.get(&alg_in), sent) {
                        (Some(received), Some(sent)) => {
                            Inbound::Tested(pbxguard_probe::alg::diff(&sent, received))
                        }
                        _ if !outcome.listened.contains(&alg_in) => Inbound::PortBusy,
                        _ => Inbound::NotArrived,
                    });
                }
                let mut findings = evaluate(expected, &results, &outcome.heard);
                for f in &mut findings {
                    if f.verdict == Verdict::SILENT
                        && planned.trusted_only.contains(&f.spec)
                        && let Some(fix) = &mut f.fix
                    {
                        fix.push_str(
                            "; the site opens this port to its trusted sources only: if the \
                             PBX's firewall enforces that, list the reflector's address among \
                             them while checking",
                        );
                    }
                }
                findings
            }
            Answer::Refused { code, observed } => {
                let why = match code {
                    RefusalCode::TARGET_MISMATCH => format!(
                        "it sees this site as {observed}, not {public} (a NAT with several public \
                         addresses?)"
                    ),
                    RefusalCode::STALE => "the clocks differ by more than 30 s: fix NTP".to_owned(),
                    RefusalCode::RATE_LIMITED => "too many checks: wait a minute".to_owned(),
                    _ => format!("refusal code {}", code.0),
                };
                return Err(Failure::Other(anyhow!(
                    "the reflector refused the check: {why}"
                )));
            }
        }
    };

    let alg = if args.alg {
        eprintln!("looking for a SIP ALG…");
        let echo = SocketAddr::new(args.reflector, args.sip_port);
        Some(
            pbxguard_check::alg::outbound(echo, &creds, ip, Duration::from_secs(1))
                .context("SIP ALG test")?,
        )
    } else {
        None
    };

    let lifetimes = if args.timeouts {
        eprintln!("measuring UDP binding lifetimes (this takes minutes)…");
        let (a, b) = std::thread::scope(|s| {
            let intervals = &args.timeout_intervals;
            let a = s.spawn(|| lifetime(stun, ip, Flow::OneShot, intervals));
            let b = s.spawn(|| lifetime(stun, ip, Flow::kept_alive(), intervals));
            (a.join(), b.join())
        });
        let flat = |r: std::thread::Result<anyhow::Result<LifetimeReport>>| {
            r.map_err(|_| anyhow!("lifetime measurement thread failed"))?
        };
        Some((flat(a)?, flat(b)?))
    } else {
        None
    };

    let alg_found = alg.as_ref().is_some_and(|r| !r.is_empty())
        || matches!(&inbound, Some(Inbound::Tested(r)) if !r.is_empty());
    let failed = findings.iter().filter(|f| !f.pass).count() + usize::from(alg_found);
    if ctx.json {
        let nat_json = json!({
            "public_address": nat.mapped.to_string(),
            "local_address": nat.local.map(|l| l.to_string()),
            "port_preserved": nat.port_preserved(),
            "mapping": nat.mapping.map(|m| m.map(|v| v.to_string()).map_err(|e| e.to_string())).map(|r| r.unwrap_or_else(|e| format!("undetermined: {e}"))),
            "filtering": nat.filtering.map(|m| m.map(|v| v.to_string()).map_err(|e| e.to_string())).map(|r| r.unwrap_or_else(|e| format!("undetermined: {e}"))),
            "hairpinning": nat.hairpinning,
        });
        let life_json = lifetimes.as_ref().map(|(o, k)| {
            let one = |r: &LifetimeReport| {
                json!({
                    "flow": r.flow.to_string(),
                    "longest_alive_s": r.longest_alive().map(|d| d.as_secs()),
                    "shortest_expired_s": r.shortest_expired().map(|d| d.as_secs()),
                })
            };
            json!({ "one_shot": one(o), "kept_alive": one(k), "advice": lifetime_advice(o) })
        });
        context::print_json(&json!({
            "reflector": args.reflector.to_string(),
            "nat": nat_json,
            "ports": findings.iter().map(|f| finding_json(f, &planned.services)).collect::<Vec<_>>(),
            "not_checked": planned.restricted.iter().map(|r| json!({
                "ports": r, "why": "open to the admin networks only",
            })).collect::<Vec<_>>(),
            "binding_lifetime": life_json,
            "sip_alg": alg.as_ref().map(|r| json!({
                "detected": alg_found,
                "rewrites": r.iter().map(|w| json!({
                    "field": w.field, "sent": w.sent, "received": w.received,
                })).collect::<Vec<_>>(),
                "inbound": match &inbound {
                    Some(Inbound::Tested(r)) => json!({
                        "tested": true,
                        "detected": !r.is_empty(),
                        "rewrites": r.iter().map(|w| json!({
                            "field": w.field, "sent": w.sent, "received": w.received,
                        })).collect::<Vec<_>>(),
                    }),
                    Some(Inbound::PortBusy) => json!({ "tested": false, "why": "port in use" }),
                    Some(Inbound::NotArrived) => json!({ "tested": false, "why": "nothing arrived" }),
                    None => json!(null),
                },
            })),
            "failed": failed,
            "elapsed_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }))?;
    } else {
        let mut out = String::new();
        out.push_str(&format!("public address: {public}\n"));
        if let Some(local) = nat.local {
            out.push_str(&format!(
                "source port preserved by the NAT: {}\n",
                if local.port() == nat.mapped.port() {
                    "yes"
                } else {
                    "no"
                }
            ));
        }
        for f in &findings {
            let text = f.to_string();
            match planned.services.get(&f.spec) {
                Some(services) => {
                    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
                    out.push_str(&format!("{first} [{services}]\n"));
                    if !rest.is_empty() {
                        out.push_str(&format!("{rest}\n"));
                    }
                }
                None => out.push_str(&format!("{text}\n")),
            }
        }
        for r in &planned.restricted {
            out.push_str(&format!(
                "---- {r}: not checked, open to the admin networks only\n"
            ));
        }
        if args.nat {
            match nat.mapping {
                Some(Ok(m)) => {
                    out.push_str(&format!("NAT mapping:   {m}: {}\n", mapping_advice(m)))
                }
                Some(Err(e)) => out.push_str(&format!("NAT mapping:   undetermined: {e}\n")),
                None => {}
            }
            match nat.filtering {
                Some(Ok(f)) => {
                    out.push_str(&format!("NAT filtering: {f}: {}\n", filtering_advice(f)))
                }
                Some(Err(e)) => out.push_str(&format!("NAT filtering: undetermined: {e}\n")),
                None => {}
            }
            if let Some(h) = nat.hairpinning {
                out.push_str(&format!(
                    "hairpinning:   {}\n",
                    if h {
                        "yes: inside phones may use the public address"
                    } else {
                        "no: inside phones must use the PBX's inside address (split DNS)"
                    }
                ));
            }
        }
        if let Some(rewrites) = &alg {
            if rewrites.is_empty() {
                out.push_str("PASS SIP ALG (outbound): none; SIP leaves the site unchanged\n");
            } else {
                out.push_str("FAIL SIP ALG (outbound): the router rewrites SIP it forwards\n");
                for w in rewrites {
                    out.push_str(&format!("     {}: {} -> {}\n", w.field, w.sent, w.received));
                }
                out.push_str(
                    "     fix: turn off the router's SIP ALG (\"SIP helper\", \"SIP passthrough\", \
                     \"SIP transformations\"); the PBX handles NAT itself\n",
                );
            }
        }
        match &inbound {
            Some(Inbound::Tested(r)) if r.is_empty() => out.push_str(&format!(
                "PASS SIP ALG (inbound):  none; SIP reaches udp/{} unchanged\n",
                args.alg_port
            )),
            Some(Inbound::Tested(r)) => {
                out.push_str("FAIL SIP ALG (inbound):  the router rewrites SIP it forwards in\n");
                for w in r {
                    out.push_str(&format!("     {}: {} -> {}\n", w.field, w.sent, w.received));
                }
                out.push_str(
                    "     fix: turn off the router's SIP ALG; it rewrites requests to the PBX\n",
                );
            }
            Some(Inbound::PortBusy) => out.push_str(&format!(
                "---- SIP ALG (inbound):  not tested: udp/{} is in use (stop the PBX during the \
                 check to test this direction)\n",
                args.alg_port
            )),
            Some(Inbound::NotArrived) => out.push_str(&format!(
                "---- SIP ALG (inbound):  not tested: nothing arrived on udp/{} (not forwarded?)\n",
                args.alg_port
            )),
            None => {}
        }
        if let Some((o, k)) = &lifetimes {
            let secs = |d: Option<Duration>| d.map_or("?".to_owned(), |d| d.as_secs().to_string());
            out.push_str(&format!(
                "UDP binding lifetime, one-shot exchange: alive at {}s, gone at {}s\n",
                secs(o.longest_alive()),
                secs(o.shortest_expired())
            ));
            out.push_str(&format!(
                "UDP binding lifetime, kept-alive flow:   alive at {}s, gone at {}s\n",
                secs(k.longest_alive()),
                secs(k.shortest_expired())
            ));
            out.push_str(&format!("advice: {}\n", lifetime_advice(o)));
        }
        let port_failures = findings.iter().filter(|f| !f.pass).count();
        out.push_str(&format!(
            "{} of {} port checks passed ({:.1} s)",
            findings.len() - port_failures,
            findings.len(),
            started.elapsed().as_secs_f64()
        ));
        context::print(&out)?;
    }
    Ok(if failed > 0 { Exit::Findings } else { Exit::Ok })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        check: CheckArgs,
    }

    fn expected(extra: &[&str], site: Option<&str>) -> Expected {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut argv = vec![
            "check",
            "--reflector",
            "198.51.100.10",
            "--key-id",
            "k",
            "--secret-file",
            "/nonexistent",
        ];
        if let Some(text) = site {
            std::fs::write(file.path(), text).unwrap();
            argv.extend(["--site", file.path().to_str().unwrap()]);
        }
        argv.extend(extra);
        plan(&Cli::parse_from(argv).check).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn names(x: &Expected, expect: Expect) -> Vec<String> {
        x.probes
            .iter()
            .filter(|(_, e)| *e == expect)
            .map(|(s, _)| describe(*s))
            .collect()
    }

    const ASTERISK: &str = "[pbx]\nproduct = \"asterisk\"\nfeatures = [\"remote-phones\"]\n\
                            lan_address = \"10.0.0.5/24\"\nrtp_range = \"10000-10010\"\n\
                            [admin]\nssh_port = 22\nnetworks = [\"203.0.113.7/32\"]\n";

    #[test]
    fn without_a_site_only_the_flags_and_the_default_closed_list_are_probed() {
        let x = expected(&["--sip-udp", "5060", "--tcp", "80"], None);
        assert_eq!(names(&x, Expect::Reachable), ["sip udp/5060", "tcp/80"]);
        // tcp/80 was asked to be open: the default closed list does not contradict it.
        assert_eq!(
            names(&x, Expect::Closed),
            ["tcp/21", "tcp/22", "tcp/23", "tcp/8021", "udp/69"]
        );
        assert!(x.services.is_empty());
    }

    #[test]
    fn a_site_adds_its_forwards_and_closed_ports_to_the_flags() {
        let x = expected(&["--rtp-samples", "1", "--udp", "4000"], Some(ASTERISK));
        let open = names(&x, Expect::Reachable);
        assert_eq!(open.first().map(String::as_str), Some("udp/4000"));
        for want in ["sip udp/5060", "udp/10000", "udp/10005", "udp/10010"] {
            assert!(open.contains(&want.to_owned()), "{want} missing: {open:?}");
        }
        let closed = names(&x, Expect::Closed);
        for want in ["tcp/5038", "udp/69", "tcp/80"] {
            assert!(
                closed.contains(&want.to_owned()),
                "{want} missing: {closed:?}"
            );
        }
        // SSH on 22 for an outside admin network: the default closed list leaves it alone.
        assert!(!closed.contains(&"tcp/22".to_owned()), "{closed:?}");
        assert_eq!(x.restricted, ["tcp 22 (ssh)"]);
        let ami = ProbeSpec {
            kind: ProbeKind::TCP,
            port: 5038,
        };
        assert_eq!(x.services.get(&ami).map(String::as_str), Some("ami"));
        // SIP is for the trusted sources only, RTP for everyone; the flag's port is neither.
        let sip = ProbeSpec {
            kind: ProbeKind::SIP_UDP,
            port: 5060,
        };
        assert!(x.trusted_only.contains(&sip));
        assert!(
            !x.trusted_only
                .iter()
                .any(|s| s.port == 10_000 || s.port == 4000)
        );
        // No transport and port is probed twice.
        let mut seen = BTreeSet::new();
        for (s, _) in &x.probes {
            assert!(seen.insert((is_tcp(s.kind), s.port)), "{s:?} twice");
        }
    }

    #[test]
    fn a_broken_site_file_is_a_usage_error_with_the_line() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "[pbx]\nproduct = \"nosuchpbx\"\n").unwrap();
        let args = Cli::parse_from([
            "check",
            "--reflector",
            "198.51.100.10",
            "--key-id",
            "k",
            "--secret-file",
            "/nonexistent",
            "--site",
            file.path().to_str().unwrap(),
        ]);
        match plan(&args.check) {
            Err(Failure::Usage(m)) => assert!(m.contains(":2:"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
