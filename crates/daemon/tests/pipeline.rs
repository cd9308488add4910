//! The sensor path on hand-built packets: UDP, TCP streams (split, coalesced, retransmitted, with gaps),
//! IPv4 fragments, and garbage.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;
use std::time::Duration;

use pbxguard_config::Config;
use pbxguard_daemon::pipeline::Pipeline;
use pbxguard_engine::{Decision, Detector, Engine, Timestamp, Verdict};

const PBX: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const ATK: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, id: u16, frag: u16, body: &[u8]) -> Vec<u8> {
    let total = (20 + body.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(body);
    h
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    ipv4(src, dst, 17, 1, 0, &udp_body(payload))
}

fn udp_body(payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&5070u16.to_be_bytes());
    b.extend_from_slice(&5060u16.to_be_bytes());
    b.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(payload);
    b
}

fn tcp(src: Ipv4Addr, dst: Ipv4Addr, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&40000u16.to_be_bytes());
    b.extend_from_slice(&5060u16.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    b.extend_from_slice(payload);
    ipv4(src, dst, 6, 1, 0, &b)
}

fn scanner_options(n: u32) -> Vec<u8> {
    format!(
        "OPTIONS sip:100@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/TCP 203.0.113.5:40000;branch=z9hG4bK{n}\r\n\
         From: <sip:100@203.0.113.5>;tag={n}\r\nTo: <sip:100@192.0.2.10>\r\nCall-ID: c{n}\r\nCSeq: {n} OPTIONS\r\n\
         User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn pipeline() -> Pipeline {
    let start = Timestamp::from_secs(1_700_000_000);
    Pipeline::new(Engine::new(Config::default(), start), vec![5060])
}

fn t() -> Duration {
    Duration::from_secs(1_700_000_000)
}

fn banned_by(p: &mut Pipeline) -> Vec<Detector> {
    let mut v = Vec::new();
    while let Some(d) = p.engine_mut().poll_decision() {
        if let Decision::Ban(b) = d {
            v.push(b.detector);
        }
    }
    v
}

#[test]
fn a_udp_scanner_is_banned_and_its_next_packets_skipped_before_parsing() {
    let mut p = pipeline();
    assert_eq!(
        p.ip_packet(&udp(ATK, PBX, &scanner_options(1)), None, false, t()),
        Verdict::Drop
    );
    assert_eq!(banned_by(&mut p), vec![Detector::Scanner]);
    p.ip_packet(&udp(ATK, PBX, &scanner_options(2)), None, false, t());
    assert_eq!(p.stats().banned_skipped, 1);
    assert_eq!(p.stats().messages, 1);
}

#[test]
fn a_sip_message_split_over_tcp_segments_is_reassembled() {
    let mut p = pipeline();
    let msg = scanner_options(1);
    let (a, b) = msg.split_at(50);
    p.ip_packet(&tcp(ATK, PBX, 999, 0x02, b""), None, false, t());
    assert_eq!(
        p.ip_packet(&tcp(ATK, PBX, 1000, 0x18, a), None, false, t()),
        Verdict::Accept
    );
    // A retransmission of the first part changes nothing.
    p.ip_packet(&tcp(ATK, PBX, 1000, 0x18, a), None, false, t());
    assert_eq!(p.stats().messages, 0);
    assert_eq!(
        p.ip_packet(&tcp(ATK, PBX, 1050, 0x18, b), None, false, t()),
        Verdict::Drop
    );
    assert_eq!(p.stats().messages, 1);
    assert_eq!(banned_by(&mut p), vec![Detector::Scanner]);
}

#[test]
fn several_messages_in_one_segment_and_keepalives_are_all_seen() {
    let mut p = pipeline();
    let mut data = b"\r\n\r\n".to_vec();
    // A source with trust would not be banned; use OPTIONS without a scanner signature.
    for n in 0..3 {
        data.extend(scanner_options(n).iter().copied());
    }
    let clean = String::from_utf8(data)
        .unwrap()
        .replace("friendly-scanner", "Linphone/5.2");
    p.ip_packet(&tcp(ATK, PBX, 1, 0x18, clean.as_bytes()), None, false, t());
    assert_eq!(p.stats().messages, 3);
    assert_eq!(p.stats().keepalives, 1);
}

#[test]
fn a_gap_in_the_stream_resynchronises_on_the_next_message() {
    let mut p = pipeline();
    let clean = |n| {
        String::from_utf8(scanner_options(n))
            .unwrap()
            .replace("friendly-scanner", "Linphone/5.2")
    };
    let first = clean(1);
    p.ip_packet(
        &tcp(ATK, PBX, 1, 0x18, &first.as_bytes()[..40]),
        None,
        false,
        t(),
    );
    // The rest of the first message is lost; the next segment starts a new message further on.
    let second = clean(2);
    p.ip_packet(
        &tcp(ATK, PBX, 5000, 0x18, second.as_bytes()),
        None,
        false,
        t(),
    );
    assert_eq!(p.stats().messages, 1);
    assert!(p.stats().streams_dropped >= 1);
}

#[test]
fn fragmented_udp_is_reassembled_before_parsing() {
    let mut p = pipeline();
    let mut msg = scanner_options(7);
    // Pad the body so the datagram needs two fragments.
    let body = vec![b'x'; 1600];
    let s = String::from_utf8(msg.clone()).unwrap().replace(
        "Content-Length: 0",
        &format!("Content-Length: {}", body.len()),
    );
    msg = s.into_bytes();
    msg.extend_from_slice(&body);
    let whole = udp_body(&msg);
    let (first, second) = whole.split_at(1480);
    p.ip_packet(&ipv4(ATK, PBX, 17, 77, 0x2000, first), None, false, t());
    assert_eq!(p.stats().messages, 0);
    p.ip_packet(
        &ipv4(ATK, PBX, 17, 77, (1480 / 8) as u16, second),
        None,
        false,
        t(),
    );
    assert_eq!(p.stats().fragments, 2);
    assert_eq!(p.stats().messages, 1);
    assert_eq!(banned_by(&mut p), vec![Detector::Scanner]);
}

#[test]
fn garbage_counts_as_malformed_traffic() {
    let mut p = pipeline();
    for i in 0..40u8 {
        let junk: Vec<u8> = (0..200)
            .map(|j| i.wrapping_mul(31).wrapping_add(j) | 0x80)
            .collect();
        p.ip_packet(
            &udp(ATK, PBX, &junk),
            None,
            false,
            t() + Duration::from_millis(u64::from(i) * 10),
        );
    }
    assert_eq!(banned_by(&mut p), vec![Detector::Malformed]);
}

#[test]
fn truncated_and_empty_packets_never_panic() {
    let mut p = pipeline();
    let full = udp(ATK, PBX, &scanner_options(1));
    for n in 0..full.len() {
        p.ip_packet(&full[..n], None, false, t());
    }
    assert!(p.stats().undecodable > 0);
}

#[test]
fn a_message_trickling_in_one_byte_per_segment_is_framed_once() {
    let mut p = pipeline();
    let msg = scanner_options(7);
    p.ip_packet(&tcp(ATK, PBX, 999, 0x02, b""), None, false, t());
    for (i, byte) in msg.iter().enumerate() {
        let seq = 1000 + u32::try_from(i).unwrap();
        p.ip_packet(&tcp(ATK, PBX, seq, 0x18, &[*byte]), None, false, t());
        if i + 1 < msg.len() {
            assert_eq!(p.stats().messages, 0, "framed early at byte {i}");
        }
    }
    assert_eq!(p.stats().messages, 1);
    assert_eq!(banned_by(&mut p), vec![Detector::Scanner]);
}
