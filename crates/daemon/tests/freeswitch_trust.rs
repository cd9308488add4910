//! A FreeSWITCH log followed by the daemon's log sensor into the engine: a phone whose successful
//! registration FreeSWITCH logged keeps failing without its address being banned, while the same failures
//! from an address that never registered are banned (the engine's trust rule: a source that authenticated
//! is an office or a remote worker, and its thresholds are multiplied by `[trust] threshold_factor`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use pbxguard_config::Config;
use pbxguard_daemon::logtail::{LogSensor, LogTail, Start};
use pbxguard_engine::{AlertKind, Decision, Detector, Engine, Timestamp};
use pbxguard_logs::Format;

const T0: u64 = 1_700_000_000_000;
const PHONE: &str = "198.51.100.20";
const STRANGER: &str = "203.0.113.5";

/// sofia_reg_handle_register_token's debug entry for a NATed phone, as freeswitch.log holds it: the
/// network address is in the `fs_path` FreeSWITCH appended to the Contact.
fn registered(ip: &str, nated: bool) -> String {
    let contact = if nated {
        format!(
            "\"1000\" <sip:1000@192.168.1.20:5060;fs_nat=yes;fs_path=sip%3A1000%40{ip}%3A41302>"
        )
    } else {
        format!("\"1000\" <sip:1000@{ip}:5060>")
    };
    format!(
        "2026-11-22 20:44:38.123456 97.53% [DEBUG] sofia_reg.c:1921 Register:\n\
         From:    [1000@pbx.example.com]\n\
         Contact: [{contact}]\n\
         Expires: [3600]\n"
    )
}

/// The log-auth-failures line for a wrong password.
fn failed(ip: &str) -> String {
    format!(
        "2026-11-22 20:44:40.000000 97.53% [WARNING] sofia_reg.c:1850 SIP auth failure (REGISTER) on sofia \
         profile 'internal' for [1000@pbx.example.com] from ip {ip}\n"
    )
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Writes `chunks` to a log one by one, 20 s apart, polling the sensor into an engine after each, as the
/// daemon does; returns every decision.
fn follow(chunks: &[String]) -> Vec<Decision> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("freeswitch.log");
    append(&path, "");
    let tail = LogTail::open(&path, Start::Beginning).unwrap();
    let mut sensor = LogSensor::new(tail, Format::FreeSwitch, Vec::new());
    let mut now = Timestamp::from_millis(T0);
    let mut engine = Engine::new(Config::default(), now);
    let mut decisions = Vec::new();
    for chunk in chunks {
        append(&path, chunk);
        sensor
            .poll(now, |o| {
                engine.handle(o);
            })
            .unwrap();
        while let Some(d) = engine.poll_decision() {
            decisions.push(d);
        }
        now = now.plus(Duration::from_secs(20));
    }
    decisions
}

fn banned(decisions: &[Decision], ip: &str) -> Option<Detector> {
    let ip: IpAddr = ip.parse().unwrap();
    decisions.iter().find_map(|d| match d {
        Decision::Ban(b) if b.target.contains(&ip) => Some(b.detector),
        _ => None,
    })
}

/// A dozen wrong passwords for one user, a minute and a bit from the first to the last.
fn failures(ip: &str) -> Vec<String> {
    (0..12).map(|_| failed(ip)).collect()
}

#[test]
fn a_phone_that_registered_is_not_banned_for_the_failures_that_ban_a_stranger() {
    let mut phone = vec![registered(PHONE, true)];
    phone.extend(failures(PHONE));
    let decisions = follow(&phone);
    assert_eq!(banned(&decisions, PHONE), None, "{decisions:?}");
    // Not silently: the one user failing behind a trusted address is reported.
    assert!(
        decisions
            .iter()
            .any(|d| matches!(d, Decision::Alert(a) if a.kind == AlertKind::UserFailing)),
        "{decisions:?}"
    );

    let decisions = follow(&failures(STRANGER));
    assert_eq!(
        banned(&decisions, STRANGER),
        Some(Detector::AuthFailures),
        "{decisions:?}"
    );
}

#[test]
fn a_registration_of_another_address_earns_the_stranger_nothing() {
    let mut log = vec![registered(PHONE, true)];
    log.extend(failures(STRANGER));
    let decisions = follow(&log);
    assert_eq!(
        banned(&decisions, STRANGER),
        Some(Detector::AuthFailures),
        "{decisions:?}"
    );
    assert_eq!(banned(&decisions, PHONE), None);
}

#[test]
fn a_registration_whose_source_freeswitch_did_not_log_earns_no_trust() {
    // Without NAT handling FreeSWITCH logs only the Contact the phone wrote, which proves nothing about
    // where the REGISTER came from: the phone is treated as any other address.
    let mut log = vec![registered(PHONE, false)];
    log.extend(failures(PHONE));
    let decisions = follow(&log);
    assert_eq!(
        banned(&decisions, PHONE),
        Some(Detector::AuthFailures),
        "{decisions:?}"
    );
}
