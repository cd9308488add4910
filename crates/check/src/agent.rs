//! The check agent's side: listen on the ports to be probed, ask the reflector to probe our public
//! address, and collect the authenticated answer together with what our listeners heard.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pbxguard_probe::agent::{self, Answer, AnswerError, Credentials};
use pbxguard_probe::wire::{EncodeError, ProbeKind, ProbeSpec};

use crate::probes::TOKEN_PREFIX;
use crate::reflector::unix_ms;

/// Why a check could not complete.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckError {
    /// The request could not be built (bad credentials, too many probes).
    Request(EncodeError),
    /// A local socket failed.
    Io(io::Error),
    /// No valid answer before the deadline.
    NoAnswer {
        /// How long we waited.
        waited: Duration,
        /// The last invalid answer seen, if any.
        last_invalid: Option<AnswerError>,
    },
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Request(e) => write!(f, "cannot build the request: {e}"),
            CheckError::Io(e) => write!(f, "socket error: {e}"),
            CheckError::NoAnswer {
                waited,
                last_invalid,
            } => {
                write!(f, "no valid answer from the reflector within {waited:?}")?;
                if let Some(e) = last_invalid {
                    write!(f, " (last answer rejected: {e})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CheckError {}

impl From<io::Error> for CheckError {
    fn from(e: io::Error) -> Self {
        CheckError::Io(e)
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    /// The reflector's control address.
    pub reflector: SocketAddr,
    /// Our credentials.
    pub creds: Credentials,
    /// Our public address (from a STUN Binding to the reflector).
    pub target: IpAddr,
    /// The probes.
    pub probes: Vec<ProbeSpec>,
    /// Probes of ports that must be reachable: the agent listens on those that are free, so the
    /// probe has something to reach. Ports that must stay closed are left alone, so that whatever
    /// answers is what the internet would find.
    pub listen_on: BTreeSet<ProbeSpec>,
    /// Probes of UDP ports that must stay closed: where the port is free the agent listens without
    /// ever answering, so a forward to this host shows even when the host's port-unreachable
    /// replies are rate-limited (Linux sends a few per second to one destination).
    pub watch: BTreeSet<ProbeSpec>,
    /// The local address to listen on for probes of free ports.
    pub listen_ip: IpAddr,
    /// How long to wait for the answer.
    pub timeout: Duration,
}

/// The answer, and what our own listeners saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// The reflector's answer.
    pub answer: Answer,
    /// Ports where we listened ourselves (the port was free); probes of other ports reached the
    /// service that owns the port, if anything.
    pub listened: BTreeSet<ProbeSpec>,
    /// Probes our listeners received.
    pub heard: BTreeSet<ProbeSpec>,
    /// For inbound SIP ALG probes: the request exactly as it reached our listener.
    pub captured: BTreeMap<ProbeSpec, Vec<u8>>,
}

/// Sixteen random bytes from the kernel.
///
/// # Errors
///
/// The I/O error when `/dev/urandom` cannot be read.
pub fn random_nonce() -> io::Result<[u8; 16]> {
    let mut n = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut n)?;
    Ok(n)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

type Captured = Arc<Mutex<BTreeMap<ProbeSpec, Vec<u8>>>>;

struct Listeners {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    heard: Arc<Mutex<BTreeSet<ProbeSpec>>>,
    captured: Captured,
    listened: BTreeSet<ProbeSpec>,
}

impl Listeners {
    fn start(ip: IpAddr, probes: &[ProbeSpec], watch: &[ProbeSpec]) -> Listeners {
        let stop = Arc::new(AtomicBool::new(false));
        let heard = Arc::new(Mutex::new(BTreeSet::new()));
        let captured: Captured = Arc::new(Mutex::new(BTreeMap::new()));
        let mut threads = Vec::new();
        let mut listened = BTreeSet::new();
        let mut udp_ports = BTreeSet::new();
        for spec in probes {
            let addr = SocketAddr::new(ip, spec.port);
            let (stop, heard, spec) = (Arc::clone(&stop), Arc::clone(&heard), *spec);
            let captured = Arc::clone(&captured);
            match spec.kind {
                ProbeKind::UDP | ProbeKind::SIP_UDP | ProbeKind::SIP_ALG_IN => {
                    // One socket per UDP port serves the token probe, the SIP probe and the inbound
                    // ALG probe, so asking for several on one port works.
                    if !udp_ports.insert(spec.port) {
                        continue;
                    }
                    let on_port = |kind| {
                        probes
                            .iter()
                            .any(|p| p.kind == kind && p.port == spec.port)
                            .then_some(ProbeSpec {
                                kind,
                                port: spec.port,
                            })
                    };
                    let token = on_port(ProbeKind::UDP);
                    let sip = on_port(ProbeKind::SIP_UDP);
                    let alg = on_port(ProbeKind::SIP_ALG_IN);
                    // A port the PBX already owns cannot be bound: its service answers instead.
                    let Ok(s) = UdpSocket::bind(addr) else {
                        continue;
                    };
                    if s.set_read_timeout(Some(Duration::from_millis(50))).is_err() {
                        continue;
                    }
                    listened.extend([token, sip, alg].into_iter().flatten());
                    let alg_cseq = format!("\r\nCSeq: {} OPTIONS\r\n", crate::probes::ALG_CSEQ);
                    threads.push(std::thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        // Read the flag before each attempt and stop only after an attempt that found
                        // nothing: a probe that arrived just before the answer is still counted.
                        loop {
                            let stopping = stop.load(Ordering::Relaxed);
                            let Ok((n, from)) = s.recv_from(&mut buf) else {
                                if stopping {
                                    break;
                                }
                                continue;
                            };
                            let data = buf.get(..n).unwrap_or_default();
                            let answered = if data.starts_with(TOKEN_PREFIX) {
                                // Echo, so the reflector sees the port answer too.
                                token.inspect(|_| {
                                    let _ = s.send_to(data, from);
                                })
                            } else if data.starts_with(b"OPTIONS ") {
                                let is_alg = contains(data, alg_cseq.as_bytes());
                                let hit = if is_alg { alg } else { sip };
                                if let Some(spec) = hit.filter(|_| is_alg)
                                    && let Ok(mut c) = captured.lock()
                                {
                                    c.entry(spec).or_insert_with(|| data.to_vec());
                                }
                                hit.inspect(|_| {
                                    let _ = s.send_to(
                                        b"SIP/2.0 200 OK\r\nServer: pbxguard-check\r\nContent-Length: 0\r\n\r\n",
                                        from,
                                    );
                                })
                            } else {
                                None
                            };
                            if let Some(spec) = answered
                                && let Ok(mut h) = heard.lock()
                            {
                                h.insert(spec);
                            }
                        }
                    }));
                }
                ProbeKind::TCP => {
                    let Ok(l) = TcpListener::bind(addr) else {
                        continue;
                    };
                    if l.set_nonblocking(true).is_err() {
                        continue;
                    }
                    listened.insert(spec);
                    threads.push(std::thread::spawn(move || {
                        // As for UDP: a connection already in the backlog when the answer arrives counts.
                        loop {
                            let stopping = stop.load(Ordering::Relaxed);
                            match l.accept() {
                                Ok(_) => {
                                    if let Ok(mut h) = heard.lock() {
                                        h.insert(spec);
                                    }
                                }
                                Err(_) if stopping => break,
                                Err(_) => std::thread::sleep(Duration::from_millis(20)),
                            }
                        }
                    }));
                }
                _ => {}
            }
        }
        for &spec in watch {
            if spec.kind != ProbeKind::UDP || !udp_ports.insert(spec.port) {
                continue;
            }
            let Ok(s) = UdpSocket::bind(SocketAddr::new(ip, spec.port)) else {
                continue;
            };
            if s.set_read_timeout(Some(Duration::from_millis(50))).is_err() {
                continue;
            }
            listened.insert(spec);
            let (stop, heard) = (Arc::clone(&stop), Arc::clone(&heard));
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                loop {
                    let stopping = stop.load(Ordering::Relaxed);
                    match s.recv_from(&mut buf) {
                        Ok((n, _)) => {
                            if buf.get(..n).unwrap_or_default().starts_with(TOKEN_PREFIX)
                                && let Ok(mut h) = heard.lock()
                            {
                                h.insert(spec);
                            }
                        }
                        Err(_) if stopping => break,
                        Err(_) => {}
                    }
                }
            }));
        }
        Listeners {
            stop,
            threads,
            heard,
            captured,
            listened,
        }
    }

    fn finish(
        mut self,
    ) -> (
        BTreeSet<ProbeSpec>,
        BTreeSet<ProbeSpec>,
        BTreeMap<ProbeSpec, Vec<u8>>,
    ) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let heard = self
            .heard
            .lock()
            .map_or_else(|p| p.into_inner().clone(), |h| h.clone());
        let captured = self
            .captured
            .lock()
            .map_or_else(|p| p.into_inner().clone(), |c| c.clone());
        (std::mem::take(&mut self.listened), heard, captured)
    }
}

