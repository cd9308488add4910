//! Root tier: the NFQUEUE consumer, its steering rules and the raw reply socket against the real kernel,
//! between two network namespaces.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use pbxguard_sys::netns;
use pbxguard_sys::queue::reply::{RawSender, build_udp};
use pbxguard_sys::queue::steer::{SteerConfig, Steering};
use pbxguard_sys::queue::{Queue, QueueConfig, QueueVerdict};
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

const PBX: &str = "10.78.0.2";
const PEER: &str = "10.78.0.3";

fn in_ns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    netns::run_in(&netns::named(ns.name()), f).unwrap()
}

#[test]
fn queued_datagrams_are_judged_dropped_or_passed_and_bypass_when_unbound() {
    if !root_or_skip("queued_datagrams_are_judged")
        || !tools_or_skip("queued_datagrams_are_judged", &["iptables", "ip"])
    {
        return;
    }
    let pbx = Netns::new("qpbx").unwrap();
    let peer = Netns::new("qpeer").unwrap();
    pbx.link(&peer, &format!("{PBX}/24"), &format!("{PEER}/24"))
        .unwrap();
    let server = in_ns(&pbx, || UdpSocket::bind((PBX, 5060))).unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let client = in_ns(&peer, || UdpSocket::bind((PEER, 0))).unwrap();
    client.connect((PBX, 5060)).unwrap();
    let steering = in_ns(&pbx, || {
        Steering::install(&SteerConfig {
            queue: 11,
            ports: vec![5060],
        })
    })
    .unwrap();
    // Installing twice (a restart after a crash) leaves one jump and one rule per port.
    let again = in_ns(&pbx, || {
        Steering::install(&SteerConfig {
            queue: 11,
            ports: vec![5060],
        })
    })
    .unwrap();
    std::mem::forget(again);
    let rules = pbx
        .exec("iptables", ["-t", "mangle", "-S"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap();
    assert_eq!(rules.matches("-j PBXGUARD_INLINE").count(), 1, "{rules}");
    assert_eq!(rules.matches("--queue-bypass").count(), 1, "{rules}");

    let recv = |server: &UdpSocket| {
        let mut buf = [0u8; 2048];
        server
            .recv(&mut buf)
            .ok()
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    };

    // Nobody bound: --queue-bypass lets the datagram through.
    client.send(b"before-bind").unwrap();
    assert_eq!(recv(&server).as_deref(), Some("before-bind"));

    let mut queue = in_ns(&pbx, || Queue::open(&QueueConfig::new(11))).unwrap();
    for i in 0..20 {
        let tag = if i % 2 == 0 { "keep" } else { "drop" };
        client.send(format!("{tag}-{i}").as_bytes()).unwrap();
    }
    let mut judged = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while judged.len() < 20 && Instant::now() < deadline {
        queue
            .process(Duration::from_millis(100), |p| {
                let text = String::from_utf8_lossy(&p.payload[28..]).into_owned();
                let v = if text.starts_with("drop") {
                    QueueVerdict::Drop
                } else {
                    QueueVerdict::Accept
                };
                assert_eq!(p.hw_protocol, 0x0800);
                judged.push(text);
                v
            })
            .unwrap();
    }
    assert_eq!(judged.len(), 20, "{judged:?}");
    let mut passed = Vec::new();
    while let Some(m) = recv(&server) {
        passed.push(m);
    }
    passed.sort();
    let mut want: Vec<String> = (0..20).step_by(2).map(|i| format!("keep-{i}")).collect();
    want.sort();
    assert_eq!(passed, want);
    let stats = queue.stats();
    assert_eq!((stats.packets, stats.dropped), (20, 10));
    assert_eq!(stats.kernel_errors, 0);

    // The consumer goes away: traffic flows again.
    drop(queue);
    client.send(b"after-unbind").unwrap();
    assert_eq!(recv(&server).as_deref(), Some("after-unbind"));

    // And the rules go away on removal (iptables runs in the namespace of the thread that removes them).
    in_ns(&pbx, move || steering.remove());
    let rules = pbx
        .exec("iptables", ["-t", "mangle", "-S"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap();
    assert!(!rules.contains("PBXGUARD_INLINE"), "{rules}");
}

#[test]
fn a_raw_reply_arrives_from_the_pbx_address_and_port_while_the_pbx_holds_that_port() {
    if !root_or_skip("a_raw_reply_arrives") {
        return;
    }
    let pbx = Netns::new("rpbx").unwrap();
    let peer = Netns::new("rpeer").unwrap();
    pbx.link(&peer, &format!("{PBX}/24"), &format!("{PEER}/24"))
        .unwrap();
    // The PBX owns 5060; the raw sender does not need it.
    let _pbx_socket = in_ns(&pbx, || UdpSocket::bind((PBX, 5060))).unwrap();
    let client = in_ns(&peer, || UdpSocket::bind((PEER, 0))).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let sender = in_ns(&pbx, RawSender::open).unwrap();
    let src: SocketAddr = format!("{PBX}:5060").parse().unwrap();
    let dst = client.local_addr().unwrap();
    let mut out = [0u8; 512];
    let n = build_udp(src, dst, b"SIP/2.0 403 Forbidden\r\n\r\n", &mut out).unwrap();
    sender.send(&out[..n], dst.ip()).unwrap();
    let mut buf = [0u8; 512];
    let (got, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!(from, src);
    assert_eq!(&buf[..got], b"SIP/2.0 403 Forbidden\r\n\r\n");
}
