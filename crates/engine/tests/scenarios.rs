//! Scenario tests on a virtual clock: one per detector and per trap the older tools fell into.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::IpAddr;
use std::time::Duration;

use pbxguard_config::Config;
use pbxguard_engine::{
    AlertKind, Ban, Decision, Detector, Engine, Event, LogEvent, Observation, Request, Response,
    Timestamp, UnbanReason, Verdict,
};

const T0: u64 = 1_700_000_000_000;

/// A virtual clock and an engine, with helpers that speak SIP transactions.
struct Sim {
    engine: Engine,
    now: Timestamp,
    decisions: Vec<Decision>,
    call: u64,
}

impl Sim {
    fn new(config: Config) -> Self {
        let now = Timestamp::from_millis(T0);
        Self {
            engine: Engine::new(config, now),
            now,
            decisions: Vec::new(),
            call: 0,
        }
    }

    fn advance(&mut self, d: Duration) {
        let target = self.now.plus(d);
        // Jump from deadline to deadline, as the daemon would wake up.
        while let Some(t) = self.engine.poll_timeout() {
            if t > target {
                break;
            }
            self.engine.handle_timeout(t);
            self.drain();
        }
        self.now = target;
        self.engine.handle_timeout(target);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(d) = self.engine.poll_decision() {
            self.decisions.push(d);
        }
    }

    fn feed(&mut self, peer: IpAddr, event: Event<'_>) -> Verdict {
        let v = self.engine.handle(&Observation {
            time: self.now,
            peer,
            event,
        });
        self.drain();
        v
    }

    /// One request/response exchange; returns the verdict for the request.
    fn exchange(&mut self, peer: IpAddr, req: Request<'_>, status: u16, stale: bool) -> Verdict {
        self.call += 1;
        let call_id = format!("call-{}", self.call);
        let req = Request {
            call_id: call_id.as_bytes(),
            ..req
        };
        let v = self.feed(peer, Event::Request(req));
        if v == Verdict::Accept {
            let resp = Response {
                status,
                call_id: call_id.as_bytes(),
                cseq: req.cseq,
                to_user: req.to_user,
                stale,
            };
            self.feed(peer, Event::Response(resp));
        }
        v
    }

    /// A phone registering properly: challenged once, then accepted (or rejected if `password_ok` is false).
    fn register(&mut self, peer: IpAddr, user: &str, password_ok: bool) {
        let plain = Request {
            method: b"REGISTER",
            to_user: Some(user.as_bytes()),
            from_user: Some(user.as_bytes()),
            user_agent: Some(b"Yealink SIP-T46S 66.86.0.15"),
            cseq: 1,
            ..Request::default()
        };
        self.exchange(peer, plain, 401, false);
        let with_auth = Request {
            cseq: 2,
            credentials: Some(user.as_bytes()),
            ..plain
        };
        self.exchange(peer, with_auth, if password_ok { 200 } else { 401 }, false);
    }

    fn bans(&self) -> Vec<&Ban> {
        self.decisions
            .iter()
            .filter_map(|d| {
                if let Decision::Ban(b) = d {
                    Some(b)
                } else {
                    None
                }
            })
            .collect()
    }

