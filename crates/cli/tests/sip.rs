//! `pbxguard sip`: inspect messages and print rejection responses.

use std::path::PathBuf;

use assert_cmd::cargo::cargo_bin;
use predicates::prelude::*;

fn pbxguard() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(cargo_bin("pbxguard"));
    c.env_remove("PBXGUARD_CONFIG").env_remove("PBXGUARD_LOG");
    c
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sip/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn inspect_a_clean_message_exits_0_with_its_facts() {
    pbxguard()
        .args(["sip", "inspect", &fixture("rfc5118/ipv6-good.dat")])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "request REGISTER sip:[2001:db8::10]",
        ))
        .stdout(predicate::str::contains("via         UDP [2001:db8::9:1]"))
        .stdout(predicate::str::contains("anomalies   none"));
}

#[test]
fn inspect_a_malformed_message_exits_1_naming_the_anomaly() {
    pbxguard()
        .args(["sip", "inspect", &fixture("rfc4475/quotbal.dat")])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("unbalanced_quotes"));
}

#[test]
fn inspect_json_lists_every_frame_of_a_stream() {
    let out = pbxguard()
        .args([
            "--json",
            "sip",
            "inspect",
            "--stream",
            &fixture("rfc4475/dblreq.dat"),
        ])
        .output()
        .unwrap();
    // The stream ends in 5 bytes that are not a message: a finding.
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let frames = v.as_array().unwrap();
    assert_eq!(frames[0]["method"], "REGISTER");
    assert_eq!(frames[1]["keepalive"], "Pong");
    assert_eq!(frames[2]["method"], "INVITE");
    assert!(
        frames[3]["error"]
            .as_str()
            .unwrap()
            .contains("Content-Length")
    );
}

#[test]
fn reply_prints_an_rfc3261_rejection_with_a_to_tag() {
    pbxguard()
        .args([
            "sip",
            "reply",
            "--status",
            "480",
            "--tag",
            "t1",
            &fixture("rfc4475/lwsdisp.dat"),
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "SIP/2.0 480 Temporarily Unavailable\r\n",
        ))
        .stdout(predicate::str::contains(
            "To: sip:user@example.com;tag=t1\r\n",
        ))
        .stdout(predicate::str::contains(
            "CSeq: 60 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ));
}

#[test]
fn reply_refuses_a_response_as_input() {
    pbxguard()
        .args(["sip", "reply", &fixture("rfc4475/noreason.dat")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("only requests can be answered"));
}
