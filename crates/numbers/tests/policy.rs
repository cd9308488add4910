//! The call policy, rule by rule, and the emergency guarantee.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default
)]

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use pbxguard_numbers::classify::NumberType;
use pbxguard_numbers::policy::{
    CallAttempt, CallPolicy, Group, HoursWindow, PolicyConfig, Role, Route, RouteScope, Rule,
    VelocityLimits, Verdict,
};
use pbxguard_numbers::{Classification, Classifier, Country, DialPlan, RiskLevel, Timestamp};

fn gb_plan() -> DialPlan {
    DialPlan::new(Country::new("GB").unwrap())
        .with_outside_line("9")
        .with_extension_lengths(3, 4)
}

fn classify(dialled: &str) -> Classification {
    Classifier::default().classify(&gb_plan(), dialled)
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
    Timestamp::from_unix_secs(
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp(),
    )
}

/// A Tuesday morning in winter (UTC = London time).
fn tuesday() -> Timestamp {
    at(2026, 1, 13, 10, 0)
}

fn no_velocity() -> VelocityLimits {
    VelocityLimits {
        intl_per_minute: None,
        site_intl_per_minute: None,
        distinct_per_hour: None,
        same_number: None,
        same_number_window_secs: 600,
    }
}

fn attempt<'a>(id: &'a str, ext: &'a str, c: &'a Classification) -> CallAttempt<'a> {
    CallAttempt {
        call_id: id,
        extension: Some(ext),
        trunk: Some("carrier"),
        destination: c,
    }
}

fn rule_of(v: &Verdict) -> Option<Rule> {
    v.violation().map(|v| v.rule)
}

const NATIONAL: &str = "9 0121 234 5678";
const MOBILE: &str = "9 07400 123456";
const FRANCE: &str = "9 00 33 1 23 45 67 89";
const USA: &str = "9 00 1 201 555 0123";
const PREMIUM: &str = "9 0901 234 5678";
const SATELLITE: &str = "9 00 881 631234567";
const CUBA: &str = "9 00 53 7 1234567";

#[test]
fn roles_limit_reach() {
    let mut cfg = PolicyConfig {
        velocity: no_velocity(),
        ..PolicyConfig::default()
    };
    cfg.default_role = Role::InternalOnly;
    cfg.groups.insert(
        "sales".into(),
        Group {
            role: Role::National,
            members: vec!["201".into()],
            allowed_countries: None,
        },
    );
    cfg.extension_roles
        .insert("100".into(), Role::International);
    let p = CallPolicy::new(cfg);
    let now = tuesday();
    let cases: &[(&str, &str, Option<Rule>)] = &[
        ("300", "201", None),
        ("300", "*97", None),
        ("300", NATIONAL, Some(Rule::Role)),
        ("201", NATIONAL, None),
        ("201", MOBILE, None),
        ("201", FRANCE, Some(Rule::Role)),
        ("100", FRANCE, None),
        ("100", USA, None),
    ];
    for &(ext, dialled, want) in cases {
        let c = classify(dialled);
        assert_eq!(
            rule_of(&p.check_static(now, &attempt("x", ext, &c))),
            want,
            "{ext} -> {dialled}"
        );
    }
}

#[test]
fn allowed_countries_site_wide_and_per_group() {
    let mut cfg = PolicyConfig {
        velocity: no_velocity(),
        ..PolicyConfig::default()
    };
    let fr: BTreeSet<Country> = [Country::new("FR").unwrap()].into_iter().collect();
    let us: BTreeSet<Country> = [Country::new("US").unwrap()].into_iter().collect();
    cfg.allowed_countries = Some(fr);
    cfg.groups.insert(
        "us-desk".into(),
        Group {
            role: Role::International,
            members: vec!["500".into()],
            allowed_countries: Some(us),
        },
    );
    let p = CallPolicy::new(cfg);
    let now = tuesday();
    let check =
        |ext: &str, d: &str| rule_of(&p.check_static(now, &attempt("x", ext, &classify(d))));
    assert_eq!(check("100", FRANCE), None);
    assert_eq!(check("100", USA), Some(Rule::Country));
    assert_eq!(
        check("100", NATIONAL),
        None,
        "national calls are not subject to the country list"
    );
    assert_eq!(check("500", USA), None);
    assert_eq!(check("500", FRANCE), Some(Rule::Country));
}