/// Runs one check: listeners up, request sent, answer awaited and verified, listeners down.
///
/// # Errors
///
/// [`CheckError`] when the request cannot be built or sent, or no valid answer arrives in time.
pub fn run_check(req: &CheckRequest) -> Result<CheckOutcome, CheckError> {
    let to_listen: Vec<ProbeSpec> = req
        .probes
        .iter()
        .filter(|p| req.listen_on.contains(p))
        .copied()
        .collect();
    let to_watch: Vec<ProbeSpec> = req
        .probes
        .iter()
        .filter(|p| req.watch.contains(p) && !req.listen_on.contains(p))
        .copied()
        .collect();
    let listeners = Listeners::start(req.listen_ip, &to_listen, &to_watch);
    let result = exchange(req);
    let (listened, heard, captured) = listeners.finish();
    Ok(CheckOutcome {
        answer: result?,
        listened,
        heard,
        captured,
    })
}

fn exchange(req: &CheckRequest) -> Result<Answer, CheckError> {
    let pending = agent::request(
        &req.creds,
        unix_ms(),
        random_nonce()?,
        req.target,
        req.probes.clone(),
    )
    .map_err(CheckError::Request)?;
    let bind: SocketAddr = SocketAddr::new(req.listen_ip, 0);
    let s = UdpSocket::bind(bind)?;
    s.send_to(&pending.bytes, req.reflector)?;
    let end = Instant::now() + req.timeout;
    let mut buf = vec![0u8; 65_536];
    let mut last_invalid = None;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CheckError::NoAnswer {
                waited: req.timeout,
                last_invalid,
            });
        }
        s.set_read_timeout(Some(left))?;
        match s.recv_from(&mut buf) {
            Ok((n, from)) if from == req.reflector => {
                let bytes = buf.get(..n).unwrap_or_default();
                match agent::accept(
                    &req.creds,
                    &pending,
                    unix_ms(),
                    Duration::from_secs(30),
                    bytes,
                ) {
                    Ok(a) => return Ok(a),
                    Err(e) => last_invalid = Some(e),
                }
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
