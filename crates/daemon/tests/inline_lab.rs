//! Root tier: the inline loop end to end against the real kernel, over IPv4 and over IPv6, with a minimal
//! inline policy that forbids international calls, so that the `Reject` path is exercised on the wire on
//! its own: the forbidden INVITE is answered 403 in the PBX's name and never reaches the PBX, an allowed
//! one does. (The engine's own call policy on this path is tested in the CLI's inline lab.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pbxguard_config::Config;
use pbxguard_daemon::daemon::now;
use pbxguard_daemon::inline::{self, Inline, InlinePolicy, Sensor};
use pbxguard_daemon::pipeline::Pipeline;
use pbxguard_engine::{Engine, Verdict};
use pbxguard_sys::decode::Packet;
use pbxguard_sys::netns;
use pbxguard_sys::queue::reply::RawSender;
use pbxguard_sys::queue::steer::{SteerConfig, Steering};
use pbxguard_sys::queue::{Queue, QueueConfig};
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

/// The PBX's and the phone's addresses, IPv4 or IPv6.
#[derive(Clone, Copy)]
struct Hosts {
    pbx: &'static str,
    phone: &'static str,
}

const V4: Hosts = Hosts {
    pbx: "10.80.0.2",
    phone: "10.80.0.3",
};
const V6: Hosts = Hosts {
    pbx: "fd80::2",
    phone: "fd80::3",
};

impl Hosts {
    /// The address as a SIP URI host (IPv6 references in brackets).
    fn host(addr: &str) -> String {
        if addr.contains(':') {
            format!("[{addr}]")
        } else {
            addr.to_owned()
        }
    }

    fn ip(addr: &str) -> IpAddr {
        addr.parse().unwrap()
    }
}

struct Engine1(Pipeline);

impl Sensor for Engine1 {
    fn inbound(&mut self, ip: &[u8], time: Duration) -> Verdict {
        self.0.ip_packet(ip, None, false, time)
    }
}

/// Forbids INVITEs to international numbers (`00…`), as the call policy will.
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

