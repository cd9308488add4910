//! Root tier: `pbxguard run` against real attack tools in network namespaces.
//!
//! Three hosts: a PBX (Kamailio registrar with digest auth, `tests/fixtures/kamailio-pbx.cfg`) with
//! pbxguard beside it, an attacker running sipvicious, and a legitimate phone registering with sipsak.
//! Each test builds its own namespaces and removes them, whatever happens.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fs;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

mod common;

use common::{ATK, GOOD, Lab, PBX_ATK, PBX_GOOD, options, wait_until};

/// A registration with the right password from the good host.
fn register(ns: &Netns) -> bool {
    ns.command("sipsak")
        .args([
            "-U",
            "-C",
            &format!("sip:1001@{GOOD}"),
            "-s",
            &format!("sip:1001@{PBX_GOOD}"),
            "-a",
            "s3cret-1001",
            "-x",
            "60",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A phone that keeps registering while the attack goes on; counts successes and failures.
struct Phone {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU32>,
    failed: Arc<AtomicU32>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Phone {
    fn start(lab: &Lab) -> Phone {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU32::new(0));
        let failed = Arc::new(AtomicU32::new(0));
        let ns_name = lab.good.name().to_owned();
        let (s, o, f) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let status = Command::new("ip")
                    .args([
                        "netns",
                        "exec",
                        &ns_name,
                        "sipsak",
                        "-U",
                        "-C",
                        &format!("sip:1001@{GOOD}"),
                    ])
                    .args([
                        "-s",
                        &format!("sip:1001@{PBX_GOOD}"),
                        "-a",
                        "s3cret-1001",
                        "-x",
                        "60",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                if status.is_ok_and(|st| st.success()) {
                    &o
                } else {
                    &f
                }
                .fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        Phone {
            stop,
            ok,
            failed,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (u32, u32) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

fn attack(lab: &Lab, tool: &str, args: &[&str]) {
    let status = lab
        .atk
        .command("timeout")
        .arg("60")
        .arg(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    // sipvicious exits non-zero when its target stops answering, which is the point; only a timeout is odd.
    assert_ne!(status.code(), Some(124), "{tool} ran for 60 s");
}

fn ready(name: &str) -> bool {
    root_or_skip(name)
        && tools_or_skip(
            name,
            &[
                "kamailio",
                "sipsak",
                "sipvicious_svmap",
                "sipvicious_svwar",
                "sipvicious_svcrack",
                "nft",
            ],
        )
}

/// After a ban, the attacker's packets never reach Kamailio: it neither answers nor logs them.
fn assert_attacker_cut_off(lab: &Lab) {
    let before = lab.kamailio_lines_from(ATK);
    for _ in 0..3 {
        assert!(
            !options(&lab.atk, PBX_ATK),
            "the banned attacker still gets answers"
        );
        let reg = lab
            .atk
            .command("sipsak")
            .args([
                "-U",
                "-C",
                &format!("sip:9999@{ATK}"),
                "-s",
                &format!("sip:9999@{PBX_ATK}"),
                "--timer-t1=30",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!reg.success());
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        lab.kamailio_lines_from(ATK),
        before,
        "attacker packets reached Kamailio after the ban"
    );
}

#[test]
fn svmap_is_banned_survives_a_restart_and_unban_and_allow_work() {
    if !ready("svmap_is_banned_survives_a_restart_and_unban_and_allow_work") {
        return;
    }
    let mut lab = Lab::with_config("capture", "");
    let phone = Phone::start(&lab);
    attack(&lab, "sipvicious_svmap", &["-b", ATK, PBX_ATK]);
    wait_until(Duration::from_secs(5), "the scanner is banned", || {
        lab.ban_of(ATK).is_some()
    });
    let ban = lab.ban_of(ATK).unwrap();
    assert_eq!(ban["detector"], "scanner", "{ban}");
    assert_eq!(ban["evidence"]["sample_user_agent"], "friendly-scanner");
    assert_attacker_cut_off(&lab);

    // Restart, and remove the kernel table in between as a reboot would: the ban comes back from the store.
    lab.stop_guard();
    assert!(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                lab.pbx.name(),
                "nft",
                "delete",
                "table",
                "inet",
                "pbxguard"
            ])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        options(&lab.atk, PBX_ATK),
        "without the table the attacker reaches the PBX again"
    );
    lab.start_guard();
    assert!(lab.ban_of(ATK).is_some(), "the ban was not restored");
    assert_attacker_cut_off(&lab);

    // Unban lifts it.
    let out = lab.cli(&["unban", ATK]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lab.ban_of(ATK).is_none());
    assert!(
        options(&lab.atk, PBX_ATK),
        "unbanned attacker still cut off"
    );

    // Allow-listed, the same scan bans nothing.
    let out = lab.cli(&["allow", "add", ATK, "--note", "test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    attack(&lab, "sipvicious_svmap", &["-b", ATK, PBX_ATK]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        lab.ban_of(ATK).is_none(),
        "an allow-listed address was banned"
    );
    assert!(options(&lab.atk, PBX_ATK));

    // SIGHUP: a broken file is refused and the guard keeps running; a valid one is applied, bans kept.
    let cfg = lab.path("pbxguard.toml");
    let good_cfg = fs::read_to_string(&cfg).unwrap();
    fs::write(
        &cfg,
        format!("{good_cfg}[rules.auth]\nmax_failures = \"many\"\n"),
    )
    .unwrap();
    let pid = lab.guard.as_ref().unwrap().id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_until(Duration::from_secs(5), "the broken file is refused", || {
        lab.guard_log().contains("is invalid, keeping")
    });
    fs::write(&cfg, format!("{good_cfg}[rules.auth]\nmax_failures = 3\n")).unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_until(
        Duration::from_secs(5),
        "the configuration is reloaded",
        || lab.guard_log().contains("configuration reloaded"),
    );
    assert!(lab.cli(&["status"]).status.success());

    let (ok, failed) = phone.finish();
    assert!(
        lab.ban_of(GOOD).is_none(),
        "the legitimate phone was banned"
    );
    assert!(
        ok >= 3 && failed == 0,
        "legitimate registrations: {ok} ok, {failed} failed\n{}",
        lab.guard_log()
    );
}

#[test]
fn svwar_and_svcrack_are_caught_by_behaviour_without_the_scanner_signature() {
    if !ready("svwar_and_svcrack_are_caught_by_behaviour_without_the_scanner_signature") {
        return;
    }
    // sipvicious announces itself as friendly-scanner; switch that detector off to prove the others.
    let lab = Lab::with_config("capture", "[rules.scanner]\nenabled = false\n");
    let phone = Phone::start(&lab);
    assert!(register(&lab.good));

    attack(
        &lab,
        "sipvicious_svwar",
        &["--force", "-b", ATK, "-e1000-1100", PBX_ATK],
    );
    wait_until(Duration::from_secs(5), "the enumerator is banned", || {
        lab.ban_of(ATK).is_some()
    });
    let ban = lab.ban_of(ATK).unwrap();
    assert!(
        ["enumeration", "unanswered-challenges", "unknown-source"]
            .contains(&ban["detector"].as_str().unwrap()),
        "{ban}"
    );
    let leaked = lab.kamailio_lines_from(ATK);
    assert!(
        leaked < 40,
        "{leaked} of svwar's requests reached Kamailio before the ban"
    );
    assert_attacker_cut_off(&lab);
    assert!(lab.cli(&["unban", ATK]).status.success());

    let words = lab.path("words.txt");
    fs::write(
        &words,
        (0..200).map(|i| format!("guess{i}\n")).collect::<String>(),
    )
    .unwrap();
    attack(
        &lab,
        "sipvicious_svcrack",
        &["-b", ATK, "-u1001", "-d", words.to_str().unwrap(), PBX_ATK],
    );
    wait_until(
        Duration::from_secs(5),
        "the password cracker is banned",
        || lab.ban_of(ATK).is_some(),
    );
    let ban = lab.ban_of(ATK).unwrap();
    assert_eq!(ban["detector"], "auth-failures", "{ban}");
    assert_eq!(ban["evidence"]["sample_user"], "1001");
    assert_attacker_cut_off(&lab);

    let (ok, failed) = phone.finish();
    assert!(
        lab.ban_of(GOOD).is_none(),
        "the legitimate phone was banned"
    );
    assert!(
        ok >= 3 && failed == 0,
        "legitimate registrations: {ok} ok, {failed} failed\n{}",
        lab.guard_log()
    );
}

/// The lab with the guard stopped and configured so that Kamailio's log is its only sensor: capture
/// watches a port nobody uses.
fn log_only_lab() -> Lab {
    let mut lab = Lab::with_config("capture", "[rules.scanner]\nenabled = false\n");
    lab.stop_guard();
    let cfg = lab.path("pbxguard.toml");
    let text = fs::read_to_string(&cfg)
        .unwrap()
        .replace("sip_ports = [5060]", "sip_ports = [5999]");
    let log = lab.path("kamailio.log");
    fs::write(
        &cfg,
        format!("{text}[logs]\nfiles = [\"kamailio:{}\"]\n", log.display()),
    )
    .unwrap();
    lab
}

#[test]
fn log_lines_written_while_the_guard_was_down_are_read_after_its_restart() {
    if !ready("log_lines_written_while_the_guard_was_down_are_read_after_its_restart") {
        return;
    }
    let mut lab = log_only_lab();
    // A first run saves where it stopped reading (on SIGTERM).
    lab.start_guard();
    lab.stop_guard();
    // The attack happens while the guard is down: only Kamailio's log records it.
    attack(
        &lab,
        "sipvicious_svwar",
        &["--force", "-b", ATK, "-e1000-1100", PBX_ATK],
    );
    assert!(lab.kamailio_lines_from(ATK) > 0);
    lab.start_guard();
    wait_until(
        Duration::from_secs(5),
        "the enumerator is banned from lines logged during the downtime",
        || lab.ban_of(ATK).is_some(),
    );
    assert_eq!(lab.ban_of(ATK).unwrap()["detector"], "enumeration");
}

#[test]
fn the_pbx_log_alone_gets_an_enumerator_banned() {
    if !ready("the_pbx_log_alone_gets_an_enumerator_banned") {
        return;
    }
    let mut lab = log_only_lab();
    lab.start_guard();
    attack(
        &lab,
        "sipvicious_svwar",
        &["--force", "-b", ATK, "-e1000-1100", PBX_ATK],
    );
    wait_until(
        Duration::from_secs(5),
        "the enumerator is banned from the log",
        || lab.ban_of(ATK).is_some(),
    );
    let ban = lab.ban_of(ATK).unwrap();
    assert_eq!(ban["detector"], "enumeration", "{ban}");
    assert_attacker_cut_off(&lab);
    assert!(
        lab.guard_log().contains("following PBX log"),
        "{}",
        lab.guard_log()
    );
}
