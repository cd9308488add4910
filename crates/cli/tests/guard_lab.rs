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
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};
use serde_json::Value;

const PBX_ATK: &str = "10.77.1.1";
const ATK: &str = "10.77.1.3";
const PBX_GOOD: &str = "10.77.2.1";
const GOOD: &str = "10.77.2.4";

struct Lab {
    pbx: Netns,
    atk: Netns,
    good: Netns,
    dir: tempfile::TempDir,
    kamailio: Option<Child>,
    guard: Option<Child>,
}

impl Lab {
    fn new(extra_config: &str) -> Lab {
        let pbx = Netns::new("gpbx").unwrap();
        let atk = Netns::new("gatk").unwrap();
        let good = Netns::new("ggood").unwrap();
        pbx.link(&atk, &format!("{PBX_ATK}/24"), &format!("{ATK}/24"))
            .unwrap();
        pbx.link(&good, &format!("{PBX_GOOD}/24"), &format!("{GOOD}/24"))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        // Kamailio listens on both of the PBX's addresses.
        let cfg = fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/kamailio-pbx.cfg"
        ))
        .unwrap()
        .replace(
            "listen=udp:LISTEN_ADDR:5060\n",
            &format!("listen=udp:{PBX_ATK}:5060\nlisten=udp:{PBX_GOOD}:5060\n"),
        )
        .replace("listen=tcp:LISTEN_ADDR:5060\n", "");
        fs::write(dir.path().join("kamailio.cfg"), cfg).unwrap();
        fs::write(
            dir.path().join("pbxguard.toml"),
            format!(
                "[guard]\nsip_ports = [5060]\nstate_dir = \"{d}\"\nsocket = \"{d}/guard.sock\"\n{extra_config}",
                d = dir.path().display()
            ),
        )
        .unwrap();
        let mut lab = Lab {
            pbx,
            atk,
            good,
            dir,
            kamailio: None,
            guard: None,
        };
        lab.start_kamailio();
        lab.start_guard();
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start_kamailio(&mut self) {
        let log = fs::File::create(self.path("kamailio.log")).unwrap();
        let child = self
            .pbx
            .command("kamailio")
            .args([
                "-f",
                self.path("kamailio.cfg").to_str().unwrap(),
                "-DD",
                "-E",
                "-w",
            ])
            .arg(self.dir.path())
            .args(["-P", self.path("kam.pid").to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.kamailio = Some(child);
        wait_until(Duration::from_secs(10), "Kamailio answers OPTIONS", || {
            options(&self.good, PBX_GOOD)
        });
    }

    fn start_guard(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("guard.log"))
            .unwrap();
        let child = self
            .pbx
            .command(cargo_bin("pbxguard").to_str().unwrap())
            .args([
                "--config",
                self.path("pbxguard.toml").to_str().unwrap(),
                "-v",
                "run",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.guard = Some(child);
        let socket = self.path("guard.sock");
        wait_until(Duration::from_secs(10), "the guard's API answers", || {
            socket.exists() && self.cli(&["status"]).status.success()
        });
    }

    fn stop_guard(&mut self) {
        if let Some(mut g) = self.guard.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &g.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if g.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = g.kill();
            panic!("the guard did not stop on SIGTERM within 10 s");
        }
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(cargo_bin("pbxguard"))
            .arg("--config")
            .arg(self.path("pbxguard.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    fn bans(&self) -> Vec<Value> {
        let out = self.cli(&["--json", "bans"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn ban_of(&self, addr: &str) -> Option<Value> {
        self.bans().into_iter().find(|b| {
            b["target"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{addr}/"))
        })
    }

    /// Lines Kamailio logged about requests from `addr` (it logs unknown users and failed auth).
    fn kamailio_lines_from(&self, addr: &str) -> usize {
        let log = fs::read_to_string(self.path("kamailio.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(&format!("from {addr}:")))
            .count()
    }

    fn guard_log(&self) -> String {
        fs::read_to_string(self.path("guard.log")).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut g) = self.guard.take() {
            let _ = g.kill();
            let _ = g.wait();
        }
        if let Some(mut k) = self.kamailio.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &k.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(200));
            let _ = k.kill();
            let _ = k.wait();
        }
        // Kamailio's children may outlive the main process briefly; the namespaces go with the Netns drops.
        let _ = Command::new("pkill")
            .args(["-f", self.path("kamailio.cfg").to_str().unwrap_or("")])
            .status();
        let _ = (&self.pbx, &self.atk, &self.good);
    }
}

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {limit:?} waiting until {what}");
}

/// Whether an OPTIONS from `ns` to `pbx` gets an answer (sipsak exits 0 on a 200).
fn options(ns: &Netns, pbx: &str) -> bool {
    ns.command("sipsak")
        .args(["-s", &format!("sip:ping@{pbx}"), "--timer-t1=30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

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
    let mut lab = Lab::new("");
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
    let lab = Lab::new("[rules.scanner]\nenabled = false\n");
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
