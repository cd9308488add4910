//! Concurrent-call caps per trunk in the engine: a call counts against a trunk when its initial INVITE
//! comes from the trunk's address (the carrier offers it) or goes to it (the PBX places it); it ends on BYE
//! or CANCEL from either side, on a final failure from whichever side answers, or after the call timeout.

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
    Alert, AlertKind, CallPolicyReload, Decision, Detector, Engine, Event, Observation, Request,
    Response, Timestamp, Verdict,
};
use pbxguard_numbers::guard::CallGuard;
use pbxguard_numbers::policy::{KeptTrunk, PolicyConfig, Trunk};
use pbxguard_numbers::{Classifier, Country, DialPlan};

const CARRIER: &str = "203.0.113.10";
const PHONE: &str = "198.51.100.20";
const T0: u64 = 1_775_037_600;

/// A site whose trunk `carrier` (203.0.113.0/28, a trunk of the `[lists]` too) is capped at 2 calls.
fn engine() -> Engine {
    engine_with(|_| {})
}

/// As [`engine`], with `edit` applied to the policy.
fn engine_with(edit: impl FnOnce(&mut PolicyConfig)) -> Engine {
    let mut config = Config::default();
    config.lists.trunks = vec!["203.0.113.0/28".parse().unwrap()];
    let mut e = Engine::new(config, Timestamp::from_secs(T0));
    let mut policy = PolicyConfig::default();
    policy.trunk_caps.insert("carrier".into(), 2);
    policy.trunks.push(Trunk {
        name: "carrier".into(),
        networks: vec!["203.0.113.0/28".parse().unwrap()],
    });
    edit(&mut policy);
    let plan = DialPlan::new(Country::new("GB").unwrap()).with_outside_line("9");
    e.set_call_guard(Some(CallGuard::new(plan, Classifier::default(), policy)));
    e
}

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

fn invite(call_id: &str) -> Request<'_> {
    Request {
        method: b"INVITE",
        from_user: Some(b"+442079460000"),
        uri_user: Some(b"+442079460123"),
        call_id: call_id.as_bytes(),
        cseq: 1,
        ..Request::default()
    }
}

fn in_dialog<'a>(method: &'a str, call_id: &'a str) -> Request<'a> {
    Request {
        method: method.as_bytes(),
        call_id: call_id.as_bytes(),
        cseq: 2,
        to_tag: true,
        ..Request::default()
    }
}

fn observe(e: &mut Engine, secs: u64, peer: &str, event: Event<'_>) -> Verdict {
    let peer: IpAddr = peer.parse().unwrap();
    e.handle(&Observation {
        time: at(secs),
        peer,
        event,
    })
}

/// The carrier sends a request to the PBX.
fn from_carrier(e: &mut Engine, secs: u64, req: Request<'_>) -> Verdict {
    observe(e, secs, CARRIER, Event::Request(req))
}

/// The PBX answers the carrier.
fn pbx_answers(e: &mut Engine, secs: u64, call_id: &str, status: u16) {
    let resp = Response {
        status,
        call_id: call_id.as_bytes(),
        cseq: 1,
        ..Response::default()
    };
    observe(e, secs, CARRIER, Event::Response(resp));
}

/// The PBX sends a request to `peer`.
fn pbx_sends(e: &mut Engine, secs: u64, peer: &str, req: Request<'_>) -> Verdict {
    observe(e, secs, peer, Event::PbxRequest(req))
}

/// `peer` answers the PBX's request `cseq` (the INVITEs of these tests have CSeq 1).
fn peer_answers(e: &mut Engine, secs: u64, peer: &str, call_id: &str, cseq: u32, status: u16) {
    let event = Event::PeerResponse {
        status,
        call_id: call_id.as_bytes(),
        cseq,
    };
    observe(e, secs, peer, event);
}

fn alerts(e: &mut Engine) -> Vec<Alert> {
    std::iter::from_fn(|| e.poll_decision())
        .filter_map(|d| match d {
            Decision::Alert(a) => Some(a),
            _ => None,
        })
        .collect()
}