#[test]
fn denied_prefixes_types_and_risk() {
    let mut cfg = PolicyConfig {
        velocity: no_velocity(),
        ..PolicyConfig::default()
    };
    cfg.denied_prefixes = vec!["+3361".into(), "118".into()];
    cfg.max_risk = Some(RiskLevel::Medium);
    let p = CallPolicy::new(cfg);
    let now = tuesday();
    let check = |d: &str| rule_of(&p.check_static(now, &attempt("x", "100", &classify(d))));
    assert_eq!(check("9 00 33 6 12 34 56 78"), Some(Rule::DeniedPrefix));
    assert_eq!(check("9118118"), Some(Rule::DeniedPrefix));
    assert_eq!(check(PREMIUM), Some(Rule::NumberType));
    assert_eq!(check(SATELLITE), Some(Rule::NumberType));
    assert_eq!(check(CUBA), Some(Rule::Risk));
    assert_eq!(check(FRANCE), None);
    // With premium rate allowed again, the type no longer fires.
    let mut cfg = PolicyConfig {
        velocity: no_velocity(),
        ..PolicyConfig::default()
    };
    cfg.denied_types.remove(&NumberType::PremiumRate);
    let p = CallPolicy::new(cfg);
    assert_eq!(
        rule_of(&p.check_static(now, &attempt("x", "100", &classify(PREMIUM)))),
        None
    );
}

#[test]
fn office_hours_follow_the_route_time_zone() {
    let mut cfg = PolicyConfig {
        velocity: no_velocity(),
        ..PolicyConfig::default()
    };
    cfg.routes.push(Route {
        name: "intl".into(),
        scope: RouteScope::International,
        tz: chrono_tz::Europe::London,
        open: vec![HoursWindow::new(HoursWindow::WEEKDAYS, (8, 0), (18, 0))],
    });
    let p = CallPolicy::new(cfg);
    let fr = classify(FRANCE);
    let nat = classify(NATIONAL);
    let check = |now, c| rule_of(&p.check_static(now, &attempt("x", "100", c)));
    assert_eq!(check(tuesday(), &fr), None);
    assert_eq!(check(at(2026, 1, 13, 18, 0), &fr), Some(Rule::OfficeHours));
    assert_eq!(
        check(at(2026, 1, 17, 11, 0), &fr),
        Some(Rule::OfficeHours),
        "Saturday"
    );
    assert_eq!(
        check(at(2026, 1, 17, 11, 0), &nat),
        None,
        "national calls use no route"
    );
    // 07:30 UTC in July is 08:30 in London (BST): open. 17:30 UTC is 18:30 BST: closed.
    assert_eq!(check(at(2026, 7, 14, 7, 30), &fr), None);
    assert_eq!(check(at(2026, 7, 14, 17, 30), &fr), Some(Rule::OfficeHours));
}

#[test]
fn night_window_wraps_past_midnight() {
    let w = HoursWindow::new(HoursWindow::WEEKDAYS, (22, 0), (6, 0));
    let route = Route {
        name: "night".into(),
        scope: RouteScope::AllExternal,
        tz: chrono_tz::UTC,
        open: vec![w],
    };
    assert!(route.is_open(at(2026, 1, 13, 23, 0)), "Tuesday 23:00");
    assert!(
        route.is_open(at(2026, 1, 14, 3, 0)),
        "Wednesday 03:00, from Tuesday"
    );
    assert!(!route.is_open(at(2026, 1, 13, 12, 0)));
    assert!(
        route.is_open(at(2026, 1, 17, 3, 0)),
        "Saturday 03:00 belongs to Friday night"
    );
    assert!(
        !route.is_open(at(2026, 1, 18, 3, 0)),
        "Sunday 03:00 belongs to Saturday"
    );
}

