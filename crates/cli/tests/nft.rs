//! `pbxguard nft`: the table text and dry runs need no privileges; the real thing runs in a namespace.

use assert_cmd::cargo::cargo_bin;
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};
use predicates::prelude::*;

fn pbxguard() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(cargo_bin("pbxguard"));
    c.env_remove("PBXGUARD_CONFIG").env_remove("PBXGUARD_LOG");
    c
}

#[test]
fn show_prints_a_prerouting_chain_before_conntrack_with_the_configured_ipv6_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pbxguard.toml");
    std::fs::write(&file, "[bans]\nipv6_prefix = 56\n").unwrap();
    pbxguard()
        .arg("--config")
        .arg(&file)
        .args(["nft", "show"])
        .assert()
        .success()
        .stdout(predicate::str::contains("table inet pbxguard {"))
        .stdout(predicate::str::contains(
            "type filter hook prerouting priority -300; policy accept;",
        ))
        .stdout(predicate::str::contains(
            "ip6 saddr & ffff:ffff:ffff:ff00:: @ban6net counter drop",
        ));
}

#[test]
fn dry_run_prints_nft_statements_and_changes_nothing() {
    pbxguard()
        .args([
            "nft",
            "--dry-run",
            "ban",
            "192.0.2.1",
            "2001:db8::7",
            "--time",
            "10m",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "add element inet pbxguard ban4 { 192.0.2.1 timeout 600s }",
        ))
        .stdout(predicate::str::contains(
            "add element inet pbxguard ban6net { 2001:db8:: timeout 600s }",
        ));
    let out = pbxguard()
        .args(["--json", "nft", "--dry-run", "remove"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["actions"][0], "delete table inet pbxguard");
}

#[test]
fn ban_needs_an_address_and_a_valid_time() {
    pbxguard().args(["nft", "ban"]).assert().code(2);
    pbxguard()
        .args(["nft", "--dry-run", "ban", "192.0.2.1", "--time", "soon"])
        .assert()
        .code(2);
}

#[test]
fn setup_ban_list_unban_and_remove_in_a_namespace() {
    if !root_or_skip("setup_ban_list_unban_and_remove_in_a_namespace")
        || !tools_or_skip(
            "setup_ban_list_unban_and_remove_in_a_namespace",
            &["ip", "nft"],
        )
    {
        return;
    }
    let ns = Netns::new("cli").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pbxguard.toml");
    std::fs::write(
        &file,
        "[lists]\nallow = [\"198.51.100.0/24\"]\ntrunks = [\"203.0.113.5\"]\nblock = [\"192.0.2.128/25\"]\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut c = pbxguard();
        c.arg("--config")
            .arg(&file)
            .args(["nft", "--netns", ns.name()]);
        c.args(args);
        c.assert().success().get_output().stdout.clone()
    };
    run(&["setup"]);
    run(&["setup"]);
    let table = String::from_utf8(
        ns.exec("nft", ["list", "table", "inet", "pbxguard"])
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        table.contains("elements = { 198.51.100.0/24, 203.0.113.5 }"),
        "{table}"
    );
    assert!(table.contains("elements = { 192.0.2.128/25 }"), "{table}");
    run(&["ban", "192.0.2.9", "--time", "2h"]);
    let listed = String::from_utf8(run(&["list"])).unwrap();
    assert!(listed.contains("192.0.2.9"), "{listed}");
    assert!(listed.contains("1 ban"), "{listed}");
    let counters = String::from_utf8(run(&["counters"])).unwrap();
    assert!(counters.contains("ban4"), "{counters}");
    assert_eq!(counters.lines().count(), 8, "{counters}");
    run(&["unban", "192.0.2.9"]);
    assert!(
        String::from_utf8(run(&["list"]))
            .unwrap()
            .contains("0 bans")
    );
    run(&["remove"]);
    let all = String::from_utf8(ns.exec("nft", ["list", "ruleset"]).unwrap().stdout).unwrap();
    assert!(!all.contains("pbxguard"), "{all}");
}
