//! `pbxguard reflector`: the outside half of the exposure check. Runs a STUN server (RFC 5389, and
//! RFC 5780 NAT-behaviour tests when given a second address) and the authenticated control service
//! that probes a checking site's own public address on request.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use pbxguard_check::alg::EchoServer;
use pbxguard_check::reflector::{Reflector, ReflectorConfig};
use pbxguard_check::udp::StunServer;
use pbxguard_probe::admission::{Keyring, Policy};
use pbxguard_stun::server::{Limits, Server, ServerConfig};

use crate::context::{self, Context, Failure, Outcome};

/// `pbxguard reflector …`
#[derive(Debug, Args)]
pub struct ReflectorArgs {
    /// The public IP address to serve on.
    #[arg(long, value_name = "IP")]
    pub listen: IpAddr,
    /// A second public IP address of this host, for the RFC 5780 NAT tests (mapping and filtering
    /// need answers from two addresses).
    #[arg(long, value_name = "IP")]
    pub alt_ip: Option<IpAddr>,
    /// STUN port.
    #[arg(long, default_value_t = 3478)]
    pub stun_port: u16,
    /// Second STUN port, for the RFC 5780 tests.
    #[arg(long, default_value_t = 3479)]
    pub alt_port: u16,
    /// UDP port of the control service.
    #[arg(long, default_value_t = 3490)]
    pub control_port: u16,
    /// UDP port of the SIP echo used for SIP ALG detection (routers' ALGs look at 5060).
    #[arg(long, default_value_t = 5060)]
    pub sip_port: u16,
    /// A site's key: its key id and a file holding its shared secret (at least 16 bytes; surrounding
    /// whitespace is ignored). Repeat for several sites.
    #[arg(long = "key", value_name = "ID:FILE", required = true)]
    pub keys: Vec<String>,
    /// How long one probe waits for an answer, in milliseconds.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub probe_timeout: u64,
    /// Least time between the starts of two probes of one check, in milliseconds: the reflector's
    /// probe rate towards any site is at most 1000/MS per second.
    #[arg(long, default_value_t = 10, value_name = "MS")]
    pub probe_spacing: u64,
    /// Most probes of one check waiting for their answers at once.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub probes_in_flight: u16,
}

/// Reads `ID:FILE` key specifications into a keyring.
///
/// # Errors
///
/// [`Failure::Usage`] naming the bad specification or unreadable file.
pub fn keyring(specs: &[String]) -> Result<Keyring, Failure> {
    let mut keys = Keyring::new();
    for spec in specs {
        let (id, file) = spec
            .split_once(':')
            .ok_or_else(|| Failure::Usage(format!("--key {spec:?}: expected ID:FILE")))?;
        let secret = read_secret(&PathBuf::from(file))?;
        keys.insert(id, &secret)
            .map_err(|e| Failure::Usage(format!("--key {spec:?}: {e}")))?;
    }
    Ok(keys)
}

/// Reads a shared secret file, trimming surrounding whitespace.
///
/// # Errors
///
/// [`Failure::Usage`] when the file cannot be read.
pub fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    let text = std::fs::read(path)
        .map_err(|e| Failure::Usage(format!("cannot read secret file {}: {e}", path.display())))?;
    Ok(text.trim_ascii().to_vec())
}

/// Runs `pbxguard reflector` until the process is stopped.
pub fn run(args: ReflectorArgs, _ctx: &Context) -> Outcome {
    let keys = keyring(&args.keys)?;
    let primary = SocketAddr::new(args.listen, args.stun_port);
    let stun = StunServer::start(Server::new(ServerConfig {
        primary,
        alternate_ip: args.alt_ip,
        alternate_port: Some(args.alt_port),
        software: Some(concat!("pbxguard ", env!("CARGO_PKG_VERSION")).into()),
        limits: Some(Limits::default()),
    }))
    .context("starting the STUN server")?;
    let echo = EchoServer::start(SocketAddr::new(args.listen, args.sip_port), keys.clone())
        .context("starting the SIP echo")?;
    let control = Reflector::start(ReflectorConfig {
        control: SocketAddr::new(args.listen, args.control_port),
        keys,
        policy: Policy::default(),
        probe_timeout: Duration::from_millis(args.probe_timeout),
        probe_spacing: Duration::from_millis(args.probe_spacing),
        probes_in_flight: usize::from(args.probes_in_flight),
    })
    .context("starting the control service")?;
    for a in stun.addresses() {
        context::print(&format!("stun: {a}"))?;
    }
    context::print(&format!("control: {}", control.addr()))?;
    context::print(&format!("sip-echo: {}", echo.addr()))?;
    if args.alt_ip.is_none() {
        tracing::warn!(
            "no --alt-ip: checks can learn mappings and lifetimes but not NAT mapping/filtering"
        );
    }
    loop {
        std::thread::sleep(Duration::from_secs(60));
        let s = control.stats();
        tracing::info!(
            admitted = s.admitted,
            refused = s.refused,
            dropped = s.dropped,
            "control requests"
        );
    }
}