#[test]
fn third_call_on_a_trunk_capped_at_two_is_refused() {
    let mut cfg = PolicyConfig {
        velocity: no_velocity(),
        ..PolicyConfig::default()
    };
    cfg.trunk_caps.insert("carrier".into(), 2);
    let mut p = CallPolicy::new(cfg);
    let c = classify(NATIONAL);
    let now = tuesday();
    assert_eq!(
        p.handle_attempt(now, &attempt("a", "100", &c)),
        Verdict::Allow
    );
    assert_eq!(
        p.handle_attempt(now, &attempt("b", "101", &c)),
        Verdict::Allow
    );
    // A retransmitted INVITE of call b is not a third call.
    assert_eq!(
        p.handle_attempt(now, &attempt("b", "101", &c)),
        Verdict::Allow
    );
    assert_eq!(p.active_on_trunk("carrier"), 2);
    let v = p.handle_attempt(now, &attempt("c", "102", &c));
    assert_eq!(rule_of(&v), Some(Rule::TrunkConcurrency));
    p.handle_call_end(now, "a");
    assert_eq!(
        p.handle_attempt(now, &attempt("c", "102", &c)),
        Verdict::Allow
    );
}

#[test]
fn lost_bye_frees_the_slot_after_the_timeout() {
    let mut cfg = PolicyConfig {
        velocity: no_velocity(),
        ..PolicyConfig::default()
    };
    cfg.extension_cap = Some(1);
    cfg.call_timeout_secs = 3600;
    let mut p = CallPolicy::new(cfg);
    let c = classify(NATIONAL);
    let t0 = tuesday();
    assert_eq!(
        p.handle_attempt(t0, &attempt("a", "100", &c)),
        Verdict::Allow
    );
    let v = p.handle_attempt(t0.plus_millis(1000), &attempt("b", "100", &c));
    assert_eq!(rule_of(&v), Some(Rule::ExtensionConcurrency));
    // A session refresh half-way keeps the call alive.
    p.handle_call_refresh(t0.plus_millis(1_800_000), "a");
    assert_eq!(p.poll_timeout(), Some(t0.plus_millis(5_400_000)));
    p.handle_timeout(t0.plus_millis(3_600_000));
    assert_eq!(p.active_from_extension("100"), 1);
    p.handle_timeout(t0.plus_millis(5_400_000));
    assert_eq!(p.active_from_extension("100"), 0);
    assert_eq!(p.poll_timeout(), None);
    assert_eq!(
        p.handle_attempt(t0.plus_millis(5_400_001), &attempt("b", "100", &c)),
        Verdict::Allow
    );
}

#[test]
fn intl_per_minute_rolls_instead_of_resetting() {
    let mut cfg = PolicyConfig::default();
    cfg.velocity = VelocityLimits {
        intl_per_minute: Some(3),
        ..no_velocity()
    };
    let mut p = CallPolicy::new(cfg);
    let c = classify(FRANCE);
    let t0 = tuesday();
    // Three calls at 0:50, 0:55, 0:59, then one at 1:01: a counter reset at the minute would let
    // it through; the rolling window does not.
    for (i, s) in [50, 55, 59].into_iter().enumerate() {
        let id = format!("c{i}");
        let v = p.handle_attempt(t0.plus_millis(s * 1000), &attempt(&id, "100", &c));
        assert_eq!(v, Verdict::Allow);
        p.handle_call_end(t0, &id);
    }
    let v = p.handle_attempt(t0.plus_millis(61_000), &attempt("c3", "100", &c));
    assert_eq!(rule_of(&v), Some(Rule::IntlPerMinute));
    // Another extension is not limited by the first one's count.
    assert_eq!(
        p.handle_attempt(t0.plus_millis(61_000), &attempt("c4", "101", &c)),
        Verdict::Allow
    );
    // A minute after the first burst, the extension may call again.
    let v = p.handle_attempt(t0.plus_millis(121_000), &attempt("c5", "100", &c));
    assert_eq!(v, Verdict::Allow);
}

