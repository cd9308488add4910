//! Root tier: a trunk's concurrent-call cap enforced inline by `pbxguard run`.
//!
//! A carrier (SIPp UAC in the attacker-side namespace, listed as trunk `carrier` capped at 2 calls) calls
//! through Kamailio, which relays every call to a phone (SIPp UAS in the phone namespace). Two calls are
//! answered and stay up; the third is answered 503 by the guard and never reaches Kamailio; once one call
//! ends with BYE, the next call is answered again. A call the PBX itself hangs up frees the trunk too: the
//! guard sees the PBX's BYE leave. A call the PBX places on the trunk (a phone calling out) takes a channel
//! as well, so the carrier's offer that would exceed the cap is refused. A policy reloaded with SIGHUP
//! keeps counting the calls already up.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

mod common;

use common::{ATK, GOOD, Lab, PBX_ATK, PBX_GOOD, wait_until};

/// A PBX that relays every call from the carrier to the phone, and in-dialog requests after it (no
/// loose routing: SIPp's built-in UAC ignores Record-Route and sends ACK and BYE straight to Kamailio).
/// A call to extension 2002 is hung up by the PBX itself 3 s after the answer (Kamailio's dialog module
/// sends BYE to both sides), as a PBX does when its own timer or an operator ends a call. It logs each
/// new INVITE's Call-ID, retransmissions excluded.
const KAMAILIO: &str = r#"#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=2
listen=udp:PBX_ATK:5060
listen=udp:PBX_GOOD:5060
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "dialog.so"
modparam("dialog", "dlg_match_mode", 1)
modparam("dialog", "send_bye", 1)
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (is_method("OPTIONS") && !has_totag()) { sl_send_reply("200", "OK"); exit; }
    if (is_method("CANCEL") || is_method("INVITE")) {
        if (t_check_trans()) { exit; }
    }
    if (is_method("INVITE") && !has_totag()) {
        xlog("L_NOTICE", "trunk INVITE <$ci> from $si:$sp\n");
        if ($tU == "2002") {
            dlg_manage();
            dlg_set_timeout("3");
        }
    } else if ($tU == "2002") {
        # The ACK confirms the dialog, which must be confirmed for its timeout to send BYE.
        dlg_manage();
    }
    if ($si == "PHONE") {
        # The phone calls out through the carrier, whose gateway listens at port 5090.
        $du = "sip:CARRIER:5090";
        $fs = "udp:PBX_ATK:5060";
    } else {
        $du = "sip:PHONE:5060";
        $fs = "udp:PBX_GOOD:5060";
    }
    t_relay();
}
"#;

/// A SIPp scenario of the carrier: its INVITE with an SDP offer, then `rest`.
fn carrier_scenario(name: &str, rest: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="{name}">
{CARRIER_INVITE}{rest}</scenario>
"#
    )
}

/// The carrier's INVITE (an offer from a UK number, retransmitted every 500 ms).
const CARRIER_INVITE: &str = r#"  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: carrier <sip:+442079460000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:carrier@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
"#;

/// A call the PBX hangs up: INVITE, 200, ACK, then BYE from the PBX, answered 200.
fn hung_up() -> String {
    carrier_scenario(
        "A call the PBX hangs up",
        r#"  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"#,
    )
}

/// A call the guard refuses: INVITE, 503, ACK.
fn refused() -> String {
    carrier_scenario(
        "A call offered on a full trunk",
        r#"  <recv response="100" optional="true"/>
  <recv response="503"/>
  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"#,
    )
}

