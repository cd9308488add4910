//! Benchmark of the capture path, two parts:
//!
//! 1. offline: TPACKET_V3 block parsing + Ethernet/IPv4/UDP decoding of SIP frames laid out in memory as the
//!    kernel lays out the ring, packets per second on one core (median of 5 runs);
//! 2. live (needs root): a UDP SIP flood from one namespace to another over veth, captured by the ring in
//!    the receiving namespace: sender rate, packets captured, kernel drops.
//!
//! ```sh
//! cargo run --release -p pbxguard-sys --example capture_bench -- \
//!     [--packets N] [--senders N] [--block-kib N] [--blocks N] [--timeout-ms N]
//! ```
//!
//! Senders use `sendmmsg` in batches of 64, the fastest way this lab has to flood. Besides drops, the live
//! part reports capture latency: from the kernel's receive timestamp of each frame to the moment user space
//! read it (p50/p99/max). It bounds how fast a sensor can react, and is set mostly by the block size and
//! the block retire timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// Live-part settings.
struct Live {
    packets: u64,
    senders: usize,
    block_kib: usize,
    blocks: usize,
    timeout_ms: u64,
}

fn flood(sock: &UdpSocket, payload: &[u8], count: u64) -> u64 {
    pbxguard_sys::loadgen::send_copies(sock, payload, count)
}

fn live(cfg: &Live) {
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
    let capture_cfg = CaptureConfig {
        interface: Some(pif),
        ports: vec![5060],
        block_size: cfg.block_kib << 10,
        block_count: cfg.blocks,
        block_timeout: Duration::from_millis(cfg.timeout_ms),
        ..CaptureConfig::default()
    };
    let mut cap = Capture::open_in_netns(&netns::named(pbx.name()), &capture_cfg).unwrap();
    let socks: Vec<UdpSocket> = (0..cfg.senders)
        .map(|i| {
            netns::run_in(&netns::named(atk.name()), || {
                let s = UdpSocket::bind(format!("10.82.0.3:{}", 5062 + i))?;
                s.connect("10.82.0.2:5060")?;
                Ok::<_, std::io::Error>(s)
            })
            .unwrap()
            .unwrap()
        })
        .collect();
    let running = std::sync::atomic::AtomicUsize::new(cfg.senders);
    let payload = REGISTER.as_bytes();
    let per_sender = cfg.packets / cfg.senders as u64;
    let mut latencies: Vec<Duration> = Vec::with_capacity(cfg.packets as usize);
    let (sent, send_secs, captured) = std::thread::scope(|s| {
        let senders: Vec<_> = socks
            .iter()
            .map(|sock| {
                let running = &running;
                s.spawn(move || {
                    let t = Instant::now();
                    let n = flood(sock, payload, per_sender);
                    running.fetch_sub(1, Ordering::Relaxed);
                    (n, t.elapsed().as_secs_f64())
                })
            })
            .collect();
        let mut captured = 0u64;
        let mut idle_since: Option<Instant> = None;
        loop {
            match cap.next_batch(Duration::from_millis(20)).unwrap() {
                Some(b) => {
                    idle_since = None;
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                    for f in b.frames() {
                        if let Ok(Decoded::Packet(p)) = f.decode() {
                            captured += u64::from(p.payload.len() == payload.len());
                            latencies.push(now.saturating_sub(f.timestamp));
                        }
                    }
                }
                None if running.load(Ordering::Relaxed) == 0 => {
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_millis(200) {
                        break;
                    }
                }
                None => {}
            }
        }
        let results: Vec<(u64, f64)> = senders.into_iter().map(|h| h.join().unwrap()).collect();
        let sent: u64 = results.iter().map(|r| r.0).sum();
        let secs = results.iter().map(|r| r.1).fold(0.0, f64::max);
        (sent, secs, captured)
    });
    let stats = cap.stats().unwrap();
    latencies.sort();
    let pct = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "live: {sent} SIP datagrams from {} sendmmsg sender(s) at {:.0}/s over veth; ring {} x {} KiB, \
         block timeout {} ms\n      captured {captured}, kernel: {} passed the filter, {} dropped ({:.3}%), \
         ring full {} times\n      capture latency (kernel timestamp to user space): p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms",
        cfg.senders,
        sent as f64 / send_secs,
        cfg.blocks,
        cfg.block_kib,
        cfg.timeout_ms,
        stats.packets,
        stats.drops,
        100.0 * stats.drops as f64 / stats.packets.max(1) as f64,
        stats.ring_full,
        pct(0.5),
        pct(0.99),
        pct(1.0),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let cfg = Live {
        packets: get("--packets", 2_000_000),
        senders: get("--senders", 1).max(1) as usize,
        block_kib: get(
            "--block-kib",
            (CaptureConfig::default().block_size >> 10) as u64,
        ) as usize,
        blocks: get("--blocks", CaptureConfig::default().block_count as u64) as usize,
        timeout_ms: get(
            "--timeout-ms",
            CaptureConfig::default().block_timeout.as_millis() as u64,
        ),
    };
    if !args.iter().any(|a| a == "--live-only") {
        offline();
    }
    live(&cfg);
}
