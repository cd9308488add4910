//! `pbxguard replay`: logs and captures through the engine offline.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn replay() -> Command {
    let mut c = Command::cargo_bin("pbxguard").unwrap();
    c.env_remove("PBXGUARD_CONFIG");
    c
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn wrong_passwords(ip: &str, n: usize, start_sec: usize) -> String {
    (0..n)
        .map(|i| {
            let s = start_sec + i;
            format!(
                "[2026-11-22 20:{:02}:{:02}] NOTICE[2213] chan_sip.c: Registration from '<sip:100@192.0.2.10>' failed for '{ip}:5060' - Wrong password\n",
                s / 60,
                s % 60
            )
        })
        .collect()
}

#[test]
fn an_asterisk_brute_force_is_banned_with_time_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut log =
        String::from("[2026-11-22 20:00:00] VERBOSE[1] asterisk.c: Remote UNIX connection\n");
    log += &wrong_passwords("203.0.113.5", 12, 0);
    let f = write(dir.path(), "full", &log);
    replay()
        .args(["replay", &f])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("203.0.113.5/32"))
        .stdout(predicate::str::contains("2026-11-22 20:00:09"))
        .stdout(predicate::str::contains("auth"))
        .stdout(predicate::str::contains(
            "13 log lines (12 events, 1 without one)",
        ));
}

#[test]
fn challenges_and_successes_ban_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let log: String = (0..50)
        .map(|i| format!(
            "2026-11-22 20:00:{:02}.000000 [WARNING] sofia_reg.c:1855 SIP auth challenge (REGISTER) on sofia profile 'internal' for [1000@192.0.2.10] from ip 198.51.100.20\n",
            i % 60
        ))
        .collect();
    let f = write(dir.path(), "freeswitch.log", &log);
    replay()
        .args(["replay", &f])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("nothing would have been banned"));
}

#[test]
fn several_files_are_merged_by_time_and_reported_as_json() {
    let dir = tempfile::tempdir().unwrap();
    // Five failures in each file, interleaved in time: only together do they reach ten in the window.
    let a: String = wrong_passwords("203.0.113.9", 10, 0)
        .lines()
        .step_by(2)
        .map(|l| format!("{l}\n"))
        .collect();
    let fs: String = (0..5)
        .map(|i| format!(
            "2026-11-22 20:00:{:02}.000000 [WARNING] sofia_reg.c:1850 SIP auth failure (REGISTER) on sofia profile 'internal' for [100@192.0.2.10] from ip 203.0.113.9\n",
            2 * i + 1
        ))
        .collect();
    let f1 = write(dir.path(), "full", &a);
    let f2 = write(dir.path(), "freeswitch.log", &fs);
    let out = replay()
        .args(["--json", "replay", &f1, &f2])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let bans = v["bans"].as_array().unwrap();
    assert_eq!(bans.len(), 1, "{v}");
    assert_eq!(bans[0]["target"], "203.0.113.9/32");
    assert_eq!(bans[0]["at"], "2026-11-22 20:00:09");
    assert_eq!(v["files"][1]["format"], "freeswitch");
    assert_eq!(v["events"], 10);
}

#[test]
fn unknown_formats_and_pcapng_are_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "mystery", "hello\nworld\n");
    replay()
        .args(["replay", &f])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--format"));
    let p = dir.path().join("x.pcapng");
    std::fs::write(&p, [0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).unwrap();
    replay()
        .args(["replay", &p.display().to_string()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("editcap"));
}

/// An Ethernet/IPv4/UDP frame carrying `payload` from `src` to 192.0.2.10:5060.
fn frame(src: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = 20 + 8 + payload.len();
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&[192, 0, 2, 10]);
    let sum = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum::<u32>();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    let ulen = 8 + payload.len();
    f.extend_from_slice(&[0x13, 0xc4, 0x13, 0xc4, (ulen >> 8) as u8, ulen as u8, 0, 0]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn a_pcap_scanner_is_banned_at_its_packet_time() {
    let dir = tempfile::tempdir().unwrap();
    let sip = b"OPTIONS sip:100@192.0.2.10 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK-1\r\n\
        From: \"sipvicious\" <sip:100@1.1.1.1>;tag=1\r\n\
        To: <sip:100@192.0.2.10>\r\n\
        Call-ID: 1\r\n\
        CSeq: 1 OPTIONS\r\n\
        User-Agent: friendly-scanner\r\n\
        Content-Length: 0\r\n\r\n";
    let mut pcap = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        match v {
            0x0004_0002 => pcap.extend_from_slice(&[2, 0, 4, 0]),
            _ => pcap.extend_from_slice(&v.to_le_bytes()),
        }
    }
    let f = frame([203, 0, 113, 66], sip);
    // 2026-11-22 20:44:38 UTC
    for v in [1_795_380_278u32, 0, f.len() as u32, f.len() as u32] {
        pcap.extend_from_slice(&v.to_le_bytes());
    }
    pcap.extend_from_slice(&f);
    let p = dir.path().join("scan.pcap");
    std::fs::write(&p, &pcap).unwrap();
    replay()
        .args(["replay", &p.display().to_string()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("203.0.113.66/32"))
        .stdout(predicate::str::contains("2026-11-22 20:44:38"))
        .stdout(predicate::str::contains("scanner"))
        .stdout(predicate::str::contains("1 packets"));
}

/// Enumerators that each probe between 6 and 14 accounts: around the threshold of 10 distinct users, where
/// the distinct-user estimate depends on how user names hash.
fn enumerators(sources: usize) -> String {
    let mut log = String::new();
    for s in 0..sources {
        let users = 6 + s % 9;
        for u in 0..users {
            let t = s * 20 + u;
            log += &format!(
                "[2026-11-22 {:02}:{:02}:{:02}] NOTICE[2213] chan_sip.c: Registration from '<sip:{}@192.0.2.10>' failed for '198.51.{}.{}:5060' - No matching peer found\n",
                t / 3600,
                t / 60 % 60,
                t % 60,
                1000 + s * 7 + u * 13,
                s / 200,
                s % 200 + 1
            );
        }
    }
    log
}

#[test]
fn replaying_the_same_input_gives_the_same_result_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "full", &enumerators(400));
    let run = || {
        let out = replay()
            .args(["--json", "replay", "-q", &f])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["bans"].clone(), v["alerts"].clone())
    };
    let first = run();
    let bans = first.0.as_array().unwrap().len();
    // Sources with 10 or more users are banned, some near the threshold are not: both kinds are there.
    assert!((100..400).contains(&bans), "{bans} bans");
    for _ in 0..4 {
        assert!(run() == first, "a replay of the same input differed");
    }
}
