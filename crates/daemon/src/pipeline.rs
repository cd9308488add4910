//! The sensor path shared by the daemon, `replay` and the benchmarks: IP packet → SIP message → engine.
//!
//! The pipeline decodes IP/UDP/TCP (reassembling IPv4 fragments and TCP streams within fixed bounds),
//! parses SIP with caller-owned header storage, turns each message into an engine observation and returns
//! the engine's verdict for it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use pbxguard_engine::{Engine, Event, Observation, Timestamp, Verdict};
use pbxguard_sip::{
    Anomaly, Error as SipError, Frame as SipFrame, HeaderSlots, Message, Status, StreamCursor,
    StreamParser,
};
use pbxguard_sys::decode::{self, Decoded, Packet, ReasmLimits, Reassembler, Transport};

use crate::observe::{self, Direction};

/// Header lines stored per message; messages with more are flagged by the parser.
const HEADERS: usize = 96;
/// Header storage tried first for a datagram: enough for nearly every message, and a third of the cost
/// of setting up [`HEADERS`] slots per packet. A message that overflows it is parsed again with the full
/// storage, so the result is the same either way.
const FEW_HEADERS: usize = 32;
/// Bytes buffered per TCP connection before it is abandoned (one SIP message over TCP rarely exceeds 16 KiB).
const STREAM_BUFFER: usize = 64 * 1024;
/// TCP connections followed at once; beyond it the least recently active is dropped.
const MAX_STREAMS: usize = 4096;

/// What the pipeline has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Packets given to the pipeline.
    pub packets: u64,
    /// Packets that did not decode as UDP/TCP over IP.
    pub undecodable: u64,
    /// IPv4 fragments seen.
    pub fragments: u64,
    /// SIP messages handed to the engine.
    pub messages: u64,
    /// Payloads from peers that were not SIP at all.
    pub not_sip: u64,
    /// Keep-alives (CRLF) seen.
    pub keepalives: u64,
    /// TCP streams abandoned (gap, overflow or framing error).
    pub streams_dropped: u64,
    /// Packets the engine said to drop.
    pub dropped: u64,
    /// Packets from banned sources, skipped before parsing (the kernel drops them after capture sees them).
    pub banned_skipped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
}

#[derive(Debug, Default)]
struct Stream {
    next_seq: Option<u32>,
    buf: Vec<u8>,
    /// Where framing stopped in `buf`, so a message trickling in is scanned once, not once per segment.
    cursor: StreamCursor,
    last_active: u64,
}

