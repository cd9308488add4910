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
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use pbxguard_sys::netns;
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};
use serde_json::Value;

mod common;

use common::{ATK, GOOD, Lab, PBX_ATK, PBX_GOOD, QUEUE, options, wait_until};

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

/// `systemctl reload`: SIGHUP to the guard, which goes on running.
fn reload(lab: &Lab) {
    let pid = lab.guard.as_ref().unwrap().id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Sends one INVITE from extension `ext` dialling `dialled`, and returns the status line of the first
/// final answer (skipping 100 Trying), if any.
fn invite_once(ns: &Netns, src: &str, pbx: &str, ext: &str, dialled: &str) -> Option<String> {
    let sock = netns::run_in(&netns::named(ns.name()), || UdpSocket::bind((src, 0)))
        .unwrap()
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let n = CALL.fetch_add(1, Ordering::Relaxed);
    let sdp = format!(
        "v=0\r\no=- {n} 1 IN IP4 {src}\r\ns=-\r\nc=IN IP4 {src}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
    );
    let req = format!(
        "INVITE sip:{dialled}@{pbx} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {src}:{port};branch=z9hG4bK-call{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{ext}@{pbx}>;tag=c{n}\r\n\
         To: <sip:{dialled}@{pbx}>\r\n\
         Call-ID: call-{n}@{src}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:{ext}@{src}:{port}>\r\n\
         User-Agent: Yealink SIP-T46S\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    sock.send_to(req.as_bytes(), (pbx, 5060)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).ok()?;
        let line = String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .map(str::to_owned)?;
        if !line.starts_with("SIP/2.0 1") {
            return Some(line);
        }
    }
}

#[test]
fn inline_a_forbidden_call_is_answered_403_by_the_guard_and_a_national_call_reaches_the_pbx() {
    let name =
        "inline_a_forbidden_call_is_answered_403_by_the_guard_and_a_national_call_reaches_the_pbx";
    if !ready(name) {
        return;
    }
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.toml");
    // The built-in policy refuses premium-rate, satellite and international-network numbers.
    fs::write(&policy, "country = \"GB\"\noutside_line = \"9\"\n").unwrap();
    let lab = Lab::with_run_args(
        "inline",
        "",
        vec!["--policy".into(), policy.to_str().unwrap().into()],
    );
    // Premium rate (0901…): the guard answers 403 itself; Kamailio would have challenged with 407.
    let refused = invite_once(&lab.good, GOOD, PBX_GOOD, "1001", "909012345678");
    assert_eq!(
        refused.as_deref(),
        Some("SIP/2.0 403 Forbidden"),
        "{}",
        lab.guard_log()
    );
    // A national number reaches the PBX, which challenges it.
    let national = invite_once(&lab.good, GOOD, PBX_GOOD, "1001", "902079460000");
    assert!(
        national
            .as_deref()
            .is_some_and(|l| l.starts_with("SIP/2.0 407")),
        "{national:?}"
    );
    // An emergency call always reaches the PBX.
    let emergency = invite_once(&lab.good, GOOD, PBX_GOOD, "1001", "999");
    assert!(
        emergency
            .as_deref()
            .is_some_and(|l| l.starts_with("SIP/2.0 407")),
        "{emergency:?}"
    );
    assert!(
        lab.guard_log().contains("call-policy"),
        "no call-policy alert logged"
    );

    // `systemctl reload`: London numbers are forbidden from now on; the guard answers 403 itself.
    fs::write(
        &policy,
        "country = \"GB\"\noutside_line = \"9\"\ndenied_prefixes = [\"+4420\"]\n",
    )
    .unwrap();
    reload(&lab);
    wait_until(Duration::from_secs(5), "the policy is reloaded", || {
        lab.guard_log().contains("call policy reloaded")
    });
    let london = invite_once(&lab.good, GOOD, PBX_GOOD, "1001", "902079460000");
    assert_eq!(
        london.as_deref(),
        Some("SIP/2.0 403 Forbidden"),
        "{}",
        lab.guard_log()
    );
    // A broken policy is refused and the running one stays: London is still refused, Manchester is not.
    fs::write(&policy, "country = \"GB\"\nmax_risk = \"extreme\"\n").unwrap();
    reload(&lab);
    wait_until(
        Duration::from_secs(5),
        "the broken policy is refused",
        || lab.guard_log().contains("keeping the running policy"),
    );
    assert!(
        lab.guard_log().contains("`max_risk`"),
        "the mistake's key is not reported:\n{}",
        lab.guard_log()
    );
    let london = invite_once(&lab.good, GOOD, PBX_GOOD, "1001", "902079460000");
    assert_eq!(london.as_deref(), Some("SIP/2.0 403 Forbidden"));
    let manchester = invite_once(&lab.good, GOOD, PBX_GOOD, "1001", "901614960000");
    assert!(
        manchester
            .as_deref()
            .is_some_and(|l| l.starts_with("SIP/2.0 407")),
        "{manchester:?}"
    );
}
