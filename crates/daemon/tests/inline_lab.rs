//! Root tier: the inline loop end to end against the real kernel, with a policy that forbids international
//! calls, so that the `Reject` path (which the engine itself does not produce yet: the call policy that will
//! is still to come) is exercised on the wire: the forbidden INVITE is answered 403 in the PBX's name and
//! never reaches the PBX, an allowed one does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::UdpSocket;
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

const PBX: &str = "10.80.0.2";
const PHONE: &str = "10.80.0.3";

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

fn invite(to: &str, port: u16) -> String {
    format!(
        "INVITE sip:{to}@{PBX} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PHONE}:{port};branch=z9hG4bK-{to};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"1001\" <sip:1001@{PBX}>;tag=from{to}\r\n\
         To: <sip:{to}@{PBX}>\r\n\
         Call-ID: call-{to}@{PHONE}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:1001@{PHONE}:{port}>\r\n\
         User-Agent: Yealink SIP-T46S\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_forbidden_invite_is_answered_403_from_the_pbx_and_never_reaches_it() {
    let name = "a_forbidden_invite_is_answered_403";
    if !root_or_skip(name) || !tools_or_skip(name, &["iptables"]) {
        return;
    }
    let pbx = Netns::new("jpbx").unwrap();
    let phone = Netns::new("jphone").unwrap();
    pbx.link(&phone, &format!("{PBX}/24"), &format!("{PHONE}/24"))
        .unwrap();
    let in_pbx = netns::named(pbx.name());
    let server = netns::run_in(&in_pbx, || UdpSocket::bind((PBX, 5060)))
        .unwrap()
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let client = netns::run_in(&netns::named(phone.name()), || UdpSocket::bind((PHONE, 0)))
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
    client
        .send_to(invite("0049301234567", port).as_bytes(), (PBX, 5060))
        .unwrap();
    let (n, from) = client
        .recv_from(&mut buf)
        .expect("no answer to the forbidden INVITE");
    assert_eq!(from.to_string(), format!("{PBX}:5060"));
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(answer.starts_with("SIP/2.0 403 Forbidden\r\n"), "{answer}");
    assert!(answer.contains(&format!(
        "Via: SIP/2.0/UDP {PHONE}:{port};branch=z9hG4bK-0049301234567;rport\r\n"
    )));
    assert!(answer.contains("Call-ID: call-0049301234567@"));
    assert!(answer.contains("CSeq: 1 INVITE\r\n"));
    assert!(answer.contains(&format!("To: <sip:0049301234567@{PBX}>;tag=pbxguard")));
    assert!(
        server.recv(&mut buf).is_err(),
        "the forbidden INVITE reached the PBX"
    );

    // Allowed: it reaches the PBX, and the guard says nothing.
    client
        .send_to(invite("1002", port).as_bytes(), (PBX, 5060))
        .unwrap();
    let n = server
        .recv(&mut buf)
        .expect("the allowed INVITE did not reach the PBX");
    assert!(buf[..n].starts_with(b"INVITE sip:1002@"));
    assert!(client.recv(&mut buf).is_err());

    stop.store(true, Ordering::Relaxed);
    let stats = judge.join().unwrap();
    assert_eq!((stats.answered, stats.accepted), (1, 1), "{stats:?}");
    assert_eq!(engine.lock().unwrap().0.stats().messages, 2);
    netns::run_in(&in_pbx, move || steering.remove()).unwrap();
}
