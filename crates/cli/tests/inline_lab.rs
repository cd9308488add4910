//! Root tier: `pbxguard run` in inline mode (`[guard] mode = "inline"`), against Kamailio, sipsak and
//! sipvicious in network namespaces.
//!
//! A PBX namespace runs Kamailio (the registrar of `tests/fixtures/kamailio-pbx.cfg`, which logs
//! `unknown user U from IP:PORT` for every REGISTER of an unknown user it receives) with pbxguard beside it;
//! an attacker and a legitimate phone each sit on their own link. Each test builds and removes its own
//! namespaces.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fs;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use pbxguard_sys::netns;
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};
use serde_json::Value;

const PBX_ATK: &str = "10.79.1.1";
const ATK: &str = "10.79.1.3";
const PBX_GOOD: &str = "10.79.2.1";
const GOOD: &str = "10.79.2.4";
const QUEUE: u16 = 7;

struct Lab {
    pbx: Netns,
    atk: Netns,
    good: Netns,
    dir: tempfile::TempDir,
    kamailio: Option<Child>,
    guard: Option<Child>,
    inline: bool,
}

impl Lab {
    /// The three hosts, Kamailio, and pbxguard in `mode` (`"inline"` or `"capture"`).
    fn new(mode: &str) -> Lab {
        Lab::with_config(mode, "")
    }

    /// As [`Lab::new`], with `extra` appended to pbxguard's configuration.
    fn with_config(mode: &str, extra: &str) -> Lab {
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
        if self.inline {
            wait_until(Duration::from_secs(5), "the queue is bound", || {
                self.queue_bound()
            });
        }
    }

