//! Live benchmark of `pbxguard run` in the lab (needs root): a SIP flood from an attacker namespace at the
//! highest rate one `sendmmsg` sender reaches over veth, against the guard in the PBX namespace.
//!
//! Reports: the sender's rate, the capture ring's kernel drops, the time from the packet that crossed a
//! threshold to the ban in the kernel set (p50/p99 from the guard's own measurement), how many attacker
//! packets still reached the PBX's socket after the crossing packet, and the guard's peak memory (VmHWM).
//!
//! ```sh
//! cargo bench -p pbxguard --bench lab_flood -- [--packets N]
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pbxguard_sys::{loadgen, netns};
use pbxguard_testlab::{Netns, root_or_skip};
use serde_json::Value;

const PBX: &str = "10.78.0.1";
const ATK: &str = "10.78.0.2";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let packets: u64 = args
        .iter()
        .position(|a| a == "--packets")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if !root_or_skip("lab_flood benchmark") {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_pbxguard");
    let pbx = Netns::new("fpbx").unwrap();
    let atk = Netns::new("fatk").unwrap();
    let (_, atk_if) = pbx
        .link(&atk, &format!("{PBX}/24"), &format!("{ATK}/24"))
        .unwrap();
    // More attacker addresses, each of which floods in turn, so the latency figure has many samples.
    let extra: Vec<String> = (10..210).map(|i| format!("10.78.0.{i}")).collect();
    for a in &extra {
        atk.exec("ip", ["addr", "add", &format!("{a}/24"), "dev", &atk_if])
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pbxguard.toml");
    std::fs::write(
        &config,
        format!(
            "[guard]\nsip_ports = [5060]\nstate_dir = \"{d}\"\nsocket = \"{d}/guard.sock\"\n",
            d = dir.path().display()
        ),
    )
    .unwrap();

    // The PBX: a socket that counts what reaches it.
    let sock = netns::run_in(&netns::named(pbx.name()), || {
        UdpSocket::bind(format!("{PBX}:5060"))
    })
    .unwrap()
    .unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let received_main = AtomicU64::new(0);
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let (received, done) = (Arc::clone(&received), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !done.load(Ordering::Relaxed) {
                if sock.recv(&mut buf).is_ok() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    let mut guard = pbx
        .command(bin)
        .args(["--config", config.to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = || -> Option<Value> {
        let out = Command::new(bin)
            .args(["--config", config.to_str().unwrap(), "--json", "status"])
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while status().is_none() {
        assert!(Instant::now() < deadline, "the guard did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let payload = format!(
        "OPTIONS sip:100@{PBX} SIP/2.0\r\nVia: SIP/2.0/UDP {ATK}:5070;branch=z9hG4bKflood\r\nMax-Forwards: 70\r\n\
         From: <sip:100@{ATK}>;tag=f1\r\nTo: <sip:100@{PBX}>\r\nCall-ID: flood@{ATK}\r\nCSeq: 1 OPTIONS\r\n\
         User-Agent: Linphone/5.2.0\r\nContent-Length: 0\r\n\r\n"
    );
    let sender = netns::run_in(&netns::named(atk.name()), || {
        let s = UdpSocket::bind(format!("{ATK}:5070")).unwrap();
        s.connect(format!("{PBX}:5060")).unwrap();
        s
    })
    .unwrap();
    let started = Instant::now();
    let sent = loadgen::send_copies(&sender, payload.as_bytes(), packets);
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    received_main.store(received.load(Ordering::Relaxed), Ordering::Relaxed);
    // Phase two: 200 more attackers, 2,000 packets each, one after the other.
    let mut extra_sent = 0;
    for a in &extra {
        let s = netns::run_in(&netns::named(atk.name()), || {
            let s = UdpSocket::bind(format!("{a}:5070")).unwrap();
            s.connect(format!("{PBX}:5060")).unwrap();
            s
        })
        .unwrap();
        extra_sent += loadgen::send_copies(&s, payload.as_bytes(), 2000);
    }
    std::thread::sleep(Duration::from_secs(1));
    done.store(true, Ordering::Relaxed);
    receiver.join().unwrap();

    let st = status().unwrap();
    let bans: Value = serde_json::from_slice(
        &Command::new(bin)
            .args(["--config", config.to_str().unwrap(), "--json", "bans"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let hwm_kib = std::fs::read_to_string(format!("/proc/{}/status", guard.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let _ = Command::new("kill")
        .args(["-TERM", &guard.id().to_string()])
        .status();
    let _ = guard.wait();

    let all = bans.as_array().cloned().unwrap_or_default();
    let ban = all
        .iter()
        .find(|b| b["target"] == format!("{ATK}/32"))
        .cloned()
        .unwrap_or(Value::Null);
    let crossing = ban["evidence"]["count"].as_u64().unwrap_or(0);
    // The receiver counts everything; the main flooder's share is what arrived before phase two began.
    let reached = received_main.load(Ordering::Relaxed);
    println!(
        "lab flood: {sent} datagrams in {:.2} s = {:.0} datagrams/s from one sendmmsg sender",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  ban: {} by {} after {} packets",
        ban["target"], ban["detector"], crossing
    );
    println!(
        "  then {} more attackers sent {extra_sent} datagrams: {} of them banned",
        extra.len(),
        all.len().saturating_sub(1)
    );
    println!(
        "  capture: {} packets seen, {} kernel drops",
        st["capture"]["packets"], st["capture"]["kernel_drops"]
    );
    println!(
        "  threshold-crossing packet -> kernel set: p50 {} µs, p99 {} µs ({} samples)",
        st["ban_latency_us"]["p50"], st["ban_latency_us"]["p99"], st["ban_latency_us"]["samples"]
    );
    println!(
        "    of which waiting in the capture ring: p50 {} µs, p99 {} µs",
        st["ban_latency_ring_wait_us"]["p50"], st["ban_latency_ring_wait_us"]["p99"]
    );
    println!(
        "  attacker packets that reached the PBX socket: {reached} ({} after the crossing packet)",
        reached.saturating_sub(crossing)
    );
    println!(
        "  guard peak memory: {}",
        hwm_kib.trim_start_matches("VmHWM:").trim()
    );
    assert!(
        ban["target"].as_str().is_some_and(|t| t.starts_with(ATK)),
        "the flooder was not banned"
    );
    assert_eq!(all.len(), extra.len() + 1, "not every attacker was banned");
}
