//! `pbxguard capture` on real traffic between two namespaces (root tier).

use std::net::UdpSocket;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

#[test]
fn capture_prints_sip_request_lines_and_a_summary_without_drops() {
    let name = "capture_prints_sip_request_lines_and_a_summary_without_drops";
    if !root_or_skip(name) || !tools_or_skip(name, &["ip"]) {
        return;
    }
    let pbx = Netns::new("ccp").unwrap();
    let atk = Netns::new("cca").unwrap();
    let (pif, _) = pbx.link(&atk, "10.81.0.2/24", "10.81.0.3/24").unwrap();
    let child = std::process::Command::new(cargo_bin("pbxguard"))
        .env_remove("PBXGUARD_CONFIG")
        .args([
            "--json",
            "capture",
            "--netns",
            pbx.name(),
            "-i",
            &pif,
            "-p",
            "5060",
            "--count",
            "3",
        ])
        .args(["--duration", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The sender runs in the attacker namespace via `ip netns exec` (a socket created there).
    let sock_path = format!("/var/run/netns/{}", atk.name());
    let sock = pbxguard_sys::netns::run_in(std::path::Path::new(&sock_path), || {
        UdpSocket::bind("10.81.0.3:5062")
    })
    .unwrap()
    .unwrap();
    let start = Instant::now();
    let mut child = child;
    while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(15) {
        sock.send_to(
            b"OPTIONS sip:100@10.81.0.2 SIP/2.0\r\nContent-Length: 0\r\n\r\n",
            "10.81.0.2:5060",
        )
        .unwrap();
        sock.send_to(b"noise", "10.81.0.2:7000").unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.pop().unwrap();
    assert_eq!(lines.len(), 3, "{text}");
    for l in &lines {
        assert_eq!(l["first_line"], "OPTIONS sip:100@10.81.0.2 SIP/2.0");
        assert_eq!(l["src"], "10.81.0.3:5062");
        assert_eq!(l["dst"], "10.81.0.2:5060");
    }
    assert_eq!(summary["summary"]["packets"], 3);
    assert_eq!(summary["summary"]["kernel_drops"], 0);
}