#[test]
fn the_third_call_a_carrier_offers_on_a_trunk_capped_at_two_is_refused_with_503() {
    let mut e = engine();
    for id in ["in-1", "in-2"] {
        assert_eq!(from_carrier(&mut e, 0, invite(id)), Verdict::Accept);
        pbx_answers(&mut e, 1, id, 200);
        from_carrier(&mut e, 1, in_dialog("ACK", id));
    }
    assert_eq!(
        from_carrier(&mut e, 2, invite("in-3")),
        Verdict::Reject(503)
    );
    let alerts = alerts(&mut e);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].detector, Detector::CallPolicy);
    assert_eq!(alerts[0].kind, AlertKind::CallRefused);
    let detail = alerts[0].evidence.detail.as_deref().unwrap();
    assert!(
        detail.contains("trunk carrier has 2 calls in progress (cap 2)"),
        "{detail}"
    );
    let evidence = &alerts[0].evidence;
    assert_eq!((evidence.count, evidence.threshold), (2, 2));
    assert_eq!(e.stats().rejected, 1);
    // The carrier's BYE ends a call: the next offer fits.
    assert_eq!(
        from_carrier(&mut e, 30, in_dialog("BYE", "in-1")),
        Verdict::Accept
    );
    assert_eq!(from_carrier(&mut e, 31, invite("in-4")), Verdict::Accept);
    // A trunk is never banned, whatever it is refused.
    assert!(!e.is_banned(CARRIER.parse().unwrap(), at(31)));
}

#[test]
fn retransmissions_and_re_invites_are_not_new_calls() {
    let mut e = engine();
    assert_eq!(from_carrier(&mut e, 0, invite("in-1")), Verdict::Accept);
    assert_eq!(from_carrier(&mut e, 0, invite("in-1")), Verdict::Accept);
    assert_eq!(from_carrier(&mut e, 1, invite("in-2")), Verdict::Accept);
    pbx_answers(&mut e, 1, "in-2", 200);
    let reinvite = Request {
        to_tag: true,
        cseq: 2,
        ..invite("in-2")
    };
    assert_eq!(from_carrier(&mut e, 60, reinvite), Verdict::Accept);
    assert_eq!(
        from_carrier(&mut e, 61, invite("in-3")),
        Verdict::Reject(503)
    );
    // The PBX refuses the re-INVITE (491 Request Pending): the call goes on.
    pbx_answers(&mut e, 62, "in-2", 491);
    assert_eq!(
        from_carrier(&mut e, 63, invite("in-3")),
        Verdict::Reject(503)
    );
}

#[test]
fn calls_a_carrier_offers_are_not_checked_against_the_number_policy() {
    let mut e = engine();
    // A premium-rate Request-URI from an extension is refused with 403; from the carrier it is a DID.
    let premium = Request {
        uri_user: Some(b"909012345678"),
        ..invite("in-1")
    };
    assert_eq!(from_carrier(&mut e, 0, premium), Verdict::Accept);
    let from_phone = Request {
        credentials: Some(b"201"),
        ..premium
    };
    assert_eq!(
        observe(
            &mut e,
            0,
            PHONE,
            Event::Request(Request {
                call_id: b"out-1",
                ..from_phone
            })
        ),
        Verdict::Reject(403)
    );
}

#[test]
fn the_pbx_hanging_up_or_refusing_frees_the_trunk() {
    let mut e = engine();
    assert_eq!(from_carrier(&mut e, 0, invite("in-1")), Verdict::Accept);
    assert_eq!(from_carrier(&mut e, 0, invite("in-2")), Verdict::Accept);
    // The PBX refuses in-1 (busy): it never started.
    pbx_answers(&mut e, 1, "in-1", 486);
    assert_eq!(from_carrier(&mut e, 2, invite("in-3")), Verdict::Accept);
    pbx_answers(&mut e, 2, "in-2", 200);
    pbx_answers(&mut e, 2, "in-3", 200);
    assert_eq!(
        from_carrier(&mut e, 3, invite("in-4")),
        Verdict::Reject(503)
    );
    // The PBX hangs up in-2: its BYE goes to the carrier.
    assert_eq!(
        pbx_sends(&mut e, 40, CARRIER, in_dialog("BYE", "in-2")),
        Verdict::Accept
    );
    assert_eq!(from_carrier(&mut e, 41, invite("in-4")), Verdict::Accept);
}