    fn bans_of(&self, peer: IpAddr) -> Vec<&Ban> {
        self.bans()
            .into_iter()
            .filter(|b| b.target.contains(&peer))
            .collect()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn svcrack_attempt(user: &str) -> Request<'_> {
    Request {
        method: b"REGISTER",
        to_user: Some(user.as_bytes()),
        from_user: Some(user.as_bytes()),
        user_agent: Some(b"Asterisk PBX"),
        credentials: Some(user.as_bytes()),
        cseq: 1,
        ..Request::default()
    }
}

#[test]
fn brute_forcer_is_banned_at_the_threshold_with_evidence() {
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.7");
    let threshold = Config::default().rules.auth.max_failures;
    for i in 1..=threshold {
        assert!(
            sim.bans().is_empty(),
            "banned early, after {} failures",
            i - 1
        );
        sim.exchange(atk, svcrack_attempt("1001"), 401, false);
        sim.advance(Duration::from_secs(2));
    }
    let bans = sim.bans_of(atk);
    assert_eq!(bans.len(), 1);
    let ban = bans[0];
    assert_eq!(ban.detector, Detector::AuthFailures);
    assert_eq!(ban.evidence.count, threshold);
    assert_eq!(ban.evidence.threshold, threshold);
    assert_eq!(ban.evidence.sample_user.as_deref(), Some("1001"));
    assert_eq!(
        ban.evidence.sample_user_agent.as_deref(),
        Some("Asterisk PBX")
    );
    assert_eq!(
        ban.until.since(ban.at),
        Config::default().rules.auth.ban_time
    );
    // A per-user alert came first: one account was targeted.
    assert!(
        sim.decisions
            .iter()
            .any(|d| matches!(d, Decision::Alert(a) if a.kind == AlertKind::UserFailing))
    );
    // The next packet from the banned source is dropped inline.
    assert_eq!(
        sim.feed(atk, Event::Request(svcrack_attempt("1001"))),
        Verdict::Drop
    );
}

#[test]
fn fifty_phones_behind_one_nat_are_never_banned_and_one_bad_password_is_reported() {
    let mut sim = Sim::new(Config::default());
    let office = ip("198.51.100.20");
    // Two hours of phones re-registering every 60 s; phone 1050 has a wrong password.
    for _minute in 0..120 {
        for n in 1001..=1050 {
            let user = n.to_string();
            sim.register(office, &user, n != 1050);
        }
        sim.advance(Duration::from_secs(60));
    }
    assert!(
        sim.bans().is_empty(),
        "the office was banned: {:?}",
        sim.bans()
    );
    let alerts: Vec<_> = sim
        .decisions
        .iter()
        .filter_map(|d| {
            if let Decision::Alert(a) = d {
                Some(a)
            } else {
                None
            }
        })
        .collect();
    assert!(!alerts.is_empty(), "the failing phone was not reported");
    assert!(
        alerts
            .iter()
            .all(|a| a.kind == AlertKind::UserFailing && a.detector == Detector::UserAuthFailures)
    );
    assert!(alerts.iter().all(|a| a.source.contains(&office)));
    // Reported about once per window, not once per failure.
    assert!(alerts.len() <= 13, "{} alerts in 2 hours", alerts.len());
}

#[test]
fn the_same_failure_count_spread_across_users_from_an_unknown_source_is_banned() {
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.50");
    // As many failures as the office's bad phone makes in a window, but each for another user.
    for n in 0..10 {
        let user = format!("{}", 2000 + n);
        sim.exchange(atk, svcrack_attempt(&user), 401, false);
        sim.advance(Duration::from_secs(60));
    }
    let bans = sim.bans_of(atk);
    assert_eq!(bans.len(), 1, "{:?}", sim.decisions);
    assert_eq!(bans[0].detector, Detector::AuthFailures);
}

#[test]
fn every_registration_challenged_then_accepted_causes_no_ban() {
    // FreeSWITCH and Asterisk challenge every REGISTER; fail2ban filters that count challenges ban remote
    // workers. Here the challenge is answered, so nothing counts.
    let mut sim = Sim::new(Config::default());
    let worker = ip("192.0.2.99");
    for _ in 0..500 {
        sim.register(worker, "1001", true);
        sim.feed(
            worker,
            Event::Log(LogEvent::AuthSucceeded {
                user: Some(b"1001"),
            }),
        );
        sim.advance(Duration::from_secs(30));
    }
    assert!(sim.decisions.is_empty(), "{:?}", sim.decisions);
}

#[test]
fn a_stale_nonce_is_a_new_challenge_not_a_failure() {
    let mut sim = Sim::new(Config::default());
    let phone = ip("192.0.2.10");
    for _ in 0..50 {
        sim.exchange(phone, svcrack_attempt("1001"), 401, true);
        let retry = Request {
            cseq: 2,
            ..svcrack_attempt("1001")
        };
        sim.exchange(phone, retry, 200, false);
        sim.advance(Duration::from_secs(5));
    }
    assert!(sim.bans().is_empty());
}

#[test]
fn extension_enumeration_is_banned() {
    // sipvicious svwar: REGISTER for one extension after another, the PBX answers 404 for unknown ones.
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.9");
    for n in 100..200 {
        let user = n.to_string();
        let req = Request {
            method: b"REGISTER",
            to_user: Some(user.as_bytes()),
            from_user: Some(user.as_bytes()),
            cseq: 1,
            ..Request::default()
        };
        if sim.exchange(atk, req, 404, false) == Verdict::Drop {
            break;
        }
        sim.advance(Duration::from_millis(200));
    }
    let bans = sim.bans_of(atk);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].detector, Detector::Enumeration);
    let max = Config::default().rules.enumeration.max_users;
    assert!(bans[0].evidence.count >= max);
}

