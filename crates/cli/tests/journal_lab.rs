//! Root tier: `pbxguard run` following a PBX that logs to journald. Entries are written "as the unit"
//! into a journal directory with `systemd-journal-remote`; the guard reads them through `journalctl`
//! (`[logs] journal`, `journal_directory`) and bans a brute forcer the packets never showed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pbxguard_testlab::{JOURNAL_REMOTE, Netns, journal_append, root_or_skip, tools_or_skip};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pbxguard");

fn bans(config: &str) -> Vec<Value> {
    let out = Command::new(BIN)
        .args(["--config", config, "--json", "bans"])
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn wait_until(limit: Duration, what: &str, f: impl FnMut() -> bool) {
    assert!(
        pbxguard_testlab::wait_until(limit, f),
        "timed out waiting until {what}"
    );
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_brute_forcer_seen_only_in_the_pbx_journal_is_banned() {
    let name = "a_brute_forcer_seen_only_in_the_pbx_journal_is_banned";
    if !root_or_skip(name) || !tools_or_skip(name, &["ip", "journalctl", JOURNAL_REMOTE]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    std::fs::create_dir(&journal).unwrap();
    // Before the guard starts: history, which must not count.
    for i in 0..20 {
        journal_append(
            &journal,
            "kamailio.service",
            &format!("auth failed for user 10{i} from 198.51.100.9:5060"),
        )
        .unwrap();
    }
    let config = dir.path().join("pbxguard.toml");
    std::fs::write(
        &config,
        format!(
            "[guard]\nsip_ports = [5999]\nstate_dir = \"{d}\"\nsocket = \"{d}/guard.sock\"\n\
             [logs]\njournal = [\"kamailio:kamailio.service\"]\njournal_directory = \"{j}\"\n",
            d = dir.path().display(),
            j = journal.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let ns = Netns::new("jrnl").unwrap();
    let log = std::fs::File::create(dir.path().join("guard.log")).unwrap();
    let _guard = Guard(
        ns.command(BIN)
            .args(["--config", &config, "-v", "run", "--dry-run"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_until(Duration::from_secs(10), "the guard answers", || {
        Command::new(BIN)
            .args(["--config", &config, "status"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    // Root on a host with CPUs to spare: the capture thread runs at real-time priority (set as the capture
    // loop starts, which may be a moment after the API answers).
    let realtime = || {
        let out = Command::new(BIN)
            .args(["--config", &config, "--json", "status"])
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["capture_realtime"] == true
    };
    if std::thread::available_parallelism().map_or(1, usize::from) >= 2 {
        wait_until(
            Duration::from_secs(5),
            "the capture thread is real-time",
            realtime,
        );
    } else {
        assert!(!realtime());
    }
    let guard_log = || std::fs::read_to_string(dir.path().join("guard.log")).unwrap_or_default();
    assert!(
        guard_log().contains("following the journal of kamailio.service"),
        "{}",
        guard_log()
    );
    // A password guesser against one account, as the PBX logs it.
    for _ in 0..15 {
        journal_append(
            &journal,
            "kamailio.service",
            "auth failed for user 1001 from 203.0.113.50:5060",
        )
        .unwrap();
    }
    wait_until(
        Duration::from_secs(10),
        "the brute forcer is banned",
        || {
            bans(&config).iter().any(|b| {
                b["target"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("203.0.113.50/")
            })
        },
    );
    let all = bans(&config);
    assert!(
        !all.iter().any(|b| b["target"]
            .as_str()
            .unwrap_or("")
            .starts_with("198.51.100.9/")),
        "lines logged before the start were read: {all:?}"
    );
}
