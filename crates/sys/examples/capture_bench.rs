//! Benchmark of the capture path, two parts:
//!
//! 1. offline: TPACKET_V3 block parsing + Ethernet/IPv4/UDP decoding of SIP frames laid out in memory as the
//!    kernel lays out the ring, packets per second on one core (median of 5 runs);
//! 2. live (needs root): a UDP SIP flood from one namespace to another over veth, captured by the ring in
//!    the receiving namespace: sender rate, packets captured, kernel drops.
//!
//! ```sh
//! cargo run --release -p pbxguard-sys --example capture_bench [-- LIVE_PACKETS]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pbxguard_sys::capture::{Capture, CaptureConfig, frames_in_block};
use pbxguard_sys::decode::{Decoded, decode_ip};
use pbxguard_sys::netns;
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

const REGISTER: &str = "REGISTER sip:10.82.0.2 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.82.0.3:5062;branch=z9hG4bK-524287-1---e4a5e4c5b7f3a9c2;rport\r\n\
Max-Forwards: 70\r\nContact: <sip:1001@10.82.0.3:5062;rinstance=7b6f5a1c0c3e4d2a>\r\n\
To: <sip:1001@10.82.0.2>\r\nFrom: <sip:1001@10.82.0.2>;tag=4f3a2b1c\r\n\
Call-ID: NzYzNTM0YjM2ZDM5ZmM4MzhiYjY0ZTRmOTc1OGRlNjQ\r\nCSeq: 1 REGISTER\r\nExpires: 3600\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n";

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let udp_len = 8 + payload.len() as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&(20 + udp_len).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0, 10, 82, 0, 3, 10, 82, 0, 2]);
    f.extend_from_slice(&5062u16.to_be_bytes());
    f.extend_from_slice(&5060u16.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Fills a block of `size` bytes with copies of `frame` in the kernel's TPACKET_V3 layout.
fn block(size: usize, frame: &[u8]) -> (Vec<u8>, usize) {
    let mut b = vec![0u8; size];
    let mac = 80usize; // tpacket3_hdr (48) + sockaddr_ll (20) + alignment, as the kernel places it
    let rec = (mac + frame.len() + 15) & !15;
    let n = (size - 48) / rec;
    b[12..16].copy_from_slice(&(n as u32).to_ne_bytes());
    b[16..20].copy_from_slice(&48u32.to_ne_bytes());
    for i in 0..n {
        let h = 48 + i * rec;
        let next = if i + 1 == n { 0 } else { rec as u32 };
        b[h..h + 4].copy_from_slice(&next.to_ne_bytes());
        b[h + 12..h + 16].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        b[h + 16..h + 20].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        b[h + 24..h + 26].copy_from_slice(&(mac as u16).to_ne_bytes());
        b[h + 26..h + 28].copy_from_slice(&((mac + 14) as u16).to_ne_bytes());
        b[h + mac..h + mac + frame.len()].copy_from_slice(frame);
    }
    (b, n)
}

fn offline() {
    let f = frame(REGISTER.as_bytes());
    let blocks: Vec<(Vec<u8>, usize)> = (0..32).map(|_| block(1 << 20, &f)).collect();
    let per_pass: usize = blocks.iter().map(|(_, n)| n).sum();
    let passes = 2_000_000 / per_pass + 1;
    let mut rates = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut bytes = 0usize;
        let mut packets = 0usize;
        for _ in 0..passes {
            for (b, _) in &blocks {
                for fr in frames_in_block(b) {
                    if let Ok(Decoded::Packet(p)) = decode_ip(fr.network(), fr.vlan) {
                        bytes += p.payload.len();
                        packets += 1;
                    }
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(packets, passes * per_pass);
        assert_eq!(bytes, packets * REGISTER.len());
        rates.push(packets as f64 / secs);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "offline: block parse + decode of {}-byte SIP frames from memory: {:.2} M packets/s median \
         (min {:.2}, max {:.2}; {} packets per run, one core)",
        f.len(),
        rates[2] / 1e6,
        rates[0] / 1e6,
        rates[4] / 1e6,
        passes * per_pass
    );
}

fn live(count: u64) {
    if !root_or_skip("capture_bench live") || !tools_or_skip("capture_bench live", &["ip"]) {
        return;
    }
    let pbx = Netns::new("bcp").unwrap();
    let atk = Netns::new("bca").unwrap();
    let (pif, _) = pbx.link(&atk, "10.82.0.2/24", "10.82.0.3/24").unwrap();
    // Without a listener the PBX namespace would answer every datagram with ICMP port unreachable.
    let _server = netns::run_in(&netns::named(pbx.name()), || {
        UdpSocket::bind("10.82.0.2:5060")
    })
    .unwrap()
    .unwrap();
    let cfg = CaptureConfig {
        interface: Some(pif),
        ports: vec![5060],
        ..CaptureConfig::default()
    };
    let mut cap = Capture::open_in_netns(&netns::named(pbx.name()), &cfg).unwrap();
    let sock = netns::run_in(&netns::named(atk.name()), || {
        UdpSocket::bind("10.82.0.3:5062")
    })
    .unwrap()
    .unwrap();
    let done = AtomicBool::new(false);
    let payload = REGISTER.as_bytes();
    let (sent, send_secs, captured) = std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let t = Instant::now();
            let mut sent = 0u64;
            while sent < count {
                if sock.send_to(payload, "10.82.0.2:5060").is_ok() {
                    sent += 1;
                }
            }
            let secs = t.elapsed().as_secs_f64();
            done.store(true, Ordering::Relaxed);
            (sent, secs)
        });
        let mut captured = 0u64;
        let mut idle_since: Option<Instant> = None;
        loop {
            match cap.next_batch(Duration::from_millis(20)).unwrap() {
                Some(b) => {
                    idle_since = None;
                    for f in b.frames() {
                        if let Ok(Decoded::Packet(p)) = f.decode() {
                            captured += u64::from(p.payload.len() == payload.len());
                        }
                    }
                }
                None if done.load(Ordering::Relaxed) => {
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_millis(200) {
                        break;
                    }
                }
                None => {}
            }
        }
        let (sent, secs) = sender.join().unwrap();
        (sent, secs, captured)
    });
    let stats = cap.stats().unwrap();
    println!(
        "live: {sent} SIP datagrams sent over veth at {:.0}/s (one sender, send_to); captured {captured}, \
         kernel: {} passed the filter, {} dropped ({:.3}%), ring full {} times",
        sent as f64 / send_secs,
        stats.packets,
        stats.drops,
        100.0 * stats.drops as f64 / stats.packets.max(1) as f64,
        stats.ring_full
    );
}

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    offline();
    live(count);
}