#[test]
fn unanswered_challenges_are_banned() {
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.10");
    for n in 0..40 {
        let user = format!("{}", 1000 + n);
        let req = Request {
            method: b"INVITE",
            uri_user: Some(user.as_bytes()),
            cseq: 1,
            ..Request::default()
        };
        sim.exchange(atk, req, 407, false);
        sim.advance(Duration::from_secs(1));
    }
    let bans = sim.bans_of(atk);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].detector, Detector::UnansweredChallenges);
    assert_eq!(
        bans[0].evidence.count,
        Config::default().rules.challenge.max_unanswered
    );
}

#[test]
fn scanner_user_agents_are_banned_at_the_first_packet() {
    for ua in [
        "friendly-scanner",
        "sipvicious",
        "SIPCLI/v1.63",
        "VaxSIPUserAgent/3.1",
        "PPLSIP/1.0",
    ] {
        let mut sim = Sim::new(Config::default());
        let atk = ip("203.0.113.11");
        let req = Request {
            method: b"OPTIONS",
            user_agent: Some(ua.as_bytes()),
            cseq: 1,
            ..Request::default()
        };
        assert_eq!(sim.feed(atk, Event::Request(req)), Verdict::Drop, "{ua}");
        let bans = sim.bans_of(atk);
        assert_eq!(bans.len(), 1, "{ua}");
        assert_eq!(bans[0].detector, Detector::Scanner);
        assert_eq!(bans[0].evidence.sample_user_agent.as_deref(), Some(ua));
    }
}

#[test]
fn a_scanner_named_in_the_from_header_is_caught_too() {
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.12");
    let req = Request {
        method: b"OPTIONS",
        from_display: Some(b"sipvicious"),
        cseq: 1,
        ..Request::default()
    };
    assert_eq!(sim.feed(atk, Event::Request(req)), Verdict::Drop);
}

fn options() -> Request<'static> {
    Request {
        method: b"OPTIONS",
        user_agent: Some(b"Linphone/5.2"),
        cseq: 1,
        ..Request::default()
    }
}

#[test]
fn packet_rate_level1_bans_an_unknown_source() {
    // Without the long window for unknown sources, which would catch this source first.
    let mut sim = Sim::new(config_with(|c| c.rules.rate.unknown_max_packets = 0));
    let atk = ip("203.0.113.13");
    let mut sent = 0;
    while sim.feed(atk, Event::Request(options())) == Verdict::Accept {
        sent += 1;
        sim.advance(Duration::from_millis(5)); // 200 packets/s
        assert!(sent < 1000);
    }
    assert_eq!(sim.bans_of(atk)[0].detector, Detector::RateLevel1);
    // 100/s over 2 s: the 200th packet crosses it.
    assert_eq!(sent, 199);
}

#[test]
fn a_trusted_source_is_exempt_from_level1_but_not_level2() {
    let mut sim = Sim::new(Config::default());
    let office = ip("198.51.100.30");
    sim.register(office, "1001", true);
    for _ in 0..600 {
        sim.feed(office, Event::Request(options()));
        sim.advance(Duration::from_millis(5)); // 200/s: above level 1, below level 2
    }
    assert!(sim.bans().is_empty());
    let mut sent = 0;
    while sim.feed(office, Event::Request(options())) == Verdict::Accept {
        sent += 1;
        sim.advance(Duration::from_micros(1000)); // 1000/s: above level 2
        assert!(sent < 5000);
    }
    assert_eq!(sim.bans_of(office)[0].detector, Detector::RateLevel2);
}