#[test]
fn calls_the_pbx_places_on_the_trunk_count_and_a_full_trunk_is_reported() {
    let mut e = engine();
    // The PBX relays a phone's call to the carrier (a proxy keeps the Call-ID).
    assert_eq!(
        observe(
            &mut e,
            0,
            PHONE,
            Event::Request(Request {
                credentials: Some(b"201"),
                uri_user: Some(b"902079460001"),
                ..invite("out-1")
            })
        ),
        Verdict::Accept
    );
    assert_eq!(
        pbx_sends(&mut e, 0, CARRIER, invite("out-1")),
        Verdict::Accept
    );
    // A retransmission is the same call.
    assert_eq!(
        pbx_sends(&mut e, 0, CARRIER, invite("out-1")),
        Verdict::Accept
    );
    peer_answers(&mut e, 1, CARRIER, "out-1", 1, 200);
    // The carrier refuses a re-INVITE of the PBX (CSeq 2): the call goes on.
    peer_answers(&mut e, 1, CARRIER, "out-1", 2, 488);
    assert_eq!(from_carrier(&mut e, 2, invite("in-1")), Verdict::Accept);
    assert!(alerts(&mut e).is_empty());
    // The trunk is full: the PBX's next call is counted and reported.
    assert_eq!(
        pbx_sends(&mut e, 3, CARRIER, invite("out-2")),
        Verdict::Accept
    );
    let a = alerts(&mut e);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].kind, AlertKind::TrunkOverCap);
    // Counted, so the evidence shows the trunk past its cap.
    assert_eq!((a[0].evidence.count, a[0].evidence.threshold), (3, 2));
    assert_eq!(a[0].source, "203.0.113.10/32".parse().unwrap());
    // The carrier rejects out-2 and the PBX hangs up out-1: two channels free, one call left.
    peer_answers(&mut e, 4, CARRIER, "out-2", 1, 503);
    assert_eq!(
        from_carrier(&mut e, 5, invite("in-2")),
        Verdict::Reject(503)
    );
    from_carrier(&mut e, 6, in_dialog("BYE", "out-1"));
    assert_eq!(from_carrier(&mut e, 7, invite("in-2")), Verdict::Accept);
}

#[test]
fn a_phone_failing_a_branch_of_the_pbx_does_not_end_a_trunk_call() {
    let mut e = engine();
    assert_eq!(from_carrier(&mut e, 0, invite("in-1")), Verdict::Accept);
    assert_eq!(from_carrier(&mut e, 0, invite("in-2")), Verdict::Accept);
    // The PBX rings two phones for in-1; one is busy. The call goes on.
    assert_eq!(pbx_sends(&mut e, 1, PHONE, invite("in-1")), Verdict::Accept);
    peer_answers(&mut e, 1, PHONE, "in-1", 1, 486);
    assert_eq!(
        from_carrier(&mut e, 2, invite("in-3")),
        Verdict::Reject(503)
    );
    // The carrier cancels in-1 before anyone answers.
    from_carrier(
        &mut e,
        3,
        Request {
            method: b"CANCEL",
            ..invite("in-1")
        },
    );
    assert_eq!(from_carrier(&mut e, 4, invite("in-3")), Verdict::Accept);
}

#[test]
fn a_lost_bye_frees_the_trunk_after_the_call_timeout() {
    let mut e = engine();
    assert_eq!(from_carrier(&mut e, 0, invite("in-1")), Verdict::Accept);
    assert_eq!(from_carrier(&mut e, 0, invite("in-2")), Verdict::Accept);
    let timeout = e.poll_timeout().unwrap();
    assert_eq!(timeout, at(0).plus(Duration::from_secs(4 * 3600)));
    e.handle_timeout(timeout);
    assert_eq!(
        from_carrier(&mut e, 4 * 3600, invite("in-3")),
        Verdict::Accept
    );
}

#[test]
fn requests_the_pbx_sends_never_count_against_the_peer() {
    let mut e = engine();
    // Qualify OPTIONS to a phone, many times: no rate detector fires on the phone.
    for i in 0..10_000 {
        let options = Request {
            method: b"OPTIONS",
            call_id: b"q",
            cseq: i,
            ..Request::default()
        };
        assert_eq!(pbx_sends(&mut e, 0, PHONE, options), Verdict::Accept);
    }
    assert!(e.poll_decision().is_none());
    assert_eq!(e.tracked_sources(), 0);
}