#[test]
fn site_wide_limit_sees_calls_spread_over_extensions() {
    let mut cfg = PolicyConfig::default();
    cfg.velocity = VelocityLimits {
        intl_per_minute: Some(5),
        site_intl_per_minute: Some(4),
        ..no_velocity()
    };
    let mut p = CallPolicy::new(cfg);
    let c = classify(FRANCE);
    let t0 = tuesday();
    let verdicts: Vec<_> = (0..5)
        .map(|i| {
            let id = format!("c{i}");
            let ext = format!("10{i}");
            p.handle_attempt(t0.plus_millis(i * 1000), &attempt(&id, &ext, &c))
        })
        .collect();
    assert!(verdicts[..4].iter().all(|v| *v == Verdict::Allow));
    assert_eq!(rule_of(&verdicts[4]), Some(Rule::SiteIntlPerMinute));
}

#[test]
fn distinct_destinations_per_hour() {
    let mut cfg = PolicyConfig::default();
    cfg.velocity = VelocityLimits {
        distinct_per_hour: Some(3),
        ..no_velocity()
    };
    let mut p = CallPolicy::new(cfg);
    let t0 = tuesday();
    let numbers = [
        "9 0121 234 5678",
        "9 0121 234 5679",
        "9 0121 234 5670",
        "9 0121 234 5671",
    ];
    let mut last = Verdict::Allow;
    for (i, n) in numbers.iter().enumerate() {
        let c = classify(n);
        let id = format!("c{i}");
        last = p.handle_attempt(t0.plus_millis(i as i64 * 60_000), &attempt(&id, "100", &c));
        if i < 3 {
            assert_eq!(last, Verdict::Allow, "{n}");
        }
    }
    assert_eq!(rule_of(&last), Some(Rule::DistinctPerHour));
    // Calling one of the three again is not a new destination.
    let c = classify(numbers[0]);
    assert_eq!(
        p.handle_attempt(t0.plus_millis(300_000), &attempt("r", "100", &c)),
        Verdict::Allow
    );
}

#[test]
fn same_number_repeatedly_from_several_extensions() {
    let mut cfg = PolicyConfig::default();
    cfg.velocity = VelocityLimits {
        same_number: Some(3),
        same_number_window_secs: 600,
        ..no_velocity()
    };
    let mut p = CallPolicy::new(cfg);
    let c = classify(MOBILE);
    let t0 = tuesday();
    for i in 0..3 {
        let (id, ext) = (format!("c{i}"), format!("10{i}"));
        assert_eq!(
            p.handle_attempt(t0.plus_millis(i * 1000), &attempt(&id, &ext, &c)),
            Verdict::Allow
        );
    }
    let v = p.handle_attempt(t0.plus_millis(4000), &attempt("c9", "109", &c));
    assert_eq!(rule_of(&v), Some(Rule::SameNumber));
    assert!(v.violation().unwrap().detail.contains("+447400123456"));
    p.handle_timeout(t0.plus_millis(700_000));
    assert_eq!(
        p.handle_attempt(t0.plus_millis(700_000), &attempt("d", "109", &c)),
        Verdict::Allow
    );
}

