//! Output formats and suppressions: JSON and SARIF are valid and carry every field, the table groups by
//! file, the severity filter applies everywhere, and suppressions need a reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use pbxguard_audit::{
    NoIncludes, Options, Report, Severity, SourceFile, SuppressedBy, Suppression, audit, output,
};
use serde_json::Value;

const SIP: &str = "\
; pbxguard-audit: ignore sip-allowguest lab PBX, only reachable over the VPN
[general]
alwaysauthreject=no

[101]
type=friend
host=dynamic
secret=101 ; pbxguard-audit: ignore weak-secret
deny=0.0.0.0/0.0.0.0
permit=10.0.0.0/255.0.0.0
";

const VARS: &str = "<include>\n  <!-- pbxguard-audit: ignore fs-default-password replaced at deploy time by the installer -->\n  <X-PRE-PROCESS cmd=\"set\" data=\"default_password=1234\"/>\n</include>\n";

fn report(options: &Options) -> Report {
    let files = vec![
        SourceFile::new("etc/asterisk/sip.conf", SIP),
        SourceFile::new("etc/freeswitch/vars.xml", VARS),
        SourceFile::new(
            "fw/rules.v4",
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        ),
    ];
    audit(files, &mut NoIncludes, options)
}

#[test]
fn inline_suppressions_apply_to_their_line_and_the_next_and_need_a_reason() {
    let r = report(&Options::default());
    let by_rule = |id: &str| r.findings.iter().find(|f| f.rule.id == id).unwrap();
    let guest = by_rule("sip-allowguest");
    assert_eq!(r.where_(guest), "etc/asterisk/sip.conf:2");
    match &guest.suppressed {
        Some(SuppressedBy::Inline { at, reason }) => {
            assert_eq!(at.line, 1);
            assert_eq!(reason, "lab PBX, only reachable over the VPN");
        }
        other => panic!("not suppressed inline: {other:?}"),
    }
    let fs = by_rule("fs-default-password");
    assert_eq!(
        fs.suppressed.as_ref().map(SuppressedBy::reason),
        Some("replaced at deploy time by the installer")
    );
    // No reason: not applied, and reported where it is written.
    assert!(by_rule("weak-secret").suppressed.is_none());
    assert!(
        r.unread
            .iter()
            .any(|u| r.path(u.loc.file) == "etc/asterisk/sip.conf"
                && u.loc.line == 8
                && u.reason.contains("no reason"))
    );
    assert!(by_rule("sip-alwaysauthreject-off").suppressed.is_none());
}

#[test]
fn configured_suppressions_match_rule_path_and_line() {
    let options = Options {
        suppressions: vec![
            Suppression::parse("fw-exposed-service@rules.v4:3 SSH is key-only and port-knocked")
                .unwrap(),
            Suppression::parse(
                "fw-no-default-drop@fw/*.v4 ruleset is appended to the distribution default",
            )
            .unwrap(),
            Suppression::parse("sip-alwaysauthreject-off@sip.conf:99 wrong line, must not match")
                .unwrap(),
        ],
        ..Options::default()
    };
    let r = report(&options);
    let state = |id: &str| {
        r.findings
            .iter()
            .find(|f| f.rule.id == id)
            .unwrap()
            .suppressed
            .clone()
    };
    assert!(matches!(
        state("fw-exposed-service"),
        Some(SuppressedBy::Config { index: 0, .. })
    ));
    assert!(matches!(
        state("fw-no-default-drop"),
        Some(SuppressedBy::Config { index: 1, .. })
    ));
    assert_eq!(state("sip-alwaysauthreject-off"), None);
}

#[test]
fn severity_filter_and_exit_decision() {
    let r = report(&Options::default());
    // Active (unsuppressed): alwaysauthreject (medium), weak-secret (high), fw-exposed (high), fw-no-drop (high).
    assert!(r.fails(Severity::High));
    assert!(!r.fails(Severity::Critical));
    assert_eq!(r.active(Severity::Medium).count(), 4);
    assert_eq!(r.active(Severity::High).count(), 3);
    let table = output::table(&r, Severity::High);
    assert!(!table.contains("sip-alwaysauthreject-off"), "{table}");
    assert!(table.contains("weak-secret"), "{table}");
}

