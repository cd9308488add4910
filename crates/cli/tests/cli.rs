//! The command-line contract: help, version, exit codes, configuration checks, closed pipes.

use std::process::{Command, Stdio};

use assert_cmd::cargo::cargo_bin;
use predicates::prelude::*;

fn pbxguard() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(cargo_bin("pbxguard"));
    c.env_remove("PBXGUARD_CONFIG").env_remove("PBXGUARD_LOG");
    c
}

#[test]
fn help_teaches_and_names_the_exit_codes() {
    pbxguard()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Exit codes: 0 success, 1 findings or failure, 2 usage",
        ))
        .stdout(predicate::str::contains("config"));
}

#[test]
fn version_is_printed() {
    pbxguard()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("pbxguard "));
}

#[test]
fn unknown_arguments_are_usage_errors() {
    pbxguard().arg("--no-such-flag").assert().code(2);
}

#[test]
fn config_check_reports_three_mistakes_with_lines_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pbxguard.toml");
    std::fs::write(
        &file,
        "[rules.auth]\nban_tme = \"1h\"\n\n[bans]\nipv6_prefix = 200\n\n[lists]\nallow = [\"not-an-ip\"]\n",
    )
    .unwrap();
    let f = file.display().to_string();
    pbxguard()
        .args(["config", "check", &f])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{f}:2:1: unknown key `ban_tme` in [rules.auth], did you mean `ban_time`?"
        )))
        .stderr(predicate::str::contains(format!(
            "{f}:5:15: `bans.ipv6_prefix`"
        )))
        .stderr(predicate::str::contains(format!("{f}:8:9: `lists.allow`")))
        .stderr(predicate::str::contains("the configuration has 3 mistakes"));
}

#[test]
fn config_check_json_lists_the_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[limits]\nmax_source = 5\n").unwrap();
    let out = pbxguard()
        .args(["--json", "config", "check"])
        .arg(&file)
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["diagnostics"][0]["line"], 2);
    assert!(
        v["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `max_sources`")
    );
}

#[test]
fn the_printed_default_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.toml");
    let out = pbxguard()
        .args(["config", "default"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    std::fs::write(&file, out).unwrap();
    pbxguard()
        .args(["config", "check"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("is valid"));
}

#[test]
fn a_missing_config_file_named_on_the_command_line_is_a_usage_error() {
    pbxguard()
        .args(["--config", "/nonexistent/pbxguard.toml", "config", "check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read configuration file /nonexistent/pbxguard.toml",
        ));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let mut child = Command::new(cargo_bin("pbxguard"))
        .args(["config", "docs"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end at once: the process is still starting, so its first write meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}, stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
