//! The reflector's probes of one port on the requester's public address, with blocking sockets and
//! a timeout each.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use pbxguard_probe::wire::{ProbeKind, ProbeResult, ProbeSpec, Verdict};

/// Most evidence bytes kept per probe.
const MAX_EVIDENCE: usize = 512;

/// The datagram a UDP probe carries: the agent echoes datagrams that start with [`TOKEN_PREFIX`].
pub const TOKEN_PREFIX: &[u8] = b"pbxguard-probe ";

/// The UDP probe's payload for `port` under request `nonce`.
pub fn udp_token(nonce: &[u8; 16], port: u16) -> Vec<u8> {
    let mut t = TOKEN_PREFIX.to_vec();
    for b in nonce {
        t.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    t.extend_from_slice(format!(" {port}").as_bytes());
    t
}

fn result(spec: ProbeSpec, verdict: Verdict, evidence: &[u8]) -> ProbeResult {
    ProbeResult {
        spec,
        verdict,
        evidence: evidence.get(..MAX_EVIDENCE).unwrap_or(evidence).to_vec(),
    }
}

fn refused(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
    )
}

/// The CSeq number of the inbound SIP ALG probe's OPTIONS. Other SIP probes use 1, so an agent
/// listening on a port that both probe the same way tells them apart (ALGs leave CSeq alone).
pub const ALG_CSEQ: u32 = 2;

/// A SIP OPTIONS request for `target:port` from `local`, over `transport` ("UDP" or "TCP"), with
/// CSeq number `cseq`.
pub fn sip_options(
    target: SocketAddr,
    local: SocketAddr,
    transport: &str,
    nonce: &[u8; 16],
    cseq: u32,
) -> Vec<u8> {
    let tag: String = nonce.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let host = match target.ip() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let lhost = match local.ip() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    format!(
        "OPTIONS sip:{host}:{port} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {lhost}:{lport};branch=z9hG4bK{tag};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:pbxguard-reflector@{lhost}>;tag={tag}\r\n\
         To: <sip:{host}:{port}>\r\n\
         Call-ID: {tag}@pbxguard\r\n\
         CSeq: {cseq} OPTIONS\r\n\
         User-Agent: pbxguard-reflector\r\n\
         Content-Length: 0\r\n\r\n",
        port = target.port(),
        lport = local.port(),
    )
    .into_bytes()
}

/// Sends `payload` over UDP and waits for any answer: ANSWERED with the answer as evidence,
/// REFUSED on ICMP port unreachable, SILENT on timeout.
fn udp_exchange(
    spec: ProbeSpec,
    to: SocketAddr,
    payload: impl FnOnce(SocketAddr) -> Vec<u8>,
    timeout: Duration,
) -> ProbeResult {
    let bind: SocketAddr = if to.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let attempt = || -> io::Result<ProbeResult> {
        let s = UdpSocket::bind(bind)?;
        // Connected, so an ICMP port unreachable comes back as ECONNREFUSED.
        s.connect(to)?;
        let data = payload(s.local_addr()?);
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        // Two sends, half the timeout apart, against a single lost datagram.
        for _ in 0..2 {
            if let Err(e) = s.send(&data) {
                if refused(&e) {
                    return Ok(result(spec, Verdict::REFUSED, b"port unreachable"));
                }
                return Err(e);
            }
            let wait =
                (end.saturating_duration_since(Instant::now()) / 2).max(Duration::from_millis(10));
            s.set_read_timeout(Some(wait))?;
            match s.recv(&mut buf) {
                Ok(n) => {
                    return Ok(result(
                        spec,
                        Verdict::ANSWERED,
                        buf.get(..n).unwrap_or_default(),
                    ));
                }
                Err(e) if refused(&e) => {
                    return Ok(result(spec, Verdict::REFUSED, b"port unreachable"));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(result(spec, Verdict::SILENT, b""))
    };
    attempt().unwrap_or_else(|e| result(spec, Verdict::SKIPPED, e.to_string().as_bytes()))
}

/// Connects over TCP (and for SIP, sends OPTIONS and reads the status line).
fn tcp_probe(
    spec: ProbeSpec,
    to: SocketAddr,
    sip: Option<&[u8; 16]>,
    timeout: Duration,
) -> ProbeResult {
    let mut stream = match TcpStream::connect_timeout(&to, timeout) {
        Ok(s) => s,
        Err(e) if refused(&e) => return result(spec, Verdict::REFUSED, b"connection refused"),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            return result(spec, Verdict::SILENT, b"");
        }
        Err(e) => return result(spec, Verdict::SKIPPED, e.to_string().as_bytes()),
    };
    let Some(nonce) = sip else {
        return result(spec, Verdict::ANSWERED, b"connected");
    };
    let local = stream.local_addr().unwrap_or(to);
    let mut exchange = || -> io::Result<Vec<u8>> {
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(&sip_options(to, local, "TCP", nonce, 1))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(2).any(|w| w == b"\r\n") && got.len() < MAX_EVIDENCE {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        Ok(got)
    };
    match exchange() {
        Ok(got) if got.starts_with(b"SIP/2.0 ") => result(spec, Verdict::ANSWERED, &got),
        // Connected, but no SIP answer: something else listens there.
        Ok(got) => result(spec, Verdict::SILENT, &got),
        Err(_) => result(spec, Verdict::SILENT, b"connected, no SIP answer"),
    }
}

/// Runs one probe against `target` for the request with `nonce`.
pub fn run(target: IpAddr, spec: ProbeSpec, nonce: &[u8; 16], timeout: Duration) -> ProbeResult {
    let to = SocketAddr::new(target, spec.port);
    match spec.kind {
        ProbeKind::UDP => udp_exchange(spec, to, |_| udp_token(nonce, spec.port), timeout),
        ProbeKind::SIP_UDP => udp_exchange(
            spec,
            to,
            |local| sip_options(to, local, "UDP", nonce, 1),
            timeout,
        ),
        ProbeKind::TCP => tcp_probe(spec, to, None, timeout),
        ProbeKind::SIP_TCP => tcp_probe(spec, to, Some(nonce), timeout),
        ProbeKind::SIP_ALG_IN => {
            let mut sent = Vec::new();
            let mut r = udp_exchange(
                spec,
                to,
                |local| {
                    sent = sip_options(to, local, "UDP", nonce, ALG_CSEQ);
                    sent.clone()
                },
                timeout,
            );
            // The evidence is what we sent, for the agent to compare with what it received.
            r.evidence = sent;
            r
        }
        _ => result(spec, Verdict::SKIPPED, b"unknown probe kind"),
    }
}
