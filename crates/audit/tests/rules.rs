//! One triggering and one fixed fixture per rule: the triggering one must produce exactly the listed
//! findings of that rule, at exactly these lines; the fixed one none of that rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use pbxguard_audit::{Options, rules};

/// Rule id → `path:line` of every finding its triggering fixture must produce.
const CASES: &[(&str, &[&str])] = &[
    ("sip-allowguest", &["explicit/sip.conf:3", "sip.conf:2"]),
    ("sip-alwaysauthreject-off", &["sip.conf:3"]),
    ("sip-autocreatepeer", &["sip.conf:3"]),
    ("sip-insecure-invite", &["sip.conf:7"]),
    (
        "endpoint-no-acl",
        &[
            "iax.conf:4",
            "pjsip.conf:6",
            "sip.conf:4",
            "sip_additional.conf:2",
        ],
    ),
    (
        "weak-secret",
        &["manager.conf:6", "pjsip.conf:13", "sip.conf:7"],
    ),
    (
        "weak-pin",
        &["extensions.conf:2", "voicemail.conf:6", "voicemail.conf:7"],
    ),
    ("pjsip-no-auth", &["pjsip.conf:6"]),
    ("pjsip-anonymous", &["pjsip.conf:6"]),
    ("iax-guest", &["iax.conf:4"]),
    (
        "dialplan-open-pattern",
        &["extensions.conf:5", "extensions.conf:8"],
    ),
    ("dialplan-unfiltered-exten", &["extensions.conf:2"]),
    ("disa-no-password", &["extensions.conf:3"]),
    (
        "voicemail-callout",
        &["voicemail.conf:3", "voicemail.conf:4", "voicemail.conf:7"],
    ),
    ("ami-exposed-originate", &["manager.conf:9"]),
    ("fs-default-password", &["vars.xml:3"]),
    (
        "fs-esl-default-password",
        &["autoload_configs/event_socket.conf.xml:6"],
    ),
    (
        "fs-esl-no-acl",
        &["autoload_configs/event_socket.conf.xml:3"],
    ),
    ("fs-auth-calls-off", &["sip_profiles/external.xml:8"]),
    (
        "fs-accept-blind",
        &["sip_profiles/internal.xml:5", "sip_profiles/internal.xml:6"],
    ),
    ("fs-acl-default-allow", &["autoload_configs/acl.conf.xml:3"]),
    (
        "fs-toll-allow-international",
        &["directory/default/1001.xml:8"],
    ),
    ("kamailio-no-auth", &["kamailio.cfg:7"]),
    ("kamailio-no-antiflood", &["kamailio.cfg:16"]),
    (
        "fw-exposed-service",
        &["rules.v4:10", "rules.v4:11", "rules.v4:8", "rules.v4:9"],
    ),
    ("fw-sip-unlimited", &["ruleset.nft:6"]),
    ("fw-established-before-ban", &["ruleset.json:1"]),
    ("fw-no-default-drop", &["rules.v4:2"]),
];

/// The firewall rules again, for the formats read beside `iptables-save` and nft: rule id, the fixture
/// directory under the rule's (holding `bad/` and `good/`), and `path:line` of every finding its `bad/`
/// must produce.
/// The firewall formats besides `iptables-save` and nft that every `fw-` rule has fixtures for.
const FORMATS: &[&str] = &["firewalld", "ufw"];

const FORMAT_CASES: &[(&str, &str, &[&str])] = &[
    (
        "fw-exposed-service",
        "firewalld",
        &[
            "policies/admin-in.xml:7",
            "zones/public.xml:14",
            "zones/public.xml:5",
            "zones/public.xml:7",
            "zones/public.xml:8",
            "zones/public.xml:9",
        ],
    ),
    (
        "fw-sip-unlimited",
        "firewalld",
        &[
            "zones/public.xml:5",
            "zones/public.xml:6",
            "zones/public.xml:8",
        ],
    ),
    (
        "fw-established-before-ban",
        "firewalld",
        &["zones/drop.xml:5", "zones/public.xml:6"],
    ),
    (
        "fw-no-default-drop",
        "firewalld",
        &["builtin/firewalld.conf:6", "custom/zones/pbx.xml:2"],
    ),
    (
        "fw-exposed-service",
        "ufw",
        &[
            "etc/ufw/user.rules:21",
            "etc/ufw/user.rules:24",
            "etc/ufw/user.rules:29",
        ],
    ),
    (
        "fw-sip-unlimited",
        "ufw",
        &["etc/ufw/user.rules:21", "etc/ufw/user.rules:24"],
    ),
    (
        "fw-established-before-ban",
        "ufw",
        &["etc/ufw/before.rules:25"],
    ),
    (
        "fw-no-default-drop",
        "ufw",
        &["disabled/etc/ufw/ufw.conf:6", "policy/etc/default/ufw:11"],
    ),
];

fn found(rule: &str, variant: &str) -> (Vec<String>, String) {
    let dir = common::fixtures().join("rules").join(rule).join(variant);
    assert!(dir.is_dir(), "missing fixture {}", dir.display());
    let report = common::audit_dir(&dir, &Options::default());
    assert!(
        report.unread.is_empty(),
        "{rule}/{variant} has unreadable parts:\n{}",
        common::dump(&report)
    );
    let mut hits: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.rule.id == rule)
        .map(|f| report.where_(f))
        .collect();
    hits.sort();
    (hits, common::dump(&report))
}

#[test]
fn every_rule_has_a_case() {
    for r in rules::ALL {
        assert!(
            CASES.iter().any(|(id, _)| *id == r.id),
            "rule {} has no fixture case",
            r.id
        );
    }
}

#[test]
fn triggering_fixtures_fire_at_the_exact_lines() {
    for (rule, expected) in CASES {
        let (hits, dump) = found(rule, "bad");
        let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        assert_eq!(hits, want, "rule {rule}: all findings were:\n{dump}");
    }
}

#[test]
fn fixed_fixtures_do_not_fire() {
    for (rule, _) in CASES {
        let (hits, dump) = found(rule, "good");
        assert!(
            hits.is_empty(),
            "rule {rule} still fires on the fixed fixture:\n{dump}"
        );
    }
}

#[test]
fn every_firewall_rule_has_a_case_per_format() {
    for r in rules::ALL.iter().filter(|r| r.id.starts_with("fw-")) {
        for format in FORMATS {
            assert!(
                FORMAT_CASES
                    .iter()
                    .any(|(id, f, _)| *id == r.id && f == format),
                "rule {} has no {format} fixture case",
                r.id
            );
        }
    }
}

#[test]
fn triggering_fixtures_of_other_formats_fire_at_the_exact_lines() {
    for (rule, format, expected) in FORMAT_CASES {
        let (hits, dump) = found(rule, &format!("{format}/bad"));
        let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        assert_eq!(
            hits, want,
            "rule {rule} ({format}): all findings were:\n{dump}"
        );
    }
}

#[test]
fn fixed_fixtures_of_other_formats_do_not_fire() {
    for (rule, format, _) in FORMAT_CASES {
        let (hits, dump) = found(rule, &format!("{format}/good"));
        assert!(
            hits.is_empty(),
            "rule {rule} ({format}) still fires on the fixed fixture:\n{dump}"
        );
    }
}
