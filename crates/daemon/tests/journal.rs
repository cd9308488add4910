//! The journald sensor against a real journal: entries are written into a journal directory with
//! `systemd-journal-remote` (as journald would for a unit) and read back through a real `journalctl`.
//! No root needed; under `CI=true` the two programs must be installed (`.ci/run` does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pbxguard_daemon::journal::JournalSensor;
use pbxguard_engine::{Event, LogEvent, Timestamp};
use pbxguard_logs::{Format, Pattern};
use pbxguard_testlab::{JOURNAL_REMOTE, journal_append, tools_or_skip};

const REMOTE: &str = JOURNAL_REMOTE;

fn log(dir: &Path, unit: &str, message: &str) {
    journal_append(dir, unit, message).unwrap();
}

fn patterns() -> Vec<Pattern> {
    vec![Pattern::parse("auth_failed: auth failed for user {user} from {ip}:{port}").unwrap()]
}

/// Polls until `want` observations arrived or 5 s passed; returns (peer, user) of each.
fn collect(s: &mut JournalSensor, want: usize) -> Vec<(IpAddr, String)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < want && Instant::now() < deadline {
        s.poll(Timestamp::from_secs(1), |o| {
            let user = match &o.event {
                Event::Log(LogEvent::AuthFailed { user }) => {
                    String::from_utf8_lossy(user.unwrap_or_default()).into_owned()
                }
                other => format!("{other:?}"),
            };
            got.push((o.peer, user));
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    got
}

fn dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().to_path_buf();
    (d, p)
}

#[test]
fn a_units_new_entries_are_observed_and_a_restart_resumes_after_the_cursor() {
    let name = "a_units_new_entries_are_observed_and_a_restart_resumes_after_the_cursor";
    if !tools_or_skip(name, &["journalctl", REMOTE]) {
        return;
    }
    let (_keep, dir) = dir();
    let d = dir.to_str().unwrap();
    log(
        &dir,
        "kamailio.service",
        "auth failed for user 1000 from 192.0.2.1:5060",
    );
    let mut s = JournalSensor::start(
        Format::Kamailio,
        "kamailio.service",
        Some(d),
        patterns(),
        None,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // What was logged before the first start is history: not read.
    assert!(collect(&mut s, 1).is_empty());
    log(
        &dir,
        "kamailio.service",
        "auth failed for user 1001 from 192.0.2.9:5060",
    );
    log(
        &dir,
        "other.service",
        "auth failed for user 1002 from 192.0.2.8:5060",
    );
    log(&dir, "kamailio.service", "INFO: routine line");
    let got = collect(&mut s, 1);
    assert_eq!(got, [("192.0.2.9".parse().unwrap(), "1001".to_owned())]);
    // The routine line arrives too (a line, not an event) and moves the cursor past it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.stats().lines < 2 && Instant::now() < deadline {
        s.poll(Timestamp::from_secs(1), |_| {});
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.stats().lines, 2, "{:?}", s.stats());
    let cursor = s.cursor().unwrap().to_owned();
    assert_eq!(s.source(), "journal:kamailio.service");
    drop(s);

    // Written while the guard was down: read after the restart from the saved cursor, and only that.
    log(
        &dir,
        "kamailio.service",
        "auth failed for user 1003 from 192.0.2.7:5060",
    );
    let mut s = JournalSensor::start(
        Format::Kamailio,
        "kamailio.service",
        Some(d),
        patterns(),
        Some(cursor),
    )
    .unwrap();
    let got = collect(&mut s, 2);
    assert_eq!(got, [("192.0.2.7".parse().unwrap(), "1003".to_owned())]);
}

#[test]
fn journalctl_ending_is_survived_and_reported_by_a_restart() {
    let name = "journalctl_ending_is_survived_and_reported_by_a_restart";
    if !tools_or_skip(name, &["journalctl"]) {
        return;
    }
    // A directory that is not a journal makes journalctl give up at once.
    let mut s = JournalSensor::start(
        Format::Kamailio,
        "kamailio.service",
        Some("/nonexistent/journal"),
        patterns(),
        None,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.restarts() == 0 && Instant::now() < deadline {
        s.poll(Timestamp::from_secs(1), |_| {});
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(s.restarts() >= 1, "journalctl was not started again");
}