#[test]
fn a_slow_source_that_never_authenticates_is_caught_by_the_long_window() {
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.14");
    for _ in 0..150 {
        sim.feed(atk, Event::Request(options()));
        sim.advance(Duration::from_secs(120));
    }
    let bans = sim.bans_of(atk);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].detector, Detector::UnknownSource);
}

#[test]
fn malformed_traffic_is_banned() {
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.15");
    for _ in 0..30 {
        sim.feed(atk, Event::Unparseable);
        sim.advance(Duration::from_millis(500));
    }
    let bans = sim.bans_of(atk);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].detector, Detector::Malformed);
}

#[test]
fn bans_expire_and_repeat_offenders_escalate() {
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.16");
    let scan = || Request {
        method: b"OPTIONS",
        user_agent: Some(b"friendly-scanner"),
        ..Request::default()
    };
    let base = Config::default().rules.scanner.ban_time;
    let mut lengths = Vec::new();
    for round in 0..5 {
        sim.feed(atk, Event::Request(scan()));
        let ban = sim.bans_of(atk)[round].clone();
        assert_eq!(ban.offence, u32::try_from(round).unwrap() + 1);
        lengths.push(ban.until.since(ban.at));
        assert!(sim.engine.is_banned(atk, sim.now));
        sim.advance(ban.until.since(ban.at));
        assert!(!sim.engine.is_banned(atk, sim.now));
        assert!(matches!(
            sim.decisions.last(),
            Some(Decision::Unban {
                reason: UnbanReason::Expired,
                ..
            })
        ));
    }
    assert_eq!(lengths[0], base);
    assert_eq!(lengths[1], base * 2);
    assert_eq!(lengths[2], base * 4);
    // Capped by max_ban_time (7 days).
    assert_eq!(lengths[3], Config::default().bans.max_ban_time);
    assert_eq!(lengths[4], Config::default().bans.max_ban_time);
}

#[test]
fn manual_ban_and_unban() {
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.17");
    sim.engine
        .ban_manually(atk, sim.now, Duration::from_secs(600), "seen in the CDRs")
        .unwrap();
    sim.drain();
    assert!(sim.engine.is_banned(atk, sim.now));
    assert_eq!(sim.feed(atk, Event::Request(options())), Verdict::Drop);
    let target = sim.engine.unban(atk, sim.now).unwrap();
    sim.drain();
    assert!(target.contains(&atk));
    assert!(!sim.engine.is_banned(atk, sim.now));
    assert!(matches!(
        sim.decisions.last(),
        Some(Decision::Unban {
            reason: UnbanReason::Manual,
            ..
        })
    ));
    assert_eq!(
        sim.engine.unban(atk, sim.now),
        Err(pbxguard_engine::ManualError::NotBanned)
    );
    // The lifted ban's expiry does not produce a second unban later.
    let before = sim.decisions.len();
    sim.advance(Duration::from_secs(700));
    assert_eq!(sim.decisions.len(), before);
}

fn config_with(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    f(&mut c);
    c
}

#[test]
fn the_allow_list_beats_every_detector() {
    let friend = ip("192.0.2.77");
    let mut sim = Sim::new(config_with(|c| {
        c.lists.allow.push("192.0.2.0/24".parse().unwrap())
    }));
    let scan = Request {
        method: b"OPTIONS",
        user_agent: Some(b"friendly-scanner"),
        ..Request::default()
    };
    assert_eq!(sim.feed(friend, Event::Request(scan)), Verdict::Accept);
    for i in 0..5000 {
        let user = format!("{i}");
        sim.exchange(friend, svcrack_attempt(&user), 401, false);
        sim.exchange(
            friend,
            Request {
                method: b"REGISTER",
                to_user: Some(user.as_bytes()),
                ..Request::default()
            },
            404,
            false,
        );
        sim.feed(friend, Event::Unparseable);
        sim.feed(
            friend,
            Event::Log(LogEvent::AuthFailed {
                user: Some(b"1001"),
            }),
        );
    }
    assert!(sim.decisions.is_empty(), "{:?}", sim.decisions.first());
    assert!(
        sim.engine
            .ban_manually(friend, sim.now, Duration::from_secs(60), "")
            .is_err()
    );
}

