//! Inline mode: SIP datagrams wait in an NFQUEUE for the engine's verdict before the PBX sees them.
//!
//! `[guard] mode = "inline"` makes `pbxguard run` steer UDP to the SIP ports into queue `[guard] queue`
//! (iptables chain `PBXGUARD_INLINE` in `mangle PREROUTING`, with `--queue-bypass`), and [`serve`] judges
//! every queued datagram through the same [`Pipeline`](crate::pipeline::Pipeline) path as capture:
//!
//! - `Accept`: the datagram continues to the PBX.
//! - `Drop`: it is discarded. A scanner's first request never reaches the PBX, and the packet that makes a
//!   source cross a threshold is lost with it (capture can only ban the packets after it).
//! - `Reject(status)`: it is discarded and answered in the PBX's name with a final response built by
//!   [`pbxguard_sip::response::build`], sent from the address and port it was sent to (a raw socket, see
//!   [`pbxguard_sys::queue::reply`]).
//!
//! The PBX's answers are not queued: the capture ring keeps running and sees them (and SIP over TCP, which
//! is never queued because a dropped segment would only be retransmitted), while it skips what the queue
//! already judged: inbound UDP to a SIP port, and inbound UDP fragments (the queue sees those datagrams
//! reassembled). So every message reaches the engine exactly once, and the answers cost the PBX no queue
//! latency.
//!
//! An [`InlinePolicy`] may override the engine's verdict per request; it is where the call policy (forbidden
//! destinations answered with 403) plugs in. [`EngineVerdict`] keeps the engine's verdict.
//!
//! If the daemon dies, `--queue-bypass` lets SIP flow again; if it cannot keep up, the queue's fail-open
//! flag accepts the overflow. The guard degrades to "not inline", never to "PBX unreachable".

use std::net::{IpAddr, SocketAddr};
use std::ops::DerefMut;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use pbxguard_engine::Verdict;
use pbxguard_sip::{Header, HeaderName, Message, StatusCode, response};
use pbxguard_sys::decode::{self, Decoded, Packet, Transport};
use pbxguard_sys::queue::reply::{self, RawSender};
use pbxguard_sys::queue::{Queue, QueueError, QueueVerdict};

/// Header lines parsed when a rejected request is answered.
const HEADERS: usize = 96;

/// Overrides the engine's verdict for one queued datagram.
pub trait InlinePolicy: Send {
    /// The verdict for `packet` given the engine's `engine` verdict. The default keeps the engine's.
    fn verdict(&mut self, packet: &Packet<'_>, engine: Verdict) -> Verdict {
        let _ = packet;
        engine
    }
}

/// The policy that keeps the engine's verdict (the default until the call policy lands).
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineVerdict;

impl InlinePolicy for EngineVerdict {}

/// What to do with one queued datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Let it through.
    Accept,
    /// Discard it.
    Drop,
    /// Discard it and send `datagram` (a whole IP packet) to `to`.
    Answer {
        /// The requester's address.
        to: IpAddr,
        /// The response, IP header included.
        datagram: &'a [u8],
    },
}

/// What inline mode has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InlineStats {
    /// Datagrams judged.
    pub packets: u64,
    /// Accepted.
    pub accepted: u64,
    /// Dropped silently.
    pub dropped: u64,
    /// Dropped and answered.
    pub answered: u64,
    /// Rejections that could not be answered (not a request, an ACK, headers missing, send failed): the
    /// datagram is dropped anyway.
    pub answer_failed: u64,
}

/// The verdict logic, without the queue: engine verdict in, [`Action`] out.
#[derive(Debug)]
pub struct Inline<P> {
    policy: P,
    stats: InlineStats,
    response: Vec<u8>,
    datagram: Vec<u8>,
}