    fn signal_guard(&mut self, signal: &str) {
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

    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(cargo_bin("pbxguard"))
            .arg("--config")
            .arg(self.path("pbxguard.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    fn ban_of(&self, addr: &str) -> Option<Value> {
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

    fn kamailio_lines_from(&self, addr: &str) -> usize {
        fs::read_to_string(self.path("kamailio.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("from {addr}:")))
            .count()
    }

    /// The PBX namespace's `mangle` rules.
    fn mangle_rules(&self) -> String {
        let out = self.pbx.exec("iptables", ["-t", "mangle", "-S"]).unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether a process is bound to the queue (the kernel's table lists bound queues only).
    fn queue_bound(&self) -> bool {
        self.pbx
            .exec("cat", ["/proc/net/netfilter/nfnetlink_queue"])
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(&QUEUE.to_string()))
            })
            .unwrap_or(false)
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
        // Kamailio's worker processes are killed with the namespace's links; the namespaces go with the
        // Netns drops.
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

/// Whether an OPTIONS from `ns` to `pbx` gets a 200 (sipsak exits 0 on success).
fn options(ns: &Netns, pbx: &str) -> bool {
    ns.command("sipsak")
        .args(["-s", &format!("sip:ping@{pbx}"), "--timer-t1=30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

static CALL: AtomicU32 = AtomicU32::new(0);

/// Sends one REGISTER for `user` with `user_agent` from `src` in `ns` to `pbx`, and returns the status
/// line of the first answer within `wait`, if any.
fn register_once(ns: &Netns, src: &str, pbx: &str, user: &str, user_agent: &str) -> Option<String> {
    let sock = netns::run_in(&netns::named(ns.name()), || UdpSocket::bind((src, 0)))
        .unwrap()
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let n = CALL.fetch_add(1, Ordering::Relaxed);
    let req = format!(
        "REGISTER sip:{pbx} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {src}:{port};branch=z9hG4bK-inl{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{pbx}>;tag=t{n}\r\n\
         To: <sip:{user}@{pbx}>\r\n\
         Call-ID: inline-{n}@{src}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:{user}@{src}:{port}>\r\n\
         User-Agent: {user_agent}\r\n\
         Expires: 60\r\n\
         Content-Length: 0\r\n\r\n"
    );
    sock.send_to(req.as_bytes(), (pbx, 5060)).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .map(str::to_owned)
}

fn ready(name: &str) -> bool {
    root_or_skip(name)
        && tools_or_skip(
            name,
            &["kamailio", "sipsak", "sipvicious_svmap", "nft", "iptables"],
        )
}

#[test]
fn inline_the_first_scanner_packet_never_reaches_kamailio() {
    if !ready("inline_the_first_scanner_packet_never_reaches_kamailio") {
        return;
    }
    let mut lab = Lab::new("inline");
    let rules = lab.mangle_rules();
    assert!(
        rules.contains(&format!("--queue-num {QUEUE} --queue-bypass")),
        "{rules}"
    );

    // Control: an ordinary phone's REGISTER for an unknown user passes the queue, Kamailio answers and logs.
    assert_eq!(
        register_once(&lab.good, GOOD, PBX_GOOD, "nobody", "Yealink SIP-T46S").as_deref(),
        Some("SIP/2.0 404 Not Found")
    );
    wait_until(Duration::from_secs(2), "Kamailio logs the control", || {
        lab.kamailio_lines_from(GOOD) == 1
    });

    // The scanner's very first packet is dropped in the queue: no answer, nothing in Kamailio's log.
    assert_eq!(
        register_once(&lab.atk, ATK, PBX_ATK, "scan1", "friendly-scanner"),
        None,
        "{}",
        lab.guard_log()
    );
    let ban = lab.ban_of(ATK).expect("the scanner is banned");
    assert_eq!(ban["detector"], "scanner", "{ban}");
    // A whole svmap run afterwards reaches nothing either (the nftables ban drops it before the queue).
    let _ = lab
        .atk
        .command("timeout")
        .args(["30", "sipvicious_svmap", "-b", ATK, PBX_ATK])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        lab.kamailio_lines_from(ATK),
        0,
        "a scanner request reached Kamailio"
    );
    assert!(!options(&lab.atk, PBX_ATK));

    // Legitimate traffic is unaffected.
    assert!(options(&lab.good, PBX_GOOD));

    // The status reports the queue's verdicts: the scanner's REGISTER dropped, the phone's requests passed.
    let out = lab.cli(&["--json", "status"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        status["inline"]["dropped"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert!(
        status["inline"]["accepted"].as_u64().unwrap() >= 2,
        "{status}"
    );
    let text = String::from_utf8_lossy(&lab.cli(&["status"]).stdout).into_owned();
    assert!(text.contains("inline queue"), "{text}");
    let metrics = {
        use std::io::{Read, Write};
        let mut c = std::os::unix::net::UnixStream::connect(lab.path("guard.sock")).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: pbxguard\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    };
    assert!(
        metrics.contains("pbxguard_inline_judged_total "),
        "{metrics}"
    );

    // A clean stop removes pbxguard's chain.
    lab.signal_guard("-TERM");
    let rules = lab.mangle_rules();
    assert!(!rules.contains("PBXGUARD_INLINE"), "{rules}");
    assert!(options(&lab.good, PBX_GOOD));
}

#[test]
fn inline_sigkill_leaves_sip_flowing_through_the_bypass() {
    if !ready("inline_sigkill_leaves_sip_flowing_through_the_bypass") {
        return;
    }
    let mut lab = Lab::new("inline");
    assert!(options(&lab.good, PBX_GOOD), "OPTIONS through the queue");

    lab.signal_guard("-KILL");
    assert!(!lab.queue_bound());
    // The steering rule is still there (nothing removed it): SIP flows because of --queue-bypass.
    let rules = lab.mangle_rules();
    assert!(
        rules.contains("-A PREROUTING -j PBXGUARD_INLINE"),
        "{rules}"
    );
    for _ in 0..3 {
        assert!(
            options(&lab.good, PBX_GOOD),
            "SIP stopped flowing after the guard was killed"
        );
    }
    assert_eq!(
        register_once(&lab.good, GOOD, PBX_GOOD, "nobody", "Yealink SIP-T46S").as_deref(),
        Some("SIP/2.0 404 Not Found")
    );

    // A restart reuses the leftover chain: one jump, one rule.
    lab.start_guard();
    let rules = lab.mangle_rules();
    assert_eq!(rules.matches("-j PBXGUARD_INLINE").count(), 1, "{rules}");
    assert_eq!(rules.matches("--queue-bypass").count(), 1, "{rules}");
    assert!(options(&lab.good, PBX_GOOD));
    lab.signal_guard("-TERM");
    assert!(!lab.mangle_rules().contains("PBXGUARD_INLINE"));
}

#[test]
fn capture_mode_lets_the_first_scanner_packet_through_which_inline_mode_stops() {
    if !ready("capture_mode_lets_the_first_scanner_packet_through") {
        return;
    }
    // The contrast that motivates inline mode: watching a copy, the guard bans the scanner only after its
    // first request has reached the PBX and been answered.
    let lab = Lab::new("capture");
    assert!(!lab.mangle_rules().contains("PBXGUARD_INLINE"));
    assert_eq!(
        register_once(&lab.atk, ATK, PBX_ATK, "scan1", "friendly-scanner").as_deref(),
        Some("SIP/2.0 404 Not Found")
    );
    wait_until(Duration::from_secs(2), "Kamailio logs the scanner", || {
        lab.kamailio_lines_from(ATK) == 1
    });
    wait_until(Duration::from_secs(2), "the scanner is banned", || {
        lab.ban_of(ATK).is_some()
    });
    assert_eq!(
        register_once(&lab.atk, ATK, PBX_ATK, "scan2", "friendly-scanner"),
        None
    );
}

#[test]
fn inline_the_request_that_crosses_a_threshold_is_itself_dropped() {
    if !ready("inline_the_request_that_crosses_a_threshold_is_itself_dropped") {
        return;
    }
    // A low rate limit, so that a few ordinary-looking REGISTERs cross it. Enumeration is off: it counts the
    // PBX's 404 answers, so it would ban on an answer (seen by capture, enforced by nftables from the next
    // packet on) rather than on a request the queue holds.
    let lab = Lab::with_config(
        "inline",
        "[rules.rate]\nlevel1_rate = 1\nlevel1_window = \"10s\"\n[rules.enumeration]\nenabled = false\n",
    );
    let mut answered = 0;
    let mut crossed = false;
    for i in 0..40 {
        match register_once(
            &lab.atk,
            ATK,
            PBX_ATK,
            &format!("u{i}"),
            "Grandstream GXP2160",
        ) {
            Some(line) => {
                assert_eq!(line, "SIP/2.0 404 Not Found");
                answered += 1;
            }
            None => {
                crossed = true;
                break;
            }
        }
    }
    assert!(crossed, "40 requests never crossed the rate limit");
    assert!(answered >= 5, "banned after only {answered} requests");
    let ban = lab.ban_of(ATK).expect("the source is banned");
    assert!(
        ["rate-level1", "unknown-source"].contains(&ban["detector"].as_str().unwrap()),
        "{ban}"
    );
    // Kamailio saw exactly the answered requests: the one that crossed the line never reached it.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lab.kamailio_lines_from(ATK), answered, "{ban}");
    let inline_dropped = |lab: &Lab| {
        let out = lab.cli(&["--json", "status"]);
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        status["inline"]["dropped"].as_u64().unwrap()
    };
    // The queue dropped that one packet; what follows is dropped by the nftables ban before the queue.
    assert_eq!(inline_dropped(&lab), 1, "{ban}");
    for i in 0..3 {
        assert_eq!(
            register_once(
                &lab.atk,
                ATK,
                PBX_ATK,
                &format!("after{i}"),
                "Grandstream GXP2160"
            ),
            None
        );
    }
    assert_eq!(inline_dropped(&lab), 1);
    assert_eq!(lab.kamailio_lines_from(ATK), answered);
}