/// The shared sensor path. See the module documentation.
pub struct Pipeline {
    engine: Engine,
    ports: Vec<u16>,
    reasm: Reassembler,
    streams: HashMap<FlowKey, Stream>,
    stream_parser: StreamParser,
    stats: PipelineStats,
    tick: u64,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("ports", &self.ports)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline feeding `engine`, treating `ports` as the PBX's SIP ports.
    pub fn new(engine: Engine, ports: Vec<u16>) -> Self {
        Self {
            engine,
            ports,
            reasm: Reassembler::new(ReasmLimits::default()),
            streams: HashMap::new(),
            stream_parser: StreamParser::default(),
            stats: PipelineStats::default(),
            tick: 0,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, to poll decisions or act on it.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Counters.
    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    /// Handles one IP packet (from the IP header on). `outgoing` is whether this host sent it; `time` is
    /// when it was seen. Returns the verdict of the last SIP message it completed (`Accept` when none).
    pub fn ip_packet(
        &mut self,
        ip: &[u8],
        vlan: Option<u16>,
        outgoing: bool,
        time: Duration,
    ) -> Verdict {
        self.stats.packets += 1;
        match decode::decode_ip(ip, vlan) {
            Ok(Decoded::Packet(p)) => self.packet(&p, outgoing, time),
            Ok(Decoded::Fragment(frag)) => {
                self.stats.fragments += 1;
                let Some(whole) = self.reasm.push(time, &frag) else {
                    return Verdict::Accept;
                };
                match decode::decode_transport(
                    whole.protocol,
                    whole.src,
                    whole.dst,
                    &whole.data,
                    vlan,
                ) {
                    Ok(p) => self.packet(&p, outgoing, time),
                    Err(_) => {
                        self.stats.undecodable += 1;
                        Verdict::Accept
                    }
                }
            }
            Err(_) => {
                self.stats.undecodable += 1;
                Verdict::Accept
            }
        }
    }

    fn direction(&self, p: &Packet<'_>, outgoing: bool) -> Direction {
        if outgoing {
            Direction::Outbound
        } else if self.ports.contains(&p.dst_port) {
            Direction::Inbound
        } else if self.ports.contains(&p.src_port) {
            // Forwarded traffic on a router in front of the PBX: the PBX answers from its SIP port.
            Direction::Outbound
        } else {
            Direction::Inbound
        }
    }

    /// Handles a decoded UDP datagram or TCP segment.
    pub fn packet(&mut self, p: &Packet<'_>, outgoing: bool, time: Duration) -> Verdict {
        let direction = self.direction(p, outgoing);
        let peer = match direction {
            Direction::Inbound => p.src,
            Direction::Outbound => p.dst,
        };
        let at = Timestamp::from_unix(time);
        // Capture taps packets before netfilter, so a banned flood still arrives here: skip it before parsing.
        if direction == Direction::Inbound && self.engine.is_banned(peer, at) {
            self.stats.banned_skipped += 1;
            return Verdict::Drop;
        }
        match p.transport {
            Transport::Udp => self.datagram(p.payload, direction, peer, at),
            Transport::Tcp { seq, flags } => self.segment(p, seq, flags, direction, peer, at),
        }
    }

    fn datagram(
        &mut self,
        payload: &[u8],
        direction: Direction,
        peer: IpAddr,
        at: Timestamp,
    ) -> Verdict {
        match self.datagram_with::<FEW_HEADERS>(payload, direction, peer, at, false) {
            Some(verdict) => verdict,
            None => self
                .datagram_with::<HEADERS>(payload, direction, peer, at, true)
                .unwrap_or(Verdict::Accept),
        }
    }

    /// Parses a datagram with `N` header slots and handles it; `None` (nothing handled) when the slots
    /// overflowed and this is not the `last` attempt.
    fn datagram_with<const N: usize>(
        &mut self,
        payload: &[u8],
        direction: Direction,
        peer: IpAddr,
        at: Timestamp,
        last: bool,
    ) -> Option<Verdict> {
        let mut slots = HeaderSlots::<N>::new();
        match Message::parse_datagram(payload, &mut slots.0) {
            Ok(msg) if !last && msg.anomalies().contains(Anomaly::TooManyHeaders) => None,
            Ok(msg) => Some(self.message(&msg, payload, direction, peer, at)),
            Err(SipError::Empty) => {
                self.stats.keepalives += 1;
                Some(Verdict::Accept)
            }
            Err(_) => Some(self.not_sip(direction, peer, at)),
        }
    }

    fn not_sip(&mut self, direction: Direction, peer: IpAddr, at: Timestamp) -> Verdict {
        self.stats.not_sip += 1;
        if direction == Direction::Outbound {
            return Verdict::Accept;
        }
        self.observe(Observation {
            time: at,
            peer,
            event: Event::Unparseable,
        })
    }

    fn message(
        &mut self,
        msg: &Message<'_, '_>,
        input: &[u8],
        direction: Direction,
        peer: IpAddr,
        at: Timestamp,
    ) -> Verdict {
        self.stats.messages += 1;
        match observe::event(msg, input, direction) {
            Some(event) => self.observe(Observation {
                time: at,
                peer,
                event,
            }),
            None => Verdict::Accept,
        }
    }

    fn observe(&mut self, obs: Observation<'_>) -> Verdict {
        let v = self.engine.handle(&obs);
        if v == Verdict::Drop {
            self.stats.dropped += 1;
        }
        v
    }

    fn segment(
        &mut self,
        p: &Packet<'_>,
        seq: u32,
        flags: u8,
        direction: Direction,
        peer: IpAddr,
        at: Timestamp,
    ) -> Verdict {
        const FIN: u8 = 0x01;
        const SYN: u8 = 0x02;
        const RST: u8 = 0x04;
        let key = FlowKey {
            src: p.src,
            dst: p.dst,
            sport: p.src_port,
            dport: p.dst_port,
        };
        if flags & (RST | FIN) != 0 && p.payload.is_empty() {
            self.streams.remove(&key);
            return Verdict::Accept;
        }
        if p.payload.is_empty() && flags & SYN == 0 {
            return Verdict::Accept;
        }
        self.tick += 1;
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            // Drop the least recently active connection to stay within the bound.
            if let Some(oldest) = self
                .streams
                .iter()
                .min_by_key(|(_, s)| s.last_active)
                .map(|(k, _)| *k)
            {
                self.streams.remove(&oldest);
                self.stats.streams_dropped += 1;
            }
        }
        let stream = self.streams.entry(key).or_default();
        stream.last_active = self.tick;
        let data_seq = if flags & SYN != 0 {
            seq.wrapping_add(1)
        } else {
            seq
        };
        let expected = *stream.next_seq.get_or_insert(data_seq);
        let offset = data_seq.wrapping_sub(expected);
        let payload = if offset == 0 {
            p.payload
        } else if offset > u32::MAX / 2 {
            // A retransmission overlapping what we have: keep only the new tail.
            let overlap = usize::try_from(expected.wrapping_sub(data_seq)).unwrap_or(usize::MAX);
            p.payload.get(overlap..).unwrap_or_default()
        } else {
            // A gap (a lost segment): the framing is lost; resynchronise at this segment.
            stream.buf.clear();
            stream.cursor = StreamCursor::default();
            self.stats.streams_dropped += 1;
            p.payload
        };
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        stream.next_seq = Some(data_seq.wrapping_add(if offset > u32::MAX / 2 {
            u32::try_from(p.payload.len()).unwrap_or(u32::MAX)
        } else {
            len
        }));
        if stream.buf.len() + payload.len() > STREAM_BUFFER {
            stream.buf.clear();
            stream.cursor = StreamCursor::default();
            self.stats.streams_dropped += 1;
            return Verdict::Accept;
        }
        stream.buf.extend_from_slice(payload);
        let mut buf = std::mem::take(&mut stream.buf);
        let mut cursor = stream.cursor;
        let verdict = self.drain_stream(&mut buf, &mut cursor, direction, peer, at);
        if let Some(stream) = self.streams.get_mut(&key) {
            stream.buf = buf;
            stream.cursor = cursor;
        }
        verdict
    }

    /// Parses every complete message at the front of `buf` and removes them from it.
    fn drain_stream(
        &mut self,
        buf: &mut Vec<u8>,
        cursor: &mut StreamCursor,
        direction: Direction,
        peer: IpAddr,
        at: Timestamp,
    ) -> Verdict {
        let mut consumed = 0;
        let mut verdict = Verdict::Accept;
        let parser = self.stream_parser;
        loop {
            let rest = buf.get(consumed..).unwrap_or_default();
            let mut slots = HeaderSlots::<HEADERS>::new();
            match parser.parse_resume(rest, &mut slots.0, cursor) {
                Ok(Status::Complete(SipFrame::Message(msg))) => {
                    let n = msg.len().max(1);
                    verdict = self.message(&msg, rest, direction, peer, at);
                    consumed += n;
                }
                Ok(Status::Complete(SipFrame::KeepAlive { len, .. })) => {
                    self.stats.keepalives += 1;
                    consumed += len.max(1);
                }
                Ok(Status::Partial) => break,
                Err(_) => {
                    // The stream cannot be framed any more: count it as garbage from the peer and drop it.
                    self.stats.streams_dropped += 1;
                    verdict = self.not_sip(direction, peer, at);
                    consumed = buf.len();
                    break;
                }
            }
        }
        buf.drain(..consumed.min(buf.len()));
        verdict
    }

    /// Forgets reassembly state older than the reassembly timeout.
    pub fn expire(&mut self, now: Duration) {
        self.reasm.expire(now);
    }
}
