//! `pbxguard classify` and `pbxguard cdr` from the outside.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use assert_cmd::cargo::cargo_bin;
use pbxguard_cdr::generate::{GeneratorConfig, Pattern, generate};
use predicates::prelude::*;

fn pbxguard() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(cargo_bin("pbxguard"));
    c.env_remove("PBXGUARD_CONFIG").env_remove("PBXGUARD_LOG");
    c
}

const POLICY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/policy.toml");

#[test]
fn classify_prints_country_type_risk_and_verdict() {
    pbxguard()
        .args([
            "classify",
            "--country",
            "GB",
            "--outside-line",
            "9",
            "9 0901 234 5678",
            "999",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("+449012345678 GB premium-rate"))
        .stdout(predicate::str::contains("REFUSED by number-type"))
        .stdout(predicate::str::contains("emergency number 999"));
}

#[test]
fn classify_json_with_policy_file() {
    let out = pbxguard()
        .args([
            "--json",
            "classify",
            "--policy",
            POLICY,
            "--extension",
            "300",
        ])
        .args(["9 00 33 1 23 45 67 89", "9 0121 234 5678", "9 999"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v[0]["e164"], "+33123456789");
    assert_eq!(v[0]["country"], "FR");
    assert_eq!(
        v[0]["policy"]["rule"], "role",
        "300 has the default national role"
    );
    assert_eq!(v[1]["policy"]["allowed"], true);
    assert_eq!(v[2]["kind"], "emergency");
    assert_eq!(v[2]["policy"]["emergency"], true);
}

#[test]
fn classify_reports_every_policy_file_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        "country = \"GB\"\nmax_risk = \"extreme\"\ndenied_types = [\"gold\"]\n",
    )
    .unwrap();
    pbxguard()
        .args(["classify", "--policy"])
        .arg(&file)
        .arg("123")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`max_risk`"))
        .stderr(predicate::str::contains("`denied_types`"))
        .stderr(predicate::str::contains("the policy file has 2 mistakes"));
}

#[test]
fn cdr_clean_month_exits_0_with_a_daily_summary() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Master.csv");
    std::fs::write(&file, generate(&GeneratorConfig::default()).csv).unwrap();
    pbxguard()
        .args([
            "cdr",
            "--country",
            "GB",
            "--outside-line",
            "9",
            "--timezone",
            "Europe/London",
        ])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("Daily summary"))
        .stdout(predicate::str::contains("2026-04-30"))
        .stdout(predicate::str::contains(
            "0 suspicious calls, 0 malformed rows skipped",
        ));
}

#[test]
fn cdr_with_fraud_exits_1_and_names_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Master.csv");
    let g = generate(&GeneratorConfig {
        inject: Pattern::ALL.to_vec(),
        ..GeneratorConfig::default()
    });
    let mut csv = g.csv;
    csv.push_str("\"broken\n");
    std::fs::write(&file, csv).unwrap();
    let out = pbxguard()
        .args([
            "--json",
            "cdr",
            "--policy",
            POLICY,
            "--timezone",
            "Europe/London",
        ])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("quoted field not closed"))
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rules: std::collections::BTreeSet<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    for rule in [
        "after-hours-burst",
        "wangiri-callback",
        "short-calls",
        "same-number",
    ] {
        assert!(rules.contains(rule), "{rule} missing from {rules:?}");
    }
    assert_eq!(v["malformed"].as_array().unwrap().len(), 1);
    assert_eq!(v["days"].as_array().unwrap().len(), 30);
}

#[test]
fn cdr_generic_format_needs_a_map() {
    pbxguard()
        .args(["cdr", "--format", "generic", "x.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--format generic needs --map"));
}
