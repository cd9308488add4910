//! `pbxguard plan`: site file in, rulesets and explanations out; mistakes exit 2 with file:line.

use assert_cmd::cargo::cargo_bin;
use predicates::prelude::*;

fn pbxguard() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(cargo_bin("pbxguard"));
    c.env_remove("PBXGUARD_CONFIG").env_remove("PBXGUARD_LOG");
    c
}

#[test]
fn without_a_site_file_the_example_site_is_planned_as_nftables() {
    pbxguard()
        .arg("plan")
        .assert()
        .success()
        .stdout(predicate::str::contains("table inet pbxguard {"))
        .stdout(predicate::str::contains("policy drop;"));
}

#[test]
fn every_format_renders_the_example() {
    for (format, marker) in [
        ("iptables", "*filter"),
        ("ip6tables", "::1/128"),
        ("firewalld", "<zone target=\"DROP\">"),
        ("ufw", "ufw default deny incoming"),
        ("aws", "\"IpProtocol\""),
        ("forwards", "Forward to"),
        ("forwards-md", "| Protocol |"),
        ("conntrack", "nf_conntrack_sip"),
    ] {
        pbxguard()
            .args(["plan", "--format", format])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker));
    }
    pbxguard().args(["plan", "--format", "pf"]).assert().code(2);
}

#[test]
fn explain_says_why_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(
        &site,
        "[pbx]\nproduct = \"freeswitch\"\nlan_address = \"10.0.0.2/24\"\nexpose = [\"esl\"]\n[admin]\nssh_open_to_world = true\n",
    )
    .unwrap();
    pbxguard()
        .args(["plan", "--explain", site.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("tcp 8021 esl"))
        .stdout(predicate::str::contains("[control-reachable]"))
        .stdout(predicate::str::contains("[ssh-open-to-world]"));
}

#[test]
fn site_mistakes_exit_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(
        &site,
        "[pbx]\nproduct = \"asterisk\"\nlan_address = \"10.0.0.2/24\"\nfeatures = [\"remote-phone\"]\n[admin]\nssh_port = 0\n",
    )
    .unwrap();
    let f = site.display().to_string();
    pbxguard()
        .args(["plan", "--check", &f])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{f}:4: `pbx.features`: asterisk has no feature `remote-phone` (did you mean `remote-phones`?)"
        )))
        .stderr(predicate::str::contains(format!("{f}:6: `admin.ssh_port`")))
        .stderr(predicate::str::contains("2 mistakes"));
}

#[test]
fn json_prints_the_plan_model() {
    let out = pbxguard().args(["--json", "plan"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["product"], "freeswitch");
    assert!(
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["service"] == "esl" && r["access"] == "lan-only")
    );
}

#[test]
fn example_and_products_print_their_data() {
    pbxguard()
        .args(["plan", "--example"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[[trusted]]"));
    pbxguard()
        .args(["plan", "--products"])
        .assert()
        .success()
        .stdout(predicate::str::contains("fonality-pbxtra"))
        .stdout(predicate::str::contains("3cx"));
}