fn invite(h: Hosts, to: &str, port: u16) -> String {
    let (pbx, phone) = (Hosts::host(h.pbx), Hosts::host(h.phone));
    format!(
        "INVITE sip:{to}@{pbx} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {phone}:{port};branch=z9hG4bK-{to};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"1001\" <sip:1001@{pbx}>;tag=from{to}\r\n\
         To: <sip:{to}@{pbx}>\r\n\
         Call-ID: call-{to}@{phone}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:1001@{phone}:{port}>\r\n\
         User-Agent: Yealink SIP-T46S\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_forbidden_invite_is_answered_403_from_the_pbx_and_never_reaches_it() {
    forbidden_invite_is_answered_inline("a_forbidden_invite_is_answered_403", V4);
}

#[test]
fn over_ipv6_a_forbidden_invite_is_answered_403_from_the_pbx_and_never_reaches_it() {
    forbidden_invite_is_answered_inline("over_ipv6_a_forbidden_invite_is_answered_403", V6);
}

fn forbidden_invite_is_answered_inline(name: &str, h: Hosts) {
    if !root_or_skip(name) || !tools_or_skip(name, &["iptables", "ip6tables"]) {
        return;
    }
    let pbx = Netns::new("jpbx").unwrap();
    let phone = Netns::new("jphone").unwrap();
    // IPv4 addresses always (the link helper wants them); the IPv6 pair beside them without DAD.
    let (pif, fif) = pbx
        .link(
            &phone,
            &format!("{}/24", V4.pbx),
            &format!("{}/24", V4.phone),
        )
        .unwrap();
    pbx.exec(
        "ip",
        [
            "-6",
            "addr",
            "add",
            &format!("{}/64", V6.pbx),
            "dev",
            &pif,
            "nodad",
        ],
    )
    .unwrap();
    phone
        .exec(
            "ip",
            [
                "-6",
                "addr",
                "add",
                &format!("{}/64", V6.phone),
                "dev",
                &fif,
                "nodad",
            ],
        )
        .unwrap();
    let (pbx_ip, phone_ip) = (Hosts::ip(h.pbx), Hosts::ip(h.phone));
    let pbx_sip = SocketAddr::new(pbx_ip, 5060);
    let in_pbx = netns::named(pbx.name());
    let server = netns::run_in(&in_pbx, || UdpSocket::bind(pbx_sip))
        .unwrap()
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let client = netns::run_in(&netns::named(phone.name()), || {
        UdpSocket::bind(SocketAddr::new(phone_ip, 0))
    })
    .unwrap()
    .unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let port = client.local_addr().unwrap().port();

    let mut queue = netns::run_in(&in_pbx, || Queue::open(&QueueConfig::new(9)))
        .unwrap()
        .unwrap();
    let sender = netns::run_in(&in_pbx, RawSender::open).unwrap().unwrap();
    let steering = netns::run_in(&in_pbx, || {
        Steering::install(&SteerConfig {
            queue: 9,
            ports: vec![5060],
        })
    })
    .unwrap()
    .unwrap();
    let engine = Arc::new(Mutex::new(Engine1(Pipeline::new(
        Engine::new(Config::default(), now()),
        vec![5060],
    ))));
    let stop = Arc::new(AtomicBool::new(false));
    let (e, s) = (Arc::clone(&engine), Arc::clone(&stop));
    let judge = std::thread::spawn(move || {
        let mut inline = Inline::new(NoInternational);
        inline::serve(&mut queue, &sender, &mut inline, &s, || e.lock().unwrap()).unwrap();
        inline.stats()
    });

    let mut buf = [0u8; 4096];
    // Forbidden: the phone gets 403 from the PBX's address and port; the PBX gets nothing.
    // The first datagram over IPv6 may wait for neighbour discovery; the phone retransmits, as SIP over
    // UDP does (RFC 3261 timer A), until an answer comes.
    let mut answer = None;
    let mut sent = 0;
    for _ in 0..4 {
        sent += 1;
        client
            .send_to(invite(h, "0049301234567", port).as_bytes(), pbx_sip)
            .unwrap();
        if let Ok(got) = client.recv_from(&mut buf) {
            answer = Some(got);
            break;
        }
    }
    let (n, from) = answer.expect("no answer to the forbidden INVITE");
    assert_eq!(from, pbx_sip);
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(answer.starts_with("SIP/2.0 403 Forbidden\r\n"), "{answer}");
    assert!(answer.contains(&format!(
        "Via: SIP/2.0/UDP {}:{port};branch=z9hG4bK-0049301234567;rport\r\n",
        Hosts::host(h.phone)
    )));
    assert!(answer.contains("Call-ID: call-0049301234567@"));
    assert!(answer.contains("CSeq: 1 INVITE\r\n"));
    assert!(answer.contains(&format!(
        "To: <sip:0049301234567@{}>;tag=pbxguard",
        Hosts::host(h.pbx)
    )));
    assert!(
        server.recv(&mut buf).is_err(),
        "the forbidden INVITE reached the PBX"
    );

    // Allowed: it reaches the PBX, and the guard says nothing.
    client
        .send_to(invite(h, "1002", port).as_bytes(), pbx_sip)
        .unwrap();
    let n = server
        .recv(&mut buf)
        .expect("the allowed INVITE did not reach the PBX");
    assert!(buf[..n].starts_with(b"INVITE sip:1002@"));
    assert!(client.recv(&mut buf).is_err());

    stop.store(true, Ordering::Relaxed);
    let stats = judge.join().unwrap();
    assert_eq!((stats.answered, stats.accepted), (sent, 1), "{stats:?}");
    assert_eq!(engine.lock().unwrap().0.stats().messages, sent + 1);
    netns::run_in(&in_pbx, move || steering.remove()).unwrap();
}