/// A small deterministic generator for the property test (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Property: whatever the policy (the harshest settings included), whatever the counters, and
/// however the emergency number is dialled, the verdict is `AllowEmergency`.
#[test]
fn emergency_calls_are_never_blocked_under_any_policy() {
    let countries = ["US", "GB", "AU", "JP", "DE", "FR", "IN", "NZ", "ZA", "BR"];
    let prefixes = [
        "9", "0", "1", "11", "112", "911", "99", "+1", "+44", "+", "000", "*",
    ];
    let roles = [Role::InternalOnly, Role::National, Role::International];
    let classifier = Classifier::default();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for case in 0..400 {
        let name = *rng.pick(&countries);
        let country = Country::new(name).unwrap();
        let outside = *rng.pick(&[None, Some("9"), Some("0"), Some("8")]);
        let mut plan =
            DialPlan::new(country).with_extension_lengths(2 + rng.below(3), 3 + rng.below(4));
        if let Some(o) = outside {
            plan = plan.with_outside_line(o);
        }
        let mut cfg = PolicyConfig {
            default_role: *rng.pick(&roles),
            allowed_countries: Some(BTreeSet::new()),
            denied_prefixes: (0..rng.below(6))
                .map(|_| rng.pick(&prefixes).to_string())
                .collect(),
            denied_types: NumberType::ALL.iter().copied().collect(),
            max_risk: Some(RiskLevel::Low),
            default_trunk_cap: Some(rng.below(2) as u32),
            extension_cap: Some(0),
            velocity: VelocityLimits {
                intl_per_minute: Some(0),
                site_intl_per_minute: Some(0),
                distinct_per_hour: Some(0),
                same_number: Some(0),
                same_number_window_secs: 3600,
            },
            ..PolicyConfig::default()
        };
        cfg.routes.push(Route {
            name: "never-open".into(),
            scope: RouteScope::AllExternal,
            tz: chrono_tz::UTC,
            open: Vec::new(),
        });
        let mut policy = CallPolicy::new(cfg);
        let universal = pbxguard_numbers::emergency::UNIVERSAL;
        let national = pbxguard_numbers::emergency::numbers_for(country);
        let all: Vec<&str> = universal.iter().chain(national).copied().collect();
        let number = *rng.pick(&all);
        let spacer = *rng.pick(&["", " ", "-"]);
        let dialled = match (outside, rng.below(2)) {
            (Some(o), 1) => format!("{o}{spacer}{number}"),
            _ => number.to_owned(),
        };
        let c = classifier.classify(&plan, &dialled);
        let now = Timestamp::from_unix_secs(1_700_000_000 + rng.below(10_000_000) as i64);
        for i in 0..3 {
            let id = format!("{case}-{i}");
            let a = CallAttempt {
                call_id: &id,
                extension: Some("100"),
                trunk: Some("t"),
                destination: &c,
            };
            assert_eq!(
                policy.handle_attempt(now, &a),
                Verdict::AllowEmergency,
                "{country} outside {outside:?} dialled {dialled:?}: {c:?}"
            );
        }
    }
}

#[test]
fn retransmitted_refused_invite_is_not_counted_again() {
    let mut cfg = PolicyConfig::default();
    cfg.velocity = VelocityLimits {
        same_number: Some(2),
        same_number_window_secs: 600,
        ..no_velocity()
    };
    let mut p = CallPolicy::new(cfg);
    let prem = classify(PREMIUM);
    let mob = classify(MOBILE);
    let t0 = tuesday();
    // A refused premium call retransmitted five times: same answer, one attempt counted.
    for i in 0..5 {
        let v = p.handle_attempt(t0.plus_millis(i * 500), &attempt("p", "100", &prem));
        assert_eq!(rule_of(&v), Some(Rule::NumberType));
    }
    // Two calls to the mobile are within the same-number limit of 2 ...
    assert_eq!(
        p.handle_attempt(t0, &attempt("m1", "100", &mob)),
        Verdict::Allow
    );
    let v = p.handle_attempt(t0, &attempt("m2", "100", &mob));
    assert_eq!(v, Verdict::Allow);
    // ... the third is refused, and its retransmissions do not push the count further: after the
    // window, one new call is allowed again.
    let v = p.handle_attempt(t0, &attempt("m3", "100", &mob));
    assert_eq!(rule_of(&v), Some(Rule::SameNumber));
    for i in 1..4 {
        let v = p.handle_attempt(t0.plus_millis(i * 500), &attempt("m3", "100", &mob));
        assert_eq!(rule_of(&v), Some(Rule::SameNumber));
    }
    // 100 ms after the first three left the window; counted retransmissions (at +0.5 s to +1.5 s)
    // would still be inside it.
    let later = t0.plus_millis(600_100);
    assert_eq!(
        p.handle_attempt(later, &attempt("m4", "100", &mob)),
        Verdict::Allow
    );
}

