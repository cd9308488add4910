//! The offline sensor path on one core: IPv4/UDP decode + SIP parse + engine, on frames held in memory.
//!
//! Run: `cargo bench -p pbxguard-daemon --bench pipeline`. The `pipeline_stages` group runs the same
//! traffic through growing prefixes of the path (decode; + SIP parse; + observation), so the cost of each
//! stage is the difference between neighbours, and builds the observation a second way as its peer: from
//! `Message::validate` plus the typed accessors, each parsing its header again (how the daemon did it
//! before `pbxguard_sip::facts`). `-- decode_parse_engine` runs only the whole path.
//!
//! The whole path is timed twice: in wall time (`pipeline/…`) and in the CPU time of the benchmark
//! thread (`pipeline_cpu/…`, read from `/proc/thread-self/schedstat`). On a machine shared with other
//! work the first counts the time other processes hold the core; the second does not (cache and SMT
//! contention still show in both).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pbxguard_config::Config;
use pbxguard_daemon::observe::{self, Direction};
use pbxguard_daemon::pipeline::Pipeline;
use pbxguard_engine::{Engine, Event, Request, Response, Timestamp};
use pbxguard_sip::{HeaderSlots, Message};
use pbxguard_sys::decode::{self, Decoded};

const PBX: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

/// An IPv4/UDP packet (no link header) carrying `payload`.
fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let mut sum: u32 = 0;
    for c in p.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    p[10] = (csum >> 8) as u8;
    p[11] = csum as u8;
    let ulen = 8 + payload.len();
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&(ulen as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

fn register(user: u32, host: Ipv4Addr, call: u64, auth: bool) -> Vec<u8> {
    let authz = if auth {
        format!(
            "Authorization: Digest username=\"{user}\", realm=\"pbx\", nonce=\"4b1f9c2e\", uri=\"sip:pbx.example.com\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5\r\n"
        )
    } else {
        String::new()
    };
    format!(
        "REGISTER sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP {host}:5060;branch=z9hG4bK{call:x};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{user}@pbx.example.com>;tag={call:x}\r\nTo: <sip:{user}@pbx.example.com>\r\n\
         Call-ID: {call:x}@{host}\r\nCSeq: {} REGISTER\r\nContact: <sip:{user}@{host}:5060>\r\n{authz}\
         User-Agent: Yealink SIP-T46S 66.86.0.15\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
        if auth { 2 } else { 1 }
    )
    .into_bytes()
}

fn response(
    status: &str,
    user: u32,
    host: Ipv4Addr,
    call: u64,
    cseq: u32,
    method: &str,
) -> Vec<u8> {
    let www = if status.starts_with("401") {
        "WWW-Authenticate: Digest realm=\"pbx\", nonce=\"4b1f9c2e\", algorithm=MD5\r\n"
    } else {
        ""
    };
    format!(
        "SIP/2.0 {status}\r\nVia: SIP/2.0/UDP {host}:5060;branch=z9hG4bK{call:x};rport=5060;received={host}\r\n\
         From: <sip:{user}@pbx.example.com>;tag={call:x}\r\nTo: <sip:{user}@pbx.example.com>;tag=srv{call:x}\r\n\
         Call-ID: {call:x}@{host}\r\nCSeq: {cseq} {method}\r\n{www}Server: Asterisk PBX 20.5.0\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn invite(user: u32, host: Ipv4Addr, call: u64) -> Vec<u8> {
    let sdp = format!(
        "v=0\r\no=- {call} 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\nm=audio 12000 RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    );
    format!(
        "INVITE sip:00442079460000@pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP {host}:5060;branch=z9hG4bKi{call:x};rport\r\n\
         Max-Forwards: 70\r\nFrom: \"Ext {user}\" <sip:{user}@pbx.example.com>;tag=i{call:x}\r\nTo: <sip:00442079460000@pbx.example.com>\r\n\
         Call-ID: i{call:x}@{host}\r\nCSeq: 1 INVITE\r\nContact: <sip:{user}@{host}:5060>\r\n\
         Proxy-Authorization: Digest username=\"{user}\", realm=\"pbx\", nonce=\"4b1f9c2e\", uri=\"sip:00442079460000@pbx.example.com\", response=\"0f3d2c\"\r\n\
         User-Agent: Grandstream GXP2170 1.0.11.23\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

fn options(host: Ipv4Addr, call: u64, ua: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:100@{PBX} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:5060;branch=z9hG4bKo{call:x}\r\nMax-Forwards: 70\r\n\
         From: \"{ua}\" <sip:100@{host}>;tag=o{call:x}\r\nTo: <sip:100@{PBX}>\r\nCall-ID: o{call:x}\r\nCSeq: 1 OPTIONS\r\n\
         User-Agent: {ua}\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// (packet, outgoing) pairs: phones registering (challenge + auth + 200), calls, and attackers.
fn traffic(n: usize) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::with_capacity(n);
    let mut call = 0u64;
    while out.len() < n {
        call += 1;
        let phone = (call % 2000) as u32;
        let host = Ipv4Addr::from(0xC633_6400 + phone);
        match call % 10 {
            0..6 => {
                let user = 1000 + phone;
                out.push((
                    udp(host, 5060, PBX, 5060, &register(user, host, call, false)),
                    false,
                ));
                out.push((
                    udp(
                        PBX,
                        5060,
                        host,
                        5060,
                        &response("401 Unauthorized", user, host, call, 1, "REGISTER"),
                    ),
                    true,
                ));
                out.push((
                    udp(host, 5060, PBX, 5060, &register(user, host, call, true)),
                    false,
                ));
                out.push((
                    udp(
                        PBX,
                        5060,
                        host,
                        5060,
                        &response("200 OK", user, host, call, 2, "REGISTER"),
                    ),
                    true,
                ));
            }
            6 | 7 => {
                out.push((
                    udp(host, 5060, PBX, 5060, &invite(1000 + phone, host, call)),
                    false,
                ));
                out.push((
                    udp(
                        PBX,
                        5060,
                        host,
                        5060,
                        &response("100 Trying", 1000 + phone, host, call, 1, "INVITE"),
                    ),
                    true,
                ));
            }
            8 => {
                let atk = Ipv4Addr::from(0x0A00_0000 + (call % 5000) as u32);
                out.push((
                    udp(
                        atk,
                        5070,
                        PBX,
                        5060,
                        &options(atk, call, "friendly-scanner"),
                    ),
                    false,
                ));
            }
            _ => {
                let atk = Ipv4Addr::from(0x0B00_0000 + (call % 50) as u32);
                let user = 2000 + (call % 300) as u32;
                out.push((
                    udp(atk, 5070, PBX, 5060, &register(user, atk, call, true)),
                    false,
                ));
                out.push((
                    udp(
                        PBX,
                        5060,
                        atk,
                        5070,
                        &response("401 Unauthorized", user, atk, call, 2, "REGISTER"),
                    ),
                    true,
                ));
            }
        }
    }
    out.truncate(n);
    out
}

/// CPU time of the calling thread in nanoseconds, or wall time where the kernel does not report it.
struct ThreadCpu;

fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

impl Measurement for ThreadCpu {
    type Intermediate = (std::time::Instant, Option<u64>);
    type Value = u64;

    fn start(&self) -> Self::Intermediate {
        (std::time::Instant::now(), thread_cpu_ns())
    }
    fn end(&self, (wall, cpu): Self::Intermediate) -> u64 {
        match (cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => wall.elapsed().as_nanos() as u64,
        }
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanos
    }
}

/// Formats nanoseconds as ms and element throughput as Kelem/s or Melem/s.
struct Nanos;

impl ValueFormatter for Nanos {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        for v in values {
            *v /= 1e6;
        }
        "ms (cpu)"
    }
    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match *t {
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => n,
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Bits(n) => n,
        } as f64;
        let mega = n * 1e9 / typical >= 1e6;
        for v in values {
            *v = n * 1e9 / *v / if mega { 1e6 } else { 1e3 };
        }
        if mega {
            "Melem/s (cpu)"
        } else {
            "Kelem/s (cpu)"
        }
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// The whole path on the mixed traffic, in `group` measured by `M`.
fn whole_path<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let packets = traffic(50_000);
    let bytes: usize = packets.iter().map(|(p, _)| p.len()).sum();
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(packets.len() as u64));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("decode_parse_engine_mixed_50k_packets", |b| {
        let start = Timestamp::from_secs(1_700_000_000);
        let mut pipeline = Pipeline::new(Engine::new(Config::default(), start), vec![5060]);
        let mut t = Duration::from_secs(1_700_000_000);
        b.iter(|| {
            for (p, outgoing) in &packets {
                t += Duration::from_micros(2);
                black_box(pipeline.ip_packet(p, None, *outgoing, t));
            }
            while let Some(d) = pipeline.engine_mut().poll_decision() {
                black_box(d);
            }
        });
        assert!(pipeline.stats().messages > 0);
        assert_eq!(pipeline.stats().undecodable, 0);
    });
    group.finish();
    eprintln!(
        "mixed traffic: {} packets, {} bytes (mean {} bytes)",
        packets.len(),
        bytes,
        bytes / packets.len()
    );
}

fn bench(c: &mut Criterion) {
    whole_path(c, "pipeline");
}

fn bench_cpu(c: &mut Criterion<ThreadCpu>) {
    whole_path(c, "pipeline_cpu");
}

/// The peer of `observe::event`: the same event from `validate()` and the accessors.
fn event_by_accessors<'b>(msg: &Message<'_, 'b>, outgoing: bool) -> Option<Event<'b>> {
    if outgoing {
        let stale = msg
            .www_authenticate()
            .or_else(|| msg.proxy_authenticate())
            .is_some_and(|a| a.stale());
        return msg.status().map(|s| {
            Event::Response(Response {
                status: s.as_u16(),
                call_id: msg.call_id().map_or(&b""[..], str::as_bytes),
                cseq: msg.cseq().map_or(0, |c| c.seq),
                to_user: msg.to().and_then(|t| t.uri.user).map(str::as_bytes),
                stale,
            })
        });
    }
    let from = msg.from();
    let to = msg.to();
    Some(Event::Request(Request {
        method: msg.method().map_or(&b""[..], |m| m.as_str().as_bytes()),
        from_user: from.as_ref().and_then(|f| f.uri.user).map(str::as_bytes),
        from_display: from
            .as_ref()
            .and_then(|f| f.display_name)
            .map(str::as_bytes),
        to_user: to.as_ref().and_then(|t| t.uri.user).map(str::as_bytes),
        uri_user: msg
            .request_uri_parsed()
            .and_then(|u| u.user)
            .map(str::as_bytes),
        user_agent: msg.user_agent(),
        call_id: msg.call_id().map_or(&b""[..], str::as_bytes),
        cseq: msg.cseq().map_or(0, |c| c.seq),
        credentials: msg
            .authorization()
            .or_else(|| msg.proxy_authorization())
            .map(|a| a.username().unwrap_or("").as_bytes()),
        anomalies: u32::try_from(msg.validate().len()).unwrap_or(u32::MAX),
        to_tag: to.as_ref().is_some_and(|t| t.params.get("tag").is_some()),
    }))
}

/// Decodes each packet and parses its payload as the pipeline does (32 cache-aligned header
/// slots), handing every message to `f` with its payload and direction; the number of messages.
fn each_message(
    packets: &[(Vec<u8>, bool)],
    mut f: impl FnMut(&Message<'_, '_>, &[u8], Direction),
) -> usize {
    let mut n = 0;
    for (p, outgoing) in packets {
        let Ok(Decoded::Packet(d)) = decode::decode_ip(p, None) else {
            continue;
        };
        let mut slots = HeaderSlots::<32>::new();
        if let Ok(msg) = Message::parse_datagram(d.payload, &mut slots.0) {
            let dir = if *outgoing {
                Direction::Outbound
            } else {
                Direction::Inbound
            };
            f(&msg, d.payload, dir);
            n += 1;
        }
    }
    n
}

/// The path cut after each stage (the parse uses the pipeline's first header storage, 32 lines).
fn stages(c: &mut Criterion) {
    let packets = traffic(50_000);
    // The peers must build the same observations, or the comparison means nothing; and every
    // decoded packet must parse, or the stages would measure less than the traffic.
    let decoded = packets
        .iter()
        .filter(|(p, _)| matches!(decode::decode_ip(p, None), Ok(Decoded::Packet(_))))
        .count();
    let compared = each_message(&packets, |msg, payload, dir| {
        assert_eq!(
            format!("{:?}", observe::event(msg, payload, dir)),
            format!("{:?}", event_by_accessors(msg, dir == Direction::Outbound))
        );
    });
    assert_eq!(compared, decoded);
    let mut group = c.benchmark_group("pipeline_stages");
    group.throughput(Throughput::Elements(packets.len() as u64));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(30);
    group.bench_function("decode", |b| {
        b.iter(|| {
            for (p, _) in &packets {
                black_box(decode::decode_ip(p, None).is_ok());
            }
        });
    });
    group.bench_function("decode_parse", |b| {
        b.iter(|| each_message(&packets, |msg, _, _| _ = black_box(msg.headers().len())));
    });
    group.bench_function("decode_parse_observe", |b| {
        b.iter(|| {
            each_message(&packets, |msg, payload, dir| {
                black_box(observe::event(msg, payload, dir));
            })
        });
    });
    group.bench_function("decode_parse_observe_by_accessors", |b| {
        b.iter(|| {
            each_message(&packets, |msg, _, dir| {
                black_box(event_by_accessors(msg, dir == Direction::Outbound));
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench, stages);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bench_cpu
}
criterion_main!(benches, cpu);
