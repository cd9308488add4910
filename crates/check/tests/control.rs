//! The reflector's control service and the check agent over loopback (no privileges needed):
//! probes find what listens, what refuses and what answers SIP; the reflector refuses another
//! target and ignores the unauthenticated.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use pbxguard_check::agent::{CheckError, CheckRequest, run_check};
use pbxguard_check::reflector::{Reflector, ReflectorConfig};
use pbxguard_probe::admission::{Keyring, Policy};
use pbxguard_probe::agent::{Answer, Credentials};
use pbxguard_probe::wire::{ProbeKind, ProbeSpec, RefusalCode, Verdict};

const SECRET: &[u8] = b"loopback test secret, long enough";

fn reflector() -> Reflector {
    let mut keys = Keyring::new();
    keys.insert("lab", SECRET).unwrap();
    Reflector::start(ReflectorConfig {
        control: "127.0.0.1:0".parse().unwrap(),
        keys,
        policy: Policy::default(),
        probe_timeout: Duration::from_millis(300),
        probe_spacing: Duration::from_millis(5),
        probes_in_flight: 8,
    })
    .unwrap()
}

fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn request(
    r: &Reflector,
    target: &str,
    secret: &[u8],
    probes: Vec<ProbeSpec>,
    listen: &[ProbeSpec],
) -> CheckRequest {
    CheckRequest {
        reflector: r.addr(),
        creds: Credentials {
            key_id: "lab".into(),
            secret: secret.to_vec(),
        },
        target: target.parse().unwrap(),
        probes,
        listen_on: listen.iter().copied().collect(),
        watch: BTreeSet::new(),
        listen_ip: "127.0.0.1".parse().unwrap(),
        timeout: Duration::from_secs(10),
    }
}

/// A one-shot SIP responder: answers the first request with 200 OK.
fn fake_sip() -> (u16, std::thread::JoinHandle<()>) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        if let Ok((_, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", from);
        }
    });
    (port, t)
}

#[test]
fn probes_tell_listening_refusing_and_sip_answering_ports_apart() {
    let r = reflector();
    let (sip_port, sip) = fake_sip();
    let open_udp = ProbeSpec {
        kind: ProbeKind::UDP,
        port: free_udp(),
    };
    let open_tcp = ProbeSpec {
        kind: ProbeKind::TCP,
        port: free_tcp(),
    };
    let closed_tcp = ProbeSpec {
        kind: ProbeKind::TCP,
        port: free_tcp(),
    };
    let closed_udp = ProbeSpec {
        kind: ProbeKind::UDP,
        port: free_udp(),
    };
    let sip_udp = ProbeSpec {
        kind: ProbeKind::SIP_UDP,
        port: sip_port,
    };
    let probes = vec![open_udp, open_tcp, closed_tcp, closed_udp, sip_udp];
    let out = run_check(&request(
        &r,
        "127.0.0.1",
        SECRET,
        probes.clone(),
        &[open_udp, open_tcp],
    ))
    .unwrap();
    sip.join().unwrap();
    let Answer::Results(results) = out.answer else {
        panic!("{:?}", out.answer)
    };
    let verdict = |spec: ProbeSpec| results.iter().find(|x| x.spec == spec).unwrap().verdict;
    assert_eq!(verdict(open_udp), Verdict::ANSWERED);
    assert_eq!(verdict(open_tcp), Verdict::ANSWERED);
    assert_eq!(verdict(closed_tcp), Verdict::REFUSED);
    assert_eq!(verdict(closed_udp), Verdict::REFUSED);
    assert_eq!(verdict(sip_udp), Verdict::ANSWERED);
    let sip_evidence = &results.iter().find(|x| x.spec == sip_udp).unwrap().evidence;
    assert!(sip_evidence.starts_with(b"SIP/2.0 200 OK"));
    assert_eq!(
        out.heard,
        [open_udp, open_tcp].into_iter().collect::<BTreeSet<_>>()
    );
    assert_eq!(out.listened, out.heard);
    assert_eq!(r.stats().admitted, 1);
}