/// Short codes billed at premium rates, dialled through an outside line `9` in their country.
const PREMIUM_SHORT_CODES: &[(&str, &str)] = &[
    ("GB", "9 118 118"),
    ("DE", "9 11880"),
    ("FR", "9 118 712"),
    ("IE", "9 11811"),
    ("ES", "9 11822"),
    ("AT", "9 118 877"),
    ("IT", "9 1254"),
    ("NL", "9 1888"),
    ("BE", "9 1207"),
    ("CH", "9 1811"),
    ("SE", "9 118 118"),
    ("NO", "9 1881"),
    ("DK", "9 118"),
    ("FI", "9 118"),
    ("PL", "9 118 913"),
];

fn plan_of(cc: &str) -> DialPlan {
    DialPlan::new(Country::new(cc).unwrap()).with_outside_line("9")
}

#[test]
fn premium_short_codes_are_high_risk_and_refused_by_the_default_policy() {
    let classifier = Classifier::default();
    let p = CallPolicy::new(PolicyConfig::default());
    for (cc, dialled) in PREMIUM_SHORT_CODES {
        let c = classifier.classify(&plan_of(cc), dialled);
        assert_eq!(c.dialled.kind(), "short-code", "{cc} {dialled}");
        assert_eq!(c.risk(), RiskLevel::High, "{cc} {dialled}");
        let v = p.check_static(tuesday(), &attempt("s", "100", &c));
        let violation = v.violation().unwrap_or_else(|| panic!("{cc} {dialled}"));
        assert_eq!(violation.rule, Rule::NumberType, "{cc} {dialled}");
        assert!(
            violation.detail.contains(&format!("risk table {cc}:")),
            "{}",
            violation.detail
        );
    }
}

#[test]
fn short_codes_are_read_in_the_dial_plans_country_only() {
    let classifier = Classifier::default();
    // 1888 is directory enquiries in the Netherlands, nothing listed in France.
    let c = classifier.classify(&plan_of("FR"), "9 1888");
    assert_eq!(c.dialled.kind(), "short-code");
    assert_eq!(c.risk(), RiskLevel::Low);
    assert!(
        CallPolicy::new(PolicyConfig::default())
            .check_static(tuesday(), &attempt("s", "100", &c))
            .is_allowed()
    );
}

#[test]
fn a_medium_short_code_is_refused_only_above_max_risk() {
    let classifier = Classifier::default();
    let c = classifier.classify(&plan_of("US"), "9 411");
    assert_eq!(c.risk(), RiskLevel::Medium);
    let mut cfg = PolicyConfig::default();
    assert!(
        CallPolicy::new(cfg.clone())
            .check_static(tuesday(), &attempt("s", "100", &c))
            .is_allowed()
    );
    cfg.max_risk = Some(RiskLevel::Low);
    let v = CallPolicy::new(cfg).check_static(tuesday(), &attempt("s", "100", &c));
    assert_eq!(v.violation().map(|v| v.rule), Some(Rule::Risk));
}

#[test]
fn emergency_numbers_that_look_like_listed_short_codes_are_still_emergency_calls() {
    let classifier = Classifier::default();
    let mut cfg = PolicyConfig::default();
    cfg.max_risk = Some(RiskLevel::Low);
    cfg.default_role = Role::InternalOnly;
    let p = CallPolicy::new(cfg);
    // Italy's 118 (medical) and Switzerland's 118 (fire) sit beside the 12xy and 18xx directories.
    for (cc, dialled) in [
        ("IT", "9 118"),
        ("CH", "118"),
        ("FR", "9 18"),
        ("NL", "112"),
    ] {
        let c = classifier.classify(&plan_of(cc), dialled);
        assert_eq!(
            p.check_static(tuesday(), &attempt("e", "100", &c)),
            Verdict::AllowEmergency,
            "{cc} {dialled}"
        );
    }
}