#[test]
fn trunks_are_never_banned_only_reported() {
    let carrier = ip("198.51.100.200");
    let mut sim = Sim::new(config_with(|c| {
        c.lists.trunks.push("198.51.100.200/32".parse().unwrap())
    }));
    for _ in 0..3000 {
        assert_eq!(
            sim.feed(carrier, Event::Request(options())),
            Verdict::Accept
        );
    }
    let scan = Request {
        method: b"OPTIONS",
        user_agent: Some(b"friendly-scanner"),
        ..Request::default()
    };
    assert_eq!(sim.feed(carrier, Event::Request(scan)), Verdict::Accept);
    assert!(sim.bans().is_empty());
    assert!(
        sim.decisions
            .iter()
            .any(|d| matches!(d, Decision::Alert(a) if a.kind == AlertKind::TrunkMisbehaving))
    );
}

#[test]
fn the_block_list_drops_without_deciding() {
    let bad = ip("203.0.113.99");
    let mut sim = Sim::new(config_with(|c| {
        c.lists.block.push("203.0.113.0/24".parse().unwrap())
    }));
    assert_eq!(sim.feed(bad, Event::Request(options())), Verdict::Drop);
    assert!(sim.decisions.is_empty());
}

#[test]
fn ipv6_sources_are_banned_by_prefix() {
    let mut sim = Sim::new(Config::default());
    let a = ip("2001:db8:1:2::1");
    let b = ip("2001:db8:1:2:ffff::9");
    let scan = Request {
        method: b"OPTIONS",
        user_agent: Some(b"friendly-scanner"),
        ..Request::default()
    };
    sim.feed(a, Event::Request(scan));
    let ban = sim.bans()[0].clone();
    assert_eq!(ban.target.to_string(), "2001:db8:1:2::/64");
    assert_eq!(sim.feed(b, Event::Request(options())), Verdict::Drop);
    assert_eq!(
        sim.feed(ip("2001:db8:1:3::1"), Event::Request(options())),
        Verdict::Accept
    );
}

#[test]
fn log_events_count_like_packets() {
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.20");
    for n in 0..10 {
        let user = format!("{}", 3000 + n);
        sim.feed(
            atk,
            Event::Log(LogEvent::AuthFailed {
                user: Some(user.as_bytes()),
            }),
        );
    }
    assert_eq!(sim.bans_of(atk)[0].detector, Detector::AuthFailures);
    let atk2 = ip("203.0.113.21");
    for n in 0..12 {
        let user = format!("{}", 4000 + n);
        sim.feed(
            atk2,
            Event::Log(LogEvent::UnknownUser {
                user: Some(user.as_bytes()),
            }),
        );
    }
    assert_eq!(sim.bans_of(atk2)[0].detector, Detector::Enumeration);
}

#[test]
fn reconfiguring_keeps_bans_and_applies_new_thresholds() {
    let mut sim = Sim::new(Config::default());
    let atk = ip("203.0.113.22");
    let scan = Request {
        method: b"OPTIONS",
        user_agent: Some(b"friendly-scanner"),
        ..Request::default()
    };
    sim.feed(atk, Event::Request(scan));
    sim.engine
        .reconfigure(config_with(|c| c.rules.auth.max_failures = 2));
    assert!(sim.engine.is_banned(atk, sim.now));
    let other = ip("203.0.113.23");
    sim.exchange(other, svcrack_attempt("1"), 401, false);
    sim.exchange(other, svcrack_attempt("2"), 401, false);
    assert_eq!(sim.bans_of(other).len(), 1);
}
