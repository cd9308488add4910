//! Root tier: the TPACKET_V3 capture ring on real traffic between two network namespaces.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use pbxguard_sys::capture::{Capture, CaptureConfig, Transports};
use pbxguard_sys::decode::{self, Decoded, ReasmLimits, Reassembler, Transport};
use pbxguard_sys::netns;
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

/// A packet as seen by the capture, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    src: SocketAddr,
    dst: SocketAddr,
    payload: Vec<u8>,
    outgoing: bool,
}

fn skip(name: &str) -> bool {
    !root_or_skip(name) || !tools_or_skip(name, &["ip"])
}

fn udp_in(ns: &Netns, addr: &str) -> UdpSocket {
    let addr: SocketAddr = addr.parse().unwrap();
    netns::run_in(&netns::named(ns.name()), || UdpSocket::bind(addr))
        .unwrap()
        .unwrap()
}

/// Reads the ring until `want` packets were seen or `limit` passed, reassembling IPv4 fragments.
fn collect(cap: &mut Capture, want: usize, limit: Duration) -> Vec<Seen> {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut reasm = Reassembler::new(ReasmLimits::default());
    while out.len() < want && start.elapsed() < limit {
        let Some(batch) = cap.next_batch(Duration::from_millis(50)).unwrap() else {
            continue;
        };
        for f in batch.frames() {
            let (p, owned);
            match f.decode() {
                Ok(Decoded::Packet(pk)) => p = pk,
                Ok(Decoded::Fragment(fr)) => {
                    let Some(r) = reasm.push(start.elapsed(), &fr) else {
                        continue;
                    };
                    owned = r;
                    p = decode::decode_transport(
                        owned.protocol,
                        owned.src,
                        owned.dst,
                        &owned.data,
                        None,
                    )
                    .unwrap();
                }
                Err(e) => panic!("captured frame does not decode: {e}"),
            }
            assert_eq!(p.transport, Transport::Udp);
            out.push(Seen {
                src: SocketAddr::new(p.src, p.src_port),
                dst: SocketAddr::new(p.dst, p.dst_port),
                payload: p.payload.to_vec(),
                outgoing: f.outgoing,
            });
        }
    }
    out
}

fn options(i: usize) -> Vec<u8> {
    format!(
        "OPTIONS sip:100@10.78.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.78.0.3:5062;branch=z9hG4bK{i}\r\n\
         From: <sip:probe@10.78.0.3>;tag={i}\r\nTo: <sip:100@10.78.0.2>\r\nCall-ID: {i}@x\r\n\
         CSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn sip_datagrams_between_namespaces_are_captured_in_both_directions_with_no_drops() {
    if skip("sip_datagrams_between_namespaces_are_captured_in_both_directions_with_no_drops") {
        return;
    }
    let pbx = Netns::new("cp").unwrap();
    let atk = Netns::new("ca").unwrap();
    let (pif, aif) = pbx.link(&atk, "10.78.0.2/24", "10.78.0.3/24").unwrap();
    pbx.exec(
        "ip",
        ["-6", "addr", "add", "fd78::2/64", "dev", &pif, "nodad"],
    )
    .unwrap();
    atk.exec(
        "ip",
        ["-6", "addr", "add", "fd78::3/64", "dev", &aif, "nodad"],
    )
    .unwrap();
    let cfg = CaptureConfig {
        interface: Some(pif.clone()),
        ports: vec![5060, 5080],
        ..CaptureConfig::default()
    };
    let mut cap = Capture::open_in_netns(&netns::named(pbx.name()), &cfg).unwrap();

    let server = udp_in(&pbx, "10.78.0.2:5060");
    let client = udp_in(&atk, "10.78.0.3:5062");
    let other = udp_in(&atk, "10.78.0.3:9999");
    let server6 = udp_in(&pbx, "[fd78::2]:5080");
    let client6 = udp_in(&atk, "[fd78::3]:5062");
    const N: usize = 20;
    for i in 0..N {
        client.send_to(&options(i), "10.78.0.2:5060").unwrap();
        // Not a SIP port on either side: the kernel filter must keep it out of the ring.
        other.send_to(b"noise", "10.78.0.2:9998").unwrap();
        server
            .send_to(
                format!("SIP/2.0 200 OK\r\nCSeq: {i} OPTIONS\r\n\r\n").as_bytes(),
                "10.78.0.3:5062",
            )
            .unwrap();
    }
    client6.send_to(&options(99), "[fd78::2]:5080").unwrap();
    drop(server6);

    let seen = collect(&mut cap, 2 * N + 1, Duration::from_secs(5));
    assert_eq!(seen.len(), 2 * N + 1, "{seen:#?}");
    let requests: Vec<&Seen> = seen.iter().filter(|s| s.dst.port() == 5060).collect();
    let answers: Vec<&Seen> = seen.iter().filter(|s| s.src.port() == 5060).collect();
    assert_eq!(requests.len(), N);
    assert_eq!(answers.len(), N);
    for (i, r) in requests.iter().enumerate() {
        assert_eq!(r.src, "10.78.0.3:5062".parse().unwrap());
        assert_eq!(r.payload, options(i), "request {i} payload");
        assert!(!r.outgoing);
    }
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.dst, "10.78.0.3:5062".parse().unwrap());
        assert!(
            a.payload
                .starts_with(format!("SIP/2.0 200 OK\r\nCSeq: {i} ").as_bytes())
        );
        assert!(a.outgoing, "the PBX's own answers are outgoing");
    }
    let v6 = seen.iter().find(|s| s.dst.port() == 5080).unwrap();
    assert_eq!(v6.src, "[fd78::3]:5062".parse().unwrap());
    assert_eq!(v6.payload, options(99));
    assert!(seen.iter().all(|s| s.payload != b"noise"));

    let stats = cap.stats().unwrap();
    assert_eq!(stats.drops, 0, "{stats:?}");
    assert_eq!(stats.packets, (2 * N + 1) as u64, "{stats:?}");
}

