//! `pbxguard audit`: output formats, the severity filter and its exit code, configured suppressions.

use assert_cmd::cargo::cargo_bin;
use predicates::prelude::*;

fn pbxguard() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(cargo_bin("pbxguard"));
    c.env_remove("PBXGUARD_CONFIG").env_remove("PBXGUARD_LOG");
    c
}

fn sample(name: &str) -> String {
    format!(
        "{}/../audit/tests/fixtures/samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn rule_fixture(rule: &str, variant: &str) -> String {
    format!(
        "{}/../audit/tests/fixtures/rules/{rule}/{variant}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn findings_at_or_above_the_threshold_exit_1_with_file_and_line() {
    pbxguard()
        .args(["audit", &sample("kamailio")])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("kamailio.cfg\n"))
        .stdout(predicate::str::contains("87  high      kamailio-no-auth"))
        .stdout(predicate::str::contains("fix: Add #!define WITH_AUTH"));
}

#[test]
fn findings_below_the_threshold_exit_0() {
    // The Kamailio sample's worst finding is high.
    pbxguard()
        .args(["audit", "--min-severity", "critical", &sample("kamailio")])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 finding(s)"));
}

#[test]
fn a_clean_configuration_exits_0() {
    pbxguard()
        .args(["audit", &rule_fixture("sip-allowguest", "good")])
        .assert()
        .success();
}

#[test]
fn json_and_sarif_are_json() {
    let out = pbxguard()
        .args(["audit", "--json", &sample("firewall")])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["summary"]["findings"], 9);
    let out = pbxguard()
        .args(["audit", "--sarif", &sample("firewall")])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(v["runs"][0]["results"].as_array().map(Vec::len), Some(9));
    pbxguard()
        .args(["audit", "--json", "--sarif", &sample("firewall")])
        .assert()
        .code(2);
}

#[test]
fn suppressions_from_the_configuration_file_need_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pbxguard.toml");
    std::fs::write(
        &cfg,
        "[audit]\nsuppress = [\"kamailio-no-auth@kamailio.cfg auth happens on the SBC in front\", \"kamailio-no-antiflood@kamailio.cfg:92 the SBC rate-limits\"]\n",
    )
    .unwrap();
    pbxguard()
        .args([
            "--config",
            &cfg.display().to_string(),
            "audit",
            &sample("kamailio"),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 suppressed"));
    std::fs::write(&cfg, "[audit]\nsuppress = [\"kamailio-no-auth\"]\n").unwrap();
    pbxguard()
        .args([
            "--config",
            &cfg.display().to_string(),
            "audit",
            &sample("kamailio"),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`audit.suppress` entry 1: suppression of `kamailio-no-auth` has no reason",
        ));
}

#[test]
fn command_line_suppressions_and_missing_paths() {
    pbxguard()
        .args([
            "audit",
            "--suppress",
            "kamailio-no-auth lab",
            "--suppress",
            "kamailio-no-antiflood lab",
            &sample("kamailio"),
        ])
        .assert()
        .success();
    pbxguard()
        .args(["audit", "/no/such/dir"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such file"));
}

#[test]
fn the_rule_catalog_is_listed() {
    pbxguard()
        .args(["audit", "--list-rules"])
        .assert()
        .success()
        .stdout(predicate::str::contains("sip-allowguest"))
        .stdout(predicate::str::contains("fw-established-before-ban"));
    let out = pbxguard()
        .args(["--json", "audit", "--list-rules"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(v.as_array().unwrap().len() >= 26);
    pbxguard().args(["audit"]).assert().code(2);
}

#[test]
fn include_dirs_are_searched_after_the_including_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::create_dir_all(&shared).unwrap();
    let sip = conf.join("sip.conf");
    std::fs::write(&sip, "[general]\nallowguest=no\n#include \"peers.conf\"\n").unwrap();
    std::fs::write(
        shared.join("peers.conf"),
        "[9001]\ntype=friend\nhost=dynamic\nsecret=9001\n",
    )
    .unwrap();
    let sip = sip.display().to_string();
    // Without the include dir the include is reported as not found.
    pbxguard()
        .args(["audit", &sip])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "included file `peers.conf` not found",
        ));
    pbxguard()
        .args([
            "audit",
            "--include-dir",
            &shared.display().to_string(),
            &sip,
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("peers.conf\n"))
        .stdout(predicate::str::contains("weak-secret"));
}