#[test]
fn with_an_outbound_trunk_a_phones_call_on_a_full_trunk_gets_503_before_the_pbx_sees_it() {
    let mut e = engine_with(|p| p.outbound_trunk = Some("carrier".into()));
    let phone_calls = |e: &mut Engine, secs: u64, id: &'static str| {
        let req = Request {
            credentials: Some(b"201"),
            uri_user: Some(b"902079460001"),
            ..invite(id)
        };
        observe(e, secs, PHONE, Event::Request(req))
    };
    assert_eq!(phone_calls(&mut e, 0, "x1"), Verdict::Accept);
    // A back-to-back PBX places its own call to the carrier: the same channel.
    assert_eq!(
        pbx_sends(&mut e, 1, CARRIER, invite("b2b-1")),
        Verdict::Accept
    );
    assert_eq!(from_carrier(&mut e, 2, invite("in-1")), Verdict::Accept);
    assert!(alerts(&mut e).is_empty());
    assert_eq!(phone_calls(&mut e, 3, "x2"), Verdict::Reject(503));
    let a = alerts(&mut e);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].evidence
            .detail
            .as_deref()
            .unwrap()
            .contains("trunk carrier has 2 calls in progress (cap 2)"),
        "{a:?}"
    );
    // The carrier hangs up the PBX's leg: the phone's call is over, its channel free.
    from_carrier(&mut e, 30, in_dialog("BYE", "b2b-1"));
    assert_eq!(phone_calls(&mut e, 31, "x3"), Verdict::Accept);
}

/// The policy of [`engine`], with `edit` applied, as a call guard.
fn guard_with(edit: impl FnOnce(&mut PolicyConfig)) -> CallGuard {
    let mut policy = PolicyConfig::default();
    policy.trunk_caps.insert("carrier".into(), 2);
    policy.trunks.push(Trunk {
        name: "carrier".into(),
        networks: vec!["203.0.113.0/28".parse().unwrap()],
    });
    edit(&mut policy);
    let plan = DialPlan::new(Country::new("GB").unwrap()).with_outside_line("9");
    CallGuard::new(plan, Classifier::default(), policy)
}

#[test]
fn trunks_show_calls_in_progress_cap_and_refusals() {
    let mut e = engine_with(|p| {
        p.outbound_trunk = Some("carrier".into());
        p.trunks.push(Trunk {
            name: "backup".into(),
            networks: vec!["203.0.113.14/31".parse().unwrap()],
        });
    });
    let load = |e: &Engine| {
        e.trunks()
            .into_iter()
            .map(|t| (t.name, t.calls, t.cap, t.refused, t.placed_over_cap))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        load(&e),
        [
            ("carrier".to_owned(), 0, Some(2), 0, 0),
            ("backup".to_owned(), 0, None, 0, 0)
        ]
    );
    from_carrier(&mut e, 0, invite("in-1"));
    from_carrier(&mut e, 0, invite("in-2"));
    // Refused: an offer from the carrier, and a phone's outside call on the full outbound trunk.
    assert_eq!(
        from_carrier(&mut e, 1, invite("in-3")),
        Verdict::Reject(503)
    );
    let outside = Request {
        credentials: Some(b"201"),
        uri_user: Some(b"902079460001"),
        ..invite("x1")
    };
    assert_eq!(
        observe(&mut e, 1, PHONE, Event::Request(outside)),
        Verdict::Reject(503)
    );
    // A number the policy forbids is no refusal of the trunk's.
    let premium = Request {
        credentials: Some(b"201"),
        uri_user: Some(b"909012345678"),
        ..invite("x2")
    };
    assert_eq!(
        observe(&mut e, 1, PHONE, Event::Request(premium)),
        Verdict::Reject(403)
    );
    // The PBX places a call on the full trunk: counted, and reported as placed over the cap.
    pbx_sends(&mut e, 2, CARRIER, invite("out-1"));
    assert_eq!(
        load(&e),
        [
            ("carrier".to_owned(), 3, Some(2), 2, 1),
            ("backup".to_owned(), 0, None, 0, 0)
        ]
    );
    let mut without = Engine::new(Config::default(), at(0));
    assert!(without.trunks().is_empty());
    without.set_call_guard(None);
    assert!(without.trunks().is_empty());
}