/// The phone: SIPp's built-in UAS (180, 200, waits for ACK and BYE), killed on drop.
struct Phone(Child);

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One carrier call: a SIPp UAC, killed on drop if still running.
struct Call {
    child: Child,
    trace: PathBuf,
    label: String,
    /// The lab's directory, for the guard's and Kamailio's logs when the call fails.
    dir: PathBuf,
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Call {
    /// Starts call `label` from the carrier: the built-in UAC holding the call `hold` after the answer
    /// (then BYE), or `scenario` when given.
    fn start(lab: &Lab, label: &str, port: u16, hold: Duration, scenario: Option<&Path>) -> Call {
        Self::start_to(lab, label, "1001", port, hold, scenario)
    }

    /// As [`Call::start`], calling extension `to`.
    fn start_to(
        lab: &Lab,
        label: &str,
        to: &str,
        port: u16,
        hold: Duration,
        scenario: Option<&Path>,
    ) -> Call {
        Self::start_from(
            lab,
            (&lab.atk, ATK, PBX_ATK),
            label,
            to,
            port,
            hold,
            scenario,
        )
    }

    /// As [`Call::start_to`], from `ns` at `local` to the PBX at `pbx`.
    #[allow(clippy::too_many_arguments)]
    fn start_from(
        lab: &Lab,
        (ns, local, pbx): (&Netns, &str, &str),
        label: &str,
        to: &str,
        port: u16,
        hold: Duration,
        scenario: Option<&Path>,
    ) -> Call {
        let trace = lab.path(&format!("sipp-{label}.log"));
        let mut cmd = ns.command("sipp");
        match scenario {
            Some(s) => cmd.args(["-sf", s.to_str().unwrap()]),
            None => cmd.args(["-sn", "uac"]),
        };
        let child = cmd
            .args(["-s", to, "-i", local, "-p", &port.to_string()])
            .args(["-m", "1", "-l", "1", "-d", &hold.as_millis().to_string()])
            .args(["-cid_str", &format!("trunk-{label}-%u-%p@%s")])
            .args(["-timeout", "40s", "-timeout_error", "-nostdin"])
            .args(["-trace_msg", "-message_file", trace.to_str().unwrap()])
            .arg(format!("{pbx}:5060"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Call {
            child,
            trace,
            label: label.to_owned(),
            dir: lab.path(""),
        }
    }

    /// The last lines of the guard's and Kamailio's logs.
    fn logs(&self) -> String {
        let tail = |name: &str| {
            let text = fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        format!(
            "--- guard.log ---\n{}\n--- kamailio.log ---\n{}",
            tail("guard.log"),
            tail("kamailio.log")
        )
    }

    fn messages(&self) -> String {
        fs::read_to_string(&self.trace).unwrap_or_default()
    }

    /// Whether the call is up: the answer arrived and SIPp acknowledged it.
    fn established(&self) -> bool {
        let m = self.messages();
        m.contains("SIP/2.0 200 OK") && m.contains("ACK sip:")
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for SIPp to finish and asserts that the scenario completed.
    fn succeeds_within(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "call {} failed ({status}); SIPp saw:\n{}\n{}",
                    self.label,
                    self.messages(),
                    self.logs()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "call {} still running after {limit:?}; SIPp saw:\n{}\n{}",
                self.label,
                self.messages(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn ready(name: &str) -> bool {
    root_or_skip(name) && tools_or_skip(name, &["kamailio", "sipp", "sipsak", "ss", "iptables"])
}

/// The lab with the carrier at `ATK` as trunk `carrier` capped at `cap` calls, the guard inline, and
/// Kamailio relaying calls to the phones; the policy's directory (which must outlive the lab) and the
/// carrier's scenario of a refused call, written in the lab.
fn trunk_lab(cap: u32) -> (Lab, tempfile::TempDir, PathBuf) {
    trunk_lab_with(cap, "")
}

/// As [`trunk_lab`], with `top` added at the top of the policy file.
fn trunk_lab_with(cap: u32, top: &str) -> (Lab, tempfile::TempDir, PathBuf) {
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.toml");
    fs::write(
        &policy,
        format!(
            "country = \"GB\"\n{top}\n[trunks.carrier]\naddresses = [\"{ATK}\"]\ncap = {cap}\n"
        ),
    )
    .unwrap();
    let mut lab = Lab::with_run_args(
        "inline",
        &format!("[lists]\ntrunks = [\"{ATK}\"]\n"),
        vec!["--policy".into(), policy.to_str().unwrap().into()],
    );
    lab.restart_kamailio_with(
        &KAMAILIO
            .replace("PBX_ATK", PBX_ATK)
            .replace("PBX_GOOD", PBX_GOOD)
            .replace("PHONE", GOOD)
            .replace("CARRIER", ATK),
    );
    let refused_xml = lab.path("refused.xml");
    fs::write(&refused_xml, refused()).unwrap();
    (lab, policy_dir, refused_xml)
}

/// Starts a phone (SIPp UAS with `scenario` arguments) at `GOOD:port` and waits until it listens.
fn phone(lab: &Lab, port: &str, scenario: &[&str]) -> Phone {
    let p = Phone(
        lab.good
            .command("sipp")
            .args(scenario)
            .args(["-i", GOOD, "-p", port, "-nostdin"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(Duration::from_secs(10), "the phone listens", || {
        lab.good
            .exec("ss", ["-Hlun", &format!("sport = :{port}")])
            .is_ok_and(|o| !o.stdout.is_empty())
    });
    p
}

/// The carrier's gateway, where the PBX sends its outbound calls (SIPp UAS at `ATK:5090`).
fn gateway(lab: &Lab) -> Phone {
    let g = Phone(
        lab.atk
            .command("sipp")
            .args(["-sn", "uas", "-i", ATK, "-p", "5090", "-nostdin"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(Duration::from_secs(10), "the gateway listens", || {
        lab.atk
            .exec("ss", ["-Hlun", "sport = :5090"])
            .is_ok_and(|o| !o.stdout.is_empty())
    });
    g
}

/// The Call-IDs of the INVITEs Kamailio received.
fn invites_at_kamailio(lab: &Lab) -> BTreeSet<String> {
    fs::read_to_string(lab.path("kamailio.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let rest = l.split("trunk INVITE <").nth(1)?;
            rest.split('>').next().map(str::to_owned)
        })
        .collect()
}

fn labels(call_ids: &BTreeSet<String>) -> Vec<String> {
    call_ids
        .iter()
        .filter_map(|id| id.split('-').nth(1).map(str::to_owned))
        .collect()
}

#[test]
fn inline_the_third_concurrent_call_on_a_trunk_capped_at_two_is_refused_until_one_ends() {
    let name =
        "inline_the_third_concurrent_call_on_a_trunk_capped_at_two_is_refused_until_one_ends";
    if !ready(name) {
        return;
    }
    let (lab, _policy_dir, refused_xml) = trunk_lab(2);
    let _phone = phone(&lab, "5060", &["-sn", "uas"]);

    // Two calls, answered and held (a for 20 s, b for 6 s after the answer).
    let mut a = Call::start(&lab, "a", 5071, Duration::from_secs(20), None);
    let mut b = Call::start(&lab, "b", 5072, Duration::from_secs(6), None);
    wait_until(Duration::from_secs(10), "calls a and b are up", || {
        a.established() && b.established()
    });
    assert_eq!(labels(&invites_at_kamailio(&lab)), ["a", "b"]);

    // The third call, while both are up: 503 from the guard, nothing at Kamailio.
    let mut c = Call::start(&lab, "c", 5073, Duration::ZERO, Some(&refused_xml));
    c.succeeds_within(Duration::from_secs(10));
    assert!(
        c.messages().contains("SIP/2.0 503 Service Unavailable"),
        "{}",
        c.messages()
    );
    assert!(
        a.running() && b.running(),
        "a call ended before the third was tried: the test proves nothing"
    );
    assert_eq!(labels(&invites_at_kamailio(&lab)), ["a", "b"]);
    assert!(
        lab.guard_log()
            .contains("trunk carrier has 2 calls in progress (cap 2)"),
        "no alert for the refused call:\n{}",
        lab.guard_log()
    );
    // `pbxguard status` shows both calls against the cap, and the refusal.
    let out = lab.cli(&["--json", "status"]);
    assert!(out.status.success());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        status["trunks"],
        serde_json::json!([{ "name": "carrier", "calls": 2, "cap": 2, "refused": 1, "placed_over_cap": 0 }])
    );
    let out = lab.cli(&["status"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["carrier", "2", "2", "1", "0"]),
        "{table}"
    );
    assert!(
        a.running() && b.running(),
        "a call ended while status was read"
    );

    // b hangs up (BYE through Kamailio); the next call is answered while a is still up.
    b.succeeds_within(Duration::from_secs(20));
    assert!(b.messages().contains("BYE sip:"), "{}", b.messages());
    let mut d = Call::start(&lab, "d", 5074, Duration::from_secs(1), None);
    d.succeeds_within(Duration::from_secs(15));
    assert!(a.running(), "call a ended early: {}", a.messages());
    assert_eq!(labels(&invites_at_kamailio(&lab)), ["a", "b", "d"]);
    a.succeeds_within(Duration::from_secs(30));
}

#[test]
fn inline_a_call_the_pbx_hangs_up_frees_its_trunk() {
    let name = "inline_a_call_the_pbx_hangs_up_frees_its_trunk";
    if !ready(name) {
        return;
    }
    let (lab, _policy_dir, refused_xml) = trunk_lab(1);
    let hung_up_xml = lab.path("hung-up.xml");
    fs::write(&hung_up_xml, hung_up()).unwrap();
    let _phone = phone(&lab, "5060", &["-sn", "uas"]);

    // The carrier's call to 2002 takes the trunk's one channel; the PBX hangs up after 3 s.
    let mut e = Call::start_to(&lab, "e", "2002", 5075, Duration::ZERO, Some(&hung_up_xml));
    wait_until(Duration::from_secs(10), "call e is up", || e.established());
    let mut f = Call::start(&lab, "f", 5076, Duration::ZERO, Some(&refused_xml));
    f.succeeds_within(Duration::from_secs(10));
    assert!(
        e.running(),
        "call e ended before f was tried: the test proves nothing"
    );
    // Only the PBX's BYE, seen leaving (no BYE reaches the PBX), tells the guard the call is over.
    e.succeeds_within(Duration::from_secs(20));
    let mut g = Call::start(&lab, "g", 5077, Duration::from_secs(1), None);
    g.succeeds_within(Duration::from_secs(15));
    assert_eq!(labels(&invites_at_kamailio(&lab)), ["e", "g"]);
}

#[test]
fn inline_a_call_the_pbx_places_on_the_trunk_counts_against_its_cap() {
    let name = "inline_a_call_the_pbx_places_on_the_trunk_counts_against_its_cap";
    if !ready(name) {
        return;
    }
    let (lab, _policy_dir, refused_xml) = trunk_lab(1);
    let _phone = phone(&lab, "5060", &["-sn", "uas"]);
    let _gateway = gateway(&lab);

    // The phone calls a London number; the PBX places the call on the trunk, its one channel.
    let mut out = Call::start_from(
        &lab,
        (&lab.good, GOOD, PBX_GOOD),
        "out",
        "02079460000",
        5081,
        Duration::from_secs(6),
        None,
    );
    wait_until(Duration::from_secs(10), "the outbound call is up", || {
        out.established()
    });
    // A call the carrier offers meanwhile is refused: the trunk is full.
    let mut h = Call::start(&lab, "h", 5078, Duration::ZERO, Some(&refused_xml));
    h.succeeds_within(Duration::from_secs(10));
    assert!(out.running(), "the outbound call ended before h was tried");
    assert!(
        lab.guard_log()
            .contains("trunk carrier has 1 calls in progress (cap 1)"),
        "{}",
        lab.guard_log()
    );
    // The phone hangs up; the next offer is answered.
    out.succeeds_within(Duration::from_secs(20));
    let mut i = Call::start(&lab, "i", 5079, Duration::from_secs(1), None);
    i.succeeds_within(Duration::from_secs(15));
    assert_eq!(labels(&invites_at_kamailio(&lab)), ["i", "out"]);
}

#[test]
fn inline_with_an_outbound_trunk_a_phones_call_on_a_full_trunk_never_reaches_kamailio() {
    let name = "inline_with_an_outbound_trunk_a_phones_call_on_a_full_trunk_never_reaches_kamailio";
    if !ready(name) {
        return;
    }
    let (lab, _policy_dir, refused_xml) = trunk_lab_with(1, "outbound_trunk = \"carrier\"\n");
    let _phone = phone(&lab, "5060", &["-sn", "uas"]);
    let _gateway = gateway(&lab);

    // The carrier's call takes the trunk's one channel.
    let mut j = Call::start(&lab, "j", 5082, Duration::from_secs(6), None);
    wait_until(Duration::from_secs(10), "call j is up", || j.established());
    // The phone's outside call: 503 from the guard, nothing at Kamailio.
    let phone_call = |label: &str, port: u16, hold: Duration, scenario: Option<&Path>| {
        Call::start_from(
            &lab,
            (&lab.good, GOOD, PBX_GOOD),
            label,
            "02079460000",
            port,
            hold,
            scenario,
        )
    };
    let mut k = phone_call("k", 5083, Duration::ZERO, Some(&refused_xml));
    k.succeeds_within(Duration::from_secs(10));
    assert!(j.running(), "call j ended before k was tried");
    assert_eq!(labels(&invites_at_kamailio(&lab)), ["j"]);
    // Once the carrier's call is over, the phone's call goes out.
    j.succeeds_within(Duration::from_secs(20));
    let mut l = phone_call("l", 5084, Duration::from_secs(1), None);
    l.succeeds_within(Duration::from_secs(15));
    assert_eq!(labels(&invites_at_kamailio(&lab)), ["j", "l"]);
}

#[test]
fn inline_calls_up_before_a_policy_reload_still_count_against_the_cap() {
    let name = "inline_calls_up_before_a_policy_reload_still_count_against_the_cap";
    if !ready(name) {
        return;
    }
    let (lab, policy_dir, refused_xml) = trunk_lab(2);
    let _phone = phone(&lab, "5060", &["-sn", "uas"]);

    let mut m = Call::start(&lab, "m", 5085, Duration::from_secs(12), None);
    let mut n = Call::start(&lab, "n", 5086, Duration::from_secs(12), None);
    wait_until(Duration::from_secs(10), "calls m and n are up", || {
        m.established() && n.established()
    });
    // The policy changes (the same trunk and cap, London forbidden); systemctl reload.
    fs::write(
        policy_dir.path().join("policy.toml"),
        format!(
            "country = \"GB\"\ndenied_prefixes = [\"+4420\"]\n\
             [trunks.carrier]\naddresses = [\"{ATK}\"]\ncap = 2\n"
        ),
    )
    .unwrap();
    let pid = lab.guard.as_ref().unwrap().id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    wait_until(Duration::from_secs(5), "the policy is reloaded", || {
        lab.guard_log().contains("call policy reloaded")
    });
    assert!(
        lab.guard_log()
            .contains("kept: 2 calls in progress (carrier: 2 of cap 2)"),
        "{}",
        lab.guard_log()
    );
    // Both calls still count: the third is refused, and never reaches Kamailio.
    let mut o = Call::start(&lab, "o", 5087, Duration::ZERO, Some(&refused_xml));
    o.succeeds_within(Duration::from_secs(10));
    assert!(
        m.running() && n.running(),
        "a call ended before the third was tried: the test proves nothing"
    );
    assert_eq!(labels(&invites_at_kamailio(&lab)), ["m", "n"]);
    let out = lab.cli(&["--json", "status"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        status["trunks"],
        serde_json::json!([{ "name": "carrier", "calls": 2, "cap": 2, "refused": 1, "placed_over_cap": 0 }])
    );
    // The calls kept across the reload end as any other and free the trunk.
    m.succeeds_within(Duration::from_secs(30));
    n.succeeds_within(Duration::from_secs(30));
    let mut p = Call::start(&lab, "p", 5088, Duration::from_secs(1), None);
    p.succeeds_within(Duration::from_secs(15));
    assert_eq!(labels(&invites_at_kamailio(&lab)), ["m", "n", "p"]);
}

/// `pbxguard run --check` with `dir/pbxguard.toml` holding `config` and the policy `policy`.
fn run_check(config: &str, policy: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let (c, p) = (
        dir.path().join("pbxguard.toml"),
        dir.path().join("policy.toml"),
    );
    fs::write(&c, config).unwrap();
    fs::write(&p, policy).unwrap();
    std::process::Command::new(assert_cmd::cargo::cargo_bin("pbxguard"))
        .env_remove("PBXGUARD_CONFIG")
        .env_remove("PBXGUARD_LOG")
        .arg("--config")
        .arg(&c)
        .args(["run", "--check", "--policy"])
        .arg(&p)
        .output()
        .unwrap()
}

#[test]
fn run_check_wants_a_policy_trunk_among_the_trunks_and_off_the_allow_list() {
    let policy = "country = \"GB\"\n[trunks.carrier]\naddresses = [\"203.0.113.8/29\"]\ncap = 2\n";
    let ok = run_check("[lists]\ntrunks = [\"203.0.113.0/24\"]\n", policy);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = run_check(
        "[lists]\ntrunks = [\"203.0.113.8/30\"]\nallow = [\"203.0.113.9\"]\n",
        policy,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`trunks.carrier.addresses`: 203.0.113.8/29 is not within [lists] trunks"),
        "{err}"
    );
    assert!(
        err.contains("203.0.113.8/29 overlaps [lists] allow 203.0.113.9/32"),
        "{err}"
    );
}