#[test]
fn table_groups_by_file_with_fixes() {
    let r = report(&Options::default());
    let t = output::table(&r, Severity::Info);
    let sip = t.find("etc/asterisk/sip.conf\n").unwrap();
    let fw = t.find("fw/rules.v4\n").unwrap();
    assert!(sip < fw, "{t}");
    assert!(t.contains("fix: Set alwaysauthreject=yes"), "{t}");
    assert!(t.contains("not read\n  etc/asterisk/sip.conf:8"), "{t}");
    assert!(
        t.contains("4 finding(s) in 2 file(s): 3 high, 1 medium; 2 suppressed"),
        "{t}"
    );
}

#[test]
fn json_is_valid_and_grouped_by_file() {
    let r = report(&Options::default());
    let v: Value = serde_json::from_str(&output::json(&r, Severity::Info)).unwrap();
    let files = v["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "etc/asterisk/sip.conf",
            "etc/freeswitch/vars.xml",
            "fw/rules.v4"
        ]
    );
    let first = &files[0]["findings"][0];
    assert_eq!(first["rule"], "sip-allowguest");
    assert_eq!(first["line"], 2);
    assert_eq!(first["suppressed"]["kind"], "inline");
    assert_eq!(
        first["suppressed"]["reason"],
        "lab PBX, only reachable over the VPN"
    );
    for f in files.iter().flat_map(|f| f["findings"].as_array().unwrap()) {
        for key in ["rule", "severity", "message", "title", "why", "fix"] {
            assert!(
                f[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key} missing in {f}"
            );
        }
    }
    assert_eq!(v["summary"]["findings"], 4);
    assert_eq!(v["summary"]["suppressed"], 2);
    assert_eq!(v["unread"][0]["line"], 8);
    let high: Value = serde_json::from_str(&output::json(&r, Severity::High)).unwrap();
    assert_eq!(high["summary"]["findings"], 3);
}

#[test]
fn sarif_has_the_2_1_0_structure() {
    let r = report(&Options::default());
    let v: Value = serde_json::from_str(&output::sarif(&r, Severity::Info)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), pbxguard_audit::rules::ALL.len());
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut dedup = ids.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), ids.len(), "rule ids must be unique");
    for rule in rules {
        assert!(rule["shortDescription"]["text"].is_string());
        assert!(rule["fullDescription"]["text"].is_string());
        assert!(rule["help"]["text"].is_string());
        assert!(
            ["error", "warning", "note"]
                .contains(&rule["defaultConfiguration"]["level"].as_str().unwrap())
        );
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), r.findings.len());
    for res in results {
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], res["ruleId"]);
        assert!(["error", "warning", "note"].contains(&res["level"].as_str().unwrap()));
        assert!(
            res["message"]["text"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        let loc = &res["locations"][0]["physicalLocation"];
        assert!(
            loc["artifactLocation"]["uri"]
                .as_str()
                .is_some_and(|s| !s.starts_with('/'))
        );
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    let suppressed: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 2);
    assert_eq!(suppressed[0]["suppressions"][0]["kind"], "inSource");
    let notes = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert_eq!(
        notes[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        8
    );
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
}

/// Validates `sarif` against the OASIS SARIF 2.1.0 schema with Python's `jsonschema`; `false` when
/// that is not installed and skipping is allowed (never under `CI=true`).
fn valid_sarif(name: &str, sarif: &str) -> bool {
    let check = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !check {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "test `{name}` needs python3 with jsonschema (apt python3-jsonschema), and CI=true forbids skipping it"
        );
        eprintln!("\n*** SKIPPED test `{name}`: python3 jsonschema is not installed. ***\n");
        return false;
    }
    let dir = std::env::temp_dir().join(format!("pbxguard-sarif-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("report.sarif");
    std::fs::write(&file, sarif).unwrap();
    let schema = common::fixtures().join("sarif/sarif-schema-2.1.0.json");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[2]))\n\
             jsonschema.Draft4Validator.check_schema(schema)\n\
             errors = list(jsonschema.Draft4Validator(schema).iter_errors(json.load(open(sys.argv[1]))))\n\
             for e in errors[:20]: print('/'.join(map(str, e.absolute_path)), e.message)\n\
             sys.exit(1 if errors else 0)",
        ])
        .arg(&file)
        .arg(&schema)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{name}: SARIF does not validate against the 2.1.0 schema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn sarif_validates_against_the_oasis_2_1_0_schema() {
    // Suppressions, an unread-line notification and relative paths.
    let r = report(&Options::default());
    if !valid_sarif("suppressed", &output::sarif(&r, Severity::Info)) {
        return;
    }
    // Every rule's fixtures: findings of all rules, absolute file URIs, columns in JSON rulesets.
    let files = pbxguard_audit::fs::collect(&[common::fixtures().join("rules")]).0;
    let r = audit(files, &mut NoIncludes, &Options::default());
    let mut fired: Vec<&str> = r.findings.iter().map(|f| f.rule.id).collect();
    fired.sort_unstable();
    fired.dedup();
    assert_eq!(fired.len(), pbxguard_audit::rules::ALL.len(), "{fired:?}");
    valid_sarif("all-rules", &output::sarif(&r, Severity::Info));
    // An empty report.
    let r = audit(Vec::new(), &mut NoIncludes, &Options::default());
    valid_sarif("empty", &output::sarif(&r, Severity::Info));
}