/// FNV-1a, to derive a stable To tag from the request (a retransmission gets the same tag, as RFC 3261
/// §8.2.6.2 asks of a UAS that answers without keeping state).
fn fnv(acc: u32, bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(acc, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

impl<P: InlinePolicy> Inline<P> {
    /// Inline verdicts under `policy`.
    pub fn new(policy: P) -> Self {
        Self {
            policy,
            stats: InlineStats::default(),
            response: vec![0; 8192],
            datagram: vec![0; 8192 + 60],
        }
    }

    /// Counters.
    pub fn stats(&self) -> InlineStats {
        self.stats
    }

    /// Decides what happens to `ip` (a queued packet from its IP header on), given the engine's verdict
    /// for it.
    pub fn decide(&mut self, ip: &[u8], engine: Verdict) -> Action<'_> {
        self.stats.packets += 1;
        let packet = match decode::decode_ip(ip, None) {
            Ok(Decoded::Packet(p)) => Some(p),
            _ => None,
        };
        let verdict = match &packet {
            Some(p) => self.policy.verdict(p, engine),
            None => engine,
        };
        match verdict {
            Verdict::Drop => {
                self.stats.dropped += 1;
                Action::Drop
            }
            Verdict::Reject(status) => {
                let built =
                    packet.and_then(|p| answer(&p, status, &mut self.response, &mut self.datagram));
                match built {
                    Some((to, len)) => {
                        self.stats.answered += 1;
                        Action::Answer {
                            to,
                            datagram: self.datagram.get(..len).unwrap_or_default(),
                        }
                    }
                    None => {
                        self.stats.answer_failed += 1;
                        Action::Drop
                    }
                }
            }
            // `Accept`, and any verdict this version does not know: passing is the fail-open choice.
            _ => {
                self.stats.accepted += 1;
                Action::Accept
            }
        }
    }
}

/// Builds the final response `status` to the SIP request in `p` and wraps it in a UDP datagram from the
/// request's destination to its source. Returns the requester's address and the datagram's length.
fn answer(
    p: &Packet<'_>,
    status: u16,
    response_buf: &mut [u8],
    datagram: &mut [u8],
) -> Option<(IpAddr, usize)> {
    if p.transport != Transport::Udp {
        return None;
    }
    let status = StatusCode::new(status).filter(|s| s.is_final())?;
    let mut headers = [Header::EMPTY; HEADERS];
    let msg = Message::parse_datagram(p.payload, &mut headers).ok()?;
    let mut tag = 0x811c_9dc5;
    for h in msg.headers() {
        if matches!(
            h.kind(),
            HeaderName::CallId | HeaderName::CSeq | HeaderName::From
        ) {
            tag = fnv(tag, h.value());
        }
    }
    let tag = format!("pbxguard{tag:08x}");
    let reason = status.canonical_reason().unwrap_or("Rejected");
    let n = response::build(&msg, status, reason, &tag, response_buf).ok()?;
    let body = response_buf.get(..n)?;
    let len = reply::build_udp(
        SocketAddr::new(p.dst, p.dst_port),
        SocketAddr::new(p.src, p.src_port),
        body,
        datagram,
    )
    .ok()?;
    Some((p.src, len))
}

/// Whether the queue, not capture, judges a captured frame: inbound UDP to a SIP port (what the steering
/// rule matches) and inbound UDP fragments (the queue sees their datagram reassembled).
pub fn queued(ip: &[u8], outgoing: bool, ports: &[u16]) -> bool {
    if outgoing {
        return false;
    }
    match decode::decode_ip(ip, None) {
        Ok(Decoded::Packet(p)) => p.transport == Transport::Udp && ports.contains(&p.dst_port),
        Ok(Decoded::Fragment(f)) => f.protocol == 17,
        Err(_) => false,
    }
}

/// The engine side of inline mode: one packet in, the engine's verdict out (the daemon's shared state
/// implements it by running the pipeline and applying the decisions at once).
pub trait Sensor {
    /// Runs `ip`, seen at `time` (since the Unix epoch), through the engine.
    fn inbound(&mut self, ip: &[u8], time: Duration) -> Verdict;

    /// Receives inline mode's counters after each judged packet (for status and metrics).
    fn record(&mut self, stats: InlineStats) {
        let _ = stats;
    }
}

/// Judges queued packets until `stop` is set. `lock` gives access to the engine; it is taken once per
/// batch, when the first packet of the batch has arrived (never while waiting), so the capture loop and
/// the control API are not held up by an idle queue.
///
/// # Errors
///
/// [`QueueError`] when the queue fails; the kernel then accepts the queued packets (bypass/fail-open).
pub fn serve<P, S, G>(
    queue: &mut Queue,
    sender: &RawSender,
    inline: &mut Inline<P>,
    stop: &AtomicBool,
    mut lock: impl FnMut() -> G,
) -> Result<(), QueueError>
where
    P: InlinePolicy,
    S: Sensor + ?Sized,
    G: DerefMut<Target = S>,
{
    while !stop.load(Ordering::Relaxed) {
        let mut guard: Option<G> = None;
        let mut time = Duration::ZERO;
        queue.process(Duration::from_millis(100), |p| {
            let sensor = guard.get_or_insert_with(|| {
                time = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                lock()
            });
            let engine = sensor.inbound(p.payload, time);
            let verdict = match inline.decide(p.payload, engine) {
                Action::Accept => QueueVerdict::Accept,
                Action::Drop => QueueVerdict::Drop,
                Action::Answer { to, datagram } => {
                    if let Err(e) = sender.send(datagram, to) {
                        tracing::warn!("inline: cannot answer {to}: {e}");
                    }
                    QueueVerdict::Drop
                }
            };
            sensor.record(inline.stats());
            verdict
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/UDP packet carrying `payload` from 10.77.0.3:40000 to 10.77.0.2:5060.
    fn ip_packet(payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 60 + payload.len()];
        let n = reply::build_udp(
            "10.77.0.3:40000".parse().unwrap(),
            "10.77.0.2:5060".parse().unwrap(),
            payload,
            &mut out,
        )
        .unwrap();
        out.truncate(n);
        out
    }

    const INVITE: &[u8] = b"INVITE sip:0049123456789@10.77.0.2 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.77.0.3:40000;branch=z9hG4bK-776asdhds;rport\r\n\
        Max-Forwards: 70\r\n\
        From: \"1001\" <sip:1001@10.77.0.2>;tag=1928301774\r\n\
        To: <sip:0049123456789@10.77.0.2>\r\n\
        Call-ID: a84b4c76e66710@10.77.0.3\r\n\
        CSeq: 314159 INVITE\r\n\
        Contact: <sip:1001@10.77.0.3:40000>\r\n\
        Content-Length: 0\r\n\r\n";

    /// A test policy: INVITEs to international numbers (`00…`) are forbidden.
    struct NoInternational;

    impl InlinePolicy for NoInternational {
        fn verdict(&mut self, packet: &Packet<'_>, engine: Verdict) -> Verdict {
            if packet.payload.starts_with(b"INVITE sip:00") {
                Verdict::Reject(403)
            } else {
                engine
            }
        }
    }

    #[test]
    fn a_forbidden_request_is_dropped_and_answered_403_from_the_pbx_address() {
        let mut inline = Inline::new(NoInternational);
        let pkt = ip_packet(INVITE);
        let Action::Answer { to, datagram } = inline.decide(&pkt, Verdict::Accept) else {
            panic!("not answered");
        };
        assert_eq!(to, "10.77.0.3".parse::<IpAddr>().unwrap());
        let Ok(Decoded::Packet(d)) = decode::decode_ip(datagram, None) else {
            panic!("answer does not decode");
        };
        assert_eq!((d.src.to_string(), d.src_port), ("10.77.0.2".into(), 5060));
        assert_eq!((d.dst.to_string(), d.dst_port), ("10.77.0.3".into(), 40000));
        let text = std::str::from_utf8(d.payload).unwrap();
        let tag = text
            .split("To: <sip:0049123456789@10.77.0.2>;tag=")
            .nth(1)
            .and_then(|t| t.split("\r\n").next())
            .unwrap()
            .to_owned();
        assert!(tag.starts_with("pbxguard"), "{text}");
        assert_eq!(
            text,
            format!(
                "SIP/2.0 403 Forbidden\r\n\
                 Via: SIP/2.0/UDP 10.77.0.3:40000;branch=z9hG4bK-776asdhds;rport\r\n\
                 From: \"1001\" <sip:1001@10.77.0.2>;tag=1928301774\r\n\
                 To: <sip:0049123456789@10.77.0.2>;tag={tag}\r\n\
                 Call-ID: a84b4c76e66710@10.77.0.3\r\n\
                 CSeq: 314159 INVITE\r\n\
                 Content-Length: 0\r\n\r\n"
            )
        );
        assert_eq!(inline.stats().answered, 1);
    }

    #[test]
    fn a_retransmission_gets_the_same_to_tag() {
        let mut inline = Inline::new(NoInternational);
        let pkt = ip_packet(INVITE);
        let first = match inline.decide(&pkt, Verdict::Accept) {
            Action::Answer { datagram, .. } => datagram.to_vec(),
            a => panic!("{a:?}"),
        };
        let second = match inline.decide(&pkt, Verdict::Accept) {
            Action::Answer { datagram, .. } => datagram.to_vec(),
            a => panic!("{a:?}"),
        };
        assert_eq!(first, second);
    }

    #[test]
    fn the_engine_verdict_stands_under_the_default_policy() {
        let mut inline = Inline::new(EngineVerdict);
        let pkt = ip_packet(INVITE);
        assert_eq!(inline.decide(&pkt, Verdict::Accept), Action::Accept);
        assert_eq!(inline.decide(&pkt, Verdict::Drop), Action::Drop);
        assert!(matches!(
            inline.decide(&pkt, Verdict::Reject(488)),
            Action::Answer { .. }
        ));
        let s = inline.stats();
        assert_eq!((s.packets, s.accepted, s.dropped, s.answered), (3, 1, 1, 1));
    }

    #[test]
    fn rejections_that_cannot_be_answered_are_still_dropped() {
        let mut inline = Inline::new(EngineVerdict);
        let ack = ip_packet(b"ACK sip:1@10.77.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.0.3\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:1@10.77.0.2>;tag=2\r\nCall-ID: x\r\nCSeq: 1 ACK\r\n\r\n");
        let response = ip_packet(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.77.0.3\r\n\r\n");
        for pkt in [
            ack,
            response,
            ip_packet(b"\x00\x01garbage"),
            b"\x45trunc".to_vec(),
        ] {
            assert_eq!(inline.decide(&pkt, Verdict::Reject(403)), Action::Drop);
        }
        // A non-final status is never sent as the answer.
        assert_eq!(
            inline.decide(&ip_packet(INVITE), Verdict::Reject(180)),
            Action::Drop
        );
        assert_eq!(inline.stats().answer_failed, 5);
    }

    #[test]
    fn capture_skips_exactly_what_the_queue_judges() {
        let inbound = ip_packet(INVITE);
        assert!(queued(&inbound, false, &[5060]));
        assert!(!queued(&inbound, true, &[5060]));
        assert!(!queued(&inbound, false, &[5080]));
        let mut answer = vec![0u8; 600];
        let n = reply::build_udp(
            "10.77.0.2:5060".parse().unwrap(),
            "10.77.0.3:40000".parse().unwrap(),
            b"SIP/2.0 200 OK\r\n\r\n",
            &mut answer,
        )
        .unwrap();
        assert!(!queued(&answer[..n], false, &[5060]));
        assert!(!queued(b"garbage", false, &[5060]));
    }
}
