//! The shared lab of the root-tier guard tests: a PBX namespace running Kamailio (the registrar of
//! `tests/fixtures/kamailio-pbx.cfg`, which logs `unknown user U from IP:PORT` and `auth failed for user U
//! from IP:PORT`) with `pbxguard run` beside it, an attacker and a legitimate phone each on their own link.
//! Each lab builds and removes its own namespaces; Kamailio and the guard are stopped on drop.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use pbxguard_testlab::Netns;
use serde_json::Value;

pub const PBX_ATK: &str = "10.79.1.1";
pub const ATK: &str = "10.79.1.3";
pub const PBX_GOOD: &str = "10.79.2.1";
pub const GOOD: &str = "10.79.2.4";
/// The NFQUEUE number the inline-mode guard binds.
pub const QUEUE: u16 = 7;

pub struct Lab {
    pub pbx: Netns,
    pub atk: Netns,
    pub good: Netns,
    pub dir: tempfile::TempDir,
    pub kamailio: Option<Child>,
    pub guard: Option<Child>,
    pub inline: bool,
    pub run_args: Vec<String>,
}

impl Lab {
    /// The three hosts, Kamailio, and pbxguard in `mode` (`"inline"` or `"capture"`).
    pub fn new(mode: &str) -> Lab {
        Lab::with_config(mode, "")
    }

    /// As [`Lab::new`], with `extra` appended to pbxguard's configuration.
    pub fn with_config(mode: &str, extra: &str) -> Lab {
        Lab::with_run_args(mode, extra, Vec::new())
    }

    /// As [`Lab::with_config`], with extra arguments for `pbxguard run`.
    pub fn with_run_args(mode: &str, extra: &str, run_args: Vec<String>) -> Lab {
        let pbx = Netns::new("ipbx").unwrap();
        let atk = Netns::new("iatk").unwrap();
        let good = Netns::new("igood").unwrap();
        pbx.link(&atk, &format!("{PBX_ATK}/24"), &format!("{ATK}/24"))
            .unwrap();
        pbx.link(&good, &format!("{PBX_GOOD}/24"), &format!("{GOOD}/24"))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
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
                "[guard]\nsip_ports = [5060]\nstate_dir = \"{d}\"\nsocket = \"{d}/guard.sock\"\n\
                 mode = \"{mode}\"\nqueue = {QUEUE}\n{extra}",
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
            inline: mode == "inline",
            run_args,
        };
        lab.start_kamailio();
        lab.start_guard();
        lab
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn start_kamailio(&mut self) {
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

    /// Stops Kamailio, replaces its configuration with `cfg` (`listen` lines included) and starts it again.
    pub fn restart_kamailio_with(&mut self, cfg: &str) {
        if let Some(mut k) = self.kamailio.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &k.id().to_string()])
                .status();
            let _ = k.wait();
        }
        // The old workers may hold the SIP port for a moment after the main process.
        wait_until(Duration::from_secs(10), "port 5060 is free", || {
            self.pbx
                .exec("ss", ["-Hlun", "sport = :5060"])
                .is_ok_and(|o| o.stdout.is_empty())
        });
        fs::write(self.path("kamailio.cfg"), cfg).unwrap();
        self.start_kamailio();
    }

    pub fn start_guard(&mut self) {
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
            .args(&self.run_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.guard = Some(child);
        let socket = self.path("guard.sock");
        wait_until(Duration::from_secs(10), "the guard's API answers", || {
            socket.exists() && self.cli(&["status"]).status.success()
        });
        if self.inline {
            // The queue is bound first, the steering rules installed after it: wait for both, or the first
            // request may pass unjudged.
            wait_until(
                Duration::from_secs(5),
                "the queue is bound and steered",
                || self.queue_bound() && self.mangle_rules().contains("-j PBXGUARD_INLINE"),
            );
        }
    }

    pub fn signal_guard(&mut self, signal: &str) {
        let mut g = self.guard.take().unwrap();
        let _ = Command::new("kill")
            .args([signal, &g.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if g.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = g.kill();
        let _ = g.wait();
        panic!("the guard did not stop on {signal} within 10 s");
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(cargo_bin("pbxguard"))
            .arg("--config")
            .arg(self.path("pbxguard.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    pub fn ban_of(&self, addr: &str) -> Option<Value> {
        let out = self.cli(&["--json", "bans"]);
        assert!(out.status.success());
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .find(|b| {
                b["target"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{addr}/"))
            })
            .cloned()
    }

    pub fn kamailio_lines_from(&self, addr: &str) -> usize {
        fs::read_to_string(self.path("kamailio.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("from {addr}:")))
            .count()
    }

    /// The PBX namespace's `mangle` rules.
    pub fn mangle_rules(&self) -> String {
        let out = self.pbx.exec("iptables", ["-t", "mangle", "-S"]).unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether a process is bound to the queue (the kernel's table lists bound queues only).
    pub fn queue_bound(&self) -> bool {
        self.pbx
            .exec("cat", ["/proc/net/netfilter/nfnetlink_queue"])
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(&QUEUE.to_string()))
            })
            .unwrap_or(false)
    }

    /// Bans in force, as `pbxguard --json bans` lists them.
    pub fn bans(&self) -> Vec<Value> {
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

    /// Stops the guard with SIGTERM and waits for it.
    pub fn stop_guard(&mut self) {
        self.signal_guard("-TERM");
    }

    pub fn guard_log(&self) -> String {
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
        // Kamailio's worker processes can outlive the main one briefly: stop those of this lab's own
        // configuration file (a unique temporary path); the namespaces go with the Netns drops.
        let _ = Command::new("pkill")
            .args(["-f", self.path("kamailio.cfg").to_str().unwrap_or("")])
            .status();
        let _ = (&self.pbx, &self.atk, &self.good);
    }
}

pub fn wait_until(limit: Duration, what: &str, f: impl FnMut() -> bool) {
    assert!(
        pbxguard_testlab::wait_until(limit, f),
        "timed out after {limit:?} waiting until {what}"
    );
}

/// Whether an OPTIONS from `ns` to `pbx` gets a 200 (sipsak exits 0 on success).
pub fn options(ns: &Netns, pbx: &str) -> bool {
    ns.command("sipsak")
        .args(["-s", &format!("sip:ping@{pbx}"), "--timer-t1=30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