#[test]
fn reloading_the_same_call_policy_changes_nothing() {
    let mut e = engine();
    from_carrier(&mut e, 0, invite("in-1"));
    from_carrier(&mut e, 0, invite("in-2"));
    assert_eq!(
        e.reload_call_guard(guard_with(|_| {})),
        CallPolicyReload::Unchanged
    );
    assert_eq!(e.trunks()[0].calls, 2);
    assert_eq!(
        from_carrier(&mut e, 1, invite("in-3")),
        Verdict::Reject(503)
    );
}

#[test]
fn a_changed_call_policy_takes_effect_and_keeps_counting_the_calls_in_progress() {
    let mut e = engine();
    from_carrier(&mut e, 0, invite("in-1"));
    from_carrier(&mut e, 0, invite("in-2"));
    assert_eq!(
        from_carrier(&mut e, 1, invite("in-3")),
        Verdict::Reject(503)
    );
    // The same trunk and cap; another rule changes: London is forbidden.
    let CallPolicyReload::Reconfigured(report) = e.reload_call_guard(guard_with(|p| {
        p.denied_prefixes.push("+4420".into());
    })) else {
        panic!("a changed policy is put in force over the running state")
    };
    assert_eq!(report.calls, 2);
    assert_eq!(
        report.trunks,
        [KeptTrunk {
            name: "carrier".into(),
            calls: 2,
            cap: 2
        }]
    );
    assert!(report.dropped.is_empty());
    let carrier = &e.trunks()[0];
    assert_eq!(
        (carrier.calls, carrier.cap, carrier.refused),
        (2, Some(2), 1)
    );
    // The trunk is still full: the third call is refused as before the reload.
    assert_eq!(
        from_carrier(&mut e, 2, invite("in-3")),
        Verdict::Reject(503)
    );
    assert_eq!(e.trunks()[0].refused, 2);
    let london = Request {
        credentials: Some(b"201"),
        uri_user: Some(b"902079460001"),
        ..invite("x1")
    };
    assert_eq!(
        observe(&mut e, 3, PHONE, Event::Request(london)),
        Verdict::Reject(403)
    );
    // A call kept across the reload ends as any other and frees its channel.
    from_carrier(&mut e, 4, in_dialog("BYE", "in-1"));
    assert_eq!(from_carrier(&mut e, 4, invite("in-3")), Verdict::Accept);
}

#[test]
fn a_lowered_cap_refuses_new_calls_until_enough_kept_ones_end() {
    let mut e = engine();
    from_carrier(&mut e, 0, invite("in-1"));
    from_carrier(&mut e, 0, invite("in-2"));
    let CallPolicyReload::Reconfigured(report) = e.reload_call_guard(guard_with(|p| {
        p.trunk_caps.insert("carrier".into(), 1);
    })) else {
        panic!("a changed policy is put in force over the running state")
    };
    assert!(report.trunks[0].over_cap());
    assert_eq!((e.trunks()[0].calls, e.trunks()[0].cap), (2, Some(1)));
    assert_eq!(
        from_carrier(&mut e, 1, invite("in-3")),
        Verdict::Reject(503)
    );
    from_carrier(&mut e, 2, in_dialog("BYE", "in-1"));
    assert_eq!(
        from_carrier(&mut e, 2, invite("in-3")),
        Verdict::Reject(503)
    );
    from_carrier(&mut e, 3, in_dialog("BYE", "in-2"));
    assert_eq!(from_carrier(&mut e, 3, invite("in-3")), Verdict::Accept);
}

#[test]
fn a_call_policy_loaded_without_one_running_is_installed() {
    let mut fresh = Engine::new(Config::default(), at(0));
    assert_eq!(
        fresh.reload_call_guard(guard_with(|_| {})),
        CallPolicyReload::Installed
    );
    assert_eq!(fresh.trunks()[0].calls, 0);
}
