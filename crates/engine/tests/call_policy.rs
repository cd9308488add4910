//! The call policy in the engine: refused calls get 403 inline and an alert; emergency calls always pass;
//! concurrent calls per extension are capped and freed by BYE.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::IpAddr;

use pbxguard_config::Config;
use pbxguard_engine::{
    AlertKind, Decision, Detector, Engine, Event, Observation, Request, Response, Timestamp,
    Verdict,
};
use pbxguard_numbers::guard::CallGuard;
use pbxguard_numbers::policy::PolicyConfig;
use pbxguard_numbers::{Classifier, Country, DialPlan};

fn engine(policy: PolicyConfig) -> Engine {
    let now = Timestamp::from_secs(1_775_037_600);
    let mut e = Engine::new(Config::default(), now);
    let plan = DialPlan::new(Country::new("GB").unwrap()).with_outside_line("9");
    e.set_call_guard(Some(CallGuard::new(plan, Classifier::default(), policy)));
    e
}

const PHONE: &str = "198.51.100.20";

fn invite<'a>(call_id: &'a str, dialled: &'a str, ext: &'a str) -> Request<'a> {
    Request {
        method: b"INVITE",
        from_user: Some(ext.as_bytes()),
        uri_user: Some(dialled.as_bytes()),
        credentials: Some(ext.as_bytes()),
        call_id: call_id.as_bytes(),
        cseq: 2,
        ..Request::default()
    }
}

fn send(e: &mut Engine, req: Request<'_>) -> Verdict {
    let peer: IpAddr = PHONE.parse().unwrap();
    e.handle(&Observation {
        time: Timestamp::from_secs(1_775_037_600),
        peer,
        event: Event::Request(req),
    })
}

fn answer(e: &mut Engine, call_id: &str, status: u16) {
    let peer: IpAddr = PHONE.parse().unwrap();
    let resp = Response {
        status,
        call_id: call_id.as_bytes(),
        cseq: 2,
        ..Response::default()
    };
    e.handle(&Observation {
        time: Timestamp::from_secs(1_775_037_600),
        peer,
        event: Event::Response(resp),
    });
}

#[test]
fn a_premium_rate_call_is_refused_with_403_and_reported() {
    let mut e = engine(PolicyConfig::default());
    assert_eq!(
        send(&mut e, invite("c1", "909012345678", "201")),
        Verdict::Reject(403)
    );
    let alert = std::iter::from_fn(|| e.poll_decision())
        .find_map(|d| {
            if let Decision::Alert(a) = d {
                Some(a)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(alert.detector, Detector::CallPolicy);
    assert_eq!(alert.kind, AlertKind::CallRefused);
    assert_eq!(alert.evidence.sample_user.as_deref(), Some("201"));
    assert!(
        alert
            .evidence
            .detail
            .as_deref()
            .unwrap()
            .starts_with("909012345678: "),
        "{:?}",
        alert.evidence.detail
    );
    // A refused call bans nobody: the extension is real, the call is what is wrong.
    assert!(!e.is_banned(PHONE.parse().unwrap(), Timestamp::from_secs(1_775_037_600)));
}

#[test]
fn national_and_emergency_calls_pass() {
    let mut e = engine(PolicyConfig::default());
    assert_eq!(
        send(&mut e, invite("c1", "902079460000", "201")),
        Verdict::Accept
    );
    for (i, n) in ["999", "112", "9999"].iter().enumerate() {
        assert_eq!(
            send(&mut e, invite(&format!("e{i}"), n, "201")),
            Verdict::Accept,
            "{n}"
        );
    }
}

#[test]
fn the_third_concurrent_call_of_an_extension_capped_at_two_is_refused_until_one_ends() {
    let mut e = engine(PolicyConfig {
        extension_cap: Some(2),
        ..PolicyConfig::default()
    });
    assert_eq!(
        send(&mut e, invite("a", "902079460001", "201")),
        Verdict::Accept
    );
    answer(&mut e, "a", 200);
    assert_eq!(
        send(&mut e, invite("b", "902079460002", "201")),
        Verdict::Accept
    );
    answer(&mut e, "b", 200);
    assert_eq!(
        send(&mut e, invite("c", "902079460003", "201")),
        Verdict::Reject(403)
    );
    // BYE ends call a; a new call fits again.
    let bye = Request {
        method: b"BYE",
        call_id: b"a",
        to_tag: true,
        cseq: 3,
        ..Request::default()
    };
    assert_eq!(send(&mut e, bye), Verdict::Accept);
    assert_eq!(
        send(&mut e, invite("d", "902079460004", "201")),
        Verdict::Accept
    );
}

#[test]
fn without_a_call_guard_invites_are_not_policed() {
    let now = Timestamp::from_secs(1_775_037_600);
    let mut e = Engine::new(Config::default(), now);
    assert_eq!(
        send(&mut e, invite("c1", "909012345678", "201")),
        Verdict::Accept
    );
}