#[test]
fn reflector_refuses_to_probe_another_address() {
    let r = reflector();
    let probes = vec![ProbeSpec {
        kind: ProbeKind::TCP,
        port: 22,
    }];
    let out = run_check(&request(&r, "127.0.0.2", SECRET, probes, &[])).unwrap();
    assert_eq!(
        out.answer,
        Answer::Refused {
            code: RefusalCode::TARGET_MISMATCH,
            observed: IpAddr::from([127, 0, 0, 1]),
        }
    );
    assert_eq!(r.stats().refused, 1);
}

#[test]
fn unauthenticated_request_gets_no_answer_and_no_probe() {
    let r = reflector();
    // A listener that would notice a probe.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    let mut req = request(
        &r,
        "127.0.0.1",
        b"somebody else's secret, 32 bytes",
        vec![ProbeSpec {
            kind: ProbeKind::TCP,
            port,
        }],
        &[],
    );
    req.timeout = Duration::from_millis(800);
    assert!(matches!(run_check(&req), Err(CheckError::NoAnswer { .. })));
    assert!(
        l.accept().is_err(),
        "an unauthenticated request must not cause a probe"
    );
    assert_eq!(r.stats().dropped, 1);
    assert_eq!(r.stats().admitted, 0);
}

#[test]
fn a_flood_of_requests_is_rate_limited() {
    let r = reflector();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target: SocketAddr = r.addr();
    for i in 0..100u32 {
        let req = pbxguard_probe::agent::request(
            &Credentials {
                key_id: "lab".into(),
                secret: SECRET.to_vec(),
            },
            pbxguard_check::reflector::unix_ms(),
            {
                let mut n = [0u8; 16];
                n[..4].copy_from_slice(&i.to_be_bytes());
                n
            },
            "127.0.0.1".parse().unwrap(),
            // An empty request is refused cheaply: this measures admission only.
            Vec::new(),
        )
        .unwrap();
        s.send_to(&req.bytes, target).unwrap();
    }
    // Let the service drain its queue.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while r.stats().refused + r.stats().dropped < 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = r.stats();
    assert_eq!(st.admitted, 0);
    // The per-source burst (5) reaches the gate's checks; the rest are dropped unread.
    assert_eq!(st.refused, 5, "{st:?}");
    assert_eq!(st.dropped, 95, "{st:?}");
}

#[test]
fn overlapping_probes_come_back_in_request_order_with_each_verdict() {
    let r = reflector();
    // Sockets that never answer: each probe waits out its whole timeout, so the probes overlap.
    let silent: Vec<UdpSocket> = (0..12)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut probes: Vec<ProbeSpec> = silent
        .iter()
        .map(|s| ProbeSpec {
            kind: ProbeKind::UDP,
            port: s.local_addr().unwrap().port(),
        })
        .collect();
    let refused = ProbeSpec {
        kind: ProbeKind::TCP,
        port: free_tcp(),
    };
    probes.insert(5, refused);
    let out = run_check(&request(&r, "127.0.0.1", SECRET, probes.clone(), &[])).unwrap();
    let Answer::Results(results) = out.answer else {
        panic!("{:?}", out.answer)
    };
    let got: Vec<ProbeSpec> = results.iter().map(|x| x.spec).collect();
    assert_eq!(got, probes);
    for x in &results {
        let want = if x.spec == refused {
            Verdict::REFUSED
        } else {
            Verdict::SILENT
        };
        assert_eq!(x.verdict, want, "{:?}", x.spec);
    }
}

#[test]
fn a_watched_closed_port_hears_the_probe_without_answering() {
    let r = reflector();
    let watched = ProbeSpec {
        kind: ProbeKind::UDP,
        port: free_udp(),
    };
    let mut req = request(&r, "127.0.0.1", SECRET, vec![watched], &[]);
    req.watch = [watched].into_iter().collect();
    let out = run_check(&req).unwrap();
    let Answer::Results(results) = out.answer else {
        panic!("{:?}", out.answer)
    };
    // Silent, not refused: the watcher holds the port and never answers.
    assert_eq!(results[0].verdict, Verdict::SILENT);
    assert!(out.heard.contains(&watched));
}