#[test]
fn sarif_uses_file_uris_for_absolute_paths_and_columns_for_json_rulesets() {
    let dir = common::fixtures().join("rules/fw-established-before-ban/bad");
    let files = pbxguard_audit::fs::collect(&[dir]).0;
    let r = audit(files, &mut NoIncludes, &Options::default());
    let v: Value = serde_json::from_str(&output::sarif(&r, Severity::Info)).unwrap();
    let res = &v["runs"][0]["results"][0];
    let uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        uri.starts_with("file:///") && uri.ends_with("ruleset.json"),
        "{uri}"
    );
    let region = &res["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 1);
    let text = std::fs::read_to_string(
        common::fixtures().join("rules/fw-established-before-ban/bad/ruleset.json"),
    )
    .unwrap();
    let col = text.find("{\"rule\"").unwrap() as u64 + 1;
    assert_eq!(region["startColumn"], col);
}

#[test]
fn sarif_and_json_point_at_the_zone_element_and_the_ufw_rule() {
    // firewalld: the findings sit in the zone file at the element; ufw: at the user.rules line.
    let files = pbxguard_audit::fs::collect(&[
        common::fixtures().join("samples/firewalld"),
        common::fixtures().join("samples/ufw"),
    ])
    .0;
    let r = audit(files, &mut NoIncludes, &Options::default());
    let v: Value = serde_json::from_str(&output::sarif(&r, Severity::Info)).unwrap();
    let places: Vec<(String, String, u64)> = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|res| {
            let loc = &res["locations"][0]["physicalLocation"];
            let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
            let tail = uri.rsplit("samples/").next().unwrap().to_owned();
            (
                res["ruleId"].as_str().unwrap().to_owned(),
                tail,
                loc["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    for want in [
        (
            "fw-established-before-ban",
            "firewalld/etc/firewalld/zones/drop.xml",
            5,
        ),
        (
            "fw-exposed-service",
            "firewalld/etc/firewalld/zones/public.xml",
            11,
        ),
        ("fw-sip-unlimited", "ufw/etc/ufw/user6.rules", 27),
    ] {
        assert!(
            places
                .iter()
                .any(|(id, p, l)| id == want.0 && p == want.1 && *l == want.2),
            "{want:?} not in {places:?}"
        );
    }
    let j: Value = serde_json::from_str(&output::json(&r, Severity::Info)).unwrap();
    let json_places: Vec<(String, u64)> = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            let path = f["path"].as_str().unwrap().to_owned();
            f["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |x| (path.clone(), x["line"].as_u64().unwrap()))
        })
        .collect();
    for (tail, line) in [
        ("firewalld/etc/firewalld/zones/public.xml", 9),
        ("ufw/etc/ufw/user.rules", 21),
    ] {
        assert!(
            json_places
                .iter()
                .any(|(p, l)| p.ends_with(tail) && *l == line),
            "{tail}:{line} not in {json_places:?}"
        );
    }
}