#[test]
fn a_fragmented_sip_datagram_is_reassembled() {
    fragmented_invite_is_captured_whole("a_fragmented_sip_datagram_is_reassembled", false);
}

#[test]
fn a_fragmented_sip_datagram_over_ipv6_is_reassembled() {
    fragmented_invite_is_captured_whole("a_fragmented_sip_datagram_over_ipv6_is_reassembled", true);
}

/// An INVITE with a large SDP body, well over the 1500-byte MTU, is cut into fragments by the sender's
/// stack (IPv4 fragments, or IPv6 fragment headers) and captured as the one datagram it was.
fn fragmented_invite_is_captured_whole(name: &str, v6: bool) {
    if skip(name) {
        return;
    }
    let pbx = Netns::new("fp").unwrap();
    let atk = Netns::new("fa").unwrap();
    let (pif, aif) = pbx.link(&atk, "10.79.0.2/24", "10.79.0.3/24").unwrap();
    pbx.exec(
        "ip",
        ["-6", "addr", "add", "fd79::2/64", "dev", &pif, "nodad"],
    )
    .unwrap();
    atk.exec(
        "ip",
        ["-6", "addr", "add", "fd79::3/64", "dev", &aif, "nodad"],
    )
    .unwrap();
    let (server, client, host) = if v6 {
        ("[fd79::2]:5060", "[fd79::3]:5062", "[fd79::2]")
    } else {
        ("10.79.0.2:5060", "10.79.0.3:5062", "10.79.0.2")
    };
    let cfg = CaptureConfig {
        interface: Some(pif),
        ports: vec![5060],
        ..CaptureConfig::default()
    };
    let mut cap = Capture::open_in_netns(&netns::named(pbx.name()), &cfg).unwrap();
    let _server = udp_in(&pbx, server);
    let sender = udp_in(&atk, client);
    let mut invite =
        format!("INVITE sip:100@{host} SIP/2.0\r\nContent-Type: application/sdp\r\n\r\n")
            .into_bytes();
    while invite.len() < 4000 {
        invite.extend_from_slice(b"a=candidate:1 1 UDP 2130706431 192.0.2.3 40000 typ host\r\n");
    }
    sender.send_to(&invite, server).unwrap();
    let seen = collect(&mut cap, 1, Duration::from_secs(5));
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, invite);
    assert_eq!(seen[0].src, client.parse().unwrap());
}

