//! The reflector refuses what it must refuse: other targets, unauthenticated requests, replays,
//! stale requests and floods; and the agent accepts only the authenticated answer to its request.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use pbxguard_probe::admission::{Admission, Gatekeeper, Keyring, Policy, Refusal};
use pbxguard_probe::agent::{self, Answer, AnswerError, Credentials};
use pbxguard_probe::pacer::Pacer;
use pbxguard_probe::wire::{ProbeKind, ProbeResult, ProbeSpec, RefusalCode, Verdict};

const SECRET: &[u8] = b"site-a shared secret, 32 bytes..";
const T0_MS: u64 = 1_800_000_000_000;

fn creds() -> Credentials {
    Credentials {
        key_id: "site-a".into(),
        secret: SECRET.to_vec(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn gate(policy: Policy, now: Instant) -> Gatekeeper {
    let mut keys = Keyring::new();
    keys.insert("site-a", SECRET).unwrap();
    Gatekeeper::new(policy, keys, now)
}

fn probes() -> Vec<ProbeSpec> {
    vec![
        ProbeSpec {
            kind: ProbeKind::SIP_UDP,
            port: 5060,
        },
        ProbeSpec {
            kind: ProbeKind::TCP,
            port: 22,
        },
    ]
}

fn nonce(n: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b
}

fn req(n: u64, unix_ms: u64, target: &str) -> agent::PendingRequest {
    agent::request(&creds(), unix_ms, nonce(n), ip(target), probes()).unwrap()
}

#[test]
fn authenticated_request_for_its_own_address_is_admitted() {
    let now = Instant::now();
    let mut g = gate(Policy::default(), now);
    let r = req(1, T0_MS, "198.51.100.1");
    match g.admit(now, T0_MS + 500, ip("198.51.100.1"), &r.bytes) {
        Admission::Admit(a) => {
            assert_eq!(a.target, ip("198.51.100.1"));
            assert_eq!(a.probes, probes());
            assert_eq!(a.nonce, r.nonce);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn request_to_probe_another_address_is_refused_and_told_what_we_saw() {
    let now = Instant::now();
    let mut g = gate(Policy::default(), now);
    let r = req(1, T0_MS, "203.0.113.99");
    let Admission::Refuse { reason, reply } = g.admit(now, T0_MS, ip("198.51.100.1"), &r.bytes)
    else {
        panic!("not refused");
    };
    assert_eq!(
        reason,
        Refusal::TargetMismatch {
            claimed: ip("203.0.113.99"),
            observed: ip("198.51.100.1")
        }
    );
    assert!(reply.len() <= r.bytes.len(), "a refusal must not amplify");
    let answer = agent::accept(&creds(), &r, T0_MS, Duration::from_secs(30), &reply).unwrap();
    assert_eq!(
        answer,
        Answer::Refused {
            code: RefusalCode::TARGET_MISMATCH,
            observed: ip("198.51.100.1")
        }
    );
}

#[test]
fn unauthenticated_requests_are_dropped_without_a_reply() {
    let now = Instant::now();
    let mut g = gate(Policy::default(), now);
    let from = ip("198.51.100.1");
    let wrong_secret = Credentials {
        key_id: "site-a".into(),
        secret: b"not the shared secret at all....".to_vec(),
    };
    let unknown_key = Credentials {
        key_id: "site-b".into(),
        secret: SECRET.to_vec(),
    };
    for (n, c) in [(1, wrong_secret), (2, unknown_key)] {
        let r = agent::request(&c, T0_MS, nonce(n), from, probes()).unwrap();
        let a = g.admit(now, T0_MS, from, &r.bytes);
        assert!(
            matches!(a, Admission::Drop(Refusal::Unauthenticated(_))),
            "{a:?}"
        );
    }
    assert!(matches!(
        g.admit(now, T0_MS, from, b"OPTIONS sip:probe SIP/2.0\r\n"),
        Admission::Drop(Refusal::Malformed(_))
    ));
    assert_eq!(g.stats().admitted, 0);
    assert_eq!(g.stats().refused, 0);
    assert_eq!(g.stats().dropped, 3);
}

#[test]
fn replayed_request_is_dropped_from_any_address() {
    let now = Instant::now();
    let mut g = gate(Policy::default(), now);
    let r = req(1, T0_MS, "198.51.100.1");
    assert!(matches!(
        g.admit(now, T0_MS, ip("198.51.100.1"), &r.bytes),
        Admission::Admit(_)
    ));
    for from in ["198.51.100.1", "203.0.113.5"] {
        assert_eq!(
            g.admit(now, T0_MS + 1000, ip(from), &r.bytes),
            Admission::Drop(Refusal::Replayed)
        );
    }
}

#[test]
fn stale_request_is_refused_and_a_late_replay_cannot_slip_past_the_nonce_store() {
    let now = Instant::now();
    let mut g = gate(Policy::default(), now);
    let r = req(1, T0_MS, "198.51.100.1");
    let a = g.admit(now, T0_MS + 31_000, ip("198.51.100.1"), &r.bytes);
    assert!(
        matches!(
            a,
            Admission::Refuse {
                reason: Refusal::Stale { skew_ms: -31_000 },
                ..
            }
        ),
        "{a:?}"
    );
    // Admitted at T0, its nonce is kept until it would be stale anyway.
    let r2 = req(2, T0_MS, "198.51.100.1");
    assert!(matches!(
        g.admit(now, T0_MS, ip("198.51.100.1"), &r2.bytes),
        Admission::Admit(_)
    ));
    let later = now + Duration::from_secs(29);
    assert_eq!(
        g.admit(later, T0_MS + 29_000, ip("198.51.100.1"), &r2.bytes),
        Admission::Drop(Refusal::Replayed)
    );
}

#[test]
fn flood_from_one_source_is_rate_limited_then_recovers() {
    let now = Instant::now();
    let policy = Policy::default();
    let mut g = gate(policy.clone(), now);
    let from = ip("198.51.100.1");
    let mut admitted = 0;
    let mut limited = 0;
    for n in 0..100 {
        match g.admit(now, T0_MS, from, &req(n, T0_MS, "198.51.100.1").bytes) {
            Admission::Admit(_) => admitted += 1,
            Admission::Drop(Refusal::RateLimited) => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(admitted, 5, "the per-source burst");
    assert_eq!(limited, 95);
    // 0.5 requests/s: one more after 2 s.
    let later = now + Duration::from_secs(2);
    assert!(matches!(
        g.admit(
            later,
            T0_MS + 2000,
            from,
            &req(1000, T0_MS + 2000, "198.51.100.1").bytes
        ),
        Admission::Admit(_)
    ));
}

#[test]
fn unauthenticated_flood_is_limited_before_any_mac_is_computed() {
    let now = Instant::now();
    let mut g = gate(Policy::default(), now);
    let from = ip("198.51.100.1");
    let garbage = vec![0x55u8; 200];
    let results: Vec<Admission> = (0..50)
        .map(|_| g.admit(now, T0_MS, from, &garbage))
        .collect();
    assert!(
        results[..5]
            .iter()
            .all(|a| matches!(a, Admission::Drop(Refusal::Malformed(_))))
    );
    assert!(
        results[5..]
            .iter()
            .all(|a| *a == Admission::Drop(Refusal::RateLimited))
    );
}

#[test]
fn many_sources_hit_the_global_limit_and_the_source_table_stays_bounded() {
    let now = Instant::now();
    let policy = Policy {
        max_sources: 64,
        ..Policy::default()
    };
    let mut g = gate(policy, now);
    let mut admitted = 0;
    for n in 0..1000u64 {
        let from = IpAddr::from([10, 0, (n / 256) as u8, (n % 256) as u8]);
        let r = agent::request(&creds(), T0_MS, nonce(n), from, probes()).unwrap();
        if let Admission::Admit(_) = g.admit(now, T0_MS, from, &r.bytes) {
            admitted += 1;
        }
    }
    assert!(admitted <= 50, "global burst is 50, admitted {admitted}");
    assert_eq!(g.stats().dropped, 1000 - admitted);
    assert!(g.tracked_sources() <= 64, "{}", g.tracked_sources());
}

#[test]
fn a_request_larger_than_the_probe_budget_is_refused() {
    let now = Instant::now();
    let mut g = gate(Policy::default(), now);
    let from = ip("198.51.100.1");
    let many: Vec<ProbeSpec> = (0..700)
        .map(|p| ProbeSpec {
            kind: ProbeKind::UDP,
            port: 10_000 + p,
        })
        .collect();
    let r = agent::request(&creds(), T0_MS, nonce(1), from, many).unwrap();
    let a = g.admit(now, T0_MS, from, &r.bytes);
    assert!(
        matches!(
            a,
            Admission::Refuse {
                reason: Refusal::ProbeBudgetExceeded { asked: 700 },
                ..
            }
        ),
        "{a:?}"
    );
}

#[test]
fn unknown_probe_kinds_and_empty_requests_are_unsupported() {
    let now = Instant::now();
    let mut g = gate(Policy::default(), now);
    let from = ip("198.51.100.1");
    let odd = vec![ProbeSpec {
        kind: ProbeKind(99),
        port: 1,
    }];
    for (n, p) in [(1, odd), (2, Vec::new())] {
        let r = agent::request(&creds(), T0_MS, nonce(n), from, p).unwrap();
        let a = g.admit(now, T0_MS, from, &r.bytes);
        assert!(
            matches!(
                a,
                Admission::Refuse {
                    reason: Refusal::Unsupported,
                    ..
                }
            ),
            "{a:?}"
        );
    }
}

#[test]
fn agent_accepts_only_the_fresh_authenticated_answer_to_its_own_request() {
    let r = req(1, T0_MS, "198.51.100.1");
    let results: Vec<ProbeResult> = probes()
        .into_iter()
        .map(|spec| ProbeResult {
            spec,
            verdict: Verdict::SILENT,
            evidence: Vec::new(),
        })
        .collect();
    let skew = Duration::from_secs(30);
    let good = agent::results(SECRET, "site-a", r.nonce, T0_MS, results.clone()).unwrap();
    assert_eq!(
        agent::accept(&creds(), &r, T0_MS, skew, &good),
        Ok(Answer::Results(results.clone()))
    );
    let other_nonce = agent::results(SECRET, "site-a", nonce(2), T0_MS, results.clone()).unwrap();
    assert_eq!(
        agent::accept(&creds(), &r, T0_MS, skew, &other_nonce),
        Err(AnswerError::WrongNonce)
    );
    let forged = agent::results(
        b"an attacker's own secret key....",
        "site-a",
        r.nonce,
        T0_MS,
        results.clone(),
    )
    .unwrap();
    assert!(matches!(
        agent::accept(&creds(), &r, T0_MS, skew, &forged),
        Err(AnswerError::Invalid(_))
    ));
    assert!(matches!(
        agent::accept(&creds(), &r, T0_MS + 60_000, skew, &good),
        Err(AnswerError::Stale { .. })
    ));
    let partial = agent::results(SECRET, "site-a", r.nonce, T0_MS, results[..1].to_vec()).unwrap();
    assert_eq!(
        agent::accept(&creds(), &r, T0_MS, skew, &partial),
        Err(AnswerError::ResultsMismatch)
    );
    // The request itself, bounced back, is not an answer.
    assert_eq!(
        agent::accept(&creds(), &r, T0_MS, skew, &r.bytes),
        Err(AnswerError::NotAnAnswer)
    );
}

#[test]
fn pacer_releases_probes_no_faster_than_its_spacing() {
    let t0 = Instant::now();
    let mut p = Pacer::new(Duration::from_millis(10));
    p.push(ip("198.51.100.1"), &probes());
    p.push(ip("198.51.100.1"), &probes());
    let mut now = t0;
    let mut times = Vec::new();
    while !p.is_empty() {
        if p.poll_probe(now).is_some() {
            times.push(now - t0);
        }
        if let Some(next) = p.poll_timeout() {
            assert!(next >= now);
            now = next;
        }
    }
    let ms: Vec<u128> = times.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, vec![0, 10, 20, 30]);
}