#[test]
fn capture_on_all_interfaces_sees_loopback_both_ways() {
    if skip("capture_on_all_interfaces_sees_loopback_both_ways") {
        return;
    }
    let ns = Netns::new("lo").unwrap();
    let mut cap =
        Capture::open_in_netns(&netns::named(ns.name()), &CaptureConfig::default()).unwrap();
    let server = udp_in(&ns, "127.0.0.1:5060");
    let client = udp_in(&ns, "127.0.0.1:40000");
    client
        .send_to(b"REGISTER sip:x SIP/2.0\r\n\r\n", "127.0.0.1:5060")
        .unwrap();
    let seen = collect(&mut cap, 2, Duration::from_secs(5));
    drop(server);
    // Loopback delivers each packet to taps twice: once sent, once received.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen.iter().filter(|s| s.outgoing).count(), 1);
    assert!(
        seen.iter()
            .all(|s| s.payload == b"REGISTER sip:x SIP/2.0\r\n\r\n")
    );
}

#[test]
fn kernel_drops_are_counted_when_the_ring_is_not_read() {
    if skip("kernel_drops_are_counted_when_the_ring_is_not_read") {
        return;
    }
    let pbx = Netns::new("dp").unwrap();
    let atk = Netns::new("da").unwrap();
    let (pif, _) = pbx.link(&atk, "10.80.0.2/24", "10.80.0.3/24").unwrap();
    // Two 4 KiB blocks: room for a handful of 1 KB datagrams, then the ring is full.
    let cfg = CaptureConfig {
        interface: Some(pif),
        ports: vec![5060],
        block_size: 4096,
        block_count: 2,
        block_timeout: Duration::from_millis(1),
        snaplen: 65_535,
        fanout_group: None,
        transports: Transports::Both,
    };
    let mut cap = Capture::open_in_netns(&netns::named(pbx.name()), &cfg).unwrap();
    let _server = udp_in(&pbx, "10.80.0.2:5060");
    let client = udp_in(&atk, "10.80.0.3:5062");
    let payload = vec![b'x'; 1000];
    const SENT: u64 = 500;
    for _ in 0..SENT {
        client.send_to(&payload, "10.80.0.2:5060").unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let stats = cap.stats().unwrap();
    assert!(stats.drops > 0, "{stats:?}");
    assert_eq!(stats.packets, SENT, "{stats:?}");
    let kept = collect(&mut cap, SENT as usize, Duration::from_millis(300)).len() as u64;
    assert_eq!(kept + stats.drops, SENT, "kept {kept}, {stats:?}");
}

/// An Ethernet frame carrying an 802.1Q tag, IPv4 and UDP, for injection with a packet socket.
fn tagged_frame(vlan: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff; 6]; // broadcast: every tap on the receiving veth sees it
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x03]);
    f.extend_from_slice(&0x8100u16.to_be_bytes());
    f.extend_from_slice(&vlan.to_be_bytes());
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let udp_len = 8 + payload.len() as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(20 + udp_len).to_be_bytes());
    ip.extend_from_slice(&[0, 9, 0, 0, 64, 17, 0, 0, 10, 84, 0, 3, 10, 84, 0, 2]);
    let sum = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum::<u32>();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&5062u16.to_be_bytes());
    f.extend_from_slice(&5060u16.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn a_vlan_tagged_frame_is_untagged_by_the_kernel_and_reported() {
    let name = "a_vlan_tagged_frame_is_untagged_by_the_kernel_and_reported";
    if skip(name) || !tools_or_skip(name, &["python3"]) {
        return;
    }
    let pbx = Netns::new("vp").unwrap();
    let atk = Netns::new("va").unwrap();
    let (pif, aif) = pbx.link(&atk, "10.84.0.2/24", "10.84.0.3/24").unwrap();
    let cfg = CaptureConfig {
        interface: Some(pif),
        ports: vec![5060],
        ..CaptureConfig::default()
    };
    let mut cap = Capture::open_in_netns(&netns::named(pbx.name()), &cfg).unwrap();
    let frame = tagged_frame(100, &options(5));
    let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
    // The frame is injected raw with a packet socket, so no 8021q module is needed on either side.
    atk.exec(
        "python3",
        [
            "-c",
            &format!(
                "import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); \
                 s.bind(('{aif}', 0)); s.send(bytes.fromhex('{hex}'))"
            ),
        ],
    )
    .unwrap();
    let start = Instant::now();
    let mut seen = None;
    while seen.is_none() && start.elapsed() < Duration::from_secs(5) {
        let Some(batch) = cap.next_batch(Duration::from_millis(50)).unwrap() else {
            continue;
        };
        for f in batch.frames() {
            if let Ok(Decoded::Packet(p)) = f.decode() {
                seen = Some((p.vlan, p.payload.to_vec(), p.src.to_string()));
            }
        }
    }
    let (vlan, payload, src) = seen.expect("tagged frame not captured");
    assert_eq!(vlan, Some(100));
    assert_eq!(payload, options(5));
    assert_eq!(src, "10.84.0.3");
}

#[test]
fn tcp_sip_segments_are_captured_with_the_handshake() {
    if skip("tcp_sip_segments_are_captured_with_the_handshake") {
        return;
    }
    let pbx = Netns::new("tp").unwrap();
    let atk = Netns::new("ta").unwrap();
    let (pif, _) = pbx.link(&atk, "10.83.0.2/24", "10.83.0.3/24").unwrap();
    let cfg = CaptureConfig {
        interface: Some(pif),
        ports: vec![5060],
        ..CaptureConfig::default()
    };
    let mut cap = Capture::open_in_netns(&netns::named(pbx.name()), &cfg).unwrap();
    let listener = netns::run_in(&netns::named(pbx.name()), || {
        std::net::TcpListener::bind("10.83.0.2:5060")
    })
    .unwrap()
    .unwrap();
    let mut stream = netns::run_in(&netns::named(atk.name()), || {
        std::net::TcpStream::connect("10.83.0.2:5060")
    })
    .unwrap()
    .unwrap();
    let (mut server_side, _) = listener.accept().unwrap();
    use std::io::{Read, Write};
    let register = b"REGISTER sip:10.83.0.2;transport=tcp SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    stream.write_all(register).unwrap();
    let mut got = vec![0u8; register.len()];
    server_side.read_exact(&mut got).unwrap();

    let start = Instant::now();
    let mut tcp_payload = Vec::new();
    let mut syn_seen = false;
    while start.elapsed() < Duration::from_secs(5) && tcp_payload.len() < register.len() {
        let Some(batch) = cap.next_batch(Duration::from_millis(50)).unwrap() else {
            continue;
        };
        for f in batch.frames() {
            let Ok(Decoded::Packet(p)) = f.decode() else {
                continue;
            };
            let Transport::Tcp { flags, .. } = p.transport else {
                panic!("unexpected UDP");
            };
            syn_seen |= flags & 0x02 != 0;
            if p.dst_port == 5060 {
                tcp_payload.extend_from_slice(p.payload);
            }
        }
    }
    assert!(syn_seen, "the TCP handshake was not captured");
    assert_eq!(tcp_payload, register);
}

#[test]
fn a_fanout_group_splits_flows_between_rings_and_defragments() {
    if skip("a_fanout_group_splits_flows_between_rings_and_defragments") {
        return;
    }
    let pbx = Netns::new("op").unwrap();
    let atk = Netns::new("oa").unwrap();
    let (pif, _) = pbx.link(&atk, "10.85.0.2/24", "10.85.0.3/24").unwrap();
    let cfg = CaptureConfig {
        interface: Some(pif),
        ports: vec![5060],
        fanout_group: Some(7),
        ..CaptureConfig::default()
    };
    let path = netns::named(pbx.name());
    let mut a = Capture::open_in_netns(&path, &cfg).unwrap();
    let mut b = Capture::open_in_netns(&path, &cfg).unwrap();
    let _server = udp_in(&pbx, "10.85.0.2:5060");
    const FLOWS: u16 = 40;
    let clients: Vec<UdpSocket> = (0..FLOWS)
        .map(|i| udp_in(&atk, &format!("10.85.0.3:{}", 6000 + i)))
        .collect();
    for (i, c) in clients.iter().enumerate() {
        c.send_to(&options(i), "10.85.0.2:5060").unwrap();
    }
    // One fragmented datagram: with the defrag flag it arrives whole, on one member.
    let big: Vec<u8> = options(999).into_iter().cycle().take(3000).collect();
    clients[0].send_to(&big, "10.85.0.2:5060").unwrap();
    let mut seen_a = collect(&mut a, 1, Duration::from_millis(500));
    seen_a.extend(collect(&mut a, usize::MAX, Duration::from_millis(300)));
    let seen_b = collect(&mut b, usize::MAX, Duration::from_millis(300));
    assert!(
        !seen_a.is_empty() && !seen_b.is_empty(),
        "{} / {}",
        seen_a.len(),
        seen_b.len()
    );
    assert_eq!(seen_a.len() + seen_b.len(), usize::from(FLOWS) + 1);
    let whole = seen_a
        .iter()
        .chain(&seen_b)
        .filter(|s| s.payload == big)
        .count();
    assert_eq!(
        whole, 1,
        "the fragmented datagram was not delivered whole exactly once"
    );
}

/// Counts (UDP, TCP) frames in the blocks that are ready now.
fn count_ready(cap: &mut Capture) -> (usize, usize) {
    let (mut udp, mut tcp) = (0, 0);
    while let Some(batch) = cap.next_batch(Duration::ZERO).unwrap() {
        for f in batch.frames() {
            match f.decode() {
                Ok(Decoded::Packet(p)) if p.transport == Transport::Udp => udp += 1,
                Ok(Decoded::Packet(p)) if matches!(p.transport, Transport::Tcp { .. }) => tcp += 1,
                other => panic!("unexpected frame: {other:?}"),
            }
        }
    }
    (udp, tcp)
}

#[test]
fn a_udp_ring_and_a_tcp_ring_split_the_traffic_and_one_wait_serves_both() {
    let name = "a_udp_ring_and_a_tcp_ring_split_the_traffic_and_one_wait_serves_both";
    if skip(name) {
        return;
    }
    let pbx = Netns::new("sp").unwrap();
    let atk = Netns::new("sa").unwrap();
    let (pif, _) = pbx.link(&atk, "10.81.0.2/24", "10.81.0.3/24").unwrap();
    let open = |transports, block_size| {
        let cfg = CaptureConfig {
            interface: Some(pif.clone()),
            ports: vec![5060],
            transports,
            block_size,
            block_count: 64,
            ..CaptureConfig::default()
        };
        Capture::open_in_netns(&netns::named(pbx.name()), &cfg).unwrap()
    };
    let mut rings = vec![
        open(Transports::Udp, 32 << 10),
        open(Transports::Tcp, 128 << 10),
    ];

    // Nothing sent: the wait times out and reports nothing ready.
    let started = Instant::now();
    assert!(!Capture::wait_any(&rings, Duration::from_millis(50)).unwrap());
    assert!(started.elapsed() >= Duration::from_millis(40));

    // TCP only: the one wait over both rings wakes for the TCP ring, and only it has frames.
    let listener = netns::run_in(&netns::named(pbx.name()), || {
        std::net::TcpListener::bind("10.81.0.2:5060")
    })
    .unwrap()
    .unwrap();
    let mut conn = netns::run_in(&netns::named(atk.name()), || {
        std::net::TcpStream::connect("10.81.0.2:5060")
    })
    .unwrap()
    .unwrap();
    let (_accepted, _) = listener.accept().unwrap();
    std::io::Write::write_all(&mut conn, &options(1)).unwrap();
    assert!(Capture::wait_any(&rings, Duration::from_secs(2)).unwrap());
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(count_ready(&mut rings[0]), (0, 0));
    let (udp, tcp) = count_ready(&mut rings[1]);
    assert_eq!(udp, 0);
    assert!(tcp >= 3, "handshake and data in the TCP ring, got {tcp}");

    // UDP only: the UDP ring has every datagram, the TCP ring none.
    let _server = udp_in(&pbx, "10.81.0.2:5060");
    let client = udp_in(&atk, "10.81.0.3:5062");
    for i in 0..20 {
        client.send_to(&options(i), "10.81.0.2:5060").unwrap();
    }
    assert!(Capture::wait_any(&rings, Duration::from_secs(2)).unwrap());
    std::thread::sleep(Duration::from_millis(20));
    let (udp, tcp) = count_ready(&mut rings[0]);
    assert_eq!((udp, tcp), (20, 0));
    assert_eq!(count_ready(&mut rings[1]), (0, 0));
}
